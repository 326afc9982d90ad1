// notion-syncd end to end (issue #4): the real daemon binary against a real notion-emulator,
// checking what lands in the SQLite and JSON-lines targets.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "daemon/model/sqlite.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::string id_of(const json::value& v) { return std::string(v.at("id").as_string()); }

// Rows of an SQLite file, each column as text ("" for NULL).
std::vector<std::vector<std::string>> rows_of(const fs::path& file, const std::string& sql) {
    sqlite::Database db(file.string());
    auto s = db.prepare(sql);
    std::vector<std::vector<std::string>> out;
    while (s.step()) {
        std::vector<std::string> row;
        for (int i = 0; i < s.column_count(); ++i) row.push_back(s.is_null(i) ? "" : s.text(i));
        out.push_back(std::move(row));
    }
    return out;
}

// A workspace built by the owner: Home (shared with connection-1) holding a Tasks database whose
// Links relation points into a Targets database.
struct Harness {
    test::TempDir dir;
    test::Emulator emulator;
    std::string home;
    std::string tasks_db;
    std::string tasks_ds;
    std::string targets_ds;
    std::string source = {};
    std::string sync_extra = {};
    std::string target_extra = {};
    std::string budget = "{ per_minute: 60000, burst: 200 }";
    bool markdown = false;     // also a markdown target writing to dir/md
    std::string variant = {};  // suffix of the state dir and target files (a second, clean sync)
    // Its own control port: tests run side by side, and `status` asks the daemon listening there.
    int control_port = test::free_port();
    std::string extra_connectors = {};  // YAML lines under `connectors:`
    std::string extra_targets = {};     // YAML lines under the tasks job's `targets:`
    std::string extra_syncs = {};       // YAML lines under `syncs:`, after the tasks job

    explicit Harness(std::vector<std::string> emulator_args = {})
        : emulator(dir, std::move(emulator_args)) {
        home = id_of(emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})")));
        const auto targets = emulator.api("POST", "/v1/databases",
                                          json::parse(R"({"parent":{"page_id":")" + home +
                                                      R"("},
            "title":[{"text":{"content":"Targets"}}],
            "initial_data_source":{"properties":{"Name":{"title":{}}}}})"));
        targets_ds = id_of(targets.at("data_sources").as_array()[0]);
        const auto tasks = emulator.api(
            "POST", "/v1/databases",
            json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},"Count":{"number":{}},"Done":{"checkbox":{}},
              "Notes":{"rich_text":{}},"Stage":{"select":{}},"Due":{"date":{}},
              "Links":{"relation":{"data_source_id":")" +
                        targets_ds + R"(","type":"single_property","single_property":{}}}}}})"));
        tasks_db = id_of(tasks);
        tasks_ds = id_of(tasks.at("data_sources").as_array()[0]);
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home}});
        // Set-up by the owner is not rate limited; tests that want limits set them.
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
        source = "data_source: " + tasks_ds;
    }

    fs::path path(const std::string& name) const { return dir.path() / name; }

    void write_config() const {
        std::ofstream out(path("config.yaml"));
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << emulator.url() << "\n  budget: " << budget
            << "\nstate:\n  dir: " << path("state" + variant).string()
            << "\ncontrol:\n  listen: 127.0.0.1:" << control_port << "\nconnectors:\n"
            << "  db:\n    type: sqlite\n    path: " << path("out" + variant + ".sqlite").string()
            << "\n  log:\n    type: jsonl\n    path: "
            << path("events" + variant + ".jsonl").string()
            << (markdown ? "\n  md:\n    type: markdown\n    dir: " + path("md").string() : "")
            << "\n"
            << extra_connectors << "\nsyncs:\n  - name: tasks\n    source: { " << source
            << " }\n    every: 2s\n    reconcile_every: 1h\n"
            << sync_extra << "    targets:\n      - connector: db\n        table: tasks\n"
            << target_extra << "      - connector: log\n"
            << (markdown ? "      - connector: md\n" : "") << extra_targets << extra_syncs;
    }

    std::vector<std::string> argv(std::vector<std::string> args) const {
        std::vector<std::string> out{SYNCD_DAEMON_BINARY, "-c", path("config.yaml").string()};
        out.insert(out.end(), args.begin(), args.end());
        return out;
    }

    test::Finished syncd(std::vector<std::string> args = {"sync-once"},
                         std::chrono::milliseconds timeout = 120s) const {
        write_config();
        auto finished = test::run_command(argv(std::move(args)), path("syncd.log"), timeout);
        MESSAGE(finished.out);
        // What went wrong, when something did (the log goes with the temp dir).
        if (finished.status != 0)
            MESSAGE("exit " << finished.status << ", log:\n" << test::read_file(path("syncd.log")));
        return finished;
    }

    std::string task(const std::string& name, const std::string& more = "") {
        return id_of(emulator.api("POST", "/v1/pages",
                                  json::parse(R"({"parent":{"data_source_id":")" + tasks_ds + R"("},
            "properties":{"Name":{"title":[{"text":{"content":")" +
                                              name + R"("}}]})" + more + "}}")));
    }
    std::string target(const std::string& name) {
        return id_of(
            emulator.api("POST", "/v1/pages",
                         json::parse(R"({"parent":{"data_source_id":")" + targets_ds + R"("},
            "properties":{"Name":{"title":[{"text":{"content":")" +
                                     name + R"("}}]}}})")));
    }
    void update(const std::string& page, const std::string& body) {
        emulator.api("PATCH", "/v1/pages/" + page, json::parse(body));
    }

    std::vector<json::object> events() const {
        std::vector<json::object> out;
        std::ifstream in(path("events" + variant + ".jsonl"));
        for (std::string line; std::getline(in, line);) {
            if (!line.empty()) out.push_back(json::parse(line).as_object());
        }
        return out;
    }

    // Rows of the SQLite target, each column as text ("" for NULL).
    std::vector<std::vector<std::string>> rows(const std::string& sql) const {
        return rows_of(path("out" + variant + ".sqlite"), sql);
    }
    std::string scalar(const std::string& sql) const {
        const auto r = rows(sql);
        return r.empty() || r[0].empty() ? "" : r[0][0];
    }

    // Every request connection-1 sent.
    std::size_t all_requests() {
        std::size_t n = 0;
        const json::value all = emulator.get("requests");  // not a temporary in the range-for
        for (const auto& c : all.at("counters").as_array()) {
            const auto* connection = c.as_object().if_contains("connection");
            if (connection && *connection == "connection-1")
                n += c.at("count").to_number<std::size_t>();
        }
        return n;
    }

    // Requests connection-1 sent for `route` (all methods).
    std::size_t requests(const std::string& route, int status = 0) {
        std::size_t n = 0;
        const json::value all = emulator.get("requests");  // not a temporary in the range-for
        for (const auto& c : all.at("counters").as_array()) {
            const auto* connection = c.as_object().if_contains("connection");
            const auto* r = c.as_object().if_contains("route");
            if (connection && r && *connection == "connection-1" && *r == route.c_str() &&
                (status == 0 || c.at("status").to_number<int>() == status))
                n += c.at("count").to_number<std::size_t>();
        }
        return n;
    }
};

std::string read_all(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::size_t count_kind(const std::vector<json::object>& events, std::string_view kind) {
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(),
                      [&](const json::object& e) { return e.at("event").as_string() == kind; }));
}

}  // namespace

