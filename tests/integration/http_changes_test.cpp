// Changes pushed over HTTP to a two-way webhook target (issue 13): POST
// /v1/targets/{sync}/{connector}/changes on the control server of a running daemon, signed with the
// connector's secret as the outbound webhook signs, idempotent by Idempotency-Key, answered per
// change; the results of the merge (applied, or rejected with the reason) at GET …/changes/{id}.
#include <doctest/doctest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <fstream>

#include "daemon/http/notion_webhook.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/net/url.hpp"
#include "tests/support/process.hpp"
#include "tests/support/two_way_fixture.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
using test::read_file;
using test::wait_until;

namespace {

constexpr const char* secret = "push-secret-123";

net::Response call(int port, const std::string& method, const std::string& target,
                   const std::string& body, net::Headers headers) {
    return test::run([&]() -> boost::asio::awaitable<net::Response> {
        const auto executor = co_await boost::asio::this_coro::executor;
        net::HttpClient client(executor,
                               net::Url::parse("http://127.0.0.1:" + std::to_string(port)), {});
        net::Request request{
            .method = method, .target = target, .headers = std::move(headers), .body = body};
        co_return co_await client.send(std::move(request));
    }());
}

// A POST signs its body, a GET its path.
net::Response signed_call(int port, const std::string& method, const std::string& target,
                          const std::string& body, const std::string& key = {}) {
    net::Headers headers{
        {"X-Notion-Syncd-Signature", http::sign(method == "GET" ? target : body, secret)},
        {"Content-Type", "application/json"}};
    if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
    return call(port, method, target, body, std::move(headers));
}

}  // namespace

TEST_CASE("changes over HTTP: signed, idempotent, answered per change, merged like any edit") {
    test::WebhookReceiver receiver;
    test::TwoWayFixture t;
    const int port = test::free_port();
    t.listen = "127.0.0.1:" + std::to_string(port);
    t.connectors =
        "  hook:\n    type: webhook\n    url: " + receiver.url() + "\n    secret: " + secret + "\n";
    t.targets =
        "      - connector: hook\n        two_way:\n          settle: 0s\n"
        "          max_write_ratio: 1\n      - connector: log\n";
    test::Process daemon(t.command({"run"}), t.path("daemon.log"));
    REQUIRE(wait_until(15s, [&] {
        try {
            return call(port, "GET", "/readyz", "", {}).status == 200;
        } catch (const std::exception&) {
            return false;
        }
    }));
    REQUIRE(receiver.wait_for_events(5, 15s));  // the pages reached the webhook
    const std::string route = "/v1/targets/tasks/hook/changes";

    // Unsigned, wrongly signed, an unknown target, a bad body.
    const std::string one = R"({"changes":[{"page_id":")" + t.pages[1] +
                            R"(","properties":{"Estimate":8,"Status":"Done"}},)"
                            R"({"page_id":")" +
                            t.pages[2] + R"(","properties":{"Bogus":1}}]})";
    CHECK(call(port, "POST", route, one, {}).status == 401);
    CHECK(call(port, "POST", route, one, {{"X-Notion-Syncd-Signature", http::sign(one, "wrong")}})
              .status == 401);
    CHECK(signed_call(port, "POST", "/v1/targets/tasks/log/changes", one).status == 404);
    CHECK(signed_call(port, "POST", route, R"({"change":[]})").status == 400);

    const auto writes_before = t.writes();
    const auto accepted = signed_call(port, "POST", route, one, "request-1");
    REQUIRE(accepted.status == 202);
    const auto answer = json::parse(accepted.body);
    const auto& changes = answer.at("changes").as_array();
    REQUIRE(changes.size() == 2);
    CHECK(changes[0].at("status") == "accepted");
    CHECK(changes[1].at("status") == "rejected");
    CHECK(changes[1].at("reason") == "no property `Bogus` in this sync");
    const std::string results(answer.at("results").as_string());
    CHECK(wait_until(15s, [&] { return t.notion_value(t.pages[1], "Estimate") == 8; }));
    CHECK(t.notion_value(t.pages[1], "Status").at("name") == "Done");
    CHECK(t.writes() == writes_before + 1);
    json::value decided;
    CHECK(wait_until(10s, [&] {
        decided = json::parse(signed_call(port, "GET", results, "").body);
        return decided.at("undecided") == 0 && decided.at("results").as_array().size() == 2;
    }));
    MESSAGE(json::serialize(decided));
    bool applied = false;
    for (const auto& r : decided.at("results").as_array()) {
        if (r.at("index") == 0) {
            applied = r.at("status") == "applied" && r.at("written").as_array().size() == 2;
        }
    }
    CHECK(applied);
    // Request ids are not small counters a restart reuses; an id the daemon does not know is a
    // 404 that says what to do.
    CHECK(answer.at("request").to_number<std::int64_t>() > 1'000'000'000'000LL);
    const auto unknown = signed_call(port, "GET", route + "/1", "");
    CHECK(unknown.status == 404);
    CHECK(unknown.body.find("send again the changes you have no result for") != std::string::npos);
    // A GET's signature is of its path: another request's results need their own.
    CHECK(call(port, "GET", results, "", {{"X-Notion-Syncd-Signature", http::sign("", secret)}})
              .status == 401);

    // The same request again (a client's retry): the same answer, nothing taken twice.
    const auto again = signed_call(port, "POST", route, one, "request-1");
    CHECK(again.status == 202);
    CHECK(json::parse(again.body).at("request") == answer.at("request"));
    // The key with another body is a mistake, said so.
    const auto reused = signed_call(port, "POST", route, R"({"changes":[]})", "request-1");
    CHECK(reused.status == 422);

    // Changed on both sides: Notion's value wins by default, and the result says so.
    t.notion_set(t.pages[3], R"({"Estimate":{"number":40}})");
    CHECK(wait_until(15s, [&] {
        for (const auto& e : t.events()) {
            if (e.at("page_id") == t.pages[3].c_str() && e.at("properties").at("Estimate") == 40)
                return true;
        }
        return false;
    }));
    // The sender edited a version older than Notion's (based_on): a conflict, not an edit. (Notion
    // gives last_edited_time to the minute: a sender's version of the same minute is current.)
    const std::string conflict = R"({"changes":[{"page_id":")" + t.pages[3] +
                                 R"(","properties":{"Estimate":50},)"
                                 R"("based_on":{"last_edited_time":"2020-01-01T00:00:00.000Z"}}]})";
    const auto second = signed_call(port, "POST", route, conflict, "request-2");
    REQUIRE(second.status == 202);
    const std::string second_results(json::parse(second.body).at("results").as_string());
    json::value outcome;
    CHECK(wait_until(15s, [&] {
        outcome = json::parse(signed_call(port, "GET", second_results, "").body);
        return outcome.at("results").as_array().size() == 1;
    }));
    MESSAGE(json::serialize(outcome));
    CHECK(outcome.at("results").as_array()[0].at("status") == "rejected");
    CHECK(outcome.at("results").as_array()[0].at("rejected").as_array()[0].at("reason") ==
          "conflict: Notion's value wins (notion-wins)");
    CHECK(t.notion_value(t.pages[3], "Estimate") == 40);

    kill(daemon.pid(), SIGTERM);
    CHECK(daemon.wait_exit(30s).has_value());
}

