// The error every API handler throws; the router turns it into Notion's error object.
#pragma once

#include <boost/json/object.hpp>
#include <stdexcept>
#include <string>

namespace emulator {

struct ApiError : std::runtime_error {
    ApiError(int status_, std::string code_, const std::string& message,
             boost::json::object additional = {})
        : std::runtime_error(message),
          status(status_),
          code(std::move(code_)),
          additional_data(std::move(additional)) {}

    int status;
    std::string code;
    boost::json::object additional_data;
};

inline ApiError validation_error(const std::string& message) {
    return {400, "validation_error", message};
}

inline ApiError object_not_found(std::string_view kind, std::string_view id) {
    return {404, "object_not_found",
            "Could not find " + std::string(kind) + " with ID: " + std::string(id) +
                ". Make sure the relevant pages and databases are shared with your integration."};
}

inline ApiError invalid_request_url() {
    return {400, "invalid_request_url", "Invalid request URL."};
}

}  // namespace emulator
