#include "config/config.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/settings_reader.hpp"
#include "connectors/connector.hpp"

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
    static String convert(const std::vector<std::string>& lines) {
        std::string text = "\n";
        for (const auto& line : lines) text += "  " + line + "\n";
        return text.c_str();
    }
};
}  // namespace doctest

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using syncd::config::Config;
using syncd::config::parse;
using syncd::config::parse_duration;
using syncd::config::parse_notion_id;

namespace {

// The validator notion-syncd uses: the built-in connectors' own parsers.
const syncd::config::ConnectorValidator& builtin_validator() {
    static const syncd::connectors::Registry registry = [] {
        syncd::connectors::Registry r;
        syncd::connectors::add_builtin_connectors(r);
        return r;
    }();
    static const syncd::config::ConnectorValidator validate =
        [](const std::string& type, syncd::config::SettingsReader& settings) {
            return registry.validate(type, settings);
        };
    return validate;
}

Config parse_ok(const std::string& text) { return parse(text, "name.yaml", builtin_validator()); }

// The problems of a configuration that must not load, one per line, without the header.
std::vector<std::string> problems_of(const std::string& text) {
    try {
        parse(text, "name.yaml", builtin_validator());
    } catch (const syncd::config::Error& e) {
        std::vector<std::string> lines;
        std::string what = e.what();
        std::size_t start = 0;
        while (start <= what.size()) {
            const auto end = std::min(what.find('\n', start), what.size());
            lines.push_back(what.substr(start, end - start));
            start = end + 1;
        }
        const std::string header = "invalid configuration (" + std::to_string(lines.size() - 1) +
                                   " problem" + (lines.size() == 2 ? "" : "s") + "):";
        CHECK(lines.front() == header);
        lines.erase(lines.begin());
        for (auto& line : lines) {
            CHECK(line.starts_with("  "));
            line.erase(0, 2);
        }
        return lines;
    }
    FAIL("the configuration loaded but should not have");
    return {};
}

std::string error_of(const std::string& text) {
    try {
        parse(text, "name.yaml", builtin_validator());
    } catch (const syncd::config::Error& e) {
        return e.what();
    }
    FAIL("the configuration loaded but should not have");
    return {};
}

// Sets an environment variable for the scope of one test.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (value)
            ::setenv(name, value, 1);
        else
            ::unsetenv(name);
    }
    ~ScopedEnv() { ::unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
};

class TempDir {
public:
    TempDir() {
        path_ = fs::temp_directory_path() /
                ("config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string write(const std::string& name, const std::string& content) const {
        std::ofstream(path_ / name, std::ios::binary) << content;
        return (path_ / name).string();
    }
    const fs::path& path() const { return path_; }

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    fs::path path_;
};

constexpr const char* id = "0123456789abcdef0123456789abcdef";
constexpr const char* dashed_id = "01234567-89ab-cdef-0123-456789abcdef";

// A valid configuration; the connector and sync parts are appended by each test.
const std::string notion_block = "notion:\n  token: secret_literal\n";
const std::string jsonl_connector =
    "connectors:\n  out:\n    type: jsonl\n    path: /tmp/x.jsonl\n";

std::string one_sync(const std::string& extra = "") {
    return "syncs:\n"
           "  - name: tasks\n"
           "    source: {data_source: " +
           std::string(id) +
           "}\n"
           "    targets: [{connector: out}]\n" +
           extra;
}

}  // namespace

TEST_CASE("a minimal configuration gets every documented default") {
    const Config c = parse_ok(notion_block + jsonl_connector + one_sync());
    CHECK(c.path == "name.yaml");
    CHECK(c.notion.token == "secret_literal");
    CHECK(c.notion.version == "2026-03-11");
    CHECK(c.notion.base_url == "https://api.notion.com");
    CHECK(c.notion.ca_file.empty());
    CHECK(c.notion.budget.per_minute == 180);
    CHECK(c.notion.budget.burst == 5);
    CHECK(c.state_dir == "/var/lib/notion-syncd");
    CHECK(c.control_listen == "127.0.0.1:9464");
    REQUIRE(c.connectors.size() == 1);
    CHECK(c.connectors[0].name == "out");
    CHECK(c.connectors[0].type == "jsonl");
    CHECK(c.connectors[0].node["path"].as<std::string>() == "/tmp/x.jsonl");
    REQUIRE(c.syncs.size() == 1);
    const auto& s = c.syncs[0];
    CHECK(s.name == "tasks");
    CHECK(s.source.kind == "data_source");
    CHECK(s.source.id == dashed_id);
    CHECK(s.every == 30s);
    REQUIRE(s.reconcile_every.has_value());
    CHECK(*s.reconcile_every == 6h);
    CHECK(s.overlap == 2min);
    CHECK(s.max_delete_ratio == doctest::Approx(0.2));
    CHECK_FALSE(s.content);
    REQUIRE(s.targets.size() == 1);
    CHECK(s.targets[0].connector == "out");
    CHECK(s.targets[0].table.empty());
    CHECK(s.targets[0].mapping.empty());
    CHECK_FALSE(s.targets[0].soft_delete);
}

