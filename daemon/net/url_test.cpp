#include "daemon/net/url.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using syncd::net::Url;

TEST_CASE("URLs parse into scheme, host, port and path") {
    const Url notion = Url::parse("https://api.notion.com");
    CHECK(notion.scheme == "https");
    CHECK(notion.host == "api.notion.com");
    CHECK(notion.port == "443");
    CHECK(notion.path.empty());
    CHECK(notion.authority() == "api.notion.com");
    const Url local = Url::parse("http://127.0.0.1:8080/base/");
    CHECK(local.port == "8080");
    CHECK(local.path == "/base");
    CHECK(local.authority() == "127.0.0.1:8080");
    CHECK(Url::parse("http://[::1]:9/").host == "::1");
}

TEST_CASE("only loopback hosts count as loopback") {
    CHECK(Url::parse("http://127.0.0.1:1").is_loopback());
    CHECK(Url::parse("http://127.8.9.10:1").is_loopback());
    CHECK(Url::parse("http://localhost:1").is_loopback());
    CHECK(Url::parse("http://[::1]:1").is_loopback());
    CHECK_FALSE(Url::parse("http://10.0.0.1").is_loopback());
    CHECK_FALSE(Url::parse("http://localhost.example.com").is_loopback());
}

TEST_CASE("malformed URLs are refused with the reason") {
    for (const char* bad :
         {"api.notion.com", "ftp://x", "https://", "https://h:0", "https://h:99999",
          "https://user:pw@h", "https://h/p?q=1", "https://h:x"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(Url::parse(bad), std::invalid_argument);
    }
}
