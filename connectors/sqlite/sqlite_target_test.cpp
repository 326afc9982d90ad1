#include "connectors/sqlite/sqlite_target.hpp"

#include <doctest/doctest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

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
