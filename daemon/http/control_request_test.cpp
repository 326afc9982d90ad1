#include <doctest/doctest.h>

#include <string>

#include "daemon/http/control_server.hpp"

using namespace syncd::http;

TEST_CASE("a control request is read whole from its bytes, as the server reads one") {
    const auto parsed = parse_control_request(
        "POST /v1/conflicts/3/resolve HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Content-Length: 17\r\n\r\n{\"take\":\"notion\"}",
        1024);
    REQUIRE(parsed.request);
    CHECK(parsed.request->method == "POST");
    CHECK(parsed.request->target == "/v1/conflicts/3/resolve");
    CHECK(parsed.request->header("AUTHORIZATION") == "Bearer t");
    CHECK(parsed.request->body == R"({"take":"notion"})");

    const auto chunked = parse_control_request(
        "POST /v1/targets/t/db/changes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        1024);
    REQUIRE(chunked.request);
    CHECK(chunked.request->body == R"({"a":1})");
}

TEST_CASE("bytes that are no whole request, or a body over the limit, are not a request") {
    CHECK_FALSE(parse_control_request("", 1024).request);  // closed before a byte
    CHECK_FALSE(parse_control_request("GET /v1/status HTTP/1.1\r\nHost:", 1024).request);
    CHECK_FALSE(parse_control_request("NOT HTTP\r\n\r\n", 1024).request);
    // A promised body that does not all arrive.
    CHECK_FALSE(
        parse_control_request("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 1024).request);
    const auto big = parse_control_request(
        "POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'x'), 1024);
    CHECK_FALSE(big.request);
    CHECK(big.too_large);
}

TEST_CASE("the control token is required except on the routes that check their own") {
    const ServerOptions guarded{.auth_token = std::string("secret")};
    auto status = [&](const std::string& method, const std::string& target,
                      const std::string& authorization) {
        ControlRequest r{.method = method, .target = target, .headers = {}, .body = {}};
        if (!authorization.empty()) r.headers.emplace_back("Authorization", authorization);
        return authorize(guarded, r).status;
    };
    CHECK(status("GET", "/v1/status", "") == 401);
    CHECK(status("GET", "/v1/status", "Bearer wrong!") == 401);
    CHECK(status("GET", "/v1/status", "Bearer secret") == 0);
    CHECK(status("POST", "/v1/sync", "bearer secret") == 401);  // the scheme as sent, exactly
    CHECK(status("GET", "/", "") == 0);
    CHECK(status("GET", "/console/app.js", "") == 0);
    CHECK(status("POST", "/console/app.js", "") == 401);
    CHECK(status("POST", "/v1/webhooks/notion", "") == 0);
    CHECK(status("POST", "/v1/targets/tasks/db/changes", "") == 0);
    CHECK(status("POST", "/v1/targets/tasks/db/reset", "") == 401);
    CHECK(
        authorize(ServerOptions{},
                  ControlRequest{.method = "POST", .target = "/v1/sync", .headers = {}, .body = {}})
            .status == 0);
}