TEST_CASE("every option is read into the configuration") {
    const Config c = parse_ok(R"(notion:
  token: secret_full
  version: "2025-09-03"
  base_url: http://127.0.0.1:8080
  ca_file: /etc/ssl/emulator.pem
  budget: { per_minute: 600, burst: 30 }
state: { dir: /srv/state }
control: { listen: 127.0.0.1:9999 }
connectors:
  events: { type: jsonl, path: /srv/events.jsonl, fsync: always }
  local: { type: sqlite, path: /srv/notion.sqlite }
syncs:
  - name: tasks
    source:
      database: https://www.notion.so/acme/Tasks-0123456789abcdef0123456789abcdef?v=fedcba9876543210fedcba9876543210
    every: 5m
    reconcile_every: 1d
    overlap: 90s
    max_delete_ratio: 0.5
    content: true
    targets:
      - connector: local
        table: task_rows
        soft_delete: true
        direction: one-way
        mapping: { Name: title, Due date: due, "title": heading }
      - connector: events
  - name: wiki
    source: { page: be633bf1-dfa0-436d-b259-571129a590e5 }
    every: 1500ms
    reconcile_every: never
    targets: [{ connector: events }]
  - name: everything
    source: { discover: all }
    every: 1.5h
    targets: [{ connector: local }]
)");
    CHECK(c.notion.token == "secret_full");
    CHECK(c.notion.version == "2025-09-03");
    CHECK(c.notion.base_url == "http://127.0.0.1:8080");
    CHECK(c.notion.ca_file == "/etc/ssl/emulator.pem");
    CHECK(c.notion.budget.per_minute == 600);
    CHECK(c.notion.budget.burst == 30);
    CHECK(c.state_dir == "/srv/state");
    CHECK(c.control_listen == "127.0.0.1:9999");
    REQUIRE(c.connectors.size() == 2);
    CHECK(c.connectors[0].name == "events");
    CHECK(c.connectors[0].node["fsync"].as<std::string>() == "always");
    CHECK(c.connectors[1].name == "local");
    CHECK(c.connectors[1].type == "sqlite");
    REQUIRE(c.syncs.size() == 3);

    const auto& tasks = c.syncs[0];
    CHECK(tasks.source.kind == "database");
    CHECK(tasks.source.id == dashed_id);  // the database, not the view after ?v=
    CHECK(tasks.every == 5min);
    CHECK(tasks.reconcile_every == std::optional<std::chrono::milliseconds>(24h));
    CHECK(tasks.overlap == 90s);
    CHECK(tasks.max_delete_ratio == doctest::Approx(0.5));
    CHECK(tasks.content);
    REQUIRE(tasks.targets.size() == 2);
    CHECK(tasks.targets[0].connector == "local");
    CHECK(tasks.targets[0].table == "task_rows");
    CHECK(tasks.targets[0].soft_delete);
    using Mapping = std::vector<std::pair<std::string, std::string>>;
    CHECK(tasks.targets[0].mapping ==
          Mapping{{"Name", "title"}, {"Due date", "due"}, {"title", "heading"}});
    CHECK(tasks.targets[1].connector == "events");

    const auto& wiki = c.syncs[1];
    CHECK(wiki.source.kind == "page");
    CHECK(wiki.source.id == "be633bf1-dfa0-436d-b259-571129a590e5");
    CHECK(wiki.every == 1500ms);
    CHECK_FALSE(wiki.reconcile_every.has_value());

    const auto& everything = c.syncs[2];
    CHECK(everything.source.kind == "discover");
    CHECK(everything.source.id.empty());
    CHECK(everything.every == 90min);
}

TEST_CASE("Notion ids are accepted dashed, undashed, in any case and inside Notion URLs") {
    CHECK(parse_notion_id(id) == dashed_id);
    CHECK(parse_notion_id(dashed_id) == dashed_id);
    CHECK(parse_notion_id("0123456789ABCDEF0123456789ABCDEF") == dashed_id);
    CHECK(parse_notion_id("https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5") ==
          "be633bf1-dfa0-436d-b259-571129a590e5");
    CHECK(parse_notion_id("https://www.notion.so/acme/Tasks-0123456789abcdef0123456789abcdef") ==
          dashed_id);
    CHECK(parse_notion_id("https://app.notion.com/p/0123456789abcdef0123456789abcdef") ==
          dashed_id);
    CHECK(parse_notion_id("https://www.notion.so/0123456789abcdef0123456789abcdef/") == dashed_id);
    CHECK(parse_notion_id("https://www.notion.so/" + std::string(dashed_id)) == dashed_id);
    CHECK(parse_notion_id("notion.so/acme/Tasks-0123456789abcdef0123456789abcdef") == dashed_id);
    // A slug made of hex letters right before the id.
    CHECK(parse_notion_id("https://www.notion.so/Cafe-Bad-0123456789abcdef0123456789abcdef") ==
          dashed_id);
}

TEST_CASE("a Notion URL's view (?v=) and block (#) ids are not taken for the page's id") {
    CHECK(parse_notion_id("https://www.notion.so/acme/0123456789abcdef0123456789abcdef?v="
                          "fedcba9876543210fedcba9876543210") == dashed_id);
    CHECK(parse_notion_id("https://www.notion.so/acme/Tasks-0123456789abcdef0123456789abcdef?v="
                          "fedcba9876543210fedcba9876543210&pvs=4") == dashed_id);
    CHECK(parse_notion_id("https://www.notion.so/Page-0123456789abcdef0123456789abcdef#"
                          "fedcba9876543210fedcba9876543210") == dashed_id);
    // A URL whose only id is the view's names no database.
    CHECK(parse_notion_id("https://www.notion.so/acme?v=fedcba9876543210fedcba9876543210") ==
          std::nullopt);
}

TEST_CASE("text that is not exactly one Notion id is refused") {
    for (const char* bad :
         {"", "tasks", "0123456789abcdef", "0123456789abcdef0123456789abcde",
          "0123456789abcdef0123456789abcdef0", "x0123456789abcdef0123456789abcdef",
          "Tasks-0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdeg",
          "01234567-89ab-cdef-0123-456789abcdeX", "0123456789abcdef0123456789abcdef extra",
          "https://www.notion.so/Tasks",
          "https://www.notion.so/Tasks0123456789abcdef0123456789abcdef",
          "https://www.notion.so/abc0123456789abcdef0123456789abcdef"}) {
        CAPTURE(bad);
        CHECK(parse_notion_id(bad) == std::nullopt);
    }
}

