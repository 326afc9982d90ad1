// The operator console's server side (issue 14) against a running notion-syncd and
// notion-emulator: the page and its files as the binary embeds them, with their content types
// and a strict Content-Security-Policy; the page without the token while the API wants it; the
// JSON calls the page makes — held deletes approved or kept per page (and what that does to the
// targets), dead letters retried or dropped, the history the charts draw. The page itself is
// driven in Chromium by tests/console.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "daemon/model/sqlite.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/net/url.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;
using test::read_file;
using test::wait_until;

namespace {

constexpr const char* control_token = "console-test-token-0123456789";

net::Response call(int port, const std::string& method, const std::string& target,
                   const std::string& body = {}, const std::string& token = {}) {
    return test::run([&]() -> boost::asio::awaitable<net::Response> {
        const auto executor = co_await boost::asio::this_coro::executor;
        net::HttpClient client(executor,
                               net::Url::parse("http://127.0.0.1:" + std::to_string(port)), {});
        net::Request request{.method = method, .target = target, .body = body};
        if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
        if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
        co_return co_await client.send(std::move(request));
    }());
}

// Tasks (Name, Count) with `rows` pages shared with connection-1; `notion-syncd run` syncing
// them into a jsonl file and a sqlite table (a jsonl target that fails on purpose when asked),
// reconciling every second, with the delete brake at 20 %.
struct Console {
    test::TempDir dir;
    test::Emulator emulator{dir};
    std::string data_source;
    std::vector<std::string> pages;
    int port = test::free_port();
    std::unique_ptr<test::Process> daemon;

    explicit Console(int rows = 10, bool auth = false, bool broken_target = false,
                     const std::string& db_settings = {}) {
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
        const auto home =
            emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})"));
        const std::string home_id(home.at("id").as_string());
        const auto db = emulator.api("POST", "/v1/databases",
                                     json::parse(R"({"parent":{"page_id":")" + home_id + R"("},
            "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},"Count":{"number":{}}}}})"));
        data_source = std::string(db.at("data_sources").as_array()[0].at("id").as_string());
        for (int i = 0; i < rows; ++i) {
            pages.emplace_back(
                emulator
                    .api("POST", "/v1/pages",
                         json::parse(R"({"parent":{"data_source_id":")" + data_source + R"("},
                "properties":{"Name":{"title":[{"text":{"content":"Task )" +
                                     std::to_string(i) + R"("}}]},"Count":{"number":1}}})"))
                    .at("id")
                    .as_string());
        }
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home_id}});
        std::ofstream out(dir.path() / "config.yaml");
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << emulator.url()
            << "\nstate:\n  dir: " << (dir.path() / "state").string()
            << "\ncontrol:\n  listen: 127.0.0.1:" << port << "\n";
        if (auth) {
            std::ofstream(dir.path() / "control.token") << control_token << "\n";
            fs::permissions(dir.path() / "control.token",
                            fs::perms::owner_read | fs::perms::owner_write);
            out << "  auth_token_file: " << (dir.path() / "control.token").string() << "\n";
        }
        out << "connectors:\n  log:\n    type: jsonl\n    path: "
            << (dir.path() / "events.jsonl").string() << "\n"
            << "  db:\n    type: sqlite\n    path: " << (dir.path() / "tasks.sqlite").string()
            << "\n";
        if (broken_target) {
            // A program that refuses every batch for good (its events become dead letters)
            // until the file `accept` exists.
            std::ofstream(dir.path() / "refuser.py") << R"py(import json, os, sys
accept = sys.argv[1]
for line in sys.stdin:
    message = json.loads(line)
    if message.get("type") != "batch":
        continue
    if os.path.exists(accept):
        print(json.dumps({"type": "ack", "id": message["id"]}), flush=True)
    else:
        print(json.dumps({"type": "nack", "id": message["id"], "retryable": False,
                          "error": "refused on purpose"}), flush=True)
)py";
            out << "  refuser:\n    type: exec\n    command: [python3, "
                << (dir.path() / "refuser.py").string() << ", " << (dir.path() / "accept").string()
                << "]\n";
        }
        out << "syncs:\n  - name: tasks\n    source: { data_source: " << data_source
            << " }\n    every: 1s\n    reconcile_every: 1s\n    max_delete_ratio: 0.2\n"
            << "    targets:\n      - connector: log\n      - connector: db\n        table: "
               "tasks\n"
            << db_settings;
        if (broken_target) out << "      - connector: refuser\n";
        out.close();
        fs::permissions(dir.path() / "config.yaml", fs::perms::owner_read | fs::perms::owner_write);
        token = auth ? control_token : "";
        start();
    }

    // notion-syncd run, history sampled every 500 ms (a test hook), until /readyz answers 200.
    void start() {
        daemon = std::make_unique<test::Process>(
            std::vector<std::string>{"/usr/bin/env", "NOTION_SYNCD_HISTORY_STEP_MS=500",
                                     SYNCD_DAEMON_BINARY, "-c",
                                     (dir.path() / "config.yaml").string(), "run"},
            dir.path() / "syncd.log");
        REQUIRE(wait_until(20s, [&] {
            try {
                return call(port, "GET", "/readyz", {}, token).status == 200;
            } catch (const std::exception&) {
                return false;
            }
        }));
    }

    std::string token;

    // GET with the control token when there is one.
    json::value get_json(const std::string& target) const {
        const auto r = call(port, "GET", target, {}, token);
        INFO(target << ": " << r.status << " " << r.body);
        REQUIRE(r.status == 200);
        return json::parse(r.body);
    }

    std::size_t rows_in_db() const {
        try {
            sqlite::Database db((dir.path() / "tasks.sqlite").string());
            auto count = db.prepare("SELECT count(*) FROM tasks");
            return count.step() ? static_cast<std::size_t>(count.integer(0)) : 0;
        } catch (const std::exception&) {
            return 0;  // not made yet
        }
    }
};

}  // namespace

