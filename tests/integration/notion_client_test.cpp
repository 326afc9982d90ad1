// NotionClient and RateBudget against a real notion-emulator process (issue #3).
#include "daemon/notion/notion_client.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <sstream>

#include "tests/support/process.hpp"

using namespace syncd;
using namespace syncd::notion;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// A client of the emulator as the shared connection (or the owner), budget from `budget`.
struct Session {
    test::Emulator& emulator;
    ClientConfig config;
    BudgetOptions budget;

    Session(test::Emulator& e, std::string version = "2026-03-11",
            std::string token = test::Emulator::connection_token)
        : emulator(e),
          config{.base_url = e.url(),
                 .token = std::move(token),
                 .version = std::move(version),
                 .retry = {.max_attempts = 6, .base = 20ms, .cap = 200ms}},
          budget{.per_minute = 60'000, .burst = 100} {}

    template <typename F>
    auto with_client(F f) {
        return test::run([&]() -> decltype(f(std::declval<NotionClient&>())) {
            auto executor = co_await asio::this_coro::executor;
            auto rate = std::make_shared<RateBudget>(executor, budget);
            NotionClient client(executor, config, rate);
            co_return co_await f(client);
        }());
    }
};

// Owner-built workspace: Home page (shared with connection-1) holding a Tasks database.
struct Workspace {
    std::string home;
    std::string database;
    std::string data_source;
    std::string related;  // a second data source for relations

    explicit Workspace(test::Emulator& e) {
        home = std::string(e.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})"))
                               .at("id")
                               .as_string());
        const auto other =
            e.api("POST", "/v1/databases", json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "title":[{"text":{"content":"People"}}],"initial_data_source":{"properties":{"Name":{"title":{}}}}})"));
        related = std::string(other.at("data_sources").as_array()[0].at("id").as_string());
        const auto db =
            e.api("POST", "/v1/databases",
                  json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},"Estimate":{"number":{}},"Notes":{"rich_text":{}},
              "Links":{"relation":{"data_source_id":")" +
                              related + R"(","type":"single_property","single_property":{}}}}}})"));
        database = std::string(db.at("id").as_string());
        data_source = std::string(db.at("data_sources").as_array()[0].at("id").as_string());
        e.control("share", {{"token", "connection-1"}, {"object_id", home}});
    }

    json::object task_body(const std::string& name) const {
        return json::parse(R"({"parent":{"data_source_id":")" + data_source + R"("},
            "properties":{"Name":{"title":[{"text":{"content":")" +
                           name + R"("}}]}}})")
            .as_object();
    }
};

// Requests the connection (not the owner setting up) sent.
std::size_t count_requests(test::Emulator& e, const std::string& method, const std::string& route,
                           int status = 0) {
    std::size_t n = 0;
    const json::value requests = e.get("requests");
    for (const auto& c : requests.at("counters").as_array()) {
        if (c.at("connection") == "connection-1" && c.at("method") == method.c_str() &&
            c.at("route") == route.c_str() &&
            (status == 0 || c.at("status").to_number<int>() == status)) {
            n += c.at("count").to_number<std::size_t>();
        }
    }
    return n;
}

}  // namespace

