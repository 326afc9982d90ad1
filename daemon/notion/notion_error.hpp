// The one error type of the Notion client (DESIGN §3, STYLE §4): callers branch on `kind`.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace syncd::notion {

enum class ErrorKind {
    retryable,        // try again later: 429/529, 5xx on reads, resets, timeouts, bad JSON
    permanent,        // the request is wrong or not allowed: 400/401/403/404
    ambiguous_write,  // a POST/PATCH whose outcome is unknown: re-read before re-sending
};

std::string_view to_string(ErrorKind kind);

class NotionError : public std::runtime_error {
public:
    NotionError(ErrorKind kind_, const std::string& message)
        : std::runtime_error(message), kind(kind_) {}

    ErrorKind kind;
    int status = 0;          // HTTP status; 0 below HTTP
    std::string code = {};   // Notion's error code, e.g. "object_not_found"
    std::string route = {};  // e.g. "POST /v1/pages"
    std::string request_id = {};
    std::optional<std::chrono::milliseconds> retry_after = {};
    std::string rate_limit_reason = {};
    // For ambiguous writes: what Notion says was written (notion-api.md §4.3).
    std::optional<std::string> committed_resource_id = {};
    // For ambiguous page creations: the caller's key (NotionClient::create_page).
    std::string idempotency_key = {};
};

}  // namespace syncd::notion
