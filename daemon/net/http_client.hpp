// An HTTP/1.1 client over Beast with TLS (peer and host name verified, SNI), keep-alive
// connections in a small pool, and deadlines on every step. Beast stays out of this header.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "daemon/net/url.hpp"

namespace syncd::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
    std::string method = "GET";
    std::string target = "/";  // appended to the base URL's path
    Headers headers = {};
    std::string body = {};
    // Safe to send twice (GET, HEAD, or a POST that only reads, like a Notion query or search):
    // one that failed on a reused keep-alive connection before any byte of an answer arrived
    // (the peer had closed it while idle) is sent once more on a new connection.
    bool idempotent = false;
};

struct Response {
    int status = 0;
    Headers headers = {};
    std::string body = {};
    // The value of a header (case-insensitive), or empty.
    std::string header(std::string_view name) const;
};

// A request that failed below HTTP. `maybe_delivered` is true once the request may have reached
// the server, so the outcome of a write is unknown.
class TransportError : public std::runtime_error {
public:
    enum class Stage { connect, tls, send, receive, timeout };
    TransportError(Stage stage_, bool maybe_delivered_, const std::string& what)
        : std::runtime_error(what), stage(stage_), maybe_delivered(maybe_delivered_) {}
    Stage stage;
    bool maybe_delivered;
};

struct ClientOptions {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds request_timeout{60'000};
    // Idle keep-alive connections older than this are closed rather than reused.
    std::chrono::milliseconds idle_timeout{30'000};
    std::size_t max_connections = 4;
    // A CA bundle to trust in addition to the system store (e.g. a private CA).
    std::string ca_file = {};
    std::string user_agent = "notion-syncd";
    std::size_t max_response_bytes = 64 * 1024 * 1024;
};

class HttpClient {
public:
    // Throws std::invalid_argument for an http:// base URL that is not loopback.
    HttpClient(boost::asio::any_io_executor executor, Url base, ClientOptions options);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Sends one request on a pooled connection (waiting for one when all are busy). Throws
    // TransportError below HTTP; any HTTP status is a Response. Cancellation-safe: a cancelled
    // request closes its connection.
    boost::asio::awaitable<Response> send(Request request);

    // Closes idle connections and aborts requests in flight.
    void shutdown();
    std::size_t open_connections() const;
    const Url& base() const;

private:
    // One try; `new_connection` skips the idle pool. Throws a private StaleConnection when a
    // reused connection failed before any byte of an answer (send() decides on a second try).
    boost::asio::awaitable<Response> send_once(Request request, bool new_connection);
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace syncd::net
