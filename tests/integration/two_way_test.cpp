// Two-way sync with a sqlite target (issue 12): edits people make in the table reach Notion, only
// the properties they changed, with the policies deciding conflicts, read-only and deleted rows
// set back, a mass edit held, and no write at all once both sides agree.
#include <doctest/doctest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
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

// Tasks (Name, Status select, Estimate number, Done checkbox, Tags multi-select, Due date,
// Double formula) with five rows, shared with connection-1; a sqlite target with two_way and a
// jsonl target beside it.
struct TwoWay {
    test::TempDir dir;
    test::Emulator emulator{dir};
    std::string data_source;
    std::vector<std::string> pages;
    std::string listen = "off";
    // One edited row in five is over the default max_write_ratio (0.2): the brake has its own test.
    std::string two_way = "          settle: 0s\n          max_write_ratio: 1\n";

    TwoWay() {
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
        const auto home =
            emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})"));
        const std::string home_id(home.at("id").as_string());
        const auto db = emulator.api("POST", "/v1/databases",
                                     json::parse(R"({"parent":{"page_id":")" + home_id + R"("},
            "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},
              "Status":{"select":{"options":[{"name":"Todo"},{"name":"Doing"},{"name":"Done"}]}},
              "Estimate":{"number":{}},"Done":{"checkbox":{}},
              "Tags":{"multi_select":{"options":[{"name":"a"},{"name":"b"}]}},
              "Due":{"date":{}},
              "Double":{"formula":{"expression":"prop(\"Estimate\") * 2"}}}}})"));
        data_source = std::string(db.at("data_sources").as_array()[0].at("id").as_string());
        for (int i = 0; i < 5; ++i) {
            const auto page = emulator.api(
                "POST", "/v1/pages",
                json::parse(R"({"parent":{"data_source_id":")" + data_source + R"("},
                "properties":{"Name":{"title":[{"text":{"content":"Task )" +
                            std::to_string(i) +
                            R"("}}]},"Status":{"select":{"name":"Todo"}},"Estimate":{"number":)" +
                            std::to_string(i + 1) + R"(}}})"));
            pages.emplace_back(page.at("id").as_string());
        }
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home_id}});
    }

    fs::path path(const std::string& name) const { return dir.path() / name; }

    void write_config() const {
        std::ofstream out(path("config.yaml"));
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << emulator.url() << "\nstate:\n  dir: " << path("state").string()
            << "\ncontrol:\n  listen: " << listen
            << "\nconnectors:\n  db:\n    type: sqlite\n    path: " << path("tasks.sqlite").string()
            << "\n  log:\n    type: jsonl\n    path: " << path("events.jsonl").string()
            << "\nsyncs:\n  - name: tasks\n    source: { "
            << "data_source: " << data_source
            << " }\n    every: 1s\n    targets:\n      - connector: db\n        table: tasks\n"
            << "        two_way:\n"
            << two_way << "      - connector: log\n";
        out.close();
        // It holds the token literally: not for every user to read.
        fs::permissions(path("config.yaml"), fs::perms::owner_read | fs::perms::owner_write);
    }

    test::Finished syncd(std::vector<std::string> args = {"sync-once"}) const {
        write_config();
        std::vector<std::string> argv{SYNCD_DAEMON_BINARY, "-c", path("config.yaml").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto log_size = read_file(path("syncd.log")).size();
        auto finished = test::run_command(argv, path("syncd.log"), 60s);
        MESSAGE(finished.out);
        if (finished.status != 0) MESSAGE(read_file(path("syncd.log")).substr(log_size));
        return finished;
    }

    // SQL from another connection, as a person with the sqlite3 shell would.
    void sql(const std::string& statement) const {
        sqlite::Database db(path("tasks.sqlite").string());
        db.exec(statement);
    }
    std::string scalar(const std::string& query) const {
        sqlite::Database db(path("tasks.sqlite").string());
        auto s = db.prepare(query);
        if (!s.step() || s.is_null(0)) return "";
        return s.text(0);
    }

    json::object notion_page(const std::string& id) {
        return emulator.api("GET", "/v1/pages/" + id, nullptr).as_object();
    }
    json::value notion_value(const std::string& id, const std::string& property) {
        const auto page = notion_page(id);
        const auto& p = page.at("properties").at(property).as_object();
        return p.at(std::string(p.at("type").as_string()));
    }
    void notion_set(const std::string& id, const std::string& properties) {
        emulator.api("PATCH", "/v1/pages/" + id,
                     json::parse(R"({"properties":)" + properties + "}"));
    }

    // PATCH /v1/pages requests connection-1 made.
    std::size_t writes() {
        std::size_t n = 0;
        const json::value all = emulator.get("requests");
        for (const auto& c : all.at("counters").as_array()) {
            if (c.at("connection") == "connection-1" && c.at("method") == "PATCH")
                n += c.at("count").to_number<std::size_t>();
        }
        return n;
    }

    std::vector<json::object> events() const {
        std::vector<json::object> out;
        std::ifstream in(path("events.jsonl"));
        for (std::string line; std::getline(in, line);) {
            if (!line.empty()) out.push_back(json::parse(line).as_object());
        }
        return out;
    }
};