TEST_CASE("console: the page and its files are embedded, typed, cached briefly, locked down") {
    Console c(2);
    const auto page = call(c.port, "GET", "/");
    REQUIRE(page.status == 200);
    CHECK(page.header("content-type") == "text/html; charset=utf-8");
    CHECK(page.body.find("<title>notion-syncd console</title>") != std::string::npos);
    const std::string csp = page.header("content-security-policy");
    CHECK(csp.find("default-src 'none'") != std::string::npos);
    CHECK(csp.find("script-src 'self'") != std::string::npos);
    CHECK(csp.find("unsafe-inline") == std::string::npos);
    CHECK(page.header("cache-control") == "no-cache");
    CHECK(page.header("x-content-type-options") == "nosniff");
    CHECK(page.header("x-frame-options") == "DENY");
    // No inline script or style in the page: everything it runs comes from these files.
    CHECK(page.body.find("<script>") == std::string::npos);
    CHECK(page.body.find("<style") == std::string::npos);
    CHECK(page.body.find(" style=") == std::string::npos);
    for (const auto& [file, type] : std::vector<std::pair<std::string, std::string>>{
             {"/console/console.js", "text/javascript; charset=utf-8"},
             {"/console/console.css", "text/css; charset=utf-8"},
             {"/console/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
             {"/console/vendor/uPlot.min.css", "text/css; charset=utf-8"}}) {
        const auto r = call(c.port, "GET", file);
        INFO(file);
        CHECK(r.status == 200);
        CHECK(r.header("content-type") == type);
        CHECK(r.header("cache-control") == "public, max-age=300");
        CHECK(r.body == read_file(fs::path(SYNCD_SOURCE_DIR) / "daemon/http/console" /
                                  file.substr(std::string("/console/").size())));
    }
    CHECK(call(c.port, "GET", "/console/nope.js").status == 404);
    CHECK(call(c.port, "POST", "/", "{}").status == 405);
    // The API's answers are never cached.
    CHECK(call(c.port, "GET", "/v1/status").header("cache-control") == "no-store");
}

TEST_CASE("console: with a control token the page loads without it, every API call wants it") {
    Console c(2, true);
    CHECK(call(c.port, "GET", "/").status == 200);
    CHECK(call(c.port, "GET", "/console/console.js").status == 200);
    for (const auto& [method, target] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/status"},
                                                          {"GET", "/v1/history"},
                                                          {"GET", "/v1/dead-letters"},
                                                          {"GET", "/v1/conflicts"},
                                                          {"POST", "/v1/jobs/tasks/sync"},
                                                          {"POST", "/v1/dead-letters/1/drop"}}) {
        INFO(method << " " << target);
        CHECK(call(c.port, method, target, "{}").status == 401);
        CHECK(call(c.port, method, target, "{}", "wrong-token").status == 401);
    }
    CHECK(call(c.port, "GET", "/v1/status", {}, control_token).status == 200);
    // The page itself holds no secret: neither token appears in what it is served.
    for (const char* file : {"/", "/console/console.js"}) {
        const auto body = call(c.port, "GET", file).body;
        CHECK(body.find(control_token) == std::string::npos);
        CHECK(body.find(test::Emulator::connection_token) == std::string::npos);
    }
}

