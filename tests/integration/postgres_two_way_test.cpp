// Two-way sync with a postgres target (issue 12): the connector runs as a role that owns only its
// schema (no superuser), a person edits the tables as another role with plain DML grants, and
// their edits reach Notion through the capture triggers; our own writes are not captured; an
// open transaction holds nothing up; TRUNCATE and DELETE are external deletes; rows inserted
// without a page become one page each, even after a 503 after commit; dates are `date` or
// `timestamptz` columns a person can write, with their time zone kept; tables made by earlier
// versions migrate in place.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "connectors/postgres/pg.hpp"
#include "tests/support/postgres.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;
using test::read_file;

namespace {

std::string id_of(const json::value& v) { return std::string(v.at("id").as_string()); }

// Tasks (Name, Status select, Estimate number, Tags multi-select, Due date, Links relation to
// Targets, Double formula) with five rows; a postgres target in schema `app` owned by the role
// `syncd`, and a jsonl target beside it. `alice` may read and change app's tables, nothing more.
struct PgTwoWay {
    test::TempDir dir;
    test::Emulator emulator{dir};
    test::PostgresCluster pg;
    std::string data_source;
    std::string target_page;
    std::vector<std::string> pages;
    std::string two_way = "          settle: 0s\n          max_write_ratio: 1\n";
    std::string target_extra = {};

    PgTwoWay() {
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
        const std::string home =
            id_of(emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})")));
        const auto targets = emulator.api("POST", "/v1/databases",
                                          json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "title":[{"text":{"content":"Targets"}}],
            "initial_data_source":{"properties":{"Name":{"title":{}}}}})"));
        const std::string targets_ds = id_of(targets.at("data_sources").as_array()[0]);
        target_page =
            id_of(emulator.api("POST", "/v1/pages",
                               json::parse(R"({"parent":{"data_source_id":")" + targets_ds + R"("},
            "properties":{"Name":{"title":[{"text":{"content":"T1"}}]}}})")));
        const auto db =
            emulator.api("POST", "/v1/databases",
                         json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},
              "Status":{"select":{"options":[{"name":"Todo"},{"name":"Doing"},{"name":"Done"}]}},
              "Estimate":{"number":{}},
              "Tags":{"multi_select":{"options":[{"name":"a"},{"name":"b"}]}},
              "Due":{"date":{}},
              "Links":{"relation":{"data_source_id":")" +
                                     targets_ds +
                                     R"(","type":"single_property","single_property":{}}},
              "Double":{"formula":{"expression":"prop(\"Estimate\") * 2"}}}}})"));
        data_source = id_of(db.at("data_sources").as_array()[0]);
        for (int i = 0; i < 5; ++i) {
            pages.push_back(id_of(emulator.api(
                "POST", "/v1/pages",
                json::parse(R"({"parent":{"data_source_id":")" + data_source + R"("},
                "properties":{"Name":{"title":[{"text":{"content":"Task )" +
                            std::to_string(i) +
                            R"("}}]},"Status":{"select":{"name":"Todo"}},"Estimate":{"number":)" +
                            std::to_string(i + 1) + R"(},"Due":{"date":{"start":"2026-06-0)" +
                            std::to_string(i + 1) + R"("}}}})"))));
        }
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home}});
        // The daemon's role owns its schema and nothing else; alice edits through grants.
        pg.exec(
            "CREATE ROLE syncd LOGIN; CREATE SCHEMA app AUTHORIZATION syncd; CREATE ROLE alice "
            "LOGIN; GRANT USAGE ON SCHEMA app TO alice; ALTER DEFAULT PRIVILEGES FOR ROLE syncd "
            "IN SCHEMA app GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO alice");
    }

    fs::path path(const std::string& name) const { return dir.path() / name; }

    void write_config() const {
        std::ofstream out(path("config.yaml"));
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << emulator.url() << "\nstate:\n  dir: " << path("state").string()
            << "\ncontrol:\n  listen: off\nconnectors:\n  pg:\n    type: postgres\n    dsn: "
               "${SYNCD_TEST_PG_DSN}\n    schema: app\n"
            << "  log:\n    type: jsonl\n    path: " << path("events.jsonl").string()
            << "\nsyncs:\n  - name: tasks\n    source: { data_source: " << data_source
            << " }\n    every: 1s\n    targets:\n      - connector: pg\n        table: tasks\n"
            << target_extra;
        if (!two_way.empty()) out << "        two_way:\n" << two_way;
        out << "      - connector: log\n";
        out.close();
        fs::permissions(path("config.yaml"), fs::perms::owner_read | fs::perms::owner_write);
    }

    test::Finished syncd(std::vector<std::string> args = {"sync-once"},
                         std::chrono::milliseconds timeout = 60s) const {
        write_config();
        std::vector<std::string> argv{SYNCD_DAEMON_BINARY, "-c", path("config.yaml").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto log_size = read_file(path("syncd.log")).size();
        auto finished = test::run_command(argv, path("syncd.log"), timeout,
                                          {{"SYNCD_TEST_PG_DSN", pg.dsn("syncd")}});
        MESSAGE(finished.out);
        if (finished.status != 0) MESSAGE(read_file(path("syncd.log")).substr(log_size));
        return finished;
    }

    // SQL as alice, from her own connection.
    void sql(const std::string& statement) const {
        connectors::postgres::Connection alice(pg.dsn("alice"));
        alice.exec(statement);
    }
    std::string scalar(const std::string& query) const { return pg.scalar(query); }

    json::value notion_value(const std::string& id, const std::string& property) {
        const auto page = emulator.api("GET", "/v1/pages/" + id, nullptr).as_object();
        const auto& p = page.at("properties").at(property).as_object();
        return p.at(std::string(p.at("type").as_string()));
    }
    void notion_set(const std::string& id, const std::string& properties) {
        emulator.api("PATCH", "/v1/pages/" + id,
                     json::parse(R"({"properties":)" + properties + "}"));
    }
    // Page writes connection-1 made: PATCH /v1/pages/{id}, or POST /v1/pages (creates).
    std::size_t writes(const char* method = "PATCH") {
        std::size_t n = 0;
        const json::value all = emulator.get("requests");
        for (const auto& c : all.at("counters").as_array()) {
            if (c.at("connection") == "connection-1" && c.at("method") == method &&
                c.at("route").as_string().starts_with("/v1/pages"))
                n += c.at("count").to_number<std::size_t>();
        }
        return n;
    }
    std::string column_type(const std::string& column) const {
        return pg.scalar(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
            "'app.tasks'::regclass AND attname = '" +
            column + "' AND NOT attisdropped");
    }
};

}  // namespace

