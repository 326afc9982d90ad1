// The control server (DESIGN §3): a small HTTP/1.1 server on Beast for health, metrics, status,
// "sync now" and the Notion webhook receiver. Routes are plain functions of a request (see
// routes.hpp); this file only speaks HTTP. Beast stays out of this header.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace syncd::http {

struct ControlRequest {
    std::string method;
    std::string target;  // path and query
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // raw bytes, as received (webhook signatures are over these)
    // The value of a header (case-insensitive), or empty.
    std::string header(std::string_view name) const;
};

struct ControlResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body = {};
    // More header fields (Cache-Control, Content-Security-Policy, …). Every answer also carries
    // X-Content-Type-Options: nosniff, and Cache-Control: no-store unless set here.
    std::vector<std::pair<std::string, std::string>> headers = {};
};

// Answers a request; a coroutine, so a route may wait (the plan reads the targets).
using Handler = std::function<boost::asio::awaitable<ControlResponse>(ControlRequest)>;

struct ServerOptions {
    std::string listen = "127.0.0.1:9464";  // host:port; port 0 picks a free one
    // Required off loopback: requests must carry "Authorization: Bearer <token>" (the Notion
    // webhook route is exempt: it is authenticated by its signature).
    std::optional<std::string> auth_token = {};
    std::size_t max_body_bytes = 1 << 20;
};

// One request read from `bytes` as the server reads one from a connection (Beast's parser, the
// body limit): `request` is empty when the server would close the connection instead (malformed
// or incomplete), `too_large` is set when it answers 413 instead.
struct ParsedRequest {
    std::optional<ControlRequest> request = {};
    bool too_large = false;
};
ParsedRequest parse_control_request(std::string_view bytes, std::size_t max_body_bytes);

// Whether a request may reach the handler (status 0) or the answer to send instead (401): the
// control token is required when one is set, except for the console's files, the Notion webhook
// and the two-way changes routes (each authenticated by its own signature or token).
ControlResponse authorize(const ServerOptions& options, const ControlRequest& request);

class ControlServer {
public:
    // Binds now (throws std::runtime_error naming the address on failure) and serves on
    // `executor` until stop().
    ControlServer(boost::asio::any_io_executor executor, ServerOptions options, Handler handler);
    ~ControlServer();
    unsigned short port() const;
    void stop();

    struct State;  // shared with the connections it serves (control_server.cpp)

private:
    std::shared_ptr<State> state_;
};

// Whether a host:port names a loopback address.
bool is_loopback(const std::string& listen);

}  // namespace syncd::http
