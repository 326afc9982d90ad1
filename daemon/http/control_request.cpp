// A request of the control server as read from its bytes, and the control token's check: apart
// from the server's connection handling so that control_request_fuzzer reads requests with the
// same code.
#include "daemon/http/control_request.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>

namespace syncd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

std::string ControlRequest::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (key.size() == name.size() &&
            std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
            })) {
            return value;
        }
    }
    return {};
}

ControlRequest to_control_request(const bhttp::request<bhttp::string_body>& message) {
    ControlRequest request{.method = std::string(message.method_string()),
                           .target = std::string(message.target()),
                           .headers = {},
                           .body = message.body()};
    for (const auto& field : message)
        request.headers.emplace_back(std::string(field.name_string()), field.value());
    return request;
}

ParsedRequest parse_control_request(std::string_view bytes, std::size_t max_body_bytes) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(max_body_bytes);
    parser.eager(true);
    beast::error_code error;
    std::size_t used = 0;
    while (used < bytes.size() && !parser.is_done()) {
        const auto n = parser.put(asio::buffer(bytes.data() + used, bytes.size() - used), error);
        if (error == bhttp::error::need_more) break;
        if (error) return {.too_large = error == bhttp::error::body_limit};
        used += n;
        if (n == 0) break;
    }
    if (!parser.got_some()) return {};  // the client closed before a byte: no request
    if (!parser.is_done()) {
        parser.put_eof(error);  // the connection ends here (a body up to the close)
        if (error || !parser.is_done()) return {.too_large = error == bhttp::error::body_limit};
    }
    return {.request = to_control_request(parser.get())};
}

ControlResponse authorize(const ServerOptions& options, const ControlRequest& request) {
    // The webhook route is authenticated by its signature; the changes routes check the token
    // or their own signature themselves.
    // The console's page and files are public (no data, no secret in them): the page asks for
    // the token and sends it with each API call.
    const bool console_file = (request.method == "GET" || request.method == "HEAD") &&
                              (request.target == "/" || request.target.starts_with("/console/"));
    if (!options.auth_token || console_file || request.target.starts_with("/v1/webhooks/notion") ||
        (request.target.starts_with("/v1/targets/") &&
         request.target.find("/changes") != std::string::npos))
        return {.status = 0};
    const std::string expected = "Bearer " + *options.auth_token;
    const std::string given = request.header("authorization");
    if (given.size() == expected.size() &&
        CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0) {
        return {.status = 0};
    }
    return {.status = 401,
            .body = R"({"error":"unauthorized: send Authorization: Bearer <control.auth token>"})"};
}

}  // namespace syncd::http
