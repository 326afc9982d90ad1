#include "daemon/net/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <deque>
#include <list>
#include <optional>
#include <set>

namespace syncd::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

struct Connection {
    std::optional<beast::tcp_stream> plain;
    std::optional<ssl::stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    Clock::time_point last_used = Clock::now();

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    void close() {
        beast::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().socket().close(ignored);
    }
};

std::string describe(const beast::error_code& ec) {
    std::string text = ec.message();
    if (ec.category() == asio::error::get_ssl_category()) {
        const auto reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
        if (reason != nullptr) text = reason;
    }
    return text;
}

}  // namespace

struct HttpClient::State {
    asio::any_io_executor executor;
    Url base;
    ClientOptions options;
    ssl::context tls_context{ssl::context::tls_client};
    std::deque<std::unique_ptr<Connection>> idle;
    std::set<Connection*> busy;
    std::list<asio::steady_timer*> waiters;
    bool stopped = false;

    void wake_one() {
        if (!waiters.empty()) waiters.front()->cancel();
    }
};

std::string Response::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) return value;
    }
    return {};
}

HttpClient::HttpClient(asio::any_io_executor executor, Url base, ClientOptions options)
    : state_(std::make_shared<State>()) {
    if (!base.is_tls() && !base.is_loopback()) {
        throw std::invalid_argument("refusing plain http:// to " + base.host +
                                    ": only loopback peers (such as notion-emulator) may skip TLS");
    }
    state_->executor = std::move(executor);
    state_->base = std::move(base);
    state_->options = std::move(options);
    auto& ctx = state_->tls_context;
    ctx.set_verify_mode(ssl::verify_peer);
    // The system's CA store is read (all of it: ~10 % of a short sync-once's CPU) only for a
    // client that speaks TLS; a loopback http:// client (notion-emulator) never uses it.
    if (state_->base.is_tls()) {
        ctx.set_default_verify_paths();
        if (!state_->options.ca_file.empty()) ctx.load_verify_file(state_->options.ca_file);
    }
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
}

HttpClient::~HttpClient() { shutdown(); }

const Url& HttpClient::base() const { return state_->base; }

std::size_t HttpClient::open_connections() const {
    return state_->idle.size() + state_->busy.size();
}

void HttpClient::shutdown() {
    state_->stopped = true;
    for (auto& c : state_->idle) c->close();
    state_->idle.clear();
    for (auto* c : state_->busy) c->close();
    for (auto* w : state_->waiters) w->cancel();
}

namespace {
// A request that failed on a reused connection before any byte of an answer: the peer closed
// the idle connection (its keep-alive timeout) and never saw the request.
struct StaleConnection {
    TransportError error;
};
}  // namespace

asio::awaitable<Response> HttpClient::send(Request request) {
    if (!request.idempotent && request.method != "GET" && request.method != "HEAD") {
        try {
            co_return co_await send_once(std::move(request), false);
        } catch (StaleConnection& e) {
            throw std::move(e.error);  // a write: its outcome is unknown, the caller decides
        }
    }
    // Named, not a conditional expression: g++ 12 destroys such a temporary twice when it is a
    // coroutine argument.
    Request first = request;
    try {
        co_return co_await send_once(std::move(first), false);
    } catch (const StaleConnection&) {
    }
    co_return co_await send_once(std::move(request), true);
}