net::Response call(int port, const std::string& method, const std::string& target,
                   const std::string& body = {}) {
    return test::run([&]() -> boost::asio::awaitable<net::Response> {
        const auto executor = co_await boost::asio::this_coro::executor;
        net::HttpClient client(executor,
                               net::Url::parse("http://127.0.0.1:" + std::to_string(port)), {});
        net::Request request{.method = method, .target = target, .body = body};
        co_return co_await client.send(std::move(request));
    }());
}

}  // namespace

TEST_CASE("two-way: a parked conflict is resolved by a person, from the command line or the API") {
    TwoWay t;
    t.two_way = "          settle: 0s\n          max_write_ratio: 1\n          policy: manual\n";
    REQUIRE(t.syncd().status == 0);
    const auto conflict_on = [&](std::size_t page, int notion, int external) {
        t.notion_set(t.pages[page], R"({"Estimate":{"number":)" + std::to_string(notion) + "}}");
        t.sql("UPDATE tasks SET estimate = " + std::to_string(external) + " WHERE page_id = '" +
              t.pages[page] + "'");
        REQUIRE(t.syncd().status == 0);
    };
    conflict_on(0, 30, 50);
    // Parked: the table keeps the person's value, also when Notion changes the page again.
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[0] + "'") == "50.0");
    t.notion_set(t.pages[0], R"({"Name":{"title":[{"text":{"content":"Renamed in Notion"}}]}})");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.scalar("SELECT name FROM tasks WHERE page_id = '" + t.pages[0] + "'") ==
          "Renamed in Notion");
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[0] + "'") == "50.0");
    CHECK(t.notion_value(t.pages[0], "Estimate") == 30);
    auto status = json::parse(t.syncd({"status", "--json"}).out);
    CHECK(status.at("jobs").as_array()[0].at("targets").as_array()[0].at("two_way").at(
              "conflicts_open") == 1);
    CHECK(t.syncd({"conflicts", "resolve", "1"}).status == 64);  // --take is needed
    CHECK(t.syncd({"conflicts", "resolve", "1", "--take", "external"}).status == 0);
    CHECK(t.syncd({"conflicts", "resolve", "1", "--take", "notion"}).status == 64);  // decided
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[0], "Estimate") == 50);
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[0] + "'") == "50.0");
    status = json::parse(t.syncd({"status", "--json"}).out);
    CHECK(status.at("jobs").as_array()[0].at("targets").as_array()[0].at("two_way").at(
              "conflicts_open") == 0);

    conflict_on(1, 31, 51);
    CHECK(t.syncd({"conflicts", "resolve", "2", "--take", "value", "--value", "42"}).status == 0);
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[1], "Estimate") == 42);
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[1] + "'") == "42.0");
    CHECK(t.syncd({"history", t.pages[1]}).out.find("resolve") != std::string::npos);

    // Through the API of a running daemon: Notion's value back into the table.
    conflict_on(2, 32, 52);
    const int port = test::free_port();
    t.listen = "127.0.0.1:" + std::to_string(port);
    t.write_config();
    test::Process daemon({SYNCD_DAEMON_BINARY, "-c", t.path("config.yaml").string(), "run"},
                         t.path("daemon.log"));
    REQUIRE(wait_until(10s, [&] {
        try {
            return call(port, "GET", "/readyz").status == 200;
        } catch (const std::exception&) {
            return false;
        }
    }));
    const auto open = json::parse(call(port, "GET", "/v1/conflicts").body);
    REQUIRE(open.at("conflicts").as_array().size() == 1);
    CHECK(open.at("conflicts").as_array()[0].at("external") == 52);
    CHECK(test::metric_value(call(port, "GET", "/metrics").body,
                             "notion_syncd_conflicts_open{target=\"tasks/db\"}") == 1.0);
    CHECK(call(port, "POST", "/v1/conflicts/3/resolve", R"({"take":"maybe"})").status == 400);
    CHECK(call(port, "POST", "/v1/conflicts/99/resolve", R"({"take":"notion"})").status == 404);
    CHECK(call(port, "POST", "/v1/conflicts/3/resolve", R"({"take":"notion"})").status == 200);
    CHECK(wait_until(10s, [&] {
        return t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[2] + "'") ==
               "32.0";
    }));
    CHECK(t.notion_value(t.pages[2], "Estimate") == 32);
    CHECK(wait_until(5s, [&] {
        return test::metric_value(call(port, "GET", "/metrics").body,
                                  "notion_syncd_conflicts_open{target=\"tasks/db\"}") == 0.0;
    }));
    kill(daemon.pid(), SIGTERM);
    CHECK(daemon.wait_exit(30s).has_value());
}