TEST_CASE("durations take ms, s, m, h and d, fractions too") {
    CHECK(parse_duration("500ms") == std::chrono::milliseconds(500));
    CHECK(parse_duration("30s") == std::chrono::milliseconds(30'000));
    CHECK(parse_duration("5m") == std::chrono::milliseconds(300'000));
    CHECK(parse_duration("6h") == std::chrono::milliseconds(21'600'000));
    CHECK(parse_duration("1d") == std::chrono::milliseconds(86'400'000));
    CHECK(parse_duration("1.5s") == std::chrono::milliseconds(1'500));
    CHECK(parse_duration("0s") == std::chrono::milliseconds(0));
}

TEST_CASE("durations without a known unit, negative or not finite are refused") {
    for (const char* bad : {"", "30", "s", "5 m", "5min", "5M", "-5s", "1w", "abc", "inf s", "infs",
                            "nans", "1e300d", "30s ", "ms30"}) {
        CAPTURE(bad);
        CHECK(parse_duration(bad) == std::nullopt);
    }
}

TEST_CASE("a bad duration names the key, the value and the accepted forms") {
    CHECK(problems_of(notion_block + jsonl_connector + one_sync("    every: 30\n")) ==
          std::vector<std::string>{
              "name.yaml:11:12: syncs[0].every: expected a duration such as 30s, 5m, 6h or 1d, "
              "got `30`"});
    CHECK(problems_of(notion_block + jsonl_connector +
                      one_sync("    reconcile_every: sometimes\n")) ==
          std::vector<std::string>{
              "name.yaml:11:22: syncs[0].reconcile_every: expected a duration such as 30s, 5m, 6h "
              "or 1d, got `sometimes`"});
    CHECK(problems_of(notion_block + jsonl_connector + one_sync("    overlap: -2m\n")) ==
          std::vector<std::string>{
              "name.yaml:11:14: syncs[0].overlap: expected a duration such as 30s, 5m, 6h or 1d, "
              "got `-2m`"});
}

TEST_CASE("min_every: 5s by default, never above every, and not longer than every when given") {
    const auto defaults = parse_ok(notion_block + jsonl_connector + one_sync(""));
    CHECK(defaults.syncs[0].every == 30s);
    CHECK(defaults.syncs[0].min_every == 5s);
    CHECK(
        parse_ok(notion_block + jsonl_connector + one_sync("    every: 2s\n")).syncs[0].min_every ==
        2s);
    CHECK(parse_ok(notion_block + jsonl_connector + one_sync("    every: 10m\n    min_every: 1m\n"))
              .syncs[0]
              .min_every == 1min);
    const auto longer = problems_of(notion_block + jsonl_connector +
                                    one_sync("    every: 10s\n    min_every: 20s\n"));
    REQUIRE(longer.size() == 1);
    CHECK(
        longer[0].find("syncs[0].min_every: min_every (20s) must not be longer than every (10s)") !=
        std::string::npos);
    const auto fast =
        problems_of(notion_block + jsonl_connector + one_sync("    min_every: 100ms\n"));
    REQUIRE(fast.size() == 1);
    CHECK(fast[0].find("min_every must be at least 1s") != std::string::npos);
}

TEST_CASE("polling more often than once a second is refused") {
    CHECK(problems_of(notion_block + jsonl_connector + one_sync("    every: 500ms\n")) ==
          std::vector<std::string>{"name.yaml:11:12: syncs[0].every: every must be at least 1s"});
    CHECK(parse_ok(notion_block + jsonl_connector + one_sync("    every: 1s\n")).syncs[0].every ==
          1s);
}

TEST_CASE("reconcile_every: never turns reconciliation off") {
    const Config c =
        parse_ok(notion_block + jsonl_connector + one_sync("    reconcile_every: never\n"));
    CHECK_FALSE(c.syncs[0].reconcile_every.has_value());
    const Config hourly =
        parse_ok(notion_block + jsonl_connector + one_sync("    reconcile_every: 1h\n"));
    CHECK(hourly.syncs[0].reconcile_every == std::optional<std::chrono::milliseconds>(1h));
}

TEST_CASE("an overlap under a minute is refused: edit times are minute-rounded") {
    CHECK(
        parse_ok(notion_block + jsonl_connector + one_sync("    overlap: 1m\n")).syncs[0].overlap ==
        std::chrono::minutes(1));
    CHECK(parse_ok(notion_block + jsonl_connector + one_sync("")).syncs[0].overlap ==
          std::chrono::minutes(2));
    for (const char* bad : {"59s", "0s", "500ms"}) {
        CAPTURE(bad);
        const auto problems = problems_of(notion_block + jsonl_connector +
                                          one_sync("    overlap: " + std::string(bad) + "\n"));
        REQUIRE(problems.size() == 1);
        CHECK(problems[0].starts_with(
            "name.yaml:11:14: syncs[0].overlap: overlap must be at least 1m"));
        CHECK(problems[0].find("same minute") != std::string::npos);
    }
}

TEST_CASE("max_delete_ratio must lie between 0 and 1") {
    CHECK(parse_ok(notion_block + jsonl_connector + one_sync("    max_delete_ratio: 0\n"))
              .syncs[0]
              .max_delete_ratio == 0);
    CHECK(parse_ok(notion_block + jsonl_connector + one_sync("    max_delete_ratio: 1\n"))
              .syncs[0]
              .max_delete_ratio == 1);
    for (const char* bad : {"1.5", "-0.1", ".nan"}) {
        CAPTURE(bad);
        CHECK(problems_of(notion_block + jsonl_connector +
                          one_sync("    max_delete_ratio: " + std::string(bad) + "\n")) ==
              std::vector<std::string>{"name.yaml:11:23: syncs[0].max_delete_ratio: "
                                       "max_delete_ratio must be between 0 and 1"});
    }
    CHECK(problems_of(notion_block + jsonl_connector + one_sync("    max_delete_ratio: half\n")) ==
          std::vector<std::string>{
              "name.yaml:11:23: syncs[0].max_delete_ratio: expected a number, got `half`"});
}

TEST_CASE("unknown keys are errors at every level, with the keys that are expected") {
    const std::string text = R"(notion:
  token: secret_literal
  tokne: oops
  budget: { per_minute: 180, brust: 3 }
stat: { dir: /x }
control: { listen: 127.0.0.1:1, port: 2 }
connectors:
  out: { type: jsonl, path: /tmp/x.jsonl, rotate: daily }
syncs:
  - name: tasks
    source: { data_source: 0123456789abcdef0123456789abcdef, view: x }
    evry: 5m
    targets:
      - connector: out
        colour: red
)";
    CHECK(problems_of(text) ==
          std::vector<std::string>{
              "name.yaml:4:30: notion.budget: unknown key `brust` (expected one of: burst, "
              "per_minute)",
              "name.yaml:3:3: notion: unknown key `tokne` (expected one of: base_url, budget, "
              "ca_file, max_rate_limit_wait, token, token_file, version)",
              "name.yaml:6:33: control: unknown key `port` (expected one of: auth_token, "
              "auth_token_file, listen, webhook_secret, webhook_secret_file)",
              "name.yaml:8:43: connectors.out: unknown key `rotate` (expected one of: fsync, "
              "path, type)",
              "name.yaml:11:62: syncs[0].source: unknown key `view` (expected one of: "
              "data_source, database, discover, page)",
              "name.yaml:15:9: syncs[0].targets[0]: unknown key `colour` (expected one of: "
              "connector, direction, exclude, include, mapping, snapshot, soft_delete, table, "
              "two_way, unmapped)",
              "name.yaml:12:5: syncs[0]: unknown key `evry` (expected one of: content, every, "
              "max_delete_ratio, min_every, name, overlap, reconcile_every, refresh_every, "
              "schema_every, "
              "source, "
              "targets)",
              "name.yaml:5:1: unknown key `stat` (expected one of: connectors, control, notion, "
              "state, syncs)"});
}

TEST_CASE("values of the wrong type name what was expected") {
    const std::string text = R"(notion:
  token: [secret]
  budget: { per_minute: lots, burst: 3 }
state: /var/lib/x
connectors:
  out: { type: jsonl, path: { file: x } }
syncs:
  - name: tasks
    source: { data_source: 0123456789abcdef0123456789abcdef }
    every: [5m]
    content: maybe
    targets:
      - connector: out
        soft_delete: sometimes
        mapping: [Name, title]
)";
    CHECK(problems_of(text) ==
          std::vector<std::string>{
              "name.yaml:2:10: notion.token: expected a string",
              "name.yaml:3:25: notion.budget.per_minute: expected a number, got `lots`",
              "name.yaml:4:8: state should be a mapping (key: value lines)",
              "name.yaml:6:29: connectors.out.path: expected a string",
              "name.yaml:10:12: syncs[0].every: expected a string",
              "name.yaml:11:14: syncs[0].content: expected true or false, got `maybe`",
              "name.yaml:15:18: syncs[0].targets[0].mapping: expected a mapping of names to names",
              "name.yaml:14:22: syncs[0].targets[0].soft_delete: expected true or false, got "
              "`sometimes`"});
}

TEST_CASE("lists and mappings in the wrong place are reported") {
    CHECK(problems_of(notion_block + "connectors: [out]\nsyncs: { name: tasks }\n") ==
          std::vector<std::string>{
              "name.yaml:3:13: connectors: expected a mapping of names to settings",
              "name.yaml:4:8: syncs: expected a list (lines starting with -)"});
    CHECK(problems_of("- notion\n- syncs\n") ==
          std::vector<std::string>{
              "name.yaml:1:1: the file should be a mapping (key: value lines)",
              "name.yaml: notion: missing the Notion token: set token: ${NOTION_TOKEN} or "
              "token_file: PATH"});
}

TEST_CASE("missing required keys are reported where they belong") {
    const std::string text = R"(notion:
  version: "2026-03-11"
connectors:
  out: { path: /tmp/x.jsonl }
  db: { type: sqlite }
syncs:
  - source: { data_source: 0123456789abcdef0123456789abcdef }
    targets: [{ connector: out }]
  - name: nosource
    targets: [{ table: x }]
  - name: notargets
    source: { discover: all }
)";
    CHECK(problems_of(text) ==
          std::vector<std::string>{
              "name.yaml:2:3: notion: missing the Notion token: set token: ${NOTION_TOKEN} or "
              "token_file: PATH",
              "name.yaml:4:8: connectors.out: missing required key `type`",
              "name.yaml:5:7: connectors.db: missing required key `path`",
              "name.yaml:7:5: syncs[0]: missing required key `name`",
              "name.yaml:9:5: syncs[1]: missing required key `source`",
              "name.yaml:10:15: syncs[1].targets[0]: missing required key `connector`",
              "name.yaml:11:5: syncs[2].targets: a sync needs at least one target"});
}

TEST_CASE("an empty file says so") {
    CHECK(problems_of("") ==
          std::vector<std::string>{"name.yaml: the file is empty",
                                   "name.yaml: notion: missing the Notion token: set token: "
                                   "${NOTION_TOKEN} or token_file: PATH"});
}

TEST_CASE("a YAML syntax error names its place") {
    const auto problems = problems_of("notion:\n  token: secret\n   version: x\n  - y\n");
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].starts_with("name.yaml:3:"));
    CHECK(problems[0].find("YAML syntax error: ") != std::string::npos);
}

TEST_CASE("an unknown connector type is an error and its other keys are not blamed") {
    CHECK(problems_of(notion_block + "connectors:\n  out: { type: postgress, dsn: x }\n" +
                      one_sync()) ==
          std::vector<std::string>{
              "name.yaml:4:16: connectors.out.type: unknown connector type `postgress` (check "
              "the spelling; `type:` names one of the connectors this build ships)"});
}

TEST_CASE("each connector type validates its own block") {
    CHECK(problems_of(notion_block +
                      "connectors:\n  out: { type: jsonl, path: /x, fsync: sometimes }\n" +
                      one_sync()) ==
          std::vector<std::string>{
              "name.yaml:4:40: connectors.out.fsync: expected always, batch or never"});
    CHECK(problems_of(notion_block + "connectors:\n  out: { type: sqlite, file: /x.sqlite }\n" +
                      one_sync()) ==
          std::vector<std::string>{
              "name.yaml:4:8: connectors.out: missing required key `path`",
              "name.yaml:4:24: connectors.out: unknown key `file` (expected one of: path, type)"});
}

TEST_CASE("a target naming a connector that does not exist is an error") {
    CHECK(problems_of(notion_block + jsonl_connector + R"(syncs:
  - name: tasks
    source: { data_source: 0123456789abcdef0123456789abcdef }
    targets:
      - connector: out
      - connector: warehouse
)") == std::vector<std::string>{"name.yaml:12:20: syncs[0].targets[1].connector: no connector "
                                "named `warehouse` under connectors:"});
}

