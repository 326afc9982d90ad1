// Every built-in connector through the same conformance cases (connectors/testing/): sqlite,
// jsonl and markdown on files, postgres on a throwaway cluster, webhook to a local receiver, exec
// with the Python example program.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "config/settings_reader.hpp"
#include "connectors/connector.hpp"
#include "connectors/testing/conformance.hpp"
#include "daemon/model/sqlite.hpp"
#include "tests/support/postgres.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace syncd;
namespace fs = std::filesystem;
namespace json = boost::json;
using connectors::testing::Subject;

namespace {

const std::string examples = SYNCD_EXEC_EXAMPLES;

std::unique_ptr<connectors::Connector> make_connector(const std::string& type,
                                                      const std::string& yaml) {
    auto problems = std::make_shared<config::Problems>();
    config::SettingsReader reader(YAML::Load(yaml), "connectors.subject", problems);
    reader.string_or("type", "");
    connectors::Registry registry;
    connectors::add_builtin_connectors(registry);
    connectors::ConnectorContext context{
        .name = "subject",
        .executor = connectors::testing::io_context().get_executor(),
        .target = {.sync = "tasks", .table = "tasks"}};
    auto connector = registry.create(type, reader, context);
    reader.finish();
    problems->throw_if_any();
    return connector;
}

// page id -> properties from rows of (page_id, name, count, extra?).
std::map<std::string, json::object> from_rows(
    const std::vector<std::vector<std::optional<std::string>>>& rows, bool has_extra) {
    std::map<std::string, json::object> out;
    for (const auto& row : rows) {
        json::object p;
        p["Name"] = row[1] ? json::value(*row[1]) : json::value();
        p["Count"] = row[2] ? json::value(std::stod(*row[2])) : json::value();
        if (has_extra) p["Extra"] = row[3] ? json::value(*row[3]) : json::value();
        out[*row[0]] = std::move(p);
    }
    return out;
}

std::vector<json::object> lines_of(const fs::path& file) {
    std::vector<json::object> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(json::parse(line).as_object());
    return out;
}

}  // namespace

TEST_CASE("connector conformance: sqlite") {
    test::TempDir dir;
    const auto file = dir.path() / "out.sqlite";
    Subject s{.name = "sqlite"};
    s.reset = [&] { fs::remove_all(file); };
    s.make = [&] { return make_connector("sqlite", "type: sqlite\npath: " + file.string()); };
    s.state = [&] {
        sqlite::Database db(file.string());
        std::vector<std::vector<std::optional<std::string>>> rows;
        bool extra = false;
        {
            auto c = db.prepare("SELECT 1 FROM pragma_table_info('tasks') WHERE name = 'extra'");
            extra = c.step();
        }
        auto q = db.prepare(std::string("SELECT page_id, name, count") + (extra ? ", extra" : "") +
                            " FROM tasks WHERE deleted_at IS NULL");
        while (q.step()) {
            std::vector<std::optional<std::string>> row;
            for (int i = 0; i < q.column_count(); ++i)
                row.push_back(q.is_null(i) ? std::nullopt : std::optional(q.text(i)));
            rows.push_back(row);
        }
        return from_rows(rows, extra);
    };
    // A directory where the database file should be: it cannot be opened.
    s.break_target = [&] { fs::create_directories(file); };
    s.fix_target = [&] { fs::remove_all(file); };
    connectors::testing::run_conformance(s);
}

TEST_CASE("connector conformance: jsonl") {
    test::TempDir dir;
    const auto file = dir.path() / "events.jsonl";
    Subject s{.name = "jsonl"};
    s.reset = [&] { fs::remove_all(file); };
    s.make = [&] { return make_connector("jsonl", "type: jsonl\npath: " + file.string()); };
    s.state = [&] { return connectors::testing::replay(lines_of(file)); };
    s.break_target = [&] { fs::create_directories(file); };
    s.fix_target = [&] { fs::remove_all(file); };
    connectors::testing::run_conformance(s);
}