TEST_CASE("two-way: an edit in sqlite reaches Notion, only what changed, and the other targets") {
    TwoWay t;
    REQUIRE(t.syncd().status == 0);
    REQUIRE(t.scalar("SELECT COUNT(*) FROM tasks") == "5");
    const auto writes_before = t.writes();
    t.sql(
        "UPDATE tasks SET estimate = 8, status = 'Done', tags = '[\"a\",\"b\"]', "
        "due = '2026-06-01', done = 1 WHERE page_id = '" +
        t.pages[1] + "'");
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(once.out.find("target tasks/db to Notion: 1 pages written (5 properties)") !=
          std::string::npos);
    CHECK(t.writes() == writes_before + 1);  // one PATCH for the page
    CHECK(t.notion_value(t.pages[1], "Estimate") == 8);
    CHECK(t.notion_value(t.pages[1], "Status").at("name") == "Done");
    CHECK(t.notion_value(t.pages[1], "Done") == true);
    CHECK(t.notion_value(t.pages[1], "Tags").as_array().size() == 2);
    // A date-only value stays date-only: not shifted, no time added.
    CHECK(t.notion_value(t.pages[1], "Due").at("start") == "2026-06-01");
    // Untouched properties and pages are not written.
    CHECK(t.notion_value(t.pages[2], "Estimate") == 3);
    CHECK(t.notion_value(t.pages[1], "Name").as_array()[0].at("plain_text") == "Task 1");
    // The jsonl target receives the change as an update.
    const auto events = t.events();
    REQUIRE_FALSE(events.empty());
    const auto& last = events.back();
    CHECK(last.at("event") == "updated");
    CHECK(last.at("page_id") == t.pages[1].c_str());
    CHECK(last.at("properties").at("Estimate") == 8);
    // Our own delivery back into the table is not captured as another edit.
    CHECK(t.scalar("SELECT COUNT(*) FROM _notion_syncd_dirty") == "0");
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[1] + "'") == "8.0");

    // Converged: an idle cycle makes no write at all.
    const auto after = t.writes();
    CHECK(t.syncd().status == 0);
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == after);
    const auto history = t.syncd({"history", t.pages[1]});
    CHECK(history.out.find("tasks/db  write") != std::string::npos);
    CHECK(history.out.find("\"Estimate\":{\"from\":2,\"to\":8}") != std::string::npos);
}