TEST_CASE("a connector can be a target of one sync only once") {
    // Both targets would share one cursor (<sync>/<connector>) and skip each other's events.
    CHECK(problems_of(notion_block + jsonl_connector + R"(syncs:
  - name: tasks
    source: { data_source: 0123456789abcdef0123456789abcdef }
    targets:
      - connector: out
      - connector: out
        table: other
)") == std::vector<std::string>{"name.yaml:12:20: syncs[0].targets[1].connector: connector "
                                "`out` is already a target of this sync"});
}

TEST_CASE("duplicate sync names and bad characters in names are errors") {
    CHECK(problems_of(notion_block + jsonl_connector + R"(syncs:
  - name: tasks
    source: { discover: all }
    targets: [{ connector: out }]
  - name: tasks
    source: { discover: all }
    targets: [{ connector: out }]
  - name: my tasks
    source: { discover: all }
    targets: [{ connector: out }]
)") == std::vector<std::string>{
           "name.yaml:11:11: syncs[1].name: duplicate sync name `tasks`",
           "name.yaml:14:11: syncs[2].name: sync names may use letters, digits, _ and - only"});
}

TEST_CASE("a key given twice is an error, not a silent choice") {
    CHECK(problems_of(notion_block + R"(connectors:
  out: { type: jsonl, path: /a.jsonl }
  out: { type: jsonl, path: /b.jsonl }
syncs:
  - name: tasks
    source: { discover: all }
    every: 5m
    every: 1h
    targets: [{ connector: out, mapping: { Name: a, Name: b } }]
)") == std::vector<std::string>{
           "name.yaml:5:3: connectors: duplicate key `out` (first on line 4)",
           "name.yaml:11:53: syncs[0].targets[0].mapping: duplicate key `Name` (first on "
           "line 11)",
           "name.yaml:10:5: syncs[0]: duplicate key `every` (first on line 9)"});
}

