#include "emulator/emulator.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

using namespace emulator;

namespace {

struct Running {
    Emulator emulator{Options{.owner_token = "owner-token",
                              .connection_tokens = {"bot-token"},
                              .rate_requests = 0,
                              .seed = 7}};

    json::object call(const std::string& method, const std::string& target,
                      const std::string& token, const std::string& body = "") {
        last = emulator.handle({.method = method,
                                .target = target,
                                .headers = {{"Authorization", "Bearer " + token},
                                            {"Notion-Version", "2026-03-11"},
                                            {"Content-Type", "application/json"}},
                                .body = body});
        return json::parse(last.body).as_object();
    }
    void control(const std::string& name, const std::string& body) {
        const auto r =
            emulator.handle({.method = "POST", .target = "/__emulator/" + name, .body = body});
        REQUIRE(r.status == 200);
    }

    HttpResponse last = {};
};

}  // namespace

TEST_CASE(
    "an injected 409 on PATCH /v1/pages/ answers Notion's conflict_error and writes nothing") {
    Running e;
    const auto page = e.call("POST", "/v1/pages", "owner-token",
                             R"({"parent":{"workspace":true},
                                 "properties":{"title":{"title":[{"text":{"content":"A"}}]}}})");
    const std::string id(page.at("id").as_string());
    e.control("share", R"({"token":"connection-1","object_id":")" + id + R"("})");
    e.control("faults", R"({"match":{"method":"PATCH","path_prefix":"/v1/pages/",
                            "token":"bot-token"},"count":1,
                            "fault":{"status":409,"code":"conflict_error"}})");
    const std::string rename = R"({"properties":{"title":{"title":[{"text":{"content":"B"}}]}}})";

    const auto refused = e.call("PATCH", "/v1/pages/" + id, "bot-token", rename);
    CHECK(e.last.status == 409);
    CHECK(refused.at("object") == "error");
    CHECK(refused.at("status") == 409);
    CHECK(refused.at("code") == "conflict_error");
    CHECK(refused.at("message") == "Conflict occurred while saving. Please try again.");
    CHECK(refused.at("request_id").is_string());
    CHECK_FALSE(refused.contains("additional_data"));
    const auto unchanged = e.call("GET", "/v1/pages/" + id, "bot-token");
    CHECK(unchanged.at("properties").at("title").at("title").as_array()[0].at("plain_text") == "A");

    const auto written = e.call("PATCH", "/v1/pages/" + id, "bot-token", rename);  // count: 1
    CHECK(e.last.status == 200);
    CHECK(written.at("properties").at("title").at("title").as_array()[0].at("plain_text") == "B");
    const auto bot = e.call("GET", "/v1/users/me", "bot-token");
    CHECK(written.at("last_edited_by").at("id") == bot.at("id"));
}

TEST_CASE("a fault with a probability hits about that share of requests and is counted by kind") {
    Running e;
    e.control("faults", R"({"match":{"path_prefix":"/v1/users"},"count":100000,
                            "probability":0.2,"fault":{"status":503}})");
    int faulted = 0;
    for (int i = 0; i < 1000; ++i) {
        e.call("GET", "/v1/users/me", "bot-token");
        if (e.last.status == 503)
            ++faulted;
        else
            CHECK(e.last.status == 200);
    }
    CHECK(faulted > 150);  // 200 expected; 5 standard deviations either side
    CHECK(faulted < 250);
    const auto counted = e.emulator.handle({.method = "GET", .target = "/__emulator/faults"});
    const auto answer = json::parse(counted.body).as_object();
    CHECK(answer.at("applied").at("503") == faulted);
    CHECK(answer.at("total") == faulted);
    CHECK(answer.at("pending") == 100000 - faulted);
    e.control("faults", R"({"clear":true})");
    for (int i = 0; i < 50; ++i) {
        e.call("GET", "/v1/users/me", "bot-token");
        CHECK(e.last.status == 200);
    }
    const auto after =
        json::parse(e.emulator.handle({.method = "GET", .target = "/__emulator/faults"}).body);
    CHECK(after.at("total") == faulted);
    CHECK(after.at("pending") == 0);

    const auto refused =
        e.emulator.handle({.method = "POST",
                           .target = "/__emulator/faults",
                           .body = R"({"probability":1.5,"fault":{"status":500}})"});
    CHECK(refused.status == 400);
    CHECK(refused.body.find("probability should be a number in (0, 1].") != std::string::npos);
}

TEST_CASE("a fault that names only a status gets Notion's code for it") {
    Running e;
    for (const auto& [status, code] :
         std::vector<std::pair<int, std::string>>{{409, "conflict_error"},
                                                  {500, "internal_server_error"},
                                                  {502, "bad_gateway"},
                                                  {503, "service_unavailable"},
                                                  {504, "gateway_timeout"},
                                                  {529, "service_overload"},
                                                  {403, "restricted_resource"}}) {
        CAPTURE(status);
        e.control("faults", R"({"match":{"path_prefix":"/v1/users"},"count":1,
                                "fault":{"status":)" +
                                std::to_string(status) + "}}");
        const auto body = e.call("GET", "/v1/users/me", "bot-token");
        CHECK(e.last.status == status);
        CHECK(body.at("code").as_string() == code);
    }
    e.control("faults", R"({"count":1,"fault":{"status":409,"message":"Try later."}})");
    CHECK(e.call("GET", "/v1/users/me", "bot-token").at("message") == "Try later.");
    CHECK(e.call("GET", "/v1/users/me", "bot-token").at("object") == "user");
}
