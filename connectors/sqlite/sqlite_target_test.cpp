#include "connectors/sqlite/sqlite_target.hpp"

#include <doctest/doctest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <memory>

#include "config/settings_reader.hpp"
#include "daemon/model/sqlite.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
namespace fs = std::filesystem;

namespace {

using test::run;

struct Target {
    fs::path dir = fs::temp_directory_path() / ("sqlite_target_test_" + std::to_string(getpid()));
    fs::path file = dir / "out.sqlite";
    std::unique_ptr<connectors::Connector> connector;

    Target() {
        fs::create_directories(dir);
        fs::remove(file);
        auto problems = std::make_shared<config::Problems>();
        config::SettingsReader reader(YAML::Load("path: " + file.string()), "connectors.db",
                                      problems);
        connectors::ConnectorContext context{.name = "db",
                                             .target = {.sync = "tasks", .table = "tasks"}};
        connector = connectors::sqlite_target::make_connector(reader, context);
        reader.finish();
        problems->throw_if_any();
        run(connector->start());
    }
    ~Target() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }

    static model::ChangeEvent created(const std::string& page, const std::string& property_id) {
        model::ChangeEvent e{.kind = "created",
                             .sync = "tasks",
                             .data_source_id = "ds-1",
                             .page_id = page,
                             .last_edited_time = "2026-05-04T10:00:00.000Z"};
        e.properties = {{"Name", "Page " + page}, {"Other", 1}};
        e.property_ids = {{"Name", "title"}, {"Other", property_id}};
        return e;
    }
    connectors::ChangeBatch batch(std::vector<model::ChangeEvent> events) const {
        connectors::ChangeBatch b{.target = "tasks/db", .sync = "tasks"};
        b.events = std::move(events);
        return b;
    }
    std::string scalar(const std::string& sql) const {
        sqlite::Database db(file.string());
        auto s = db.prepare(sql);
        return s.step() && !s.is_null(0) ? s.text(0) : "";
    }
};

}  // namespace

TEST_CASE("a batch rolled back after creating a table: the retry creates it again") {
    Target t;
    {
        // Another program refuses the binding of one property: the batch fails after its
        // first event created the table and its columns.
        sqlite::Database db(t.file.string());
        db.exec(
            "CREATE TRIGGER refuse BEFORE INSERT ON _notion_syncd_columns WHEN NEW.property_id = "
            "'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END");
    }
    const auto batch = t.batch({Target::created("p1", "cnt"), Target::created("p2", "boom")});
    CHECK_THROWS(run(t.connector->deliver(batch)));
    CHECK(t.scalar("SELECT name FROM sqlite_master WHERE name = 'tasks'").empty());
    {
        sqlite::Database db(t.file.string());
        db.exec("DROP TRIGGER refuse");
    }
    // Without forgetting what the rolled-back transaction made, this would write to a table that
    // does not exist ("no such table") until a restart.
    run(t.connector->deliver(batch));
    CHECK(t.scalar("SELECT COUNT(*) FROM tasks") == "2");
    CHECK(t.scalar("SELECT name FROM tasks WHERE page_id = 'p2'") == "Page p2");
}

TEST_CASE("dates are ISO-8601 text with a range's end in <column>_end, migrated from JSON") {
    Target t;
    const auto dated = [](const std::string& page, const char* date) {
        model::ChangeEvent e = Target::created(page, "cnt");
        e.properties = {{"Name", "Page " + page}, {"Due", boost::json::parse(date)}};
        e.property_ids = {{"Name", "title"}, {"Due", "due-id"}};
        return e;
    };
    auto batch = t.batch({dated("p1", R"({"start":"2026-06-01","end":null,"time_zone":null})")});
    model::Schema schema{.data_source_id = "ds-1"};
    schema.properties = {{.id = "title", .name = "Name", .type = "title"},
                         {.id = "due-id", .name = "Due", .type = "date"}};
    batch.schemas["ds-1"] = schema;
    run(t.connector->deliver(batch));
    CHECK(t.scalar("SELECT due FROM tasks WHERE page_id = 'p1'") == "2026-06-01");
    CHECK(t.scalar("SELECT COUNT(*) FROM pragma_table_info('tasks') WHERE name = 'due_end'") ==
          "0");  // no range yet: no end column
    batch.events = {dated(
        "p2",
        R"({"start":"2026-06-01T09:00:00.000-04:00","end":"2026-06-01T10:00:00.000-04:00","time_zone":null})")};
    run(t.connector->deliver(batch));
    CHECK(t.scalar("SELECT due FROM tasks WHERE page_id = 'p2'") ==
          "2026-06-01T09:00:00.000-04:00");
    CHECK(t.scalar("SELECT due_end FROM tasks WHERE page_id = 'p2'") ==
          "2026-06-01T10:00:00.000-04:00");
    CHECK(t.scalar("SELECT due_end FROM tasks WHERE page_id = 'p1'").empty());

    // A table of an earlier version: the date as JSON text, no property types recorded.
    {
        sqlite::Database db(t.file.string());
        db.exec(
            "ALTER TABLE tasks DROP COLUMN due_end; UPDATE _notion_syncd_columns SET "
            "property_type = ''; DELETE FROM _notion_syncd_columns WHERE property_id = "
            "'due-id/end'; UPDATE tasks SET due = json_object('start', '2026-07-01', 'end', "
            "'2026-07-03', 'time_zone', NULL) WHERE page_id = 'p1'; UPDATE tasks SET due = "
            "json_object('start', '2026-07-09', 'end', NULL, 'time_zone', NULL) WHERE page_id = "
            "'p2'");
    }
    // The new version starts on that file.
    auto problems = std::make_shared<config::Problems>();
    config::SettingsReader reader(YAML::Load("path: " + t.file.string()), "connectors.db",
                                  problems);
    t.connector = connectors::sqlite_target::make_connector(
        reader, {.name = "db", .target = {.sync = "tasks", .table = "tasks"}});
    reader.finish();
    run(t.connector->start());
    batch.events = {dated("p3", R"({"start":"2026-08-01","end":null,"time_zone":null})")};
    run(t.connector->deliver(batch));
    CHECK(t.scalar("SELECT due FROM tasks WHERE page_id = 'p1'") == "2026-07-01");
    CHECK(t.scalar("SELECT due_end FROM tasks WHERE page_id = 'p1'") == "2026-07-03");
    CHECK(t.scalar("SELECT due FROM tasks WHERE page_id = 'p2'") == "2026-07-09");
    CHECK(t.scalar("SELECT due FROM tasks WHERE page_id = 'p3'") == "2026-08-01");
}