TEST_CASE("every typed call works against the emulator with both API versions") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    for (const std::string version : {"2026-03-11", "2025-09-03"}) {
        CAPTURE(version);
        Session session(emulator, version);
        session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
            const auto me = co_await client.users_me();
            CHECK(me.at("type") == "bot");
            const auto found = co_await client.search(
                json::parse(R"({"filter":{"property":"object","value":"data_source"}})")
                    .as_object());
            CHECK(found.results.size() == 2);
            const auto db = co_await client.retrieve_database(ws.database);
            CHECK(db.at("data_sources").as_array().size() == 1);
            const auto ds = co_await client.retrieve_data_source(ws.data_source);
            CHECK(ds.at("properties").as_object().contains("Estimate"));

            const auto created =
                co_await client.create_page(ws.task_body("One " + version), "key-" + version);
            const PageView page{created};
            CHECK(page.data_source_id() == ws.data_source);
            const auto updated = co_await client.update_page(
                page.id(), json::parse(R"({"properties":{"Estimate":{"number":3}}})").as_object());
            CHECK(updated.at("properties").at("Estimate").at("number") == 3);
            const std::vector<std::string> only_estimate{
                "Estimate"};  // no initializer_list in co_await: g++ 12
            const auto again = co_await client.retrieve_page(page.id(), only_estimate);
            CHECK(again.at("properties").as_object().size() == 1);
            CHECK(again.contains("archived") == (version == "2025-09-03"));

            json::object only_this =
                json::parse(R"({"filter":{"and":[{"property":"Estimate","number":{"equals":3}},
                                                 {"property":"Name","title":{"equals":""}}]}})")
                    .as_object();
            only_this["filter"]
                .as_object()["and"]
                .as_array()[1]
                .as_object()["title"]
                .as_object()["equals"] = "One " + version;
            const auto rows =
                co_await client.query_data_source(ws.data_source, std::move(only_this));
            CHECK(rows.results.size() == 1);

            const auto first = co_await client.append_block_children(
                page.id(), json::parse(R"([{"paragraph":{"rich_text":[{"text":{"content":"a"}}]}},
                                           {"paragraph":{"rich_text":[{"text":{"content":"c"}}]}}])")
                               .as_array());
            const std::string a(first.results[0].at("id").as_string());
            co_await client.append_block_children(
                page.id(),
                json::parse(R"([{"paragraph":{"rich_text":[{"text":{"content":"b"}}]}}])")
                    .as_array(),
                a);
            Pager children = client.block_children_all(page.id());
            std::string text;
            while (auto p = co_await children.next()) {
                for (const auto& b : p->results) {
                    text += b.at("paragraph")
                                .at("rich_text")
                                .as_array()[0]
                                .at("plain_text")
                                .as_string()
                                .c_str();
                }
            }
            CHECK(text == "abc");
            const auto edited = co_await client.update_block(
                a, json::parse(R"({"paragraph":{"rich_text":[{"text":{"content":"A"}}]}})")
                       .as_object());
            CHECK(edited.at("paragraph").at("rich_text").as_array()[0].at("plain_text") == "A");
            const auto deleted = co_await client.delete_block(a);
            CHECK(deleted.at("in_trash") == true);
        });
    }
}

TEST_CASE("pagination reads past 10,000 results only up to the cap and reports it") {
    test::TempDir dir;
    test::Emulator emulator(dir, {"--rate-limit", "0"});
    Workspace ws(emulator);
    json::array objects;
    for (int i = 0; i < 10'050; ++i) {
        char id[40];
        std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        objects.push_back(json::object{{"object", "page"},
                                       {"id", id},
                                       {"parent", json::object{{"type", "data_source_id"},
                                                               {"data_source_id", ws.data_source}}},
                                       {"properties", json::object{}}});
    }
    emulator.control("fixture", json::object{{"objects", objects}});
    Session session(emulator);
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        Pager pager = client.query_all(ws.data_source, {}, {"title"});
        std::size_t pages = 0;
        std::size_t results = 0;
        while (auto page = co_await pager.next()) {
            ++pages;
            results += page->results.size();
        }
        CHECK(results == 10'000);
        CHECK(pages == 100);
        CHECK(pager.incomplete());
    });
}

TEST_CASE("property items past 25 are read through the property item endpoint") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    json::array targets;
    for (int i = 0; i < 30; ++i) {
        const auto p = emulator.api("POST", "/v1/pages",
                                    json::parse(R"({"parent":{"data_source_id":")" + ws.related +
                                                R"("},"properties":{}})"));
        targets.push_back(json::object{{"id", p.at("id")}});
    }
    json::object body = ws.task_body("Linked");
    body["properties"].as_object()["Links"] = json::object{{"relation", targets}};
    const std::string id(emulator.api("POST", "/v1/pages", body).at("id").as_string());
    Session session(emulator);
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        const auto page = co_await client.retrieve_page(id);
        const auto& links = page.at("properties").at("Links");
        CHECK(links.at("relation").as_array().size() == 25);
        CHECK(links.at("has_more") == true);
        Pager items = client.page_property_all(id, std::string(links.at("id").as_string()));
        std::size_t n = 0;
        while (auto p = co_await items.next()) n += p->results.size();
        CHECK(n == 30);
    });
}