TEST_CASE("console: held deletes approved or kept per page, and the targets follow") {
    Console c(10);
    REQUIRE(wait_until(20s, [&] { return c.rows_in_db() == 10; }));
    // Four of ten pages trashed in Notion: over the 20 % brake, all four are held.
    for (int i = 0; i < 4; ++i)
        c.emulator.api("PATCH", "/v1/pages/" + c.pages[i], json::parse(R"({"in_trash":true})"));
    json::value status;
    REQUIRE(wait_until(30s, [&] {
        status = c.get_json("/v1/status");
        return status.at("jobs").as_array()[0].at("held_deletes") == 4;
    }));
    const auto& held = status.at("jobs").as_array()[0].at("held_delete_pages").as_array();
    REQUIRE(held.size() == 4);
    CHECK(held[0].at("title").as_string().starts_with("Task "));
    CHECK(c.rows_in_db() == 10);

    // Approve one, keep one: one row goes, one stays for good; two still wait.
    const auto approve =
        call(c.port, "POST", "/v1/held-deletes/tasks/" + c.pages[0], R"({"decision":"approve"})");
    CHECK(approve.status == 202);
    CHECK(call(c.port, "POST", "/v1/held-deletes/tasks/" + c.pages[1], R"({"decision":"keep"})")
              .status == 202);
    const bool deleted = wait_until(20s, [&] { return c.rows_in_db() == 9; });
    if (!deleted) MESSAGE(read_file(c.dir.path() / "syncd.log"));
    REQUIRE(deleted);
    REQUIRE(wait_until(20s, [&] {
        return c.get_json("/v1/status").at("jobs").as_array()[0].at("held_deletes") == 2;
    }));
    // Reconciliations go on (every second): the kept page is neither deleted nor held again.
    std::this_thread::sleep_for(2500ms);
    CHECK(c.rows_in_db() == 9);
    CHECK(c.get_json("/v1/status").at("jobs").as_array()[0].at("held_deletes") == 2);
    // The approved page's delete reached the other target too.
    const std::string events = read_file(c.dir.path() / "events.jsonl");
    CHECK(events.find("\"event\":\"deleted\"") != std::string::npos);
    // Mistakes are said so.
    CHECK(call(c.port, "POST", "/v1/held-deletes/tasks/" + c.pages[5], R"({"decision":"approve"})")
              .status == 404);  // not held
    CHECK(call(c.port, "POST", "/v1/held-deletes/tasks/" + c.pages[2], R"({"decision":"maybe"})")
              .status == 400);
    CHECK(call(c.port, "POST", "/v1/held-deletes/nojob/" + c.pages[2], R"({"decision":"keep"})")
              .status == 404);
}

