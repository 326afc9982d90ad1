#include "tests/support/two_way_fixture.hpp"

#include <boost/json/parse.hpp>
#include <cstdlib>
#include <fstream>

#include "daemon/model/sqlite.hpp"

namespace syncd::test {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string daemon_binary() {
    if (const char* path = std::getenv("NOTION_SYNCD")) return path;
    return SYNCD_DAEMON_BINARY;
}

TwoWayFixture::TwoWayFixture() {
    emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
    const auto home = emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
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

void TwoWayFixture::write_config() const {
    std::ofstream out(path("config.yaml"));
    out << "notion:\n  token: " << Emulator::connection_token << "\n  base_url: " << emulator.url()
        << "\n"
        << notion_settings << "state:\n  dir: " << path("state").string()
        << "\ncontrol:\n  listen: " << listen << "\n"
        << control_settings
        << "connectors:\n  db:\n    type: sqlite\n    path: " << path("tasks.sqlite").string()
        << "\n  log:\n    type: jsonl\n    path: " << path("events.jsonl").string() << "\n"
        << connectors << "syncs:\n  - name: tasks\n    source: { data_source: " << data_source
        << " }\n    every: " << every << "\n"
        << sync_settings << "    targets:\n";
    if (targets.empty()) {
        out << "      - connector: db\n        table: tasks\n        two_way:\n"
            << two_way << "      - connector: log\n";
    } else {
        out << targets;
    }
    out.close();
    // It holds the token literally: not for every user to read.
    fs::permissions(path("config.yaml"), fs::perms::owner_read | fs::perms::owner_write);
}

std::vector<std::string> TwoWayFixture::command(const std::vector<std::string>& args) const {
    write_config();
    std::vector<std::string> argv{daemon, "-c", path("config.yaml").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

Finished TwoWayFixture::run(const std::vector<std::string>& args,
                            const std::vector<std::pair<std::string, std::string>>& environment,
                            std::chrono::milliseconds timeout) const {
    return run_command(command(args), path("syncd.log"), timeout, environment);
}

void TwoWayFixture::sql(const std::string& statement) const {
    sqlite::Database db(path("tasks.sqlite").string());
    db.exec(statement);
}

std::string TwoWayFixture::scalar(const std::string& query) const {
    sqlite::Database db(path("tasks.sqlite").string());
    auto s = db.prepare(query);
    if (!s.step() || s.is_null(0)) return "";
    return s.text(0);
}

json::object TwoWayFixture::notion_page(const std::string& id) {
    return emulator.api("GET", "/v1/pages/" + id, nullptr).as_object();
}

json::value TwoWayFixture::notion_value(const std::string& id, const std::string& property) {
    const auto page = notion_page(id);
    const auto& p = page.at("properties").at(property).as_object();
    return p.at(std::string(p.at("type").as_string()));
}

void TwoWayFixture::notion_set(const std::string& id, const std::string& properties) {
    emulator.api("PATCH", "/v1/pages/" + id, json::parse(R"({"properties":)" + properties + "}"));
}

std::size_t TwoWayFixture::writes(const std::string& method, const std::string& route) {
    std::size_t n = 0;
    const json::value all = emulator.get("requests");
    for (const auto& c : all.at("counters").as_array()) {
        if (c.at("connection") == "connection-1" && c.at("method") == method.c_str() &&
            (route.empty() || c.at("route") == route.c_str()))
            n += c.at("count").to_number<std::size_t>();
    }
    return n;
}

std::vector<json::object> TwoWayFixture::events() const {
    std::vector<json::object> out;
    std::ifstream in(path("events.jsonl"));
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) out.push_back(json::parse(line).as_object());
    }
    return out;
}

}  // namespace syncd::test