TEST_CASE("initial sync, an edit, a new page, a trashed and a restored page reach both targets") {
    Harness h;
    std::vector<std::string> ids;
    for (int i = 0; i < 30; ++i) ids.push_back(h.task("Task " + std::to_string(i)));
    h.update(ids[0], R"({"properties":{"Count":{"number":4},"Stage":{"select":{"name":"Doing"}},
        "Notes":{"rich_text":[{"text":{"content":"first"}}]},"Done":{"checkbox":true}}})");

    auto first = h.syncd();
    REQUIRE(first.status == 0);
    CHECK(test::contains_exactly(first.out, "30 pages read, 30 changes"));
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks") == "30");
    CHECK(h.rows("SELECT name, count, stage, notes, done FROM tasks WHERE page_id = '" + ids[0] +
                 "'") ==
          std::vector<std::vector<std::string>>{{"Task 0", "4.0", "Doing", "first", "1"}});
    auto events = h.events();
    REQUIRE(events.size() == 30);
    CHECK(count_kind(events, "created") == 30);
    CHECK(events[0].at("sync") == "tasks");
    CHECK(events[0].at("data_source_id") == h.tasks_ds.c_str());
    CHECK(events[0].at("properties").as_object().contains("Name"));

    // An unchanged re-read: no event.
    REQUIRE(h.syncd().status == 0);
    CHECK(h.events().size() == 30);

    h.update(ids[1], R"({"properties":{"Count":{"number":7}}})");
    const std::string added = h.task("Added later", R"(,"Count":{"number":1})");
    auto second = h.syncd();
    REQUIRE(second.status == 0);
    events = h.events();
    REQUIRE(events.size() == 32);
    const auto& edit = events[30].at("page_id") == ids[1].c_str() ? events[30] : events[31];
    CHECK(edit.at("event") == "updated");
    CHECK(edit.at("changed") == json::array{"Count"});
    CHECK(edit.at("properties").at("Count") == 7);
    CHECK(h.scalar("SELECT count FROM tasks WHERE page_id = '" + ids[1] + "'") == "7.0");
    CHECK(h.scalar("SELECT name FROM tasks WHERE page_id = '" + added + "'") == "Added later");

    // Queries leave trashed pages out (notion-api.md §0.8): reconciliation finds the trash.
    h.update(ids[2], R"({"in_trash":true})");
    REQUIRE(h.syncd().status == 0);
    CHECK(h.events().size() == 32);
    REQUIRE(h.syncd({"sync-once", "--reconcile"}).status == 0);
    events = h.events();
    CHECK(events.back().at("event") == "deleted");
    CHECK(events.back().at("page_id") == ids[2].c_str());
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks WHERE page_id = '" + ids[2] + "'") == "0");

    h.update(ids[2], R"({"in_trash":false})");
    REQUIRE(h.syncd().status == 0);
    events = h.events();
    CHECK(events.back().at("event") == "restored");
    CHECK(h.scalar("SELECT name FROM tasks WHERE page_id = '" + ids[2] + "'") == "Task 2");
}

// Trashed pages leave query results, so only reconciliation sees them go.
void trash(Harness& h, const std::vector<std::string>& pages) {
    for (const auto& p : pages) h.update(p, R"({"in_trash":true})");
}

TEST_CASE("reconciliation: a trashed page is deleted, a page that answers 404 is access_lost") {
    Harness h;
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) ids.push_back(h.task("Task " + std::to_string(i)));
    REQUIRE(h.syncd().status == 0);
    trash(h, {ids[3], ids[4]});
    // ids[4] now answers 404, as a page moved where the connection cannot see it does.
    h.emulator.control("faults",
                       {{"match", {{"method", "GET"}, {"path_prefix", "/v1/pages/" + ids[4]}}},
                        {"count", 1},
                        {"fault", {{"status", 404}, {"code", "object_not_found"}}}});
    // A plain poll (reconciled an instant ago) sees nothing.
    REQUIRE(h.syncd().status == 0);
    CHECK(h.events().size() == 10);
    REQUIRE(h.syncd({"sync-once", "--reconcile"}).status == 0);
    const auto events = h.events();
    REQUIRE(events.size() == 12);
    std::map<std::string, std::string> kinds;
    for (std::size_t i = 10; i < 12; ++i)
        kinds[std::string(events[i].at("page_id").as_string())] = events[i].at("event").as_string();
    CHECK(kinds[ids[3]] == "deleted");
    CHECK(kinds[ids[4]] == "access_lost");
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks") == "8");
    // Both carry the page's last known values, by name (a chat template can say what went).
    for (std::size_t i = 10; i < 12; ++i) {
        const auto& properties = events[i].at("properties").as_object();
        const auto& page = events[i].at("page_id").as_string();
        CHECK(properties.at("Name") == (page == ids[3] ? "Task 3" : "Task 4"));
        CHECK(properties.contains("Count"));
    }
}

TEST_CASE("the delete brake holds a mass delete until it is confirmed") {
    Harness h;
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) ids.push_back(h.task("Task " + std::to_string(i)));
    REQUIRE(h.syncd().status == 0);
    trash(h, {ids[0], ids[1], ids[2], ids[3], ids[4]});  // 50% > max_delete_ratio 0.2
    const auto held = h.syncd({"sync-once", "--reconcile"});
    CHECK(held.status == 0);  // held deletes are not a failure
    CHECK(test::contains_exactly(held.out, "held deletes: 5"));
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks") == "10");
    CHECK(h.events().size() == 10);
    const auto status = h.syncd({"status"});
    CHECK(test::contains_exactly(status.out, "held deletes: 5"));
    // Which pages, by id and title, so the operator can decide.
    for (int i = 0; i < 5; ++i) {
        CHECK(status.out.find("    " + ids[static_cast<std::size_t>(i)] + "  Task " +
                              std::to_string(i) + "  (missing since ") != std::string::npos);
    }
    CHECK(status.out.find(ids[5]) == std::string::npos);
    CHECK(status.out.find("--apply-held-deletes") != std::string::npos);
    const json::value held_json = json::parse(h.syncd({"status", "--json"}).out);
    CHECK(held_json.at("jobs").as_array()[0].at("held_delete_pages").as_array().size() == 5);
    const auto applied = h.syncd({"sync-once", "--apply-held-deletes"});
    REQUIRE(applied.status == 0);
    CHECK(count_kind(h.events(), "deleted") == 5);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks") == "5");
    CHECK(test::contains_exactly(h.syncd({"status"}).out, "held deletes: 0"));
}

TEST_CASE("unsharing the whole source deletes nothing and says why") {
    Harness h;
    h.source = "page: " + h.home;
    for (int i = 0; i < 5; ++i) h.task("Task " + std::to_string(i));
    h.target("Target");
    REQUIRE(h.syncd().status == 0);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks_tasks") == "5");
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks_targets") == "1");
    h.emulator.control("unshare", {{"token", "connection-1"}, {"object_id", h.home}});
    auto finished = h.syncd({"sync-once", "--reconcile"});
    CHECK(finished.status != 0);
    CHECK(finished.out.find("FAILED") != std::string::npos);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks_tasks") == "5");
    CHECK(count_kind(h.events(), "deleted") == 0);
    CHECK(count_kind(h.events(), "access_lost") == 0);
}