TEST_CASE("two-way: a property changed on both sides is decided by the policy and recorded") {
    TwoWay t;
    REQUIRE(t.syncd().status == 0);
    // notion-wins (the default): Notion keeps its value and the table gets it back.
    t.notion_set(t.pages[0], R"({"Estimate":{"number":30}})");
    t.sql("UPDATE tasks SET estimate = 50 WHERE page_id = '" + t.pages[0] + "'");
    auto once = t.syncd();
    CHECK(once.status == 0);  // a decided conflict is not a failure
    CHECK(once.out.find("1 conflicts") != std::string::npos);
    CHECK(t.notion_value(t.pages[0], "Estimate") == 30);
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[0] + "'") == "30.0");
    auto list = json::parse(t.syncd({"conflicts", "list", "--all", "--json"}).out).as_array();
    REQUIRE(list.size() == 1);
    CHECK(list[0].at("property") == "Estimate");
    CHECK(list[0].at("notion") == 30);
    CHECK(list[0].at("external") == 50);  // the loser, kept so it can be restored
    CHECK(list[0].at("base") == 1);
    CHECK(list[0].at("decision") == "notion");

    // external-wins for Estimate (fields): the table's value goes to Notion.
    t.two_way =
        "          settle: 0s\n          max_write_ratio: 1\n          fields: { Estimate: "
        "external-wins }\n";
    REQUIRE(t.syncd().status == 0);
    t.notion_set(t.pages[2], R"({"Estimate":{"number":31}})");
    t.sql("UPDATE tasks SET estimate = 51 WHERE page_id = '" + t.pages[2] + "'");
    CHECK(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[2], "Estimate") == 51);
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[2] + "'") == "51.0");

    // manual: parked, open in `conflicts list`, Notion untouched.
    t.two_way = "          settle: 0s\n          max_write_ratio: 1\n          policy: manual\n";
    t.notion_set(t.pages[3], R"({"Status":{"select":{"name":"Doing"}}})");
    t.sql("UPDATE tasks SET status = 'Done' WHERE page_id = '" + t.pages[3] + "'");
    CHECK(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[3], "Status").at("name") == "Doing");
    list = json::parse(t.syncd({"conflicts", "list", "--json"}).out).as_array();
    REQUIRE(list.size() == 1);
    CHECK(list[0].at("decision") == "open");
    CHECK(list[0].at("external") == "Done");

    // Both changed to the same value: converged, no write, no conflict.
    const auto writes = t.writes();
    t.notion_set(t.pages[4], R"({"Estimate":{"number":9}})");
    t.sql("UPDATE tasks SET estimate = 9 WHERE page_id = '" + t.pages[4] + "'");
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == writes);
    CHECK(json::parse(t.syncd({"conflicts", "list", "--all", "--json"}).out).as_array().size() ==
          3);
}

TEST_CASE("two-way: read-only edits and deleted rows are set back from Notion") {
    TwoWay t;
    REQUIRE(t.syncd().status == 0);
    const auto writes = t.writes();
    t.sql("UPDATE tasks SET double = 1000 WHERE page_id = '" + t.pages[0] + "'");
    t.sql("DELETE FROM tasks WHERE page_id = '" + t.pages[1] + "'");
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(once.out.find("1 read-only or invalid edits reverted") != std::string::npos);
    CHECK(once.out.find("1 deleted rows restored") != std::string::npos);
    CHECK(t.writes() == writes);  // nothing written to Notion
    CHECK(t.scalar("SELECT double FROM tasks WHERE page_id = '" + t.pages[0] + "'") == "2.0");
    CHECK(t.scalar("SELECT name FROM tasks WHERE page_id = '" + t.pages[1] + "'") == "Task 1");
    CHECK(t.notion_page(t.pages[1]).at("in_trash") == false);
    // A value Notion cannot take (text in a number column) is reverted too, not sent.
    t.sql("UPDATE tasks SET estimate = 'lots' WHERE page_id = '" + t.pages[2] + "'");
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == writes);
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[2] + "'") == "3.0");
    CHECK(t.syncd({"history", t.pages[2]}).out.find("expected a number") != std::string::npos);
}