asio::awaitable<Response> HttpClient::send_once(Request request, bool new_connection) {
    const auto state = state_;  // keeps the pool alive while this coroutine runs
    const auto& options = state->options;
    const Url& base = state->base;

    // A connection: an idle one that is still fresh, a new one, or the next one released.
    std::unique_ptr<Connection> connection;
    while (!connection) {
        if (state->stopped)
            throw TransportError(TransportError::Stage::connect, false, "client shut down");
        while (!new_connection && !state->idle.empty()) {
            auto candidate = std::move(state->idle.front());
            state->idle.pop_front();
            if (Clock::now() - candidate->last_used < options.idle_timeout &&
                candidate->lowest().socket().is_open()) {
                connection = std::move(candidate);
                break;
            }
            candidate->close();
        }
        if (connection) break;
        if (state->busy.size() < std::max<std::size_t>(options.max_connections, 1)) {
            connection = std::make_unique<Connection>();
            break;
        }
        const auto executor = co_await asio::this_coro::executor;
        asio::steady_timer waiter(executor, Clock::time_point::max());
        const auto position = state->waiters.insert(state->waiters.end(), &waiter);
        co_await waiter.async_wait(use_tuple);
        state->waiters.erase(position);
        const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled != asio::cancellation_type::none) {
            state->wake_one();
            throw boost::system::system_error(asio::error::operation_aborted);
        }
    }
    Connection* raw = connection.get();
    state->busy.insert(raw);
    struct Release {
        const std::shared_ptr<State>& state;
        Connection* raw;
        ~Release() {
            state->busy.erase(raw);
            state->wake_one();
        }
    } release{state, raw};

    const bool fresh = !connection->plain && !connection->tls;
    const bool reused = !fresh;
    if (fresh) {
        const auto executor = co_await asio::this_coro::executor;
        tcp::resolver resolver(executor);
        auto [resolve_error, endpoints] =
            co_await resolver.async_resolve(base.host, base.port, use_tuple);
        if (resolve_error) {
            throw TransportError(TransportError::Stage::connect, false,
                                 "resolving " + base.host + ": " + resolve_error.message());
        }
        if (base.is_tls()) {
            connection->tls.emplace(executor, state->tls_context);
        } else {
            connection->plain.emplace(executor);
        }
        auto& lowest = connection->lowest();
        lowest.expires_after(options.connect_timeout);
        auto [connect_error, endpoint] = co_await lowest.async_connect(endpoints, use_tuple);
        if (connect_error) {
            throw TransportError(
                connect_error == beast::error::timeout ? TransportError::Stage::timeout
                                                       : TransportError::Stage::connect,
                false, "connecting to " + base.authority() + ": " + connect_error.message());
        }
        lowest.socket().set_option(tcp::no_delay(true));
        if (connection->tls) {
            // SNI, then the certificate's name must match the host we asked for.
            if (!SSL_set_tlsext_host_name(connection->tls->native_handle(), base.host.c_str())) {
                throw TransportError(TransportError::Stage::tls, false,
                                     "setting TLS server name failed");
            }
            // OpenSSL's own name check (RFC 6125), so a mismatch is reported as such.
            SSL* ssl_handle = connection->tls->native_handle();
            boost::system::error_code not_an_address;
            asio::ip::make_address(base.host, not_an_address);
            const bool name_set = not_an_address
                                      ? SSL_set1_host(ssl_handle, base.host.c_str()) == 1
                                      : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle),
                                                                      base.host.c_str()) == 1;
            if (!name_set) {
                throw TransportError(TransportError::Stage::tls, false,
                                     "setting the TLS peer name to check failed");
            }
            auto [handshake_error] =
                co_await connection->tls->async_handshake(ssl::stream_base::client, use_tuple);
            if (handshake_error) {
                std::string why = describe(handshake_error);
                if (const long verified = SSL_get_verify_result(ssl_handle); verified != X509_V_OK)
                    why += " (" + std::string(X509_verify_cert_error_string(verified)) + ")";
                throw TransportError(TransportError::Stage::tls, false,
                                     "TLS handshake with " + base.authority() + " failed: " + why);
            }
        }
    }

    http::request<http::string_body> message{http::string_to_verb(request.method),
                                             base.path + request.target, 11};
    message.set(http::field::host, base.authority());
    message.set(http::field::user_agent, options.user_agent);
    for (const auto& [name, value] : request.headers) message.set(name, value);
    if (!request.body.empty()) message.body() = std::move(request.body);
    message.keep_alive(true);
    message.prepare_payload();

    connection->lowest().expires_after(options.request_timeout);
    auto write = [&]() -> asio::awaitable<beast::error_code> {
        if (connection->tls) {
            auto [ec, n] = co_await http::async_write(*connection->tls, message, use_tuple);
            co_return ec;
        }
        auto [ec, n] = co_await http::async_write(*connection->plain, message, use_tuple);
        co_return ec;
    };
    if (const auto ec = co_await write()) {
        connection->close();
        TransportError error(
            ec == beast::error::timeout ? TransportError::Stage::timeout
                                        : TransportError::Stage::send,
            true, "sending " + request.method + " " + request.target + ": " + ec.message());
        if (reused && ec != beast::error::timeout) throw StaleConnection{std::move(error)};
        throw error;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_response_bytes);
    // Beast reads at most the buffer's free capacity (512 bytes at first, and a string body
    // leaves it empty): without room, a 300 KB answer would take hundreds of reads.
    if (connection->buffer.capacity() < 64 * 1024) connection->buffer.reserve(64 * 1024);
    auto read = [&]() -> asio::awaitable<beast::error_code> {
        if (connection->tls) {
            auto [ec, n] =
                co_await http::async_read(*connection->tls, connection->buffer, parser, use_tuple);
            co_return ec;
        }
        auto [ec, n] =
            co_await http::async_read(*connection->plain, connection->buffer, parser, use_tuple);
        co_return ec;
    };
    if (const auto ec = co_await read()) {
        connection->close();
        const bool timeout = ec == beast::error::timeout;
        TransportError error(
            timeout ? TransportError::Stage::timeout : TransportError::Stage::receive, true,
            (timeout ? "no complete answer in time to " : "reading the answer to ") +
                request.method + " " + request.target + ": " + ec.message() +
                (ec == http::error::partial_message
                     ? " (the connection closed before the whole answer arrived)"
                     : ""));
        if (reused && !timeout && !parser.got_some()) throw StaleConnection{std::move(error)};
        throw error;
    }
    auto& answer = parser.get();
    Response response{.status = static_cast<int>(answer.result_int())};
    for (const auto& field : answer) {
        response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    response.body = std::move(answer.body());
    if (answer.keep_alive() && !state->stopped) {
        connection->last_used = Clock::now();
        connection->lowest().expires_never();
        state->idle.push_back(std::move(connection));
    } else {
        connection->close();
    }
    co_return response;
}

}  // namespace syncd::net