TEST_CASE("two edits within the same minute are both seen") {
    Harness h;
    h.emulator.control("clock", {{"set", "2026-05-04T10:15:05.000Z"}, {"freeze", true}});
    const std::string page = h.task("Minute");
    REQUIRE(h.syncd().status == 0);
    h.update(page, R"({"properties":{"Count":{"number":1}}})");
    REQUIRE(h.syncd().status == 0);
    h.emulator.control("clock", {{"advance_ms", 20'000}});  // still 10:15
    h.update(page, R"({"properties":{"Count":{"number":2}}})");
    REQUIRE(h.syncd().status == 0);
    CHECK(h.scalar("SELECT count FROM tasks WHERE page_id = '" + page + "'") == "2.0");
    const auto events = h.events();
    REQUIRE(events.size() == 3);
    CHECK(events[1].at("properties").at("Count") == 1);
    CHECK(events[2].at("properties").at("Count") == 2);
    // Re-reading the overlap window changes nothing.
    REQUIRE(h.syncd().status == 0);
    CHECK(h.events().size() == 3);
}

TEST_CASE("a relation with 60 targets and a Notion-hosted file read twice") {
    Harness h;
    std::vector<std::string> targets;
    for (int i = 0; i < 60; ++i) targets.push_back(h.target("T" + std::to_string(i)));
    json::array links;
    for (const auto& t : targets) links.push_back(json::object{{"id", t}});
    const std::string page =
        h.task("Linked", R"(,"Links":{"relation":)" + json::serialize(links) + "}");
    // A Notion-hosted file exists only through fixtures: its URL is signed anew on every read.
    const std::string filed = "5c8a7f2e-1b1d-4c3a-9e55-0a0b0c0d0e0f";
    h.emulator.control("fixture", json::parse(R"({"objects":[
        {"object":"database","id":"6d8a7f2e-1b1d-4c3a-9e55-0a0b0c0d0e0f",
         "parent":{"type":"page_id","page_id":")" +
                                              h.home + R"("},
         "title":[{"text":{"content":"Files"}}],
         "data_sources":[{"id":"7e8a7f2e-1b1d-4c3a-9e55-0a0b0c0d0e0f",
            "title":[{"text":{"content":"Files"}}],
            "properties":{"Name":{"title":{}},"Attachment":{"files":{}}}}]},
        {"object":"page","id":")" + filed + R"(",
         "parent":{"type":"data_source_id","data_source_id":"7e8a7f2e-1b1d-4c3a-9e55-0a0b0c0d0e0f"},
         "properties":{"Name":{"title":[{"text":{"content":"Spec"}}]},
            "Attachment":{"files":[{"name":"spec.pdf","type":"file",
                                    "file":{"url":"https://files.example/spec.pdf"}}]}}}]})"));
    h.source = "page: " + h.home;
    REQUIRE(h.syncd().status == 0);
    const std::string links_json =
        h.scalar("SELECT links FROM tasks_tasks WHERE page_id = '" + page + "'");
    const auto stored = json::parse(links_json).as_array();
    CHECK(stored.size() == 60);
    CHECK(std::set<std::string>(targets.begin(), targets.end()).size() == 60);
    for (const auto& t : targets)
        CHECK(std::find(stored.begin(), stored.end(), json::value(t)) != stored.end());
    CHECK(h.requests("/v1/pages/{id}/properties/{property_id}") >= 1);  // the page holds 25
    const auto attachment =
        json::parse(h.scalar("SELECT attachment FROM tasks_files WHERE page_id = '" + filed + "'"));
    CHECK(attachment.as_array()[0].at("name") == "spec.pdf");
    CHECK(!attachment.as_array()[0].as_object().contains("url"));
    const auto before = h.events().size();
    REQUIRE(h.syncd({"sync-once", "--reconcile"}).status == 0);
    REQUIRE(h.syncd().status == 0);
    CHECK(h.events().size() == before);
}

TEST_CASE("a property rename keeps its column and emits schema_changed") {
    Harness h;
    const std::string page = h.task("Renamed", R"(,"Count":{"number":3})");
    REQUIRE(h.syncd().status == 0);
    const auto ds = h.emulator.api("GET", "/v1/data_sources/" + h.tasks_ds, nullptr);
    const std::string count_id = id_of(ds.at("properties").at("Count"));
    h.emulator.api("PATCH", "/v1/data_sources/" + h.tasks_ds,
                   json::parse(R"({"properties":{")" + count_id + R"(":{"name":"Points"}}})"));
    h.update(page, R"({"properties":{"Points":{"number":5}}})");
    auto finished = h.syncd();
    REQUIRE(finished.status == 0);
    const auto events = h.events();
    CHECK(count_kind(events, "schema_changed") == 1);
    CHECK(events.back().at("properties").at("Points") == 5);
    // The column keeps its name (bound to the property id); no new column appeared.
    CHECK(h.scalar("SELECT count FROM tasks WHERE page_id = '" + page + "'") == "5.0");
    CHECK(h.rows("SELECT name FROM pragma_table_info('tasks') WHERE name = 'points'").empty());
}

TEST_CASE("a database with two data sources writes one table per data source") {
    Harness h;
    h.emulator.api("POST", "/v1/data_sources",
                   json::parse(R"({"parent":{"database_id":")" + h.tasks_db + R"("},
        "title":[{"text":{"content":"Archive 2025"}}],"properties":{"Title":{"title":{}},"Year":{"number":{}}}})"));
    h.task("Current");
    h.source = "database: " + h.tasks_db;
    REQUIRE(h.syncd().status == 0);
    const auto ds = h.emulator.api("GET", "/v1/databases/" + h.tasks_db, nullptr);
    const std::string archive = id_of(ds.at("data_sources").as_array()[1]);
    h.emulator.api("POST", "/v1/pages",
                   json::parse(R"({"parent":{"data_source_id":")" + archive +
                               R"("},
        "properties":{"Title":{"title":[{"text":{"content":"Old"}}]},"Year":{"number":2025}}})"));
    REQUIRE(h.syncd().status == 0);
    CHECK(h.scalar("SELECT name FROM tasks_tasks") == "Current");
    CHECK(h.rows("SELECT title, year FROM tasks_archive_2025") ==
          std::vector<std::vector<std::string>>{{"Old", "2025.0"}});
    // Renaming a data source keeps its table (bound to the data source id).
    h.emulator.api("PATCH", "/v1/data_sources/" + archive,
                   json::parse(R"({"title":[{"text":{"content":"Old stuff"}}]})"));
    h.emulator.api("POST", "/v1/pages",
                   json::parse(R"({"parent":{"data_source_id":")" + archive +
                               R"("},
        "properties":{"Title":{"title":[{"text":{"content":"Older"}}]},"Year":{"number":2024}}})"));
    REQUIRE(h.syncd({"sync-once", "--job", "tasks"}).status == 0);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks_archive_2025") == "2");
    CHECK(h.rows("SELECT name FROM sqlite_master WHERE name = 'tasks_old_stuff'").empty());
}