TEST_CASE("429s with Retry-After use up no attempt, until max_rate_limit_wait in all") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    // Four 429s in a row, with two attempts allowed: Retry-After is an instruction, not a failure.
    emulator.control("faults", json::parse(R"({"match":{"path_prefix":"/v1/users/me"},"count":4,
        "fault":{"status":429,"code":"rate_limited","retry_after":1}})"));
    Session session(emulator);
    session.config.retry.max_attempts = 2;
    const auto start = std::chrono::steady_clock::now();
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        co_await client.users_me();
        CHECK(client.metrics().rate_limited == 4);
    });
    CHECK(std::chrono::steady_clock::now() - start >= 4s);

    // Refused for longer than max_rate_limit_wait: it fails, saying so.
    emulator.control("faults", json::parse(R"({"match":{"path_prefix":"/v1/users/me"},"count":5,
        "fault":{"status":429,"code":"rate_limited","retry_after":1}})"));
    session.config.retry.max_rate_limit_wait = 1500ms;
    std::string error;
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        try {
            co_await client.users_me();
        } catch (const NotionError& e) {
            error = e.what();
            CHECK(e.kind == ErrorKind::retryable);
            CHECK(e.status == 429);
        }
    });
    CHECK(error.find("Notion kept refusing with 429/529 (rate limited) for ") != std::string::npos);
    CHECK(error.find("notion.max_rate_limit_wait") != std::string::npos);
}

TEST_CASE("a query is a read though a POST: a 500 or a lost connection is retried, not ambiguous") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    for (const auto* fault :
         {R"({"status":500,"code":"internal_server_error"})", R"({"reset_connection":true})"}) {
        CAPTURE(fault);
        emulator.control(
            "faults", json::parse(R"({"match":{"method":"POST","path_prefix":"/v1/data_sources/"},
            "count":1,"fault":)" + std::string(fault) +
                                  "}"));
        Session session(emulator);
        session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
            co_await client.query_data_source(ws.data_source, {}, {});
            CHECK(client.metrics().ambiguous_writes == 0);
            CHECK(client.metrics().retries == 1);
        });
    }
}

TEST_CASE("a kept-alive connection the server closed while idle: the next read goes through") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    emulator.control("keep_alive", {{"idle_ms", 100}});
    Session session(emulator);
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            co_await client.query_data_source(ws.data_source, {}, {});
            co_await client.users_me();
            // Idle past the server's keep-alive timeout (the scenario itself, not a wait for
            // something): the server closes the connection the client keeps.
            asio::steady_timer idle(co_await asio::this_coro::executor, 300ms);
            co_await idle.async_wait(asio::use_awaitable);
        }
        // Not one failure was seen by the caller, and nothing counted as a retry of Notion's.
        CHECK(client.metrics().ambiguous_writes == 0);
        CHECK(client.metrics().retries == 0);
    });
}

TEST_CASE("a 429 pauses the connection until Retry-After, and 529 and 5xx on reads are retried") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    emulator.control("faults", json::parse(R"({"match":{"path_prefix":"/v1/users/me"},"count":1,
        "fault":{"status":429,"code":"rate_limited","retry_after":1}})"));
    Session session(emulator);
    const auto start = std::chrono::steady_clock::now();
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        co_await client.users_me();
        CHECK(client.metrics().rate_limited == 1);
    });
    CHECK(std::chrono::steady_clock::now() - start >= 1s);
    // The emulator's log: nothing was sent between the 429 and the end of the pause.
    const auto requests = emulator.get("requests").at("requests").as_array();
    std::vector<std::string> me;
    for (const auto& r : requests) {
        if (r.at("path") == "/v1/users/me") me.emplace_back(r.at("at").as_string());
    }
    REQUIRE(me.size() == 2);
    // Milliseconds since the epoch of "2026-05-04T10:59:59.990Z" (whole date and time: the two
    // requests may straddle an hour or a day).
    auto millis = [](const std::string& t) {
        std::tm tm{};
        REQUIRE(strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
        return static_cast<std::int64_t>(timegm(&tm)) * 1000 + std::stoi(t.substr(20, 3));
    };
    CHECK(millis(me[1]) - millis(me[0]) >= 990);

    for (const int status : {529, 500, 502, 503, 504}) {
        CAPTURE(status);
        emulator.control("faults", json::parse(R"({"match":{"path_prefix":"/v1/pages/"},"count":2,
            "fault":{"status":)" + std::to_string(status) +
                                               R"(,"code":"x"}})"));
        session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
            const auto page = co_await client.retrieve_page(ws.home);
            CHECK(page.at("id").as_string() == ws.home);
            CHECK(client.metrics().retries == 2);
        });
    }
}

