#include "daemon/http/control_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

#include "config/environment.hpp"
#include "daemon/http/control_request.hpp"

namespace syncd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

std::pair<std::string, std::string> split(const std::string& listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos)
        throw std::runtime_error("control.listen `" + listen + "` is not host:port");
    std::string host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return {host, listen.substr(colon + 1)};
}

}  // namespace

bool is_loopback(const std::string& listen) {
    try {
        return config::is_loopback_host(split(listen).first);
    } catch (const std::exception&) {
        return false;
    }
}

struct ControlServer::State {
    explicit State(asio::any_io_executor executor) : acceptor(executor) {}
    tcp::acceptor acceptor;
    ServerOptions options;
    Handler handler;
    bool stopped = false;
};

namespace {

asio::awaitable<void> serve(std::shared_ptr<ControlServer::State> state, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        bhttp::request_parser<bhttp::string_body> parser;
        parser.body_limit(state->options.max_body_bytes);
        stream.expires_after(30s);
        auto [read_error, n] =
            co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (read_error) {
            if (read_error == bhttp::error::body_limit) {
                bhttp::response<bhttp::string_body> too_big{bhttp::status::payload_too_large, 11};
                too_big.body() = R"({"error":"body too large"})";
                too_big.prepare_payload();
                co_await bhttp::async_write(stream, too_big, asio::as_tuple(asio::use_awaitable));
            }
            break;
        }
        const auto& message = parser.get();
        const ControlRequest request = to_control_request(message);
        ControlResponse answer = authorize(state->options, request);
        if (answer.status == 0) {
            std::optional<std::string> failure;
            try {
                answer = co_await state->handler(request);
            } catch (const std::exception& e) {
                failure = e.what();
            }
            if (failure) {
                spdlog::error("control server: {} {}: {}", request.method, request.target,
                              *failure);
                answer = {.status = 500, .body = R"({"error":"internal error, see the log"})"};
            }
        }
        bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(answer.status),
                                                     message.version()};
        response.set(bhttp::field::server, "notion-syncd");
        response.set(bhttp::field::content_type, answer.content_type);
        response.set("X-Content-Type-Options", "nosniff");
        bool cache_set = false;
        for (const auto& [name, value] : answer.headers) {
            response.set(name, value);
            cache_set = cache_set || beast::iequals(name, "cache-control");
        }
        if (!cache_set) response.set(bhttp::field::cache_control, "no-store");
        response.body() = std::move(answer.body);
        response.keep_alive(message.keep_alive());
        response.prepare_payload();
        auto [write_error, written] =
            co_await bhttp::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
        if (write_error || !response.keep_alive() || state->stopped) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> accept(std::shared_ptr<ControlServer::State> state) {
    while (!state->stopped) {
        auto [error, socket] =
            co_await state->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (error) {
            if (state->stopped || error == asio::error::operation_aborted) break;
            spdlog::warn("control server: accept failed: {}", error.message());
            continue;
        }
        const auto executor = co_await asio::this_coro::executor;
        asio::co_spawn(executor, serve(state, std::move(socket)), asio::detached);
    }
}

}  // namespace

ControlServer::ControlServer(asio::any_io_executor executor, ServerOptions options, Handler handler)
    : state_(std::make_shared<State>(executor)) {
    state_->options = std::move(options);
    state_->handler = std::move(handler);
    const auto [host, port] = split(state_->options.listen);
    try {
        tcp::resolver resolver(executor);
        const auto endpoints = resolver.resolve(host, port);
        const tcp::endpoint endpoint = endpoints.begin()->endpoint();
        state_->acceptor.open(endpoint.protocol());
        state_->acceptor.set_option(asio::socket_base::reuse_address(true));
        state_->acceptor.bind(endpoint);
        state_->acceptor.listen();
    } catch (const boost::system::system_error& e) {
        // code().message(): what() would append Boost's source location.
        throw std::runtime_error("control server: cannot listen on " + state_->options.listen +
                                 ": " + e.code().message() +
                                 " (change control.listen, or stop what holds the port)");
    }
    asio::co_spawn(executor, accept(state_), asio::detached);
}

ControlServer::~ControlServer() { stop(); }

unsigned short ControlServer::port() const { return state_->acceptor.local_endpoint().port(); }

void ControlServer::stop() {
    if (state_->stopped) return;
    state_->stopped = true;
    beast::error_code ignored;
    state_->acceptor.close(ignored);
}

}  // namespace syncd::http