std::size_t lines_of(const fs::path& path) {
    std::ifstream in(path);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.empty() ? 0 : 1;
    return n;
}

TEST_CASE("two jobs over one data source: both targets get every page, for the requests of one") {
    Harness h;
    // The Tasks database gets a second data source; job `roadmap` reads the whole database, job
    // `tasks` only its Tasks data source.
    h.emulator.api("POST", "/v1/data_sources",
                   json::parse(R"({"parent":{"database_id":")" + h.tasks_db + R"("},
        "title":[{"text":{"content":"Roadmap 2026"}}],"properties":{"Title":{"title":{}}}})"));
    const auto db = h.emulator.api("GET", "/v1/databases/" + h.tasks_db, nullptr);
    const std::string roadmap_ds = id_of(db.at("data_sources").as_array()[1]);
    std::vector<std::string> ids;
    for (int i = 0; i < 15; ++i) ids.push_back(h.task("Idea " + std::to_string(i)));
    for (int i = 0; i < 15; ++i) {
        h.emulator.api("POST", "/v1/pages",
                       json::parse(R"({"parent":{"data_source_id":")" + roadmap_ds + R"("},
            "properties":{"Title":{"title":[{"text":{"content":"Goal )" +
                                   std::to_string(i) + R"("}}]}}})"));
    }
    h.extra_connectors =
        "  road:\n    type: sqlite\n    path: " + h.path("road.sqlite").string() + "\n";
    h.extra_syncs = "  - name: roadmap\n    source: { database: " + h.tasks_db +
                    " }\n    every: 2s\n    reconcile_every: 1h\n    targets:\n"
                    "      - connector: road\n        table: roadmap\n";
    const auto queries = [&] { return h.requests("/v1/data_sources/{id}/query"); };
    REQUIRE(h.syncd().status == 0);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks") == "15");
    CHECK(rows_of(h.path("road.sqlite"), "SELECT COUNT(*) FROM roadmap_tasks")[0][0] == "15");
    CHECK(rows_of(h.path("road.sqlite"), "SELECT COUNT(*) FROM roadmap_roadmap_2026")[0][0] ==
          "15");
    // Two data sources, each read once, though Tasks is covered by both jobs.
    CHECK(queries() == 2);

    // Later edits reach both jobs' targets, still for one read of each data source.
    h.update(ids[3], R"({"properties":{"Count":{"number":42}}})");
    const auto before = queries();
    REQUIRE(h.syncd().status == 0);
    CHECK(queries() == before + 2);
    CHECK(h.scalar("SELECT count FROM tasks WHERE page_id = '" + ids[3] + "'") == "42.0");
    CHECK(rows_of(h.path("road.sqlite"), "SELECT count FROM roadmap_tasks WHERE page_id = '" +
                                             ids[3] + "'")[0][0] == "42.0");
    // Each job's events carry its own name.
    for (const auto& e : h.events()) CHECK(e.at("sync") == "tasks");
    // One job alone reads its data sources itself.
    const auto alone = queries();
    REQUIRE(h.syncd({"sync-once", "--job", "roadmap"}).status == 0);
    CHECK(queries() == alone + 2);
}

TEST_CASE("a target added later gets a snapshot of every page, at no Notion request") {
    Harness h;
    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i) ids.push_back(h.task("Page " + std::to_string(i)));
    h.update(ids[0], R"({"in_trash":true})");
    REQUIRE(h.syncd().status == 0);
    REQUIRE(h.scalar("SELECT COUNT(*) FROM tasks") == "19");

    // A new sqlite target and a jsonl target on the same job; a chat-like one without snapshot.
    h.extra_connectors =
        "  late:\n    type: sqlite\n    path: " + h.path("late.sqlite").string() +
        "\n  latelog:\n    type: jsonl\n    path: " + h.path("late.jsonl").string() +
        "\n  chat:\n    type: jsonl\n    path: " + h.path("chat.jsonl").string() + "\n";
    h.extra_targets =
        "      - connector: late\n        table: tasks\n      - connector: latelog\n"
        "      - connector: chat\n        snapshot: false\n";
    const auto before = h.all_requests();
    REQUIRE(h.syncd().status == 0);
    CHECK(rows_of(h.path("late.sqlite"), "SELECT COUNT(*) FROM tasks")[0][0] == "19");
    CHECK(rows_of(h.path("late.sqlite"),
                  "SELECT name FROM tasks WHERE page_id = '" + ids[5] + "'")[0][0] == "Page 5");
    CHECK(lines_of(h.path("late.jsonl")) == 19);
    std::ifstream late(h.path("late.jsonl"));
    for (std::string line; std::getline(late, line);) {
        const auto e = json::parse(line);
        CHECK(e.at("event") == "created");
        CHECK(e.at("snapshot") == true);
    }
    CHECK(lines_of(h.path("chat.jsonl")) == 0);
    // The snapshot came from the mirror: this run cost what an idle run costs (a schema read
    // and one query), nothing per page.
    CHECK(h.all_requests() - before <= 2);

    // Then they follow changes like any target.
    h.update(ids[7], R"({"properties":{"Count":{"number":7}}})");
    REQUIRE(h.syncd().status == 0);
    CHECK(lines_of(h.path("late.jsonl")) == 20);
    CHECK(lines_of(h.path("chat.jsonl")) == 1);
    CHECK(rows_of(h.path("late.sqlite"),
                  "SELECT count FROM tasks WHERE page_id = '" + ids[7] + "'")[0][0] == "7.0");

    // resync --target refills one target, and only that one.
    const auto log_lines = lines_of(h.path("events.jsonl"));
    const auto reset = h.syncd({"resync", "--target", "tasks/latelog"});
    REQUIRE(reset.status == 0);
    REQUIRE(h.syncd().status == 0);
    CHECK(lines_of(h.path("late.jsonl")) == 39);
    CHECK(lines_of(h.path("events.jsonl")) == log_lines);
    CHECK(lines_of(h.path("chat.jsonl")) == 1);
    CHECK(h.syncd({"resync", "--target", "tasks/nope"}).status == 64);
    CHECK(h.syncd({"resync"}).status == 64);
}