TEST_CASE("a source names exactly one of data_source, database, page or discover: all") {
    CHECK(problems_of(notion_block + jsonl_connector + R"(syncs:
  - name: a
    source: { data_source: 0123456789abcdef0123456789abcdef, page: 0123456789abcdef0123456789abcdef }
    targets: [{ connector: out }]
  - name: b
    source: { discover: some }
    targets: [{ connector: out }]
  - name: c
    source: { database: not-an-id }
    targets: [{ connector: out }]
  - name: d
    source: {}
    targets: [{ connector: out }]
)") == std::vector<std::string>{
           "name.yaml:9:13: syncs[0].source: give exactly one of data_source: ID, database: "
           "ID, page: ID, discover: all",
           "name.yaml:12:25: syncs[1].source.discover: the only discover value is `all`",
           "name.yaml:15:25: syncs[2].source.database: `not-an-id` is not a Notion id or URL "
           "(32 hex digits, dashes optional)",
           "name.yaml:18:13: syncs[3].source: give exactly one of data_source: ID, database: "
           "ID, page: ID, discover: all"});
}

TEST_CASE(
    "direction: two-way points to the two_way block, which only sqlite, postgres, markdown, exec "
    "and webhook targets take") {
    CHECK(problems_of(notion_block + jsonl_connector +
                      one_sync().replace(one_sync().find("[{connector: out}]"), 18,
                                         "[{connector: out, direction: two-way}]")) ==
          std::vector<std::string>{
              "name.yaml:10:43: syncs[0].targets[0].direction: write `two_way:` with its "
              "settings (every, settle, policy, …) for a two-way target; `direction` only takes "
              "one-way"});
    const auto problems =
        problems_of(notion_block + jsonl_connector +
                    one_sync().replace(one_sync().find("[{connector: out}]"), 18,
                                       "[{connector: out, two_way: {policy: notion-wins}}]"));
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find(
              "two-way works with sqlite, postgres, markdown, exec and webhook targets in this "
              "version (not jsonl)") != std::string::npos);
}

TEST_CASE("two_way settings: defaults, policies per field, and mistakes named") {
    const std::string sqlite = "connectors:\n  db: { type: sqlite, path: /tmp/x.sqlite }\n";
    const auto sync = [](const std::string& two_way) {
        return "syncs:\n  - name: tasks\n    source: { data_source: "
               "248104cd-477e-80af-bc30-000bd28de8f9 }\n    every: 10s\n    targets:\n      - "
               "connector: db\n        two_way: " +
               two_way + "\n";
    };
    const Config c = parse_ok(notion_block + sqlite + sync("{}"));
    REQUIRE(c.syncs[0].targets[0].two_way.has_value());
    const auto& d = *c.syncs[0].targets[0].two_way;
    CHECK_FALSE(d.every.has_value());  // the sync's every
    CHECK(d.settle == std::chrono::seconds(5));
    CHECK(d.policy == "notion-wins");
    CHECK(d.max_write_ratio == 0.2);
    const Config f = parse_ok(notion_block + sqlite +
                              sync("{every: 1m, settle: 0s, policy: manual, fields: {Status: "
                                   "external-wins}, max_write_ratio: 0.5}"));
    const auto& t = *f.syncs[0].targets[0].two_way;
    CHECK(t.every == std::chrono::minutes(1));
    CHECK(t.policy == "manual");
    CHECK(t.fields ==
          std::vector<std::pair<std::string, std::string>>{{"Status", "external-wins"}});
    CHECK(t.max_write_ratio == 0.5);
    const auto bad = problems_of(notion_block + sqlite +
                                 sync("{policy: last-wins, fields: {Status: whoever}, "
                                      "max_write_ratio: 0, create: maybe, colour: red}"));
    CHECK(bad.size() == 5);
    const std::string all = [&] {
        std::string text;
        for (const auto& p : bad) text += p + "\n";
        return text;
    }();
    CHECK(all.find("two_way.policy: expected notion-wins") != std::string::npos);
    CHECK(all.find("`whoever` is not a policy") != std::string::npos);
    CHECK(all.find("max_write_ratio must be above 0") != std::string::npos);
    CHECK(all.find("two_way.create: expected true or false") != std::string::npos);
    CHECK(all.find("unknown key `colour`") != std::string::npos);
}

TEST_CASE("two_way on markdown: body two-way only there, other values refused clearly") {
    const std::string markdown =
        "connectors:\n  md: { type: markdown, dir: /tmp/md }\n  db: { type: sqlite, path: "
        "/tmp/x.db }\n";
    const auto sync = [](const std::string& connector, const std::string& two_way) {
        return "syncs:\n  - name: tasks\n    source: { data_source: "
               "248104cd-477e-80af-bc30-000bd28de8f9 }\n    content: true\n    targets:\n      - "
               "connector: " +
               connector + "\n        two_way: " + two_way + "\n";
    };
    const Config c =
        parse_ok(notion_block + markdown + sync("md", "{policy: manual, delete: true}"));
    REQUIRE(c.syncs[0].targets[0].two_way.has_value());
    CHECK(c.syncs[0].targets[0].two_way->policy == "manual");
    CHECK(!c.syncs[0].targets[0].two_way->body);
    const Config body = parse_ok(notion_block + markdown + sync("md", "{body: two-way}"));
    CHECK(body.syncs[0].targets[0].two_way->body);
    auto bad = problems_of(notion_block + markdown + sync("md", "{body: yes}"));
    REQUIRE(bad.size() == 1);
    CHECK(bad[0].find("two_way.body: expected read-only (the default) or two-way") !=
          std::string::npos);
    bad = problems_of(notion_block + markdown + sync("db", "{body: two-way}"));
    REQUIRE(bad.size() == 1);
    CHECK(bad[0].find("two_way.body: body: two-way is for markdown targets") != std::string::npos);
}

