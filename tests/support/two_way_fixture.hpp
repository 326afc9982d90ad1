// Test support for two-way sync with a sqlite target (issue 12): a Tasks data source in the
// emulator, a configuration with a two-way sqlite target and a jsonl target, and the ways a person
// edits either side (the emulator with the owner token, SQL from another connection).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/process.hpp"

namespace syncd::test {

// The notion-syncd binary of this build (NOTION_SYNCD in the environment overrides it).
std::string daemon_binary();

// Tasks (Name, Status select, Estimate number, Done checkbox, Tags multi-select, Due date,
// Double formula) with five rows, shared with connection-1; a sqlite target `db` (table tasks)
// with two_way and a jsonl target `log` beside it, in one sync `tasks` polled every second.
struct TwoWayFixture {
    TempDir dir;
    Emulator emulator{dir};
    std::string data_source;
    std::vector<std::string> pages;
    std::string daemon = daemon_binary();
    std::string listen = "off";
    std::string every = "1s";  // the sync's
    // The lines of the target's two_way block (10 spaces of indent). One edited row in five is
    // over the default max_write_ratio (0.2): the brake has its own test.
    std::string two_way = "          settle: 0s\n          max_write_ratio: 1\n";
    std::string sync_settings = {};    // more lines of the sync (4 spaces), e.g. max_delete_ratio
    std::string notion_settings = {};  // more lines under notion: (2 spaces), e.g. a budget
    // Other targets than db and log: more connectors (4 spaces: "  md:\n    type: markdown…")
    // and the whole targets list (6 spaces), which then replaces db and log.
    std::string connectors = {};
    std::string control_settings = {};  // more lines under control: (2 spaces)
    std::string targets = {};

    TwoWayFixture();

    std::filesystem::path path(const std::string& name) const { return dir.path() / name; }
    void write_config() const;
    // notion-syncd -c config.yaml `args` (the config written first), its stderr appended to
    // syncd.log.
    Finished run(const std::vector<std::string>& args = {"sync-once"},
                 const std::vector<std::pair<std::string, std::string>>& environment = {},
                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
    // The argv of the same, to start as a Process.
    std::vector<std::string> command(const std::vector<std::string>& args) const;

    // SQL from another connection, as a person with the sqlite3 shell would.
    void sql(const std::string& statement) const;
    // The first column of the first row ("" for none or NULL).
    std::string scalar(const std::string& query) const;

    boost::json::object notion_page(const std::string& id);
    // A property's value as the API gives it (the member named by its type).
    boost::json::value notion_value(const std::string& id, const std::string& property);
    // PATCH /v1/pages/{id} as the owner (a person in Notion); `properties` is JSON text.
    void notion_set(const std::string& id, const std::string& properties);

    // Requests connection-1 (the daemon) made with `method` (PATCH: page updates and trashes;
    // POST on /v1/pages: creates).
    std::size_t writes(const std::string& method = "PATCH", const std::string& route = {});
    std::vector<boost::json::object> events() const;
};

}  // namespace syncd::test
