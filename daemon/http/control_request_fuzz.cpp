// libFuzzer target for the control server's request reading (issue 16): any bytes a client sends
// are read as the server reads them (Beast's parser, the body limit) into a request or refused,
// never a crash; a request read, written back as HTTP and read again is the same request; and no
// request gets past the control token without it, except the routes documented as exempt (the
// console's files, the Notion webhook and the two-way changes routes, which check their own).
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "daemon/http/control_server.hpp"

using namespace syncd::http;
namespace bhttp = boost::beast::http;

namespace {

constexpr std::size_t body_limit = 4096;

// The request as the server's reader would receive it from a client that sent `request`.
std::string written(const ControlRequest& request) {
    bhttp::request<bhttp::string_body> message;
    message.method_string(request.method);
    message.target(request.target);
    message.version(11);
    for (const auto& [name, value] : request.headers) {
        // Framing is the writer's: the body is sent with its length.
        if (boost::beast::iequals(name, "content-length") ||
            boost::beast::iequals(name, "transfer-encoding"))
            continue;
        message.insert(name, value);
    }
    message.body() = request.body;
    message.prepare_payload();
    std::ostringstream out;
    out << message;
    return out.str();
}

bool exempt(const ControlRequest& r) {
    const bool get = r.method == "GET" || r.method == "HEAD";
    return (get && (r.target == "/" || r.target.starts_with("/console/"))) ||
           r.target.starts_with("/v1/webhooks/notion") ||
           (r.target.starts_with("/v1/targets/") && r.target.find("/changes") != std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const auto parsed = parse_control_request(bytes, body_limit);
    if (!parsed.request) return 0;
    const ControlRequest& request = *parsed.request;
    if (parsed.too_large || request.body.size() > body_limit) __builtin_trap();

    const auto again = parse_control_request(written(request), body_limit);
    if (!again.request || again.request->method != request.method ||
        again.request->target != request.target || again.request->body != request.body)
        __builtin_trap();

    const ServerOptions open;
    if (authorize(open, request).status != 0) __builtin_trap();  // no token: everything answers
    const ServerOptions guarded{.auth_token = std::string("fuzz-control-token")};
    const auto answer = authorize(guarded, request);
    const bool has_token = request.header("authorization") == "Bearer fuzz-control-token";
    if (answer.status == 0 && !has_token && !exempt(request)) __builtin_trap();
    if (answer.status != 0 && answer.status != 401) __builtin_trap();
    if (answer.status == 401 && has_token) __builtin_trap();
    return 0;
}
