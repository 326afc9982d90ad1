#include "tests/support/webhook_receiver.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace syncd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string hmac_hex(const std::string& key, const std::string& body) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &size);
    std::string hex;
    char two[3];
    for (unsigned int i = 0; i < size; ++i) {
        std::snprintf(two, sizeof two, "%02x", digest[i]);
        hex += two;
    }
    return hex;
}

std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

std::size_t events_in(const std::string& body) {
    boost::system::error_code ec;
    const auto value = boost::json::parse(body, ec);
    if (ec || !value.is_object()) return 0;
    const auto* events = value.get_object().if_contains("events");
    return events && events->is_array() ? events->get_array().size() : 1;
}

}  // namespace

struct WebhookReceiver::State {
    ReceiverOptions options;
    std::optional<ssl::context> tls;  // outlives the io_context, whose sessions use it
    asio::io_context io;
    tcp::acceptor acceptor{io};
    std::thread thread;

    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    std::deque<ReceiverAnswer> queued;
    ReceiverAnswer fallback;
    std::vector<ReceivedRequest> requests;
    std::size_t accepted = 0;

    ReceiverAnswer record(ReceivedRequest request) {
        std::lock_guard lock(mutex);
        ReceiverAnswer answer = fallback;
        if (!queued.empty()) {
            answer = queued.front();
            queued.pop_front();
        }
        request.answered = answer.status;
        if (answer.status >= 200 && answer.status < 300) accepted += request.events;
        requests.push_back(std::move(request));
        changed.notify_all();
        return answer;
    }
};

namespace {

template <typename Stream>
asio::awaitable<void> serve(WebhookReceiver::State* state, Stream stream) {
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(256 * 1024 * 1024);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (ec) co_return;
        auto& message = parser.get();
        ReceivedRequest request{.method = std::string(message.method_string()),
                                .target = std::string(message.target())};
        for (const auto& field : message) {
            request.headers[lower(std::string(field.name_string()))] = std::string(field.value());
        }
        if (!state->options.secret.empty()) {
            const std::string expected =
                "sha256=" + hmac_hex(state->options.secret, message.body());
            const auto& got = request.headers["x-notion-syncd-signature"];
            request.signature_ok = got.size() == expected.size() &&
                                   CRYPTO_memcmp(got.data(), expected.data(), expected.size()) == 0;
        }
        request.events = events_in(message.body());
        if (state->options.keep_bodies) request.body = std::move(message.body());
        const bool keep_alive = message.keep_alive();
        const ReceiverAnswer answer = state->record(std::move(request));

        http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
        response.set(http::field::content_type, "text/plain");
        if (!answer.retry_after.empty()) response.set(http::field::retry_after, answer.retry_after);
        response.body() = answer.body;
        response.keep_alive(keep_alive);
        response.prepare_payload();
        auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
        if (write_error || !keep_alive) co_return;
    }
}

asio::awaitable<void> serve_tls(WebhookReceiver::State* state,
                                ssl::stream<beast::tcp_stream> stream) {
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (ec) co_return;
    co_await serve(state, std::move(stream));
}

// Sessions get the State by pointer: it owns the io_context that owns them.
asio::awaitable<void> accept(WebhookReceiver::State* state) {
    for (;;) {
        auto [ec, socket] = co_await state->acceptor.async_accept(use_tuple);
        if (ec) co_return;
        if (state->tls) {
            ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)),
                                                  *state->tls);
            asio::co_spawn(state->io, serve_tls(state, std::move(stream)), asio::detached);
        } else {
            asio::co_spawn(state->io, serve(state, beast::tcp_stream(std::move(socket))),
                           asio::detached);
        }
    }
}

}  // namespace

WebhookReceiver::WebhookReceiver(ReceiverOptions options) : state_(std::make_shared<State>()) {
    state_->options = std::move(options);
    if (!state_->options.cert_file.empty()) {
        state_->tls.emplace(ssl::context::tls_server);
        state_->tls->use_certificate_chain_file(state_->options.cert_file);
        state_->tls->use_private_key_file(state_->options.key_file, ssl::context::pem);
    }
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(state_->options.port));
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen();
    asio::co_spawn(state_->io, accept(state_.get()), asio::detached);
    state_->thread = std::thread([state = state_] { state->io.run(); });
}

WebhookReceiver::~WebhookReceiver() {
    state_->io.stop();
    state_->thread.join();
}

int WebhookReceiver::port() const { return state_->acceptor.local_endpoint().port(); }

std::string WebhookReceiver::url(const std::string& path) const {
    return (state_->tls ? "https://localhost:" : "http://127.0.0.1:") + std::to_string(port()) +
           path;
}

void WebhookReceiver::answer_next(std::size_t count, const ReceiverAnswer& answer) {
    std::lock_guard lock(state_->mutex);
    for (std::size_t i = 0; i < count; ++i) state_->queued.push_back(answer);
}

void WebhookReceiver::answer_always(const ReceiverAnswer& answer) {
    std::lock_guard lock(state_->mutex);
    state_->fallback = answer;
}

std::vector<ReceivedRequest> WebhookReceiver::requests() const {
    std::lock_guard lock(state_->mutex);
    return state_->requests;
}

std::size_t WebhookReceiver::events_accepted() const {
    std::lock_guard lock(state_->mutex);
    return state_->accepted;
}

std::size_t WebhookReceiver::request_count() const {
    std::lock_guard lock(state_->mutex);
    return state_->requests.size();
}

bool WebhookReceiver::wait_for_events(std::size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, timeout, [&] { return state_->accepted >= n; });
}

}  // namespace syncd::test