TEST_CASE("changes over HTTP: refused until they can be authenticated") {
    test::WebhookReceiver receiver;
    test::TwoWayFixture t;
    const int port = test::free_port();
    t.listen = "127.0.0.1:" + std::to_string(port);
    t.connectors = "  hook:\n    type: webhook\n    url: " + receiver.url() + "\n";  // no secret
    t.targets =
        "      - connector: hook\n        two_way:\n          settle: 0s\n"
        "      - connector: log\n";
    test::Process daemon(t.command({"run"}), t.path("daemon.log"));
    REQUIRE(wait_until(15s, [&] {
        try {
            return call(port, "GET", "/readyz", "", {}).status == 200;
        } catch (const std::exception&) {
            return false;
        }
    }));
    const auto refused =
        call(port, "POST", "/v1/targets/tasks/hook/changes", R"({"changes":[]})", {});
    CHECK(refused.status == 403);
    CHECK(refused.body.find("set control.auth_token_file, or `secret` on connector hook") !=
          std::string::npos);
    kill(daemon.pid(), SIGTERM);
    CHECK(daemon.wait_exit(30s).has_value());

    // With the control token: a bearer header is enough, and nothing else is.
    std::ofstream(t.path("control.token")) << "control-token-456\n";
    t.control_settings = "  auth_token_file: " + t.path("control.token").string() + "\n";
    test::Process again(t.command({"run"}), t.path("daemon.log"));
    REQUIRE(wait_until(15s, [&] {
        try {
            return call(port, "GET", "/readyz", "", {{"Authorization", "Bearer control-token-456"}})
                       .status == 200;
        } catch (const std::exception&) {
            return false;
        }
    }));
    const std::string body =
        R"({"changes":[{"page_id":")" + t.pages[0] + R"(","properties":{"Estimate":12}}]})";
    CHECK(call(port, "POST", "/v1/targets/tasks/hook/changes", body, {}).status == 401);
    // Which targets exist is not told without the token either.
    CHECK(call(port, "POST", "/v1/targets/tasks/nothing/changes", body, {}).status == 401);
    CHECK(call(port, "POST", "/v1/targets/tasks/nothing/changes", body,
               {{"Authorization", "Bearer control-token-456"}})
              .status == 404);
    CHECK(call(port, "POST", "/v1/targets/tasks/hook/changes", body,
               {{"Authorization", "Bearer wrong"}})
              .status == 401);
    CHECK(call(port, "POST", "/v1/targets/tasks/hook/changes", body,
               {{"Authorization", "Bearer control-token-456"}})
              .status == 202);
    CHECK(wait_until(15s, [&] { return t.notion_value(t.pages[0], "Estimate") == 12; }));
    kill(again.pid(), SIGTERM);
    CHECK(again.wait_exit(30s).has_value());
}