TEST_CASE("two-way: a mass edit over max_write_ratio is held until applied") {
    TwoWay t;
    t.two_way = "          settle: 0s\n";  // the default max_write_ratio, 0.2
    REQUIRE(t.syncd().status == 0);
    const auto writes = t.writes();
    t.sql("UPDATE tasks SET estimate = 0");  // five of five rows: over 0.2
    auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(once.out.find("5 edited rows held") != std::string::npos);
    CHECK(t.writes() == writes);
    CHECK(t.notion_value(t.pages[0], "Estimate") == 1);
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[0] + "'") == "0.0");
    once = t.syncd({"sync-once", "--apply-held-writes"});
    CHECK(once.status == 0);
    CHECK(t.writes() == writes + 5);
    for (const auto& page : t.pages) CHECK(t.notion_value(page, "Estimate") == 0);
}

TEST_CASE("two-way in run: an edit in the table arrives in Notion within seconds") {
    TwoWay t;
    REQUIRE(t.syncd().status == 0);
    t.write_config();
    test::Process daemon({SYNCD_DAEMON_BINARY, "-c", t.path("config.yaml").string(), "run"},
                         t.path("daemon.log"));
    std::this_thread::sleep_for(1s);
    t.sql("UPDATE tasks SET name = 'Renamed in SQL' WHERE page_id = '" + t.pages[4] + "'");
    CHECK(wait_until(15s, [&] {
        const auto title = t.notion_value(t.pages[4], "Name");
        return !title.as_array().empty() &&
               title.as_array()[0].at("plain_text") == "Renamed in SQL";
    }));
    // And a Notion edit still arrives in the table.
    t.notion_set(t.pages[3], R"({"Estimate":{"number":77}})");
    CHECK(wait_until(15s, [&] {
        return t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[3] + "'") ==
               "77.0";
    }));
    kill(daemon.pid(), SIGTERM);
    CHECK(daemon.wait_exit(30s).has_value());
}

TEST_CASE("two-way: a 409 is written again after a re-read, an unknown outcome is never re-sent") {
    TwoWay t;
    REQUIRE(t.syncd().status == 0);
    auto writes = t.writes();
    t.emulator.control("faults", {{"match", {{"method", "PATCH"}, {"path_prefix", "/v1/pages"}}},
                                  {"fault", {{"status", 409}, {"code", "conflict_error"}}},
                                  {"count", 1}});
    t.sql("UPDATE tasks SET estimate = 8 WHERE page_id = '" + t.pages[0] + "'");
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == writes + 2);  // the 409, then the write
    CHECK(t.notion_value(t.pages[0], "Estimate") == 8);

    // 503 after Notion saved it: the outcome is unknown to the daemon. It reads the page instead
    // of writing again; the next cycle finds both sides agree and writes nothing.
    writes = t.writes();
    t.emulator.control("faults", {{"match", {{"method", "PATCH"}, {"path_prefix", "/v1/pages"}}},
                                  {"fault", {{"commit_then_status", 503}}},
                                  {"count", 1}});
    t.sql("UPDATE tasks SET estimate = 9 WHERE page_id = '" + t.pages[1] + "'");
    const auto ambiguous = t.syncd();
    CHECK(ambiguous.status == 1);  // not caught up: the edit stays captured
    CHECK(t.notion_value(t.pages[1], "Estimate") == 9);
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == writes + 1);  // never sent twice
    CHECK(t.scalar("SELECT COUNT(*) FROM _notion_syncd_dirty") == "0");
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[1] + "'") == "9.0");
}

