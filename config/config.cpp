#include "config/config.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "config/environment.hpp"

namespace syncd::config {
namespace {

std::string trim_trailing(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
}

// A secret from exactly one of `key` (a literal, usually ${ENV}) or `key`_file.
std::string read_secret(SettingsReader& block, const std::string& key) {
    const auto literal = block.optional_string(key);
    const auto file = block.optional_string(key + "_file");
    if (literal && file)
        block.problem("give either " + key + " or " + key + "_file, not both", key + "_file");
    if (literal) {
        block.secret(key);
        return trim_trailing(*literal);
    }
    if (!file) return {};
    std::ifstream in(*file);
    std::stringstream text;
    if (!in || (in.peek() == std::ifstream::traits_type::eof() && in.bad())) {
        block.problem("cannot read " + *file + " (check the path and its permissions)",
                      key + "_file");
        return {};
    }
    text << in.rdbuf();
    const std::string value = trim_trailing(text.str());
    if (value.empty()) block.problem(*file + " is empty", key + "_file");
    return value;
}

NotionSettings read_notion(SettingsReader notion) {
    NotionSettings out;
    const auto literal = notion.optional_string("token");
    const auto file = notion.optional_string("token_file");
    bool unreadable = false;
    if (literal && file) notion.problem("give either token or token_file, not both", "token_file");
    if (literal) {
        notion.secret("token");
        out.token = trim_trailing(*literal);
        const std::string raw = notion.raw_string("token").value_or("");
        const auto open = raw.find("${");
        out.token_source =
            open == std::string::npos
                ? "notion.token of the configuration file"
                : "the environment variable " +
                      raw.substr(open + 2, raw.find_first_of(":}", open) - open - 2) +
                      " (notion.token)";
    }
    if (file) out.token_source = *file + " (notion.token_file)";
    if (file) {
        std::ifstream in(*file);
        std::stringstream text;
        // A directory opens but fails to read; an empty file reads nothing without failing.
        if (!in || (in.peek() == std::ifstream::traits_type::eof() && in.bad())) {
            unreadable = true;
            notion.problem(
                "cannot read the token file " + *file + " (check the path and its permissions)",
                "token_file");
        } else {
            text << in.rdbuf();
            out.token = trim_trailing(text.str());
        }
    }
    if (!notion.has("token") && !notion.has("token_file")) {
        notion.problem("missing the Notion token: set token: ${NOTION_TOKEN} or token_file: PATH");
    } else if (out.token.empty() && (literal || file) && !unreadable) {
        notion.problem("the Notion token is empty", file ? "token_file" : "token");
    }
    out.version = notion.string_or("version", out.version);
    if (out.version != "2026-03-11" && out.version != "2025-09-03") {
        notion.problem(
            "unsupported version `" + out.version + "`; use \"2026-03-11\" or \"2025-09-03\"",
            "version");
    }
    out.base_url = notion.string_or("base_url", out.base_url);
    if (!out.base_url.starts_with("https://") && !out.base_url.starts_with("http://")) {
        notion.problem("expected an http(s):// URL", "base_url");
    } else if (out.base_url.starts_with("http://") && !is_loopback_host(url_host(out.base_url))) {
        notion.problem(
            "plain http:// is only allowed to loopback (such as notion-emulator); use https://",
            "base_url");
    }
    out.ca_file = notion.string_or("ca_file", "");
    if (!out.ca_file.empty() && notion.checks_environment()) {
        if (const auto problem = ca_file_problem(out.ca_file)) notion.problem(*problem, "ca_file");
    }
    out.max_rate_limit_wait = notion.duration_or("max_rate_limit_wait", out.max_rate_limit_wait);
    auto budget = notion.child("budget");
    out.budget.per_minute = budget.number_or("per_minute", out.budget.per_minute);
    out.budget.burst = budget.number_or("burst", out.budget.burst);
    if (out.budget.per_minute <= 0) budget.problem("per_minute must be positive", "per_minute");
    if (out.budget.burst < 1) budget.problem("burst must be at least 1", "burst");
    budget.finish();
    notion.finish();
    return out;
}

SourceSettings read_source(SettingsReader source) {
    SourceSettings out;
    int kinds = 0;
    for (const char* kind : {"data_source", "database", "page"}) {
        if (const auto value = source.optional_string(kind)) {
            ++kinds;
            out.kind = kind;
            if (const auto id = parse_notion_id(*value)) {
                out.id = *id;
            } else {
                source.problem(
                    "`" + *value + "` is not a Notion id or URL (32 hex digits, dashes optional)",
                    kind);
            }
        }
    }
    if (const auto discover = source.optional_string("discover")) {
        ++kinds;
        out.kind = "discover";
        if (*discover != "all") source.problem("the only discover value is `all`", "discover");
    }
    if (kinds != 1) {
        source.problem(
            "give exactly one of data_source: ID, database: ID, page: ID, discover: all");
    }
    source.finish();
    return out;
}

// Where a target writes, for the sharing check: "dir:<path>" for markdown (normalized),
// "<connector>/<table>" for the others; nullopt when the connector is unknown.
std::optional<std::string> place_of(const Config& config, const TargetSettings& target) {
    for (const auto& c : config.connectors) {
        if (c.name != target.connector) continue;
        if (c.type == "markdown") {
            const YAML::Node dir = c.node["dir"];
            if (!dir || !dir.IsScalar()) return std::nullopt;
            std::filesystem::path path(dir.Scalar());
            std::error_code ignored;
            auto normal = std::filesystem::weakly_canonical(path, ignored);
            if (normal.empty()) normal = path.lexically_normal();
            if (!normal.has_filename()) normal = normal.parent_path();  // "dir/" is "dir"
            return "dir:" + normal.string();
        }
        return c.name + "/" + target.table;
    }
    return std::nullopt;
}

TwoWaySettings read_two_way(SettingsReader two_way, const std::string& connector_type) {
    TwoWaySettings out;
    if (!connector_type.empty() && connector_type != "sqlite" && connector_type != "postgres" &&
        connector_type != "markdown" && connector_type != "exec" && connector_type != "webhook") {
        two_way.problem(
            "two-way works with sqlite, postgres, markdown, exec and webhook targets in this "
            "version (not " +
            connector_type + ")");
    }
    const std::string body = two_way.string_or("body", "read-only");
    if (body != "read-only" && body != "two-way") {
        two_way.problem("expected read-only (the default) or two-way", "body");
    } else if (body == "two-way" && !connector_type.empty() && connector_type != "markdown") {
        two_way.problem("body: two-way is for markdown targets (a file's body); remove it here",
                        "body");
    }
    out.body = body == "two-way";
    out.every = two_way.optional_duration("every");
    if (out.every && *out.every < 1s) two_way.problem("every must be at least 1s", "every");
    out.settle = two_way.duration_or("settle", out.settle);
    if (out.settle < 0ms) two_way.problem("settle must not be negative", "settle");
    static const std::set<std::string> policies = {"notion-wins", "external-wins", "newest-wins",
                                                   "manual"};
    out.policy = two_way.string_or("policy", out.policy);
    if (!policies.contains(out.policy)) {
        two_way.problem("expected notion-wins, external-wins, newest-wins or manual", "policy");
    }
    out.fields = two_way.string_map("fields");
    for (const auto& [property, policy] : out.fields) {
        if (!policies.contains(policy)) {
            two_way.problem("fields." + property + ": `" + policy +
                                "` is not a policy (notion-wins, external-wins, newest-wins, "
                                "manual)",
                            "fields");
        }
    }
    out.verify_every = two_way.duration_or("verify_every", out.verify_every);
    if (out.verify_every < 1s) two_way.problem("verify_every must be at least 1s", "verify_every");
    out.create = two_way.bool_or("create", false);
    out.trash = two_way.bool_or("delete", false);
    out.create_options = two_way.bool_or("create_options", false);
    out.max_write_ratio = two_way.number_or("max_write_ratio", out.max_write_ratio);
    if (!(out.max_write_ratio > 0 && out.max_write_ratio <= 1)) {
        two_way.problem("max_write_ratio must be above 0 and at most 1", "max_write_ratio");
    }
    two_way.finish();
    return out;
}

}  // namespace

std::optional<std::string> parse_notion_id(const std::string& text) {
    // In a URL the id ends the path, after an optional title slug ("Tasks-<id>"); the query
    // (?v=<view id>) and fragment (#<block id>) hold other ids. Elsewhere the text is the id.
    std::string_view rest = text;
    const bool url = rest.find('/') != std::string_view::npos;
    if (url) {
        rest = rest.substr(0, rest.find_first_of("?#"));
        while (rest.ends_with('/')) rest.remove_suffix(1);
        const auto slash = rest.find_last_of('/');
        if (slash != std::string_view::npos) rest.remove_prefix(slash + 1);
    }
    std::string hex;
    std::size_t i = rest.size();
    for (; i > 0 && hex.size() < 32; --i) {
        const auto c = static_cast<unsigned char>(rest[i - 1]);
        if (std::isxdigit(c)) {
            hex.insert(hex.begin(), static_cast<char>(std::tolower(c)));
        } else if (c != '-') {
            break;
        }
    }
    if (hex.size() != 32) return std::nullopt;
    // Nothing may precede a bare id; in a URL only a slug ending in a dash.
    if (i > 0 && (!url || rest[i - 1] != '-')) return std::nullopt;
    return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
           hex.substr(16, 4) + '-' + hex.substr(20);
}

Config parse(const std::string& text, const std::string& name, const ConnectorValidator& validate,
             Checks checks) {
    auto problems = std::make_shared<Problems>();
    problems->file = name;
    problems->check_environment = checks == Checks::machine;
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        std::string hint;
        if (e.msg.find("flow") != std::string::npos) {
            hint = " (inside { } a value holding ${NAME} or { } must be quoted: \"${NAME}\")";
        }
        problems->add(e.mark, "YAML syntax error: " + e.msg + hint);
        problems->throw_if_any();
    }
    Config config;
    config.path = name;
    SettingsReader top(root, "", problems);
    if (!root || root.IsNull()) problems->add(YAML::Mark::null_mark(), "the file is empty");
    config.notion = read_notion(top.child("notion"));
    {
        auto state = top.child("state");
        config.state_dir = state.string_or("dir", config.state_dir);
        if (problems->check_environment) {
            if (const auto problem = state_dir_problem(config.state_dir)) {
                if (state.has("dir")) {
                    state.problem(*problem + "; set state.dir to a directory this user can write",
                                  "dir");
                } else {
                    top.problem(*problem +
                                " (the default state directory); set state.dir to a directory "
                                "this user can write");
                }
            }
        }
        state.finish();
    }
    {
        auto control = top.child("control");
        config.control_listen = control.string_or("listen", config.control_listen);
        config.control_auth = read_secret(control, "auth_token");
        config.webhook_secret = read_secret(control, "webhook_secret");
        if (config.control_listen != "off") {
            const auto colon = config.control_listen.rfind(':');
            std::string host =
                colon == std::string::npos ? std::string() : config.control_listen.substr(0, colon);
            const std::string port = colon == std::string::npos
                                         ? std::string()
                                         : config.control_listen.substr(colon + 1);
            const bool numeric = !port.empty() && port.size() <= 5 &&
                                 std::all_of(port.begin(), port.end(),
                                             [](unsigned char c) { return std::isdigit(c); }) &&
                                 std::stoi(port) <= 65535;
            if (colon == std::string::npos || !numeric || host.empty()) {
                control.problem(
                    "expected HOST:PORT (e.g. 127.0.0.1:9464, a port up to 65535) or off",
                    "listen");
            } else if (!is_loopback_host(host) && config.control_auth.empty()) {
                control.problem(
                    "listening on " + config.control_listen +
                        " (not loopback) needs auth_token_file: the bearer token clients send",
                    "listen");
            }
        }
        control.finish();
    }
    for (auto& [connector_name, block] : top.named_children("connectors")) {
        ConnectorSettings c{.name = connector_name};
        c.type = block.required_string("type");
        c.node = YAML::Clone(root["connectors"][connector_name]);
        if (!c.type.empty() && validate(c.type, block)) {
            block.finish();  // the keys of an unknown type are unknown too: not blamed
        } else if (!c.type.empty()) {
            block.problem("unknown connector type `" + c.type +
                              "` (check the spelling; `type:` names one of the connectors this "
                              "build ships)",
                          "type");
        }
        config.connectors.push_back(std::move(c));
    }
    std::set<std::string> names;
    // Where each target writes (markdown: its directory; others: connector and table), with the
    // sync and whether it is two-way: a two-way target shares its place with no other target.
    struct Place {
        std::string sync;
        std::string connector;
        bool two_way = false;
    };
    std::map<std::string, Place> places;
    for (auto& s : top.children("syncs")) {
        SyncSettings sync;
        sync.name = s.required_string("name");
        if (!sync.name.empty() && !names.insert(sync.name).second)
            s.problem("duplicate sync name `" + sync.name + "`", "name");
        for (const char c : sync.name) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
                s.problem("sync names may use letters, digits, _ and - only", "name");
                break;
            }
        }
        if (s.has("source")) {
            sync.source = read_source(s.child("source"));
        } else {
            s.child("source");  // read, so an empty `source:` is not also an unknown key
            s.problem("missing required key `source`");
        }
        sync.every = s.duration_or("every", sync.every);
        if (sync.every < 1s) s.problem("every must be at least 1s", "every");
        // The shortest interval a busy data source is polled at; never above `every` (a job
        // polled every 2s reads at 2s whether it is busy or not).
        if (s.has("min_every")) {
            sync.min_every = s.duration_or("min_every", sync.min_every);
            if (sync.min_every < 1s) s.problem("min_every must be at least 1s", "min_every");
            if (sync.min_every > sync.every) {
                s.problem("min_every (" + std::to_string(sync.min_every.count() / 1000) +
                              "s) must not be longer than every (" +
                              std::to_string(sync.every.count() / 1000) +
                              "s): it is the shortest interval a busy data source is polled at",
                          "min_every");
            }
        } else {
            s.optional_string("min_every");  // read: named among the keys a sync may have
            sync.min_every = std::min(sync.min_every, sync.every);
        }
        if (s.has("reconcile_every")) {
            const auto value = s.optional_string("reconcile_every");
            if (value == "never") {
                sync.reconcile_every.reset();
            } else {
                sync.reconcile_every = s.optional_duration("reconcile_every");
            }
        } else {
            s.optional_string("reconcile_every");
        }
        if (s.has("refresh_every")) {
            if (s.optional_string("refresh_every") == "never") {
                sync.refresh_every.reset();
            } else {
                sync.refresh_every = s.optional_duration("refresh_every");
            }
        } else {
            s.optional_string("refresh_every");
        }
        sync.overlap = s.duration_or("overlap", sync.overlap);
        if (sync.overlap < std::chrono::minutes(1)) {
            // last_edited_time is rounded down to the minute (notion-api.md §0): a shorter
            // overlap skips edits made later in the minute the watermark stands in.
            s.problem(
                "overlap must be at least 1m: Notion rounds edit times down to the minute, "
                "so a shorter overlap loses edits made in the same minute (default 2m)",
                "overlap");
        }
        sync.schema_every = s.duration_or("schema_every", sync.schema_every);
        sync.max_delete_ratio = s.number_or("max_delete_ratio", sync.max_delete_ratio);
        if (!(sync.max_delete_ratio >= 0 && sync.max_delete_ratio <= 1)) {  // NaN too
            s.problem("max_delete_ratio must be between 0 and 1", "max_delete_ratio");
        }
        sync.content = s.bool_or("content", false);
        for (auto& t : s.children("targets")) {
            TargetSettings target;
            target.connector = t.required_string("connector");
            const bool known =
                std::any_of(config.connectors.begin(), config.connectors.end(),
                            [&](const ConnectorSettings& c) { return c.name == target.connector; });
            if (!target.connector.empty() && !known) {
                t.problem("no connector named `" + target.connector + "` under connectors:",
                          "connector");
            }
            const bool markdown =
                std::any_of(config.connectors.begin(), config.connectors.end(),
                            [&](const ConnectorSettings& c) {
                                return c.name == target.connector && c.type == "markdown";
                            });
            if (markdown && !sync.content) {
                t.problem(
                    "the markdown connector writes page content: set `content: true` on this "
                    "sync",
                    "connector");
            }
            // Its cursor is <sync>/<connector>: two targets would share it.
            if (std::any_of(
                    sync.targets.begin(), sync.targets.end(), [&](const TargetSettings& other) {
                        return !target.connector.empty() && other.connector == target.connector;
                    })) {
                t.problem("connector `" + target.connector + "` is already a target of this sync",
                          "connector");
            }
            target.table = t.string_or("table", "");
            target.mapping = t.string_map("mapping");
            {
                std::set<std::string> columns;
                static const std::set<std::string> reserved = {
                    "page_id",   "notion_url", "created_time",   "last_edited_time",
                    "synced_at", "deleted_at", "notion_content", "notion_properties"};
                for (const auto& [property, column] : target.mapping) {
                    if (column.empty()) {
                        t.problem("mapping of `" + property + "`: the column name is empty",
                                  "mapping");
                    } else if (reserved.contains(column)) {
                        t.problem(
                            "mapping of `" + property + "`: `" + column +
                                "` is a column notion-syncd keeps itself; choose another name",
                            "mapping");
                    } else if (!columns.insert(column).second) {
                        t.problem("mapping: two properties map to the column `" + column + "`",
                                  "mapping");
                    }
                }
            }
            if (auto include = t.strings("include")) target.include = std::move(*include);
            if (auto exclude = t.strings("exclude")) target.exclude = std::move(*exclude);
            if (!target.include.empty() && !target.exclude.empty())
                t.problem("give include or exclude, not both", "exclude");
            target.unmapped = t.string_or("unmapped", "columns");
            if (target.unmapped != "columns" && target.unmapped != "json" &&
                target.unmapped != "skip") {
                t.problem("expected columns, json or skip", "unmapped");
            } else if (target.unmapped != "columns" && target.mapping.empty()) {
                t.problem("unmapped: " + target.unmapped +
                              " needs a mapping (with none, every "
                              "property is unmapped)",
                          "unmapped");
            }
            target.soft_delete = t.bool_or("soft_delete", false);
            target.snapshot = t.bool_or("snapshot", true);
            const std::string direction = t.string_or("direction", "one-way");
            if (direction != "one-way") {
                t.problem(
                    "write `two_way:` with its settings (every, settle, policy, …) for a "
                    "two-way target; `direction` only takes one-way",
                    "direction");
            }
            auto two_way_block = t.child("two_way");  // read, so it is a known key
            if (t.has("two_way")) {
                const std::string type = [&] {
                    for (const auto& c : config.connectors) {
                        if (c.name == target.connector) return c.type;
                    }
                    return std::string();
                }();
                target.two_way = read_two_way(two_way_block, type);
            }
            if (const auto place = place_of(config, target)) {
                const auto [it, first] = places.try_emplace(
                    *place, Place{sync.name, target.connector, target.two_way.has_value()});
                if (!first && (it->second.two_way || target.two_way) &&
                    !(it->second.sync == sync.name && it->second.connector == target.connector)) {
                    t.problem("writes where sync `" + it->second.sync + "` (connector `" +
                                  it->second.connector + "`) already does" +
                                  (place->starts_with("dir:") ? " (the same directory)"
                                                              : " (the same table)") +
                                  ", and one of them is two-way: each would take the other's "
                                  "writes for edits to send to Notion (and a two-way markdown "
                                  "directory would make pages of the other's files); give each "
                                  "its own " +
                                  (place->starts_with("dir:") ? "directory" : "table"),
                              "connector");
                }
            }
            t.finish();
            sync.targets.push_back(std::move(target));
        }
        if (sync.targets.empty()) s.problem("a sync needs at least one target", "targets");
        s.finish();
        config.syncs.push_back(std::move(sync));
    }
    top.finish();
    problems->throw_if_any();
    config.literal_secrets = problems->literal_secrets;
    return config;
}

Config load(const std::string& path, const ConnectorValidator& validate) {
    std::ifstream in(path);
    if (!in)
        throw Error(path + ": cannot read the configuration file (does it exist, is it readable?)");
    std::stringstream text;
    text << in.rdbuf();
    Config config = parse(text.str(), path, validate, Checks::machine);
    struct stat info {};
    if (!config.literal_secrets.empty() && ::stat(path.c_str(), &info) == 0 &&
        (info.st_mode & S_IROTH)) {
        std::string keys;
        for (const auto& key : config.literal_secrets) keys += (keys.empty() ? "" : ", ") + key;
        throw Error(path +
                    ": every user of this machine can read it, and it holds secrets written "
                    "literally (" +
                    keys + "); run `chmod 640 " + path +
                    "` (or 600), or move each secret to its *_file key or to ${ENV}");
    }
    return config;
}

}  // namespace syncd::config