TEST_CASE("a two-way target shares its directory or table with no other target") {
    const std::string connectors =
        "connectors:\n  notes: { type: markdown, dir: /tmp/notes }\n"
        "  also: { type: markdown, dir: /tmp/notes/ }\n  other: { type: markdown, dir: /tmp/o }\n"
        "  db: { type: sqlite, path: /tmp/x.db }\n";
    const auto two_syncs = [&](const std::string& first, const std::string& second) {
        return notion_block + connectors +
               "syncs:\n  - name: a\n    source: { data_source: "
               "248104cd-477e-80af-bc30-000bd28de8f9 }\n    content: true\n    targets:\n" +
               first +
               "  - name: b\n    source: { data_source: 248104cd-477e-80af-bc30-000bd28de8fa "
               "}\n    content: true\n    targets:\n" +
               second;
    };
    // One directory (spelled two ways) written back by two syncs, or one-way beside two-way.
    for (const auto& [first, second] : std::vector<std::pair<std::string, std::string>>{
             {"      - { connector: notes, two_way: {} }\n",
              "      - { connector: notes, two_way: {} }\n"},
             {"      - { connector: notes }\n", "      - { connector: also, two_way: {} }\n"},
             {"      - { connector: db, table: t, two_way: {} }\n",
              "      - { connector: db, table: t }\n"}}) {
        const auto problems = problems_of(two_syncs(first, second));
        INFO((first + second));
        REQUIRE(problems.size() == 1);
        CHECK(problems[0].find("writes where sync `a`") != std::string::npos);
        CHECK(problems[0].find("and one of them is two-way") != std::string::npos);
    }
    // Their own places, or one-way only: fine.
    parse_ok(two_syncs("      - { connector: notes, two_way: {} }\n",
                       "      - { connector: other, two_way: {} }\n"));
    parse_ok(two_syncs("      - { connector: notes }\n", "      - { connector: also }\n"));
    parse_ok(two_syncs("      - { connector: db, table: t, two_way: {} }\n",
                       "      - { connector: db, table: u, two_way: {} }\n"));
}

TEST_CASE("the Notion settings are checked") {
    CHECK(problems_of(R"(notion:
  token: secret_literal
  version: "2022-06-28"
  base_url: api.notion.com
  budget: { per_minute: 0, burst: 0.5 }
)" + jsonl_connector + one_sync()) ==
          std::vector<std::string>{
              "name.yaml:3:12: notion.version: unsupported version `2022-06-28`; use "
              "\"2026-03-11\" or \"2025-09-03\"",
              "name.yaml:4:13: notion.base_url: expected an http(s):// URL",
              "name.yaml:5:25: notion.budget.per_minute: per_minute must be positive",
              "name.yaml:5:35: notion.budget.burst: burst must be at least 1"});
}

TEST_CASE("several problems in different places are all reported at once") {
    const auto problems = problems_of(R"(notion:
  version: "1999-01-01"
connectors:
  out: { type: nope }
syncs:
  - name: tasks
    source: { data_source: 42 }
    every: often
    targets: [{ connector: elsewhere }]
)");
    CHECK(problems.size() == 6);
    const std::string all = [&] {
        std::string s;
        for (const auto& p : problems) s += p + "\n";
        return s;
    }();
    CAPTURE(all);
    for (const char* expected :
         {"name.yaml:2:3: notion: missing the Notion token", "name.yaml:2:12: notion.version",
          "name.yaml:4:16: connectors.out.type: unknown connector type `nope`",
          "name.yaml:7:28: syncs[0].source.data_source: `42` is not a Notion id",
          "name.yaml:8:12: syncs[0].every: expected a duration",
          "name.yaml:9:28: syncs[0].targets[0].connector: no connector named `elsewhere`"}) {
        CHECK(all.find(expected) != std::string::npos);
    }
}

TEST_CASE("${ENV} references are replaced by the environment's values") {
    ScopedEnv token("SYNCD_TEST_TOKEN", "secret_from_env");
    ScopedEnv dir("SYNCD_TEST_DIR", "/srv/demo");
    const Config c = parse_ok(R"(notion:
  token: ${SYNCD_TEST_TOKEN}
state: { dir: "${SYNCD_TEST_DIR}/state" }
connectors:
  out: { type: jsonl, path: "${SYNCD_TEST_DIR}/events-${SYNCD_TEST_DIR}.jsonl" }
)" + one_sync());
    CHECK(c.notion.token == "secret_from_env");
    CHECK(c.state_dir == "/srv/demo/state");
    // The connector's block stays as written; the connector expands it when it reads it.
    CHECK(c.connectors[0].node["path"].as<std::string>() ==
          "${SYNCD_TEST_DIR}/events-${SYNCD_TEST_DIR}.jsonl");
}

TEST_CASE("expand_environment replaces every reference and leaves other dollars alone") {
    ScopedEnv a("SYNCD_TEST_A", "alpha");
    ScopedEnv empty("SYNCD_TEST_EMPTY", "");
    std::string missing;
    CHECK(syncd::config::expand_environment("${SYNCD_TEST_A}/${SYNCD_TEST_A}", missing) ==
          "alpha/alpha");
    CHECK(syncd::config::expand_environment("x${SYNCD_TEST_EMPTY}y", missing) == "xy");
    CHECK(syncd::config::expand_environment("$5 and $HOME and ${unclosed", missing) ==
          "$5 and $HOME and ${unclosed");
    CHECK(missing.empty());
    CHECK(syncd::config::expand_environment("a${SYNCD_TEST_UNSET_X}b", missing) == "ab");
    CHECK(missing == "SYNCD_TEST_UNSET_X");
}

TEST_CASE("an unset environment variable is one problem naming the variable") {
    ScopedEnv unset("SYNCD_TEST_UNSET", nullptr);
    CHECK(problems_of("notion:\n  token: ${SYNCD_TEST_UNSET}\n" + jsonl_connector + one_sync()) ==
          std::vector<std::string>{
              "name.yaml:2:10: notion.token: environment variable SYNCD_TEST_UNSET is not set "
              "(export it, or give a fallback: ${SYNCD_TEST_UNSET:-value})"});
    CHECK(problems_of(notion_block +
                      "connectors:\n  out: { type: jsonl, path: \"${SYNCD_TEST_UNSET}/x\" }\n" +
                      one_sync()) ==
          std::vector<std::string>{
              "name.yaml:4:29: connectors.out.path: environment variable SYNCD_TEST_UNSET is not "
              "set (export it, or give a fallback: ${SYNCD_TEST_UNSET:-value})"});
}

TEST_CASE("a literal token has its trailing whitespace trimmed") {
    ScopedEnv token("SYNCD_TEST_TOKEN", "secret_env_token\n");
    CHECK(parse_ok("notion:\n  token: ${SYNCD_TEST_TOKEN}\n" + jsonl_connector + one_sync())
              .notion.token == "secret_env_token");
}

TEST_CASE("token_file is read and its trailing whitespace trimmed") {
    TempDir dir;
    const auto path = dir.write("token", "secret_file_token \r\n\n");
    const Config c =
        parse_ok("notion:\n  token_file: " + path + "\n" + jsonl_connector + one_sync());
    CHECK(c.notion.token == "secret_file_token");
}

TEST_CASE("token_file may come from ${CREDENTIALS_DIRECTORY}") {
    TempDir dir;
    dir.write("notion_token", "secret_credential\n");
    ScopedEnv credentials("CREDENTIALS_DIRECTORY", dir.path().c_str());
    CHECK(parse_ok("notion:\n  token_file: ${CREDENTIALS_DIRECTORY}/notion_token\n" +
                   jsonl_connector + one_sync())
              .notion.token == "secret_credential");
}