TEST_CASE("two-way: plan lists what the next cycle does in both directions, and it does that") {
    TwoWay t;
    t.two_way = "          settle: 0s\n          max_write_ratio: 1\n";
    REQUIRE(t.syncd().status == 0);
    t.sql("UPDATE tasks SET estimate = 8 WHERE page_id = '" + t.pages[0] + "'");
    t.sql("UPDATE tasks SET double = 99 WHERE page_id = '" + t.pages[3] + "'");
    t.notion_set(t.pages[1], R"({"Estimate":{"number":20}})");                     // Notion only
    t.notion_set(t.pages[2], R"({"Estimate":{"number":30}})");                     // both sides:
    t.sql("UPDATE tasks SET estimate = 50 WHERE page_id = '" + t.pages[2] + "'");  // a conflict
    const auto writes = t.writes();
    const json::array actions = json::parse(t.syncd({"plan", "--json"}).out).as_array();
    CHECK(t.writes() == writes);  // plan writes nothing
    std::map<std::string, std::vector<json::object>> by_kind;
    for (const auto& a : actions)
        by_kind[std::string(a.at("kind").as_string())].push_back(a.as_object());
    REQUIRE(by_kind["update"].size() == 1);
    CHECK(by_kind["update"][0].at("direction") == "to_notion");
    CHECK(by_kind["update"][0].at("page_id") == t.pages[0].c_str());
    CHECK(by_kind["update"][0].at("properties").at("Estimate").at("from") == 1);
    CHECK(by_kind["update"][0].at("properties").at("Estimate").at("to") == 8);
    REQUIRE(by_kind["conflict"].size() == 1);
    CHECK(by_kind["conflict"][0].at("decision") == "notion-wins: notion");
    REQUIRE(by_kind["revert"].size() == 1);
    CHECK(by_kind["revert"][0].at("page_id") == t.pages[3].c_str());
    // Notion's two changes go to both targets.
    std::size_t deliveries = 0;
    for (const auto& a : by_kind["updated"]) {
        CHECK(a.at("direction") == "to_target");
        ++deliveries;
    }
    CHECK(deliveries == 4);
    CHECK(actions.size() == 7);

    // The next sync-once does exactly that: one page written, the conflict decided for Notion,
    // the formula set back, Notion's changes delivered.
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(t.writes() == writes + 1);
    CHECK(once.out.find("1 pages written (1 properties), 1 conflicts") != std::string::npos);
    CHECK(t.notion_value(t.pages[0], "Estimate") == 8);
    CHECK(t.notion_value(t.pages[2], "Estimate") == 30);
    CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[2] + "'") == "30.0");
    CHECK(t.scalar("SELECT double FROM tasks WHERE page_id = '" + t.pages[3] + "'") == "8.0");
    // Then there is nothing left to do, in either direction.
    const json::array after = json::parse(t.syncd({"plan", "--json"}).out).as_array();
    CHECK(after.empty());
}

TEST_CASE("two-way: a select value Notion has no option for is reported, not silently added") {
    TwoWay t;
    REQUIRE(t.syncd().status == 0);
    const auto writes = t.writes();
    t.sql("UPDATE tasks SET status = 'Blocked' WHERE page_id = '" + t.pages[0] + "'");
    t.sql("UPDATE tasks SET tags = '[\"a\",\"zzz\"]' WHERE page_id = '" + t.pages[1] + "'");
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(once.out.find("2 read-only or invalid edits reverted") != std::string::npos);
    CHECK(t.writes() == writes);
    CHECK(t.scalar("SELECT status FROM tasks WHERE page_id = '" + t.pages[0] + "'") == "Todo");
    CHECK(t.syncd({"history", t.pages[0]})
              .out.find(
                  "`Blocked` is not an option of Status (Todo, Doing, Done); add it in Notion, or "
                  "set two_way.create_options: true") != std::string::npos);
    // With create_options, Notion adds it.
    t.two_way =
        "          settle: 0s\n          max_write_ratio: 1\n          create_options: true\n";
    t.sql("UPDATE tasks SET tags = '[\"a\",\"zzz\"]' WHERE page_id = '" + t.pages[1] + "'");
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == writes + 1);
    const auto tags = t.notion_value(t.pages[1], "Tags").as_array();
    REQUIRE(tags.size() == 2);
    CHECK(tags[1].at("name") == "zzz");
}