TEST_CASE("console: dead letters listed with their page, retried and dropped") {
    Console c(3, false, true);
    json::value dead;
    REQUIRE(wait_until(30s, [&] {
        dead = c.get_json("/v1/dead-letters");
        return dead.at("dead_letters").as_array().size() == 3;
    }));
    const auto& first = dead.at("dead_letters").as_array()[0];
    CHECK(first.at("target") == "tasks/refuser");
    CHECK(first.at("error").as_string().find("refused on purpose") != std::string::npos);
    CHECK(first.at("page_id").as_string().size() == 36);
    const auto id = first.at("id").to_number<std::int64_t>();
    const auto second = dead.at("dead_letters").as_array()[1].at("id").to_number<std::int64_t>();
    // Drop one; retry another once the program accepts: it is delivered and leaves the list.
    CHECK(call(c.port, "POST", "/v1/dead-letters/" + std::to_string(id) + "/drop").status == 200);
    std::ofstream(c.dir.path() / "accept") << "yes\n";
    CHECK(call(c.port, "POST", "/v1/dead-letters/" + std::to_string(second) + "/retry").status ==
          202);
    REQUIRE(wait_until(20s, [&] {
        return c.get_json("/v1/dead-letters").at("dead_letters").as_array().size() == 1;
    }));
    CHECK(call(c.port, "POST", "/v1/dead-letters/999999/retry").status == 404);
    CHECK(call(c.port, "POST", "/v1/dead-letters/999999/drop").status == 404);
    CHECK(call(c.port, "POST", "/v1/dead-letters/" + std::to_string(second) + "/sideways").status ==
          404);
}

TEST_CASE("console: the history the charts draw, a sample per step, kept across a restart") {
    auto c = std::make_unique<Console>(3);
    json::value history;
    REQUIRE(wait_until(20s, [&] {
        history = c->get_json("/v1/history");
        return history.at("samples").as_array().size() >= 3;
    }));
    const auto& samples = history.at("samples").as_array();
    const auto& last = samples.back().as_object();
    for (const char* key : {"t", "requests", "rate_limited", "budget", "lag", "delivered",
                            "pending", "conflicts_open"}) {
        INFO(key);
        CHECK(last.contains(key));
    }
    CHECK(last.at("lag").as_object().contains("tasks"));
    CHECK(last.at("pending").as_object().contains("tasks/log"));
    double requests = 0;
    for (const auto& s : samples) requests += s.at("requests").to_number<double>();
    CHECK(requests > 0);  // the polls were counted
    // Stopped and started again: the samples are still there (the mirror keeps 24 h).
    const std::size_t before = samples.size();
    c->daemon.reset();
    c->start();
    CHECK(c->get_json("/v1/history").at("samples").as_array().size() >= before);
}

TEST_CASE("console: the plan of the next cycle, listed while the daemon runs, changes nothing") {
    // A two-way table whose edits wait an hour before they are written: the plan shows them.
    Console c(3, false, false,
              "        two_way:\n          every: 1h\n          settle: 1h\n"
              "          max_write_ratio: 1\n");
    REQUIRE(wait_until(20s, [&] { return c.rows_in_db() == 3; }));
    {
        sqlite::Database db((c.dir.path() / "tasks.sqlite").string());
        db.exec("UPDATE tasks SET count = 42 WHERE page_id = '" + c.pages[1] + "'");
    }
    json::value plan;
    REQUIRE(wait_until(20s, [&] {
        plan = c.get_json("/v1/plan");
        return !plan.at("actions").as_array().empty();
    }));
    const auto& action = plan.at("actions").as_array()[0];
    CHECK(action.at("direction") == "to_notion");
    CHECK(action.at("page_id").as_string() == c.pages[1]);
    CHECK(action.at("kind") == "update");
    CHECK(action.at("properties").at("Count").at("to") == 42);
    // Listing it wrote nothing, and the daemon still serves and polls.
    const auto page = c.emulator.api("GET", "/v1/pages/" + c.pages[1], nullptr);
    CHECK(page.at("properties").at("Count").at("number") == 1);
    CHECK(call(c.port, "GET", "/readyz").status == 200);
    CHECK(call(c.port, "POST", "/v1/plan", "{}").status == 405);
}