TEST_CASE("a 503 after a committed create is ambiguous and never duplicates the page") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    emulator.control("faults",
                     json::parse(R"({"match":{"method":"POST","path_prefix":"/v1/pages"},"count":1,
        "fault":{"commit_then_status":503}})"));
    Session session(emulator);
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        std::optional<NotionError> error;
        try {
            co_await client.create_page(ws.task_body("Once"), "row-17");
        } catch (const NotionError& e) {
            error = e;
        }
        REQUIRE(error);
        CHECK(error->kind == ErrorKind::ambiguous_write);
        CHECK(error->idempotency_key == "row-17");
        REQUIRE(error->committed_resource_id);
        // The caller tries again with the same key: the page is found, not created twice.
        const auto page = co_await client.create_page(ws.task_body("Once"), "row-17");
        CHECK(page.at("id").as_string() == *error->committed_resource_id);
    });
    CHECK(count_requests(emulator, "POST", "/v1/pages") == 1);
    const auto rows =
        emulator.api("POST", "/v1/data_sources/" + ws.data_source + "/query", json::object{});
    CHECK(rows.at("results").as_array().size() == 1);
}

TEST_CASE("a reset after a create is ambiguous: the page is found by the lookup, not re-sent") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    Session session(emulator);
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        co_await client.users_me();  // a warm connection, so the reset hits after sending
        emulator.control(
            "faults", json::parse(R"({"match":{"method":"POST","path_prefix":"/v1/pages"},"count":1,
            "fault":{"reset_connection":true}})"));
        std::optional<NotionError> error;
        try {
            co_await client.create_page(ws.task_body("Reset"), "row-18");
        } catch (const NotionError& e) {
            error = e;
        }
        REQUIRE(error);
        CHECK(error->kind == ErrorKind::ambiguous_write);
        // The emulator applied the write before resetting: the lookup finds it by title.
        const auto page = co_await client.create_page(ws.task_body("Reset"), "row-18");
        CHECK(PageView{page}.data_source_id() == ws.data_source);
    });
    CHECK(count_requests(emulator, "POST", "/v1/pages") == 1);
}

TEST_CASE("resets, truncated bodies and slow answers on reads are retried") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    Session session(emulator);
    session.config.http.request_timeout = 500ms;
    for (const char* fault :
         {R"({"reset_connection":true})", R"({"truncate_body":true})", R"({"delay_ms":1500})"}) {
        CAPTURE(fault);
        emulator.control(
            "faults",
            json::parse(
                std::string(R"({"match":{"path_prefix":"/v1/data_sources/"},"count":1,"fault":)") +
                fault + "}"));
        session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
            const auto ds = co_await client.retrieve_data_source(ws.data_source);
            CHECK(ds.at("id").as_string() == ws.data_source);
            CHECK(client.metrics().retries == 1);
        });
    }
}

TEST_CASE("permanent errors carry Notion's status and code and are not retried") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    Session session(emulator);
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        try {
            co_await client.retrieve_page("00000000-0000-4000-8000-000000000000");
            FAIL("expected an error");
        } catch (const NotionError& e) {
            CHECK(e.kind == ErrorKind::permanent);
            CHECK(e.status == 404);
            CHECK(e.code == "object_not_found");
        }
        try {
            co_await client.update_page(
                ws.home, json::parse(R"({"properties":{"Nope":{"number":1}}})").as_object());
            FAIL("expected an error");
        } catch (const NotionError& e) {
            CHECK(e.kind == ErrorKind::permanent);
            CHECK(e.code == "validation_error");
        }
        CHECK(client.metrics().retries == 0);
    });
}