TEST_CASE("dead-letters retry sends the event again to the target that refused it, only") {
    Harness h;
    // A program that refuses (for good) any batch holding "Poison" until `fixed` exists.
    const auto program = h.path("refuser.py");
    std::ofstream(program) << R"(import json, os, sys
out, fixed = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] != "batch":
        continue
    names = [e["properties"].get("Name") for e in m["events"]]
    if "Poison" in names and not os.path.exists(fixed):
        print(json.dumps({"type": "nack", "id": m["id"], "error": "no poison", "retryable": False}), flush=True)
        continue
    with open(out, "a") as f:
        for e in m["events"]:
            f.write(json.dumps(e) + "\n")
    print(json.dumps({"type": "ack", "id": m["id"]}), flush=True)
)";
    h.extra_connectors = "  script:\n    type: exec\n    command: [python3, " + program.string() +
                         ", " + h.path("script.jsonl").string() + ", " + h.path("fixed").string() +
                         "]\n";
    h.extra_targets = "      - connector: script\n";
    h.task("A");
    const std::string poison = h.task("Poison");
    h.task("B");
    h.syncd();
    CHECK(lines_of(h.path("script.jsonl")) == 2);
    CHECK(lines_of(h.path("events.jsonl")) == 3);
    const auto listed = h.syncd({"dead-letters", "list"});
    CHECK(test::contains_exactly(listed.out, "1 dead letters"));
    CHECK(listed.out.find("tasks/script") != std::string::npos);

    std::ofstream(h.path("fixed")) << "yes\n";
    REQUIRE(h.syncd({"dead-letters", "retry"}).status == 0);
    REQUIRE(h.syncd().status == 0);
    // The script got it; the other targets did not get it twice.
    CHECK(lines_of(h.path("script.jsonl")) == 3);
    CHECK(read_all(h.path("script.jsonl")).find(poison) != std::string::npos);
    CHECK(lines_of(h.path("events.jsonl")) == 3);
    CHECK(test::contains_exactly(h.syncd({"dead-letters", "list"}).out, "0 dead letters"));
}

TEST_CASE("an idle sync-once costs one request per data source, its schema kept in the mirror") {
    for (const bool whole_database : {false, true}) {
        CAPTURE(whole_database);
        Harness h;
        for (int i = 0; i < 5; ++i) h.task("Idle " + std::to_string(i));
        if (whole_database) h.source = "database: " + h.tasks_db;
        REQUIRE(h.syncd().status == 0);
        auto before = h.all_requests();
        REQUIRE(h.syncd().status == 0);
        CHECK(h.all_requests() - before == 1);
        CHECK(h.requests("/v1/data_sources/{id}") == 1);  // the first run's schema read only

        // A new property on a page is an unknown property id: the schema is read again, once.
        h.emulator.api("PATCH", "/v1/data_sources/" + h.tasks_ds,
                       json::parse(R"({"properties":{"Owner":{"rich_text":{}}}})"));
        h.task("With owner", R"(,"Owner":{"rich_text":[{"text":{"content":"Ann"}}]})");
        REQUIRE(h.syncd().status == 0);
        CHECK(h.requests("/v1/data_sources/{id}") == 2);
        CHECK(h.scalar("SELECT owner FROM tasks WHERE name = 'With owner'") == "Ann");
        before = h.all_requests();
        REQUIRE(h.syncd().status == 0);
        CHECK(h.all_requests() - before == 1);
    }
}

TEST_CASE("a page moved to another synced data source ends up once, in its new table") {
    Harness h;
    h.emulator.api("POST", "/v1/data_sources",
                   json::parse(R"({"parent":{"database_id":")" + h.tasks_db + R"("},
        "title":[{"text":{"content":"Archive"}}],"properties":{"Name":{"title":{}},"Count":{"number":{}}}})"));
    const auto db = h.emulator.api("GET", "/v1/databases/" + h.tasks_db, nullptr);
    const std::string archive = id_of(db.at("data_sources").as_array()[1]);
    h.source = "database: " + h.tasks_db;
    const std::string page = h.task("Moving", R"(,"Count":{"number":5})");
    h.task("Staying");
    REQUIRE(h.syncd().status == 0);
    REQUIRE(h.scalar("SELECT COUNT(*) FROM tasks_tasks") == "2");
    h.emulator.api("POST", "/v1/pages/" + page + "/move",
                   json::parse(R"({"parent":{"type":"data_source_id","data_source_id":")" +
                               archive + R"("}})"));
    // The move shows in a reconciliation (the page left the old data source's listing) or in
    // the new data source's poll, whichever comes first; both end the same way.
    REQUIRE(h.syncd({"sync-once", "--reconcile"}).status == 0);
    CHECK(h.rows("SELECT name FROM tasks_tasks") ==
          std::vector<std::vector<std::string>>{{"Staying"}});
    CHECK(h.rows("SELECT name, count FROM tasks_archive") ==
          std::vector<std::vector<std::string>>{{"Moving", "5.0"}});
    CHECK(h.rows("SELECT name FROM sqlite_master WHERE name LIKE 'tasks_%_2'").empty());
    // Events: deleted from the old data source (with its last values), created in the new one.
    const auto events = h.events();
    REQUIRE(events.size() == 4);
    CHECK(events[2].at("event") == "deleted");
    CHECK(events[2].at("data_source_id") == h.tasks_ds.c_str());
    CHECK(events[2].at("properties").at("Name") == "Moving");
    CHECK(events[3].at("event") == "created");
    CHECK(events[3].at("data_source_id") == archive.c_str());
    // Nothing more on the next cycles.
    REQUIRE(h.syncd({"sync-once", "--reconcile"}).status == 0);
    CHECK(h.events().size() == 4);
}

TEST_CASE("a deleted property: no event for the pages re-read, the column and its data kept") {
    Harness h;
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i)
        ids.push_back(h.task("P" + std::to_string(i),
                             R"(,"Notes":{"rich_text":[{"text":{"content":"n"}}]})"));
    REQUIRE(h.syncd().status == 0);
    REQUIRE(h.events().size() == 3);
    h.emulator.api("PATCH", "/v1/data_sources/" + h.tasks_ds,
                   json::parse(R"({"properties":{"Notes":null}})"));
    // The pages are re-read inside the overlap: their hash moved (a value vanished), no value
    // changed.
    REQUIRE(h.syncd().status == 0);
    REQUIRE(h.syncd().status == 0);
    std::size_t updated = 0;
    for (const auto& e : h.events()) updated += e.at("event") == "updated" ? 1 : 0;
    CHECK(updated == 0);
    CHECK(count_kind(h.events(), "schema_changed") == 1);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks WHERE notes = 'n'") == "3");
    // A real edit afterwards is an event again.
    h.update(ids[1], R"({"properties":{"Count":{"number":3}}})");
    REQUIRE(h.syncd().status == 0);
    CHECK(count_kind(h.events(), "updated") == 1);
}

TEST_CASE("an empty data source gets its table and columns before any page") {
    Harness h;
    h.emulator.api("POST", "/v1/data_sources",
                   json::parse(R"({"parent":{"database_id":")" + h.tasks_db + R"("},
        "title":[{"text":{"content":"Backlog"}}],"properties":{"Title":{"title":{}},"Size":{"number":{}}}})"));
    h.source = "database: " + h.tasks_db;
    REQUIRE(h.syncd().status == 0);
    // Both tables exist, each with a column per property, though neither data source has pages.
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks_backlog") == "0");
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks_tasks") == "0");
    CHECK(h.rows("SELECT name FROM pragma_table_info('tasks_backlog') WHERE name IN ('title', "
                 "'size') ORDER BY name") ==
          std::vector<std::vector<std::string>>{{"size"}, {"title"}});
    // The events file got no event for it.
    CHECK(h.events().empty());
}