TEST_CASE("connector conformance: markdown") {
    test::TempDir dir;
    const auto md = dir.path() / "md";
    Subject s{.name = "markdown"};
    s.reset = [&] { fs::remove_all(md); };
    s.make = [&] { return make_connector("markdown", "type: markdown\ndir: " + md.string()); };
    s.state = [&] {
        std::map<std::string, json::object> out;
        if (!fs::exists(md)) return out;
        for (const auto& entry : fs::directory_iterator(md)) {
            if (entry.path().extension() != ".md") continue;
            const std::string text = test::read_file(entry.path());
            const auto end = text.find("\n---\n", 4);
            REQUIRE(end != std::string::npos);
            const YAML::Node front = YAML::Load(text.substr(4, end - 4));
            json::object p;
            p["Name"] = front["title"].as<std::string>();  // the title property
            p["Count"] = front["Count"].as<double>();
            if (front["Extra"]) p["Extra"] = front["Extra"].as<std::string>();
            out[front["notion_id"].as<std::string>()] = std::move(p);
        }
        return out;
    };
    // A file where the directory should be: nothing can be written into it.
    s.break_target = [&] { std::ofstream(md) << "in the way\n"; };
    s.fix_target = [&] { fs::remove_all(md); };
    connectors::testing::run_conformance(s);
}

TEST_CASE("connector conformance: postgres") {
    test::PostgresCluster pg;
    Subject s{.name = "postgres"};
    s.reset = [&] {
        pg.exec("DROP TABLE IF EXISTS tasks, _notion_syncd_columns, _notion_syncd_tables CASCADE");
    };
    s.make = [&] {
        return make_connector("postgres", "type: postgres\ndsn: \"" + pg.dsn() + "\"\n");
    };
    s.state = [&] {
        const bool extra = pg.scalar(
                               "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = "
                               "'tasks' AND column_name = 'extra'") == "1";
        return from_rows(pg.query(std::string("SELECT page_id, name, count") +
                                  (extra ? ", extra" : "") + " FROM tasks"),
                         extra);
    };
    s.break_target = [&] { pg.stop(); };
    s.fix_target = [&] { pg.start(); };
    connectors::testing::run_conformance(s);
}

TEST_CASE("connector conformance: webhook") {
    std::unique_ptr<test::WebhookReceiver> receiver;
    Subject s{.name = "webhook"};
    s.reset = [&] {
        receiver.reset();
        receiver = std::make_unique<test::WebhookReceiver>();
    };
    s.make = [&] {
        return make_connector("webhook", "type: webhook\nurl: " + receiver->url() +
                                             "\nsecret: conformance-secret-0123456789\n");
    };
    s.state = [&] {
        std::vector<json::object> events;
        for (const auto& r : receiver->requests()) {
            if (r.answered < 200 || r.answered > 299) continue;
            INFO("body: " << r.body.substr(0, 200));
            const json::value body = json::parse(r.body);
            for (const auto& e : body.at("events").as_array()) events.push_back(e.as_object());
        }
        return connectors::testing::replay(events);
    };
    s.break_target = [&] { receiver->answer_always({.status = 503}); };
    s.fix_target = [&] { receiver->answer_always({.status = 200}); };
    connectors::testing::run_conformance(s);
}

TEST_CASE("connector conformance: exec") {
    test::TempDir dir;
    const auto file = dir.path() / "events.jsonl";
    bool broken = false;
    Subject s{.name = "exec"};
    s.reset = [&] { fs::remove_all(file); };
    s.make = [&] {
        const std::string program =
            broken ? (dir.path() / "missing.py").string() : examples + "/append_events.py";
        return make_connector("exec", "type: exec\ncommand: [python3, " + program + ", " +
                                          file.string() + "]\nack_timeout: 10s\n");
    };
    s.state = [&] { return connectors::testing::replay(lines_of(file)); };
    s.break_target = [&] { broken = true; };
    s.fix_target = [&] { broken = false; };
    connectors::testing::run_conformance(s);
}