TEST_CASE("${NAME:-fallback} falls back when NAME is unset or empty, as the shipped config does") {
    TempDir dir;
    dir.write("notion_token", "secret_from_etc\n");
    const std::string config = "notion:\n  token_file: ${CREDENTIALS_DIRECTORY:-" +
                               dir.path().string() + "}/notion_token\n" + jsonl_connector +
                               one_sync();
    {
        ScopedEnv unset("CREDENTIALS_DIRECTORY", nullptr);
        CHECK(parse_ok(config).notion.token == "secret_from_etc");
    }
    {
        ScopedEnv empty("CREDENTIALS_DIRECTORY", "");
        CHECK(parse_ok(config).notion.token == "secret_from_etc");
    }
    TempDir service;
    service.write("notion_token", "secret_from_systemd\n");
    ScopedEnv set("CREDENTIALS_DIRECTORY", service.path().c_str());
    CHECK(parse_ok(config).notion.token == "secret_from_systemd");
}

TEST_CASE("an unset CREDENTIALS_DIRECTORY without a fallback says how to run from a shell") {
    ScopedEnv unset("CREDENTIALS_DIRECTORY", nullptr);
    const auto problems =
        problems_of("notion:\n  token_file: ${CREDENTIALS_DIRECTORY}/notion_token\n" +
                    jsonl_connector + one_sync());
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("environment variable CREDENTIALS_DIRECTORY is not set") !=
          std::string::npos);
    CHECK(problems[0].find("${CREDENTIALS_DIRECTORY:-/etc/notion-syncd}") != std::string::npos);
}

TEST_CASE("an unreadable token_file is an error with a hint") {
    TempDir dir;
    const std::string path = (dir.path() / "missing").string();
    CHECK(
        problems_of("notion:\n  token_file: " + path + "\n" + jsonl_connector + one_sync()) ==
        std::vector<std::string>{"name.yaml:2:15: notion.token_file: cannot read the token file " +
                                 path + " (check the path and its permissions)"});
    // A directory opens but cannot be read.
    const std::string folder = dir.path().string();
    CHECK(
        problems_of("notion:\n  token_file: " + folder + "\n" + jsonl_connector + one_sync()) ==
        std::vector<std::string>{"name.yaml:2:15: notion.token_file: cannot read the token file " +
                                 folder + " (check the path and its permissions)"});
}

TEST_CASE("an empty token or token_file is an error") {
    TempDir dir;
    const auto path = dir.write("token", " \n");
    CHECK(problems_of("notion:\n  token_file: " + path + "\n" + jsonl_connector + one_sync()) ==
          std::vector<std::string>{"name.yaml:2:15: notion.token_file: the Notion token is empty"});
    CHECK(problems_of("notion:\n  token: \"  \"\n" + jsonl_connector + one_sync()) ==
          std::vector<std::string>{"name.yaml:2:10: notion.token: the Notion token is empty"});
}

TEST_CASE("token and token_file together are refused") {
    TempDir dir;
    const auto path = dir.write("token", "secret_file_token\n");
    CHECK(problems_of("notion:\n  token: secret_literal\n  token_file: " + path + "\n" +
                      jsonl_connector + one_sync()) ==
          std::vector<std::string>{
              "name.yaml:3:15: notion.token_file: give either token or token_file, not both"});
}

TEST_CASE("configuration errors never contain the token") {
    TempDir dir;
    const auto path = dir.write("token", "secret_file_token\n");
    ScopedEnv token("SYNCD_TEST_TOKEN", "secret_env_token");
    const std::string broken = R"(  version: "1"
  base_url: ftp://x
connectors:
  out: { type: jsonl, path: /x, fsync: sometimes }
syncs:
  - name: tasks
    source: { data_source: nope }
    targets: [{ connector: none }]
)";
    for (const std::string& token_line :
         {std::string("  token: ${SYNCD_TEST_TOKEN}\n"), "  token_file: " + path + "\n",
          "  token: ${SYNCD_TEST_TOKEN}\n  token_file: " + path + "\n",
          "  token: ${SYNCD_TEST_TOKEN}\n  token_file: " + path + ".missing\n"}) {
        CAPTURE(token_line);
        const std::string error = error_of("notion:\n" + token_line + broken);
        CHECK(error.find("invalid configuration") == 0);
        CHECK(error.find("secret_") == std::string::npos);
    }
}

TEST_CASE("load reads a file and names it in every problem") {
    TempDir dir;
    const auto path = dir.write("config.yaml", notion_block + jsonl_connector + one_sync());
    CHECK(syncd::config::load(path, builtin_validator()).syncs.at(0).name == "tasks");
    const auto bad = dir.write("bad.yaml", notion_block + "syncs: 3\n");
    try {
        syncd::config::load(bad, builtin_validator());
        FAIL("loaded a bad file");
    } catch (const syncd::config::Error& e) {
        CHECK(std::string(e.what()) == "invalid configuration (1 problem):\n  " + bad +
                                           ":3:8: syncs: expected a list (lines starting with -)");
    }
    const std::string missing = (dir.path() / "nope.yaml").string();
    try {
        syncd::config::load(missing, builtin_validator());
        FAIL("loaded a missing file");
    } catch (const syncd::config::Error& e) {
        CHECK(std::string(e.what()) ==
              missing + ": cannot read the configuration file (does it exist, is it readable?)");
    }
}

TEST_CASE("a connector validator sees the connector's block and can record problems") {
    std::vector<std::string> seen;
    const syncd::config::ConnectorValidator fake = [&](const std::string& type,
                                                       syncd::config::SettingsReader& settings) {
        seen.push_back(type + "@" + settings.path());
        if (type != "fake") return false;
        if (settings.required_string("url") == "bad") settings.problem("bad url", "url");
        return true;
    };
    const Config c =
        parse(notion_block + "connectors:\n  a: { type: fake, url: good }\n" +
                  one_sync().replace(one_sync().find("connector: out"), 14, "connector: a"),
              "fake.yaml", fake);
    CHECK(c.connectors.at(0).type == "fake");
    CHECK(seen == std::vector<std::string>{"fake@connectors.a"});
    try {
        parse(notion_block + "connectors:\n  a: { type: fake, url: bad }\n" +
                  one_sync().replace(one_sync().find("connector: out"), 14, "connector: a"),
              "fake.yaml", fake);
        FAIL("accepted a bad block");
    } catch (const syncd::config::Error& e) {
        CHECK(std::string(e.what()) ==
              "invalid configuration (1 problem):\n  fake.yaml:4:25: connectors.a.url: bad url");
    }
}