TEST_CASE("public_api_request_blocked is never retried") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    emulator.control("faults", json::parse(R"({"match":{},"count":5,"fault":{"status":429,
        "code":"rate_limited","retry_after":1,"rate_limit_reason":"public_api_request_blocked"}})"));
    Session session(emulator);
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        try {
            co_await client.users_me();
            FAIL("expected an error");
        } catch (const NotionError& e) {
            CHECK(e.kind == ErrorKind::permanent);
            CHECK(e.rate_limit_reason == "public_api_request_blocked");
        }
        CHECK(client.metrics().retries == 0);
        CHECK(client.metrics().rate_limited == 0);
    });
}

TEST_CASE("four jobs within a 20-per-2-s budget: no 429 and fair shares") {
    test::TempDir dir;
    test::Emulator emulator(dir, {"--rate-limit", "20", "--rate-window-ms", "2000"});
    Workspace ws(emulator);
    Session session(emulator);
    // 20 per 2 s is 600 per minute; a small burst and the safety margin keep under a fixed window.
    session.budget = {.per_minute = 600, .burst = 2, .safety = 0.9};
    std::array<int, 4> done{};
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        const auto deadline = std::chrono::steady_clock::now() + 6s;
        auto job = [&](int j) -> asio::awaitable<void> {
            while (std::chrono::steady_clock::now() < deadline) {
                co_await client.retrieve_page(
                    ws.home, {}, RequestContext(Priority::poll, "job" + std::to_string(j)));
                ++done[j];
            }
        };
        co_await (job(0) && job(1) && job(2) && job(3));
        CHECK(client.metrics().rate_limited == 0);
    });
    CHECK(count_requests(emulator, "GET", "/v1/pages/{id}", 429) == 0);
    const int total = done[0] + done[1] + done[2] + done[3];
    CHECK(total >= 50);  // 6 s at 9/s
    for (const int n : done) CHECK(std::abs(n - total / 4) <= 2);
}

TEST_CASE("the token appears in no error, log line or metric") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    Workspace ws(emulator);
    std::ostringstream captured;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
    std::string everything;
    Session session(emulator);
    session.config.retry.max_attempts = 2;
    for (const char* fault :
         {R"({"status":500,"code":"internal_server_error"})", R"({"reset_connection":true})",
          R"({"truncate_body":true})", R"({"status":429,"code":"rate_limited","retry_after":1})"}) {
        emulator.control(
            "faults", json::parse(std::string(R"({"match":{},"count":3,"fault":)") + fault + "}"));
        session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
            for (int i = 0; i < 2; ++i) {
                try {
                    co_await client.create_page(ws.task_body("T"), "k" + std::to_string(i));
                } catch (const std::exception& e) {
                    everything += e.what();
                }
                try {
                    co_await client.retrieve_page("not-a-uuid");
                } catch (const std::exception& e) {
                    everything += e.what();
                }
            }
            for (const auto& [key, count] : client.metrics().requests) everything += key.first;
        });
    }
    spdlog::set_default_logger(previous);
    everything += captured.str();
    CHECK(!everything.empty());
    CHECK(everything.find(test::Emulator::connection_token) == std::string::npos);
}

TEST_CASE("shutdown aborts a request in flight at once") {
    test::TempDir dir;
    test::Emulator emulator(dir);
    emulator.control("faults", json::parse(R"({"match":{"path_prefix":"/v1/users/me"},"count":1,
        "fault":{"delay_ms":5000}})"));
    Session session(emulator);
    const auto start = std::chrono::steady_clock::now();
    bool aborted = false;
    session.with_client([&](NotionClient& client) -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
        timer.async_wait([&](auto) { client.shutdown(); });
        try {
            co_await client.users_me();
        } catch (const boost::system::system_error& e) {
            aborted = e.code() == asio::error::operation_aborted;
        }
    });
    CHECK(aborted);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
}