TEST_CASE("postgres two-way: another role's edits reach Notion, typed columns, no echo") {
    PgTwoWay t;
    REQUIRE(t.syncd().status == 0);
    // Columns a person writes SQL against.
    CHECK(t.column_type("due") == "date");
    CHECK(t.column_type("estimate") == "double precision");
    CHECK(t.column_type("tags") == "text[]");
    CHECK(t.column_type("links") == "uuid[]");
    CHECK(t.column_type("row_key") == "uuid");
    CHECK(t.scalar("SELECT count(*) FROM app.tasks") == "5");
    // Our own deliveries are not captured, and the role that owns the tables is no superuser.
    CHECK(t.scalar("SELECT count(*) FROM app._notion_syncd_dirty") == "0");
    CHECK(t.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = 'syncd'") == "f");

    const std::size_t before = t.writes();
    t.sql(
        "UPDATE app.tasks SET estimate = 42, status = 'Doing', due = '2026-07-01', tags = "
        "'{a,b}', links = ARRAY['" +
        t.target_page + "']::uuid[] WHERE name = 'Task 1'");
    CHECK(t.scalar("SELECT count(*) FROM app._notion_syncd_dirty") == "1");
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(t.writes() == before + 1);  // one PATCH for the row
    CHECK(t.notion_value(t.pages[1], "Estimate") == 42);
    CHECK(t.notion_value(t.pages[1], "Status").at("name") == "Doing");
    CHECK(t.notion_value(t.pages[1], "Due").at("start") == "2026-07-01");
    CHECK(t.notion_value(t.pages[1], "Due").at("end").is_null());
    CHECK(t.notion_value(t.pages[1], "Tags").as_array().size() == 2);
    CHECK(t.notion_value(t.pages[1], "Links").as_array().size() == 1);
    CHECK(t.scalar("SELECT count(*) FROM app._notion_syncd_dirty") == "0");
    // Converged: an idle cycle writes nothing.
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == before + 1);

    // A time with an offset in Notion: the column becomes timestamptz holding the instant, with
    // the other rows' dates kept; no write comes back from it.
    t.notion_set(t.pages[2], R"({"Due":{"date":{"start":"2026-06-01T09:00:00.000-04:00"}}})");
    CHECK(t.syncd().status == 0);
    CHECK(t.column_type("due") == "timestamp with time zone");
    CHECK(t.scalar("SELECT due AT TIME ZONE 'UTC' FROM app.tasks WHERE name = 'Task 2'") ==
          "2026-06-01 13:00:00");
    CHECK(t.scalar("SELECT due AT TIME ZONE 'UTC' FROM app.tasks WHERE name = 'Task 3'") ==
          "2026-06-04 00:00:00");
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == before + 1);
    CHECK(t.notion_value(t.pages[3], "Due").at("start") == "2026-06-04");  // not shifted
    // alice moves it by two and a half hours: Notion gets it in the page's own offset.
    t.sql("UPDATE app.tasks SET due = '2026-06-01 15:30:00+00' WHERE name = 'Task 2'");
    CHECK(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[2], "Due").at("start") == "2026-06-01T11:30:00.000-04:00");
    // A range: the end goes to due_end.
    t.notion_set(t.pages[4], R"({"Due":{"date":{"start":"2026-06-05","end":"2026-06-09"}}})");
    CHECK(t.syncd().status == 0);
    CHECK(t.scalar("SELECT due_end AT TIME ZONE 'UTC' FROM app.tasks WHERE name = 'Task 4'") ==
          "2026-06-09 00:00:00");
    t.sql("UPDATE app.tasks SET due_end = '2026-06-12' WHERE name = 'Task 4'");
    CHECK(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[4], "Due").at("end") == "2026-06-12");
    CHECK(t.notion_value(t.pages[4], "Due").at("start") == "2026-06-05");
    const std::size_t settled = t.writes();
    CHECK(t.syncd().status == 0);
    CHECK(t.writes() == settled);
}