TEST_CASE("a world-readable file with a literal token is refused, ${ENV} or 0640 are fine") {
    const auto dir = fs::temp_directory_path() / ("config_test_perm_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const auto path = (dir / "config.yaml").string();
    const auto write = [&](const std::string& token) {
        std::ofstream(path, std::ios::trunc)
            << "notion:\n  token: " << token << "\nstate:\n  dir: " << (dir / "state").string()
            << "\nconnectors:\n  out:\n    type: jsonl\n    path: /tmp/x.jsonl\nsyncs: []\n";
    };
    write("secret_literal_token_value");
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
    try {
        syncd::config::load(path, builtin_validator());
        FAIL("a world-readable literal token was accepted");
    } catch (const syncd::config::Error& e) {
        const std::string what = e.what();
        CHECK(what.find("chmod 640 " + path) != std::string::npos);
        CHECK(what.find("secret_literal_token_value") == std::string::npos);
    }
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    CHECK(syncd::config::load(path, builtin_validator()).notion.token ==
          "secret_literal_token_value");
    setenv("CONFIG_TEST_TOKEN", "from-env", 1);
    write("${CONFIG_TEST_TOKEN}");
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
    CHECK(syncd::config::load(path, builtin_validator()).notion.token == "from-env");
    fs::remove_all(dir);
}

TEST_CASE("every literal secret makes a world-readable file an error, not only the token") {
    const auto dir =
        fs::temp_directory_path() / ("config_test_secrets_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const auto path = (dir / "config.yaml").string();
    const std::string head =
        "notion:\n  token: ${CONFIG_TEST_TOKEN}\nstate:\n  dir: " + (dir / "state").string() + "\n";
    setenv("CONFIG_TEST_TOKEN", "from-env", 1);
    setenv("CONFIG_TEST_SECRET", "from-env-too", 1);
    struct Case {
        std::string yaml;
        std::string key;
        std::string secret;
    };
    const std::vector<Case> cases = {
        {"control:\n  auth_token: literal-control-token\n", "control.auth_token",
         "literal-control-token"},
        {"control:\n  webhook_secret: literal-webhook-verification\n", "control.webhook_secret",
         "literal-webhook-verification"},
        {"connectors:\n  hook: { type: webhook, url: \"https://example.com/h\", secret: "
         "literal-hmac-secret }\n",
         "connectors.hook.secret", "literal-hmac-secret"},
        {"connectors:\n  hook:\n    type: webhook\n    url: https://example.com/h\n    headers: "
         "{ Authorization: \"Bearer literal-bearer\" }\n",
         "connectors.hook.headers", "literal-bearer"},
        {"connectors:\n  pg: { type: postgres, dsn: \"postgresql://u:literal-pg-pass@db/x\" }\n",
         "connectors.pg.dsn", "literal-pg-pass"},
        {"connectors:\n  pg: { type: postgres, dsn: \"host=db password=literal-pg-kv dbname=x\" "
         "}\n",
         "connectors.pg.dsn", "literal-pg-kv"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.key);
        std::ofstream(path, std::ios::trunc) << head << c.yaml << "syncs: []\n";
        fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write |
                                  fs::perms::group_read | fs::perms::others_read);
        try {
            syncd::config::load(path, builtin_validator());
            FAIL("a world-readable literal secret was accepted");
        } catch (const syncd::config::Error& e) {
            const std::string what = e.what();
            CHECK(what.find(c.key) != std::string::npos);
            CHECK(what.find("chmod 640 " + path) != std::string::npos);
            CHECK(what.find(c.secret) == std::string::npos);
        }
        fs::permissions(path,
                        fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
        CHECK_NOTHROW(syncd::config::load(path, builtin_validator()));
    }
    // The same secrets from the environment: a world-readable file holds nothing secret.
    std::ofstream(path, std::ios::trunc)
        << head
        << "control:\n  auth_token: ${CONFIG_TEST_SECRET}\nconnectors:\n  hook: { type: webhook, "
           "url: \"https://example.com/h\", secret: \"${CONFIG_TEST_SECRET}\" }\n  pg: { type: "
           "postgres, dsn: \"postgresql://u:${CONFIG_TEST_SECRET}@db/x\" }\n  plain: { type: "
           "webhook, url: \"https://example.com/p\", headers: { X-Team: ops } }\nsyncs: []\n";
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
    CHECK_NOTHROW(syncd::config::load(path, builtin_validator()));
    fs::remove_all(dir);
}

TEST_CASE("load checks the machine: a state.dir that cannot be created names the key to set") {
    const auto dir =
        fs::temp_directory_path() / ("config_test_state_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const auto path = (dir / "config.yaml").string();
    const std::string text =
        "notion:\n  token: ${CONFIG_TEST_TOKEN}\n  base_url: http://10.0.0.1\nstate:\n  dir: "
        "/proc/version/state\nconnectors:\n  out:\n    type: jsonl\n    path: /tmp/x.jsonl\n"
        "syncs: []\n";
    std::ofstream(path) << text;
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    setenv("CONFIG_TEST_TOKEN", "from-env", 1);
    try {
        syncd::config::load(path, builtin_validator());
        FAIL("accepted");
    } catch (const syncd::config::Error& e) {
        const std::string what = e.what();
        CHECK(
            what.find(path + ":3:13: notion.base_url: plain http:// is only allowed to loopback") !=
            std::string::npos);
        CHECK(what.find(path + ":5:8: state.dir: /proc/version/state does not exist and cannot be "
                               "created") != std::string::npos);
        CHECK(what.find("set state.dir to a directory this user can write") != std::string::npos);
    }
    // parse() of a text alone does not look at the machine (the loopback rule is not machine).
    std::string loopback = text;
    loopback.replace(loopback.find("http://10.0.0.1"), 15, "http://127.0.0.1");
    CHECK_NOTHROW(syncd::config::parse(loopback, "x.yaml", builtin_validator()));
    fs::remove_all(dir);
}

TEST_CASE("control.listen needs a host and a numeric port, as run would") {
    for (const std::string listen : {"127.0.0.1:http", "127.0.0.1:70000", ":9464", "127.0.0.1:"}) {
        CAPTURE(listen);
        const auto problems = problems_of(notion_block + "control: { listen: \"" + listen +
                                          "\" }\n" + jsonl_connector + one_sync());
        REQUIRE(problems.size() == 1);
        CHECK(problems[0].find("control.listen: expected HOST:PORT") != std::string::npos);
    }
    CHECK(parse_ok(notion_block + "control: { listen: \"[::1]:9464\" }\n" + jsonl_connector +
                   one_sync())
              .control_listen == "[::1]:9464");
}