TEST_CASE("two-way with delete: true: a deleted row trashes its page, a mass delete is held") {
    TwoWay t;
    t.two_way = "          settle: 0s\n          max_write_ratio: 1\n          delete: true\n";
    REQUIRE(t.syncd().status == 0);
    t.sql("DELETE FROM tasks WHERE page_id = '" + t.pages[0] + "'");
    const auto plan = json::parse(t.syncd({"plan", "--json"}).out).as_array();
    REQUIRE(plan.size() == 1);
    CHECK(plan[0].at("kind") == "trash");
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(once.out.find("1 pages moved to the trash") != std::string::npos);
    CHECK(t.notion_page(t.pages[0]).at("in_trash") == true);
    CHECK(t.events().back().at("event") == "deleted");  // the other targets hear of it
    CHECK(t.scalar("SELECT COUNT(*) FROM tasks") == "4");
    // Three of the four left at once: over max_delete_ratio (0.2), held.
    t.sql("DELETE FROM tasks WHERE page_id IN ('" + t.pages[1] + "', '" + t.pages[2] + "', '" +
          t.pages[3] + "')");
    CHECK(t.syncd().status == 0);
    CHECK(t.notion_page(t.pages[1]).at("in_trash") == false);
    CHECK(t.syncd({"sync-once", "--apply-held-writes"}).status == 0);
    CHECK(t.notion_page(t.pages[1]).at("in_trash") == true);
    CHECK(t.notion_page(t.pages[3]).at("in_trash") == true);
    CHECK(t.notion_page(t.pages[4]).at("in_trash") == false);
}

TEST_CASE(
    "two-way with create: true: a row inserted in sqlite becomes one page, even after a crash") {
    TwoWay t;
    t.two_way = "          settle: 0s\n          max_write_ratio: 1\n          create: true\n";
    REQUIRE(t.syncd().status == 0);
    t.sql("INSERT INTO tasks (name, estimate, status) VALUES ('New from SQL', 4, 'Doing')");
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(once.out.find("1 new rows created as pages") != std::string::npos);
    const std::string page_id = t.scalar("SELECT page_id FROM tasks WHERE name = 'New from SQL'");
    REQUIRE(page_id.size() == 36);
    CHECK(t.notion_value(page_id, "Estimate") == 4);
    CHECK(t.notion_value(page_id, "Status").at("name") == "Doing");
    CHECK(t.events().back().at("event") == "created");
    CHECK(t.events().back().at("page_id") == page_id.c_str());
    CHECK(t.scalar("SELECT COUNT(*) FROM tasks") == "6");
    CHECK(t.scalar("SELECT COUNT(*) FROM _notion_syncd_dirty") == "0");
    CHECK(t.syncd().status == 0);
    CHECK(t.scalar("SELECT COUNT(*) FROM tasks") == "6");

    // Killed right after Notion created the page, before the daemon recorded it: the next run
    // finds that page instead of creating a second one.
    t.sql("INSERT INTO tasks (name, estimate) VALUES ('Crash test', 5)");
    t.write_config();
    const auto crashed = test::run_command(
        {SYNCD_DAEMON_BINARY, "-c", t.path("config.yaml").string(), "sync-once"},
        t.path("syncd.log"), 60s, {{"NOTION_SYNCD_CRASH_AT", "writeback.after_create"}});
    CHECK(crashed.status != 0);
    CHECK(t.scalar("SELECT page_id FROM tasks WHERE name = 'Crash test'").empty());
    CHECK(t.syncd().status == 0);
    const std::string crash_page = t.scalar("SELECT page_id FROM tasks WHERE name = 'Crash test'");
    CHECK(crash_page.size() == 36);
    const auto listed = t.emulator.api("POST", "/v1/data_sources/" + t.data_source + "/query",
                                       json::parse(R"({"page_size":100})"));
    std::size_t named = 0;
    for (const auto& p : listed.at("results").as_array()) {
        const auto& title = p.at("properties").at("Name").at("title").as_array();
        if (!title.empty() && title[0].at("plain_text") == "Crash test") ++named;
    }
    CHECK(named == 1);  // one page, not two
    CHECK(t.scalar("SELECT COUNT(*) FROM tasks") == "7");
}