TEST_CASE("postgres two-way: a person's open transaction holds nothing up, its edit comes after") {
    PgTwoWay t;
    REQUIRE(t.syncd().status == 0);
    connectors::postgres::Connection alice(t.pg.dsn("alice"));
    alice.exec("BEGIN");
    alice.exec("UPDATE app.tasks SET estimate = 77 WHERE name = 'Task 0'");
    // Open while a whole cycle runs (delivery of a Notion change to the same table included).
    t.notion_set(t.pages[3], R"({"Estimate":{"number":31}})");
    const auto start = std::chrono::steady_clock::now();
    const auto during = t.syncd({"sync-once"}, 40s);
    CHECK(during.status == 0);
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    CHECK(t.scalar("SELECT estimate FROM app.tasks WHERE name = 'Task 3'") == "31");
    CHECK(t.notion_value(t.pages[0], "Estimate") == 1);  // not committed: not an edit yet
    alice.exec("COMMIT");
    CHECK(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[0], "Estimate") == 77);
    CHECK(t.scalar("SELECT count(*) FROM app._notion_syncd_dirty") == "0");
}

TEST_CASE("postgres two-way: TRUNCATE and DELETE are external deletes, set back without delete") {
    PgTwoWay t;
    REQUIRE(t.syncd().status == 0);
    t.sql("TRUNCATE app.tasks");
    CHECK(t.scalar("SELECT count(*) FROM app._notion_syncd_dirty") == "5");
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(t.scalar("SELECT count(*) FROM app.tasks") == "5");  // restored from Notion
    for (const auto& page : t.pages) {
        const auto p = t.emulator.api("GET", "/v1/pages/" + page, nullptr);
        CHECK_FALSE(p.at("in_trash").as_bool());
    }
    t.sql("DELETE FROM app.tasks WHERE name = 'Task 2'");
    CHECK(t.syncd().status == 0);
    CHECK(t.scalar("SELECT count(*) FROM app.tasks WHERE name = 'Task 2'") == "1");
    CHECK(read_file(t.path("syncd.log")).find("row deleted in the target: restored from Notion") !=
          std::string::npos);
}

