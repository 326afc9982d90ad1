#include "emulator/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <iostream>
#include <sstream>

#include "emulator/emulator.hpp"

namespace emulator {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> session(tcp::socket socket, Emulator& emulator) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (bool first = true;; first = false) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(16 * 1024 * 1024);
        // Between requests a kept-alive connection may idle only so long (then it is closed).
        stream.expires_after(first ? 300s
                                   : std::chrono::milliseconds(emulator.keep_alive_idle_ms()));
        auto [read_error, read_bytes] =
            co_await http::async_read(stream, buffer, parser, use_tuple);
        if (read_error) co_return;
        const auto& request = parser.get();
        HttpRequest r{.method = std::string(request.method_string()),
                      .target = std::string(request.target()),
                      .body = request.body()};
        for (const auto& field : request) {
            r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
        HttpResponse out = emulator.handle(r);
        if (out.delay_ms > 0) {
            asio::steady_timer timer(co_await asio::this_coro::executor);
            timer.expires_after(std::chrono::milliseconds(out.delay_ms));
            co_await timer.async_wait(use_tuple);
        }
        if (out.reset_connection) {
            // SO_LINGER 0 makes close() send RST: the client sees "connection reset".
            beast::error_code ignored;
            stream.socket().set_option(asio::socket_base::linger(true, 0), ignored);
            stream.socket().close(ignored);
            co_return;
        }
        http::response<http::string_body> response{static_cast<http::status>(out.status),
                                                   request.version()};
        response.set(http::field::server, "notion-emulator");
        for (const auto& [name, value] : out.headers) response.set(name, value);
        response.body() = std::move(out.body);
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        stream.expires_after(60s);
        if (out.truncate_body) {
            // The headers promise the whole body; half of it arrives before the connection ends.
            std::ostringstream text;
            text << response;
            const std::string all = text.str();
            const std::size_t cut = all.size() - response.body().size() / 2;
            co_await asio::async_write(stream, asio::buffer(all.data(), cut), use_tuple);
            beast::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            co_return;
        }
        auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
        if (write_error || !response.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, Emulator& emulator) {
    for (;;) {
        auto [error, socket] = co_await acceptor.async_accept(use_tuple);
        if (error) {
            if (error == asio::error::operation_aborted) co_return;
            continue;
        }
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), session(std::move(socket), emulator),
                       asio::detached);
    }
}

// Posts one webhook delivery; failures are reported on stderr and dropped.
asio::awaitable<void> deliver(WebhookDelivery delivery) {
    const auto executor = co_await asio::this_coro::executor;
    std::string rest = delivery.url.substr(std::string_view("http://").size());
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    const std::string host = authority.substr(0, colon);
    const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
    tcp::resolver resolver(executor);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(host, port, use_tuple);
    if (resolve_error) {
        std::cerr << "notion-emulator: webhook to " << delivery.url << ": "
                  << resolve_error.message() << '\n';
        co_return;
    }
    beast::tcp_stream stream(executor);
    stream.expires_after(10s);
    auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, use_tuple);
    if (connect_error) {
        std::cerr << "notion-emulator: webhook to " << delivery.url << ": "
                  << connect_error.message() << '\n';
        co_return;
    }
    http::request<http::string_body> request{http::verb::post, target, 11};
    request.set(http::field::host, authority);
    request.set(http::field::user_agent, "notion-api");
    for (const auto& [name, value] : delivery.headers) request.set(name, value);
    request.body() = std::move(delivery.body);
    request.prepare_payload();
    auto [write_error, written] = co_await http::async_write(stream, request, use_tuple);
    if (write_error) co_return;
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    co_await http::async_read(stream, buffer, response, use_tuple);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> webhook_pump(Emulator& emulator) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        timer.expires_after(20ms);
        auto [error] = co_await timer.async_wait(use_tuple);
        if (error) co_return;
        for (auto& delivery : emulator.due_webhooks()) {
            asio::co_spawn(timer.get_executor(), deliver(std::move(delivery)), asio::detached);
        }
    }
}

}  // namespace

void serve(Emulator& emulator, const ServerOptions& options) {
    asio::io_context io;
    tcp::acceptor acceptor(io);
    const tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    std::cout << "{\"port\":" << acceptor.local_endpoint().port() << "}" << std::endl;
    asio::co_spawn(io, listen(acceptor, emulator), asio::detached);
    asio::co_spawn(io, webhook_pump(emulator), asio::detached);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const beast::error_code&, int) { io.stop(); });
    io.run();
}

}  // namespace emulator