// A seeded model test: random edits on both sides (a person in Notion, another in SQL, often in
// the same minute), random cycles, a 409 now and then; an oracle of external-wins says what both
// sides must hold after each cycle, and an idle cycle at the end writes nothing.
TEST_CASE("two-way: seeded random edits on both sides always converge to the oracle") {
    const char* env = std::getenv("SYNCD_TWO_WAY_SEEDS");
    const int seeds = env ? std::atoi(env) : 3;
    for (int seed = 1; seed <= seeds; ++seed) {
        CAPTURE(seed);
        std::mt19937 random(static_cast<unsigned>(seed));
        TwoWay t;
        t.two_way =
            "          settle: 0s\n          max_write_ratio: 1\n          policy: external-wins\n";
        REQUIRE(t.syncd().status == 0);
        const std::vector<std::string> statuses = {"Todo", "Doing", "Done"};
        // The oracle: per page, the agreed Estimate and Status, and each side's latest value.
        struct Side {
            int estimate;
            std::string status;
        };
        std::vector<Side> agreed, notion, table;
        for (int i = 0; i < 5; ++i) agreed.push_back({i + 1, "Todo"});
        notion = table = agreed;
        std::vector<std::string> operations;
        for (int step = 0; step < 12; ++step) {
            const auto page = static_cast<std::size_t>(random() % 5);
            const int estimate = static_cast<int>(random() % 50);
            const std::string status = statuses[random() % 3];
            switch (random() % 4) {
                case 0:
                    notion[page] = {estimate, status};
                    t.notion_set(t.pages[page],
                                 R"({"Estimate":{"number":)" + std::to_string(estimate) +
                                     R"(},"Status":{"select":{"name":")" + status + "\"}}}");
                    operations.push_back("notion " + std::to_string(page) + " " +
                                         std::to_string(estimate) + " " + status);
                    break;
                case 1:
                case 2:
                    table[page] = {estimate, status};
                    t.sql("UPDATE tasks SET estimate = " + std::to_string(estimate) +
                          ", status = '" + status + "' WHERE page_id = '" + t.pages[page] + "'");
                    operations.push_back("sql " + std::to_string(page) + " " +
                                         std::to_string(estimate) + " " + status);
                    break;
                default: {
                    // A 409 only when this cycle writes (a table edit is pending), so each one
                    // is used up: three in a row would rightly leave the cycle unfinished.
                    bool writes_now = false;
                    for (std::size_t p = 0; p < 5; ++p) {
                        writes_now = writes_now || table[p].estimate != agreed[p].estimate ||
                                     table[p].status != agreed[p].status;
                    }
                    if (writes_now && random() % 3 == 0) {
                        t.emulator.control(
                            "faults",
                            {{"match",
                              {{"method", "PATCH"},
                               {"path_prefix", "/v1/pages"},
                               {"token", "connection-1"}}},  // the daemon's, not the person's
                             {"fault", {{"status", 409}, {"code", "conflict_error"}}},
                             {"count", 1}});
                        operations.push_back("fault 409");
                    }
                    operations.push_back("sync");
                    REQUIRE(t.syncd().status == 0);
                    for (std::size_t p = 0; p < 5; ++p) {
                        // external-wins, per property: the table's change if it made one.
                        Side next = notion[p];
                        if (table[p].estimate != agreed[p].estimate)
                            next.estimate = table[p].estimate;
                        if (table[p].status != agreed[p].status) next.status = table[p].status;
                        agreed[p] = notion[p] = table[p] = next;
                    }
                }
            }
        }
        REQUIRE(t.syncd().status == 0);
        for (std::size_t p = 0; p < 5; ++p) {
            Side next = notion[p];
            if (table[p].estimate != agreed[p].estimate) next.estimate = table[p].estimate;
            if (table[p].status != agreed[p].status) next.status = table[p].status;
            agreed[p] = next;
        }
        std::string ops;
        for (const auto& op : operations) ops += op + "; ";
        CAPTURE(ops);
        for (std::size_t p = 0; p < 5; ++p) {
            CAPTURE(p);
            CHECK(t.notion_value(t.pages[p], "Estimate") == agreed[p].estimate);
            CHECK(t.notion_value(t.pages[p], "Status").at("name") == agreed[p].status.c_str());
            CHECK(t.scalar("SELECT estimate FROM tasks WHERE page_id = '" + t.pages[p] + "'") ==
                  std::to_string(agreed[p].estimate) + ".0");
            CHECK(t.scalar("SELECT status FROM tasks WHERE page_id = '" + t.pages[p] + "'") ==
                  agreed[p].status);
        }
        // Quiet: nothing planned, nothing written.
        const auto writes = t.writes();
        CHECK(json::parse(t.syncd({"plan", "--json"}).out).as_array().empty());
        CHECK(t.syncd().status == 0);
        CHECK(t.writes() == writes);
    }
}