TEST_CASE("postgres two-way with create: true: an inserted row becomes one page, even after 503") {
    PgTwoWay t;
    t.two_way = "          settle: 0s\n          max_write_ratio: 1\n          create: true\n";
    REQUIRE(t.syncd().status == 0);
    t.sql("INSERT INTO app.tasks (name, estimate, status) VALUES ('From SQL', 4, 'Doing')");
    // Notion creates the page, then answers 503: an outcome the daemon cannot know.
    t.emulator.control("faults", {{"match", {{"method", "POST"}, {"path_prefix", "/v1/pages"}}},
                                  {"fault", {{"commit_then_status", 503}}},
                                  {"count", 1}});
    t.syncd();  // may report the unknown outcome; must not create twice
    CHECK(t.syncd().status == 0);
    const std::string page_id = t.scalar("SELECT page_id FROM app.tasks WHERE name = 'From SQL'");
    REQUIRE(page_id.size() == 36);
    CHECK(t.notion_value(page_id, "Estimate") == 4);
    const auto listed = t.emulator.api("POST", "/v1/data_sources/" + t.data_source + "/query",
                                       json::parse(R"({"page_size":100})"));
    std::size_t named = 0;
    for (const auto& p : listed.at("results").as_array()) {
        const auto& title = p.at("properties").at("Name").at("title").as_array();
        if (!title.empty() && title[0].at("plain_text") == "From SQL") ++named;
    }
    CHECK(named == 1);
    CHECK(t.writes("POST") == 1);  // the first POST only: the second run found the page
    CHECK(t.scalar("SELECT count(*) FROM app.tasks") == "6");
    CHECK(t.scalar("SELECT count(*) FROM app._notion_syncd_dirty") == "0");
}

TEST_CASE("postgres: tables of earlier versions migrate in place when two-way is turned on") {
    PgTwoWay t;
    t.two_way.clear();  // one-way first
    REQUIRE(t.syncd().status == 0);
    // The layout earlier versions made: page_id the primary key, dates as jsonb, relations
    // as text[].
    t.pg.exec(
        "ALTER TABLE app.tasks ALTER COLUMN due TYPE jsonb USING CASE WHEN due IS NULL THEN NULL "
        "ELSE jsonb_build_object('start', due::text, 'end', NULL, 'time_zone', NULL) END; "
        "ALTER TABLE app.tasks ALTER COLUMN links TYPE text[] USING links::text[]; "
        "UPDATE app.tasks SET due = '{\"start\":\"2026-06-02\",\"end\":\"2026-06-08\","
        "\"time_zone\":null}' WHERE name = 'Task 1'; UPDATE app.tasks SET links = ARRAY['" +
        t.target_page + "'] WHERE name = 'Task 0'");
    t.two_way = "          settle: 0s\n          max_write_ratio: 1\n";
    t.notion_set(t.pages[4], R"({"Estimate":{"number":50}})");  // something to deliver
    REQUIRE(t.syncd().status == 0);
    CHECK(t.column_type("due") == "date");
    CHECK(t.column_type("due_end") == "date");
    CHECK(t.column_type("links") == "uuid[]");
    CHECK(t.column_type("row_key") == "uuid");
    CHECK(t.scalar("SELECT due FROM app.tasks WHERE name = 'Task 1'") == "2026-06-02");
    CHECK(t.scalar("SELECT due_end FROM app.tasks WHERE name = 'Task 1'") == "2026-06-08");
    CHECK(t.scalar("SELECT due FROM app.tasks WHERE name = 'Task 3'") == "2026-06-04");
    CHECK(t.scalar("SELECT links[1] FROM app.tasks WHERE name = 'Task 0'") == t.target_page);
    CHECK(t.scalar("SELECT count(*) FROM app.tasks") == "5");
    CHECK(t.scalar("SELECT count(*) FROM app._notion_syncd_dirty") == "0");
    // And two-way works on the migrated table.
    t.sql("UPDATE app.tasks SET estimate = 9 WHERE name = 'Task 3'");
    CHECK(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[3], "Estimate") == 9);
}
