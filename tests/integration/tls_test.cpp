// The HTTPS client verifies its peer: a self-signed certificate is refused unless its CA is
// configured, and a certificate for another name is refused even then (issue #3).
#include <doctest/doctest.h>

#include <boost/asio/this_coro.hpp>

#include "daemon/net/http_client.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
namespace asio = boost::asio;

namespace {

// A certificate for `name` (self-signed, so it is its own CA) in dir/<file>.{pem,key}.
void make_certificate(const test::TempDir& dir, const std::string& file, const std::string& name) {
    const auto base = (dir.path() / file).string();
    test::shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout " + base + ".key -out " +
                base + ".pem -subj /CN=" + name + " -addext subjectAltName=DNS:" + name +
                " >/dev/null 2>&1");
}

// openssl s_server answering GET with a status page, on a free port.
struct TlsServer {
    int port = test::free_port();
    test::Process process;
    TlsServer(const test::TempDir& dir, const std::string& file)
        : process({"/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                   "-cert", (dir.path() / (file + ".pem")).string(), "-key",
                   (dir.path() / (file + ".key")).string(), "-www"},
                  dir.path() / (file + ".log")) {
        process.wait_for("ACCEPT", std::chrono::seconds(10));
    }
};

// The outcome of one GET: "200", or the TransportError's stage and message.
std::string get(int port, const std::string& ca_file) {
    return test::run([&]() -> asio::awaitable<std::string> {
        const auto executor = co_await asio::this_coro::executor;
        const net::Url url = net::Url::parse("https://localhost:" + std::to_string(port));
        net::ClientOptions options;
        options.ca_file = ca_file;
        net::HttpClient client(executor, url, options);
        try {
            net::Request request;
            const net::Response response = co_await client.send(std::move(request));
            co_return std::to_string(response.status);
        } catch (const net::TransportError& e) {
            co_return std::string(e.stage == net::TransportError::Stage::tls ? "tls: "
                                                                             : "other: ") +
                e.what();
        }
    }());
}

}  // namespace

TEST_CASE("a self-signed certificate is refused unless its CA is configured") {
    test::TempDir dir;
    make_certificate(dir, "server", "localhost");
    TlsServer server(dir, "server");
    const std::string refused = get(server.port, "");
    CHECK(refused.starts_with("tls: "));
    CHECK(refused.find("certificate verify failed (self-signed certificate)") != std::string::npos);
    CHECK(get(server.port, (dir.path() / "server.pem").string()) == "200");
}

TEST_CASE("a certificate for another host name is refused even with its CA") {
    test::TempDir dir;
    make_certificate(dir, "other", "other.example");
    TlsServer server(dir, "other");
    // Trusted, but for another name: refused for that reason and no other.
    const std::string refused = get(server.port, (dir.path() / "other.pem").string());
    CAPTURE(refused);
    CHECK(refused.starts_with("tls: "));
    CHECK(refused.find("certificate verify failed (hostname mismatch)") != std::string::npos);
}

TEST_CASE("plain http is refused for anything but loopback") {
    asio::io_context io;
    CHECK_THROWS_AS(
        net::HttpClient(io.get_executor(), net::Url::parse("http://api.notion.com"), {}),
        std::invalid_argument);
    CHECK_NOTHROW(net::HttpClient(io.get_executor(), net::Url::parse("http://127.0.0.1:1"), {}));
}