TEST_CASE("a rollup that changed without its page being edited: found by refresh_every") {
    Harness h;
    h.emulator.control("clock", {{"set", "2026-05-04T10:00:00.000Z"}, {"freeze", true}});
    h.emulator.api("PATCH", "/v1/data_sources/" + h.targets_ds,
                   json::parse(R"({"properties":{"Score":{"number":{}}}})"));
    h.emulator.api("PATCH", "/v1/data_sources/" + h.tasks_ds, json::parse(R"({"properties":{
        "Total":{"rollup":{"relation_property_name":"Links","rollup_property_name":"Score",
                           "function":"sum"}}}})"));
    const std::string target = h.target("T");
    h.update(target, R"({"properties":{"Score":{"number":1}}})");
    const std::string task = h.task("R", R"(,"Links":{"relation":[{"id":")" + target + R"("}]})");
    h.sync_extra = "    refresh_every: never\n";
    REQUIRE(h.syncd().status == 0);
    const auto total = [&] {
        return h.scalar("SELECT total FROM tasks WHERE page_id = '" + task + "'");
    };
    CHECK(total() == "1.0");
    // Later edits move the watermark past R, so incremental reads no longer return it.
    h.emulator.control("clock", {{"advance_ms", 20 * 60'000}});
    h.task("Later");
    REQUIRE(h.syncd().status == 0);
    h.emulator.control("clock", {{"advance_ms", 10 * 60'000}});
    h.update(target, R"({"properties":{"Score":{"number":5}}})");  // R's rollup is now 5
    REQUIRE(h.syncd().status == 0);
    CHECK(total() == "1.0");  // the documented limitation, without refresh_every
    // With it, a whole re-read finds the new value (an `updated` naming Total).
    h.sync_extra = "    refresh_every: 1ms\n";
    const auto queries = h.requests("/v1/data_sources/{id}/query");
    const auto finished = h.syncd();
    REQUIRE(finished.status == 0);
    CHECK(finished.out.find("values refreshed") != std::string::npos);
    CHECK(total() == "5.0");
    CHECK(h.requests("/v1/data_sources/{id}/query") == queries + 2);  // the poll and the refresh
    const auto events = h.events();
    REQUIRE(!events.empty());
    CHECK(events.back().at("event") == "updated");
    CHECK(events.back().at("changed") == json::array{"Total"});
}

TEST_CASE("a page: source exports its pages, recursively, and finds edits deep in the tree") {
    Harness h;
    const auto page_under = [&](const std::string& parent, const std::string& title) {
        return id_of(h.emulator.api(
            "POST", "/v1/pages",
            json::parse(R"({"parent":{"page_id":")" + parent +
                        R"("},"properties":{"title":{"title":[{"text":{"content":")" + title +
                        R"("}}]}}})")));
    };
    const std::string onboarding = page_under(h.home, "Onboarding");
    const std::string week = page_under(onboarding, "First week");
    h.source = "page: " + onboarding;
    REQUIRE(h.syncd().status == 0);
    using Rows = std::vector<std::vector<std::string>>;
    const auto rows = [&] {
        return h.rows("SELECT page_id, title, parent FROM tasks ORDER BY title");
    };
    CHECK(rows() == Rows{{week, "First week", onboarding}, {onboarding, "Onboarding", ""}});

    // An idle poll of the tree: one search request.
    const auto searches = [&] { return h.requests("/v1/search"); };
    auto before = searches();
    auto total = h.all_requests();
    REQUIRE(h.syncd().status == 0);
    CHECK(searches() == before + 1);
    CHECK(h.all_requests() == total + 1);

    // A page added two levels down, and an edit of a deep page (its parents do not change).
    const std::string day = page_under(week, "Day one");
    h.update(week, R"({"properties":{"title":{"title":[{"text":{"content":"Week one"}}]}}})");
    REQUIRE(h.syncd().status == 0);
    CHECK(rows() == Rows{{day, "Day one", week},
                         {onboarding, "Onboarding", ""},
                         {week, "Week one", onboarding}});
    // A page trashed deep in the tree: the reconciliation's crawl finds it gone.
    h.update(day, R"({"in_trash":true})");
    REQUIRE(h.syncd({"sync-once", "--reconcile"}).status == 0);
    CHECK(rows() == Rows{{onboarding, "Onboarding", ""}, {week, "Week one", onboarding}});
    CHECK(count_kind(h.events(), "deleted") == 1);
    // A page outside the tree is never exported.
    page_under(h.home, "Elsewhere");
    REQUIRE(h.syncd({"sync-once", "--reconcile"}).status == 0);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks") == "2");
}

TEST_CASE("12,000 pages edited in one minute: past the 10,000 cap, nothing missed") {
    Harness h;
    // A bulk import: created over two days, all edited in the same minute.
    json::array objects;
    for (int i = 0; i < 12'000; ++i) {
        char created[32];
        std::snprintf(created, sizeof created, "2026-03-%02dT%02d:%02d:00.000Z", 1 + i / 1440,
                      i / 60 % 24, i % 60);
        char id[40];
        std::snprintf(id, sizeof id, "0000%04x-0000-4000-8000-%012x", i, i);
        objects.push_back(json::object{
            {"object", "page"},
            {"id", id},
            {"parent", {{"type", "data_source_id"}, {"data_source_id", h.tasks_ds}}},
            {"created_time", created},
            {"last_edited_time", "2026-04-01T08:00:00.000Z"},
            {"properties",
             {{"Name",
               {{"title", json::array{{{"text", {{"content", "Bulk " + std::to_string(i)}}}}}}}},
              {"Count", {{"number", i}}}}}});
    }
    h.emulator.control("fixture", json::object{{"objects", objects}});
    auto finished = h.syncd({"sync-once"}, 300s);
    REQUIRE(finished.status == 0);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks") == "12000");
    CHECK(h.scalar("SELECT SUM(count) FROM tasks") == "71994000.0");
    CHECK(count_kind(h.events(), "created") == 12'000);
    CHECK(count_kind(h.events(), "deleted") == 0);
    // The next poll does not read that crowded minute again: the previous complete read began
    // after it (by Notion's clock, the Date header), so one query suffices.
    const auto queries = h.requests("/v1/data_sources/{id}/query");
    REQUIRE(h.syncd().status == 0);
    CHECK(h.requests("/v1/data_sources/{id}/query") == queries + 1);
}

TEST_CASE("a 429 storm during a sync costs a pause, not pages") {
    Harness h;
    for (int i = 0; i < 250; ++i) h.task("Storm " + std::to_string(i));
    h.emulator.control(
        "faults", {{"match", {{"method", "POST"}}},
                   {"count", 4},
                   {"fault", {{"status", 429}, {"code", "rate_limited"}, {"retry_after", 1}}}});
    h.emulator.control("rate_limit", {{"requests", 6}, {"window_ms", 2000}});
    auto finished = h.syncd({"sync-once"}, 120s);
    REQUIRE(finished.status == 0);
    CHECK(h.scalar("SELECT COUNT(*) FROM tasks") == "250");
    CHECK(h.requests("/v1/data_sources/{id}/query", 429) >= 4);
    CHECK(count_kind(h.events(), "created") == 250);
}

#ifdef SYNCD_CRASH_POINTS
namespace {

// Every column of every row of the tasks table but synced_at (when the row was written), as
// text, by page id; the column names first.
std::vector<std::vector<std::string>> full_table(const Harness& h) {
    std::string columns;
    for (const auto& c : h.rows("SELECT name FROM pragma_table_info('tasks') ORDER BY name")) {
        if (c[0] == "synced_at") continue;
        columns += (columns.empty() ? "" : ", ") + sqlite::quote_identifier(c[0]);
    }
    auto rows = h.rows("SELECT " + columns + " FROM tasks ORDER BY page_id");
    rows.insert(rows.begin(), {columns});
    return rows;
}

// Each page's newest event: kind and properties.
std::map<std::string, std::pair<std::string, std::string>> newest_events(const Harness& h) {
    std::map<std::string, std::pair<std::string, std::string>> out;
    for (const auto& e : h.events()) {
        const auto kind = std::string(e.at("event").as_string());
        out[std::string(e.at("page_id").as_string())] = {
            kind == "created" || kind == "updated" || kind == "restored" ? "live" : kind,
            json::serialize(e.at("properties"))};
    }
    return out;
}

}  // namespace

TEST_CASE("kill -9 at each crash point, then restart: targets equal a clean sync and Notion") {
    struct Point {
        const char* at;
        bool reconcile;  // the crash comes in a reconciliation (after a first clean sync)
    };
    for (const Point point :
         {Point{"poll.after_mirror_commit:2", false}, Point{"target.after_write:1", false},
          Point{"deliver.before_cursor:1", false}, Point{"poll.after_mirror_commit:1", true},
          Point{"reconcile.after_delete:2", true}}) {
        const std::string at = point.at;
        CAPTURE(at);
        Harness h;
        std::vector<std::string> ids;
        for (int i = 0; i < 250; ++i) {
            ids.push_back(h.task("Crash " + std::to_string(i),
                                 R"(,"Count":{"number":)" + std::to_string(i) +
                                     R"(},"Done":{"checkbox":)" + (i % 2 ? "true" : "false") +
                                     R"(},"Stage":{"select":{"name":"S)" + std::to_string(i % 3) +
                                     R"("}})"));
        }
        std::vector<std::string> args{"sync-once"};
        if (point.reconcile) {
            REQUIRE(h.syncd().status == 0);
            // Edits and trashed pages for the interrupted run to find.
            for (int i = 0; i < 5; ++i) h.update(ids[i], R"({"in_trash":true})");
            for (int i = 10; i < 15; ++i)
                h.update(ids[i], R"({"properties":{"Count":{"number":1000}}})");
            args.push_back("--reconcile");
        }
        h.write_config();
        const auto crashed = test::run_command(h.argv(args), h.path("crashed.log"), 120s,
                                               {{"NOTION_SYNCD_CRASH_AT", point.at}});
        const std::string name = std::string(point.at).substr(0, std::string(point.at).find(':'));
        // It was interrupted there, by SIGKILL.
        REQUIRE(crashed.status == 128 + SIGKILL);
        REQUIRE(read_all(h.path("crashed.log")).find("crash point " + name + " reached") !=
                std::string::npos);
        // More edits while it is down, then a restart.
        // (Each changes a value: an edit that changes none moves only last_edited_time, which
        // is no change, so a target keeps the time of the last real change.)
        for (int i = 20; i < 25; ++i) {
            h.update(ids[i], std::string(R"({"properties":{"Done":{"checkbox":)") +
                                 (i % 2 ? "false" : "true") + "}}}");
        }
        REQUIRE(h.syncd(args).status == 0);

        const auto recovered = full_table(h);
        const auto recovered_events = newest_events(h);
        // A clean sync of the same Notion state into fresh state and targets.
        h.variant = "-clean";
        REQUIRE(h.syncd().status == 0);
        const auto clean = full_table(h);
        const auto clean_events = newest_events(h);
        // The column names, then the live pages.
        CHECK(recovered.size() == (point.reconcile ? 246 : 251));
        CHECK(recovered == clean);
        for (std::size_t r = 0; r < std::min(recovered.size(), clean.size()); ++r) {
            if (recovered[r] == clean[r]) continue;
            std::string a, b;
            for (const auto& v : recovered[r]) a += v + " | ";
            for (const auto& v : clean[r]) b += v + " | ";
            MESSAGE("first differing row " << r << ":\n  recovered: " << a
                                           << "\n  clean:     " << b);
            break;
        }
        // Every live page's newest event carries its current values; every trashed page's newest
        // event is its delete.
        for (const auto& [page, newest] : clean_events) {
            CAPTURE(page);
            REQUIRE(recovered_events.contains(page));
            CHECK(recovered_events.at(page) == newest);
        }
        std::size_t deleted = 0;
        for (const auto& [page, newest] : recovered_events) {
            if (clean_events.contains(page)) continue;
            CAPTURE(page);
            CHECK(newest.first == "deleted");
            ++deleted;
        }
        CHECK(deleted == (point.reconcile ? 5 : 0));
        // And the table agrees with Notion itself: names and counts of the live pages.
        std::map<std::string, std::string> notion;
        std::string cursor;
        do {
            json::object body{{"page_size", 100}};
            if (!cursor.empty()) body["start_cursor"] = cursor;
            const auto page =
                h.emulator.api("POST", "/v1/data_sources/" + h.tasks_ds + "/query", body);
            for (const auto& r : page.at("results").as_array()) {
                notion[id_of(r)] =
                    std::to_string(r.at("properties").at("Count").at("number").to_number<int>());
            }
            cursor = page.at("has_more").as_bool() ? std::string(page.at("next_cursor").as_string())
                                                   : "";
        } while (!cursor.empty());
        h.variant.clear();
        std::map<std::string, std::string> target;
        for (const auto& row : h.rows("SELECT page_id, CAST(count AS INTEGER) FROM tasks"))
            target[row[0]] = row[1];
        CHECK(target == notion);
    }
}
#endif

TEST_CASE("content: true reads blocks (nested) only for pages that were edited") {
    Harness h;
    h.sync_extra = "    content: true\n";
    const std::string page = h.task("With content");
    const std::string other = h.task("Other");
    h.emulator.api("PATCH", "/v1/blocks/" + page + "/children", json::parse(R"({"children":[
        {"type":"heading_1","heading_1":{"rich_text":[{"text":{"content":"Plan"}}]}},
        {"type":"toggle","toggle":{"rich_text":[{"text":{"content":"Details"}}],
          "children":[{"type":"paragraph","paragraph":{"rich_text":[{"text":{"content":"inside"}}]}}]}}]})"));
    REQUIRE(h.syncd().status == 0);
    auto events = h.events();
    REQUIRE(events.size() == 2);
    const auto& created = events[0].at("page_id") == page.c_str() ? events[0] : events[1];
    const auto& blocks = created.at("content").as_array();
    REQUIRE(blocks.size() == 2);
    CHECK(blocks[0].at("type") == "heading_1");
    CHECK(blocks[1]
              .at("children")
              .as_array()[0]
              .at("paragraph")
              .at("rich_text")
              .as_array()[0]
              .at("plain_text") == "inside");
    const auto block_reads = h.requests("/v1/blocks/{id}/children");

    // Re-reading unchanged pages reads no content once their edit minute is over (within it, a
    // second edit could hide behind the same minute-rounded time).
    h.emulator.control("clock", {{"advance_ms", 180'000}});
    REQUIRE(h.syncd().status == 0);  // reads the blocks once more, after the minute
    const auto settled = h.requests("/v1/blocks/{id}/children");
    REQUIRE(h.syncd({"resync", "--job", "tasks"}).status == 0);
    REQUIRE(h.syncd().status == 0);
    CHECK(h.events().size() == 2);
    CHECK(h.requests("/v1/blocks/{id}/children") == settled);
    CHECK(settled > block_reads);

    // A content-only edit: an update with no changed property and the new blocks.
    h.emulator.api("PATCH", "/v1/blocks/" + page + "/children", json::parse(R"({"children":[
        {"type":"paragraph","paragraph":{"rich_text":[{"text":{"content":"added"}}]}}]})"));
    REQUIRE(h.syncd().status == 0);
    events = h.events();
    REQUIRE(events.size() == 3);
    CHECK(events[2].at("event") == "updated");
    CHECK(events[2].at("page_id") == page.c_str());
    CHECK(events[2].at("changed").as_array().empty());
    CHECK(events[2].at("content_changed") == true);
    CHECK(events[2].at("content").as_array().size() == 3);
    const auto stored =
        json::parse(h.scalar("SELECT notion_content FROM tasks WHERE page_id = '" + page + "'"));
    CHECK(stored.as_array().size() == 3);
    // Only the edited page's blocks were read again (the page and its toggle).
    CHECK(h.requests("/v1/blocks/{id}/children") == settled + 2);
    (void)other;
}

TEST_CASE("markdown: a file per page, a rename moves it, a trashed page goes to .trash") {
    Harness h;
    h.markdown = true;
    // Without content the configuration is refused.
    const auto refused = h.syncd({"check-config"});
    CHECK(refused.status == 78);
    CHECK(read_all(h.path("syncd.log")).find("set `content: true` on this sync") !=
          std::string::npos);
    h.sync_extra = "    content: true\n";
    // Others, so one trashed page stays under the delete brake's ratio.
    for (int i = 0; i < 6; ++i) h.task("Other " + std::to_string(i));
    const std::string page = h.task("Release plan", R"(,"Count":{"number":3})");
    h.emulator.api("PATCH", "/v1/blocks/" + page + "/children", json::parse(R"({"children":[
        {"type":"heading_2","heading_2":{"rich_text":[{"text":{"content":"Steps"}}]}},
        {"type":"to_do","to_do":{"rich_text":[{"text":{"content":"tag it"}}],"checked":true}}]})"));
    REQUIRE(h.syncd().status == 0);
    std::string id8;
    for (const char c : page)
        if (c != '-' && id8.size() < 8) id8.push_back(c);
    const auto file = h.path("md") / ("release-plan-" + id8 + ".md");
    REQUIRE(fs::exists(file));
    const std::string text = read_all(file);
    CHECK(text.starts_with("---\nnotion_id: " + page + "\n"));
    CHECK(test::contains_exactly(text, "Count: 3"));
    CHECK(text.find("# Release plan\n\n## Steps\n\n- [x] tag it\n") != std::string::npos);

    h.update(page, R"({"properties":{"Name":{"title":[{"text":{"content":"Launch plan"}}]}}})");
    REQUIRE(h.syncd().status == 0);
    CHECK(!fs::exists(file));
    const auto renamed = h.path("md") / ("launch-plan-" + id8 + ".md");
    CHECK(fs::exists(renamed));

    trash(h, {page});
    REQUIRE(h.syncd({"sync-once", "--reconcile"}).status == 0);
    CHECK(!fs::exists(renamed));
    CHECK(fs::exists(h.path("md") / ".trash" / renamed.filename()));
}

TEST_CASE("numbers reach events and front matter as a person writes them, 180 and 1234.5") {
    Harness h;
    h.markdown = true;
    h.sync_extra = "    content: true\n";
    // 180.0 is a double, which Boost.JSON alone writes as 1.8E2 (the emulator answers so).
    const std::string whole = h.task("Whole", R"(,"Count":{"number":180.0})");
    const std::string half = h.task("Half", R"(,"Count":{"number":1234.5})");
    REQUIRE(h.syncd().status == 0);
    const std::string events = read_all(h.path("events.jsonl"));
    INFO(events);
    CHECK(test::contains_exactly(events, "\"Count\":180"));
    CHECK(test::contains_exactly(events, "\"Count\":1234.5"));
    CHECK(events.find("E2") == std::string::npos);
    CHECK(events.find("E3") == std::string::npos);
    const auto front_matter = [&](const std::string& slug, const std::string& page) {
        std::string id8;
        for (const char c : page)
            if (c != '-' && id8.size() < 8) id8.push_back(c);
        return read_all(h.path("md") / (slug + "-" + id8 + ".md"));
    };
    CHECK(front_matter("whole", whole).find("\nCount: 180\n") != std::string::npos);
    CHECK(front_matter("half", half).find("\nCount: 1234.5\n") != std::string::npos);
}

TEST_CASE("mapping: named columns, unmapped properties as JSON or left out, include/exclude") {
    Harness h;
    h.target_extra =
        "        mapping: { Name: title, Count: points }\n        unmapped: json\n"
        "        exclude: [Due]\n";
    const std::string page = h.task("Mapped", R"(,"Count":{"number":4},"Done":{"checkbox":true})");
    REQUIRE(h.syncd().status == 0);
    CHECK(h.rows("SELECT title, points FROM tasks") ==
          std::vector<std::vector<std::string>>{{"Mapped", "4.0"}});
    const auto rest = json::parse(h.scalar("SELECT notion_properties FROM tasks")).as_object();
    CHECK(rest.at("Done") == true);
    CHECK(!rest.contains("Name"));
    CHECK(!rest.contains("Due"));  // excluded
    CHECK(h.rows("SELECT name FROM pragma_table_info('tasks') WHERE name IN ('done', 'due')")
              .empty());
    // The jsonl target has no exclude: it sees Due.
    CHECK(h.events().back().at("properties").as_object().contains("Due"));

    // unmapped: skip: only the mapped properties reach the target.
    Harness s;
    s.target_extra = "        mapping: { Name: title }\n        unmapped: skip\n";
    s.task("Skipped", R"(,"Count":{"number":4})");
    REQUIRE(s.syncd().status == 0);
    std::vector<std::string> columns;
    for (const auto& row : s.rows("SELECT name FROM pragma_table_info('tasks')"))
        columns.push_back(row[0]);
    CHECK(columns == std::vector<std::string>{"page_id", "notion_url", "last_edited_time",
                                              "synced_at", "deleted_at", "title"});
    (void)page;

    // Mapping mistakes are configuration errors with their place.
    Harness bad;
    bad.target_extra =
        "        mapping: { Name: same, Count: same }\n        include: [Name]\n"
        "        exclude: [Count]\n";
    const auto refused = bad.syncd({"check-config"});
    CHECK(refused.status == 78);
    const std::string log = read_all(bad.path("syncd.log"));
    CHECK(log.find("two properties map to the column `same`") != std::string::npos);
    CHECK(log.find("give include or exclude, not both") != std::string::npos);
    CHECK(log.find("config.yaml:") != std::string::npos);
}
