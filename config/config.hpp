// notion-syncd's configuration file (DESIGN §4): loading, defaults and validation.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/settings_reader.hpp"

namespace syncd::config {

using namespace std::chrono_literals;

struct BudgetSettings {
    double per_minute = 180;
    double burst = 5;
};

struct NotionSettings {
    std::string token = {};  // resolved from token / token_file / ${ENV}; never printed
    // Where the token comes from, for errors: "/etc/notion-syncd/notion_token (notion.token_file)".
    std::string token_source = {};
    std::string version = "2026-03-11";
    std::string base_url = "https://api.notion.com";
    std::string ca_file = {};
    BudgetSettings budget = {};
    // How long a request waits out 429/529 answers (Retry-After) in all before it fails.
    std::chrono::milliseconds max_rate_limit_wait = std::chrono::minutes(10);
};

struct SourceSettings {
    std::string kind = {};  // data_source | database | page | discover
    std::string id = {};    // dashed UUID; empty for discover
};

// `two_way:` on a sqlite target (DESIGN §2 two-way): people's edits in the target written back to
// Notion on a schedule, merged against the last value both sides agreed on.
struct TwoWaySettings {
    std::optional<std::chrono::milliseconds> every = {};  // default: the sync's `every`
    // An edit is written once it is this old (counted from its capture), so a person typing a
    // few statements in a row makes one write.
    std::chrono::milliseconds settle = 5s;
    // When both sides changed a property to different values: notion-wins | external-wins |
    // newest-wins | manual; per property in `fields` (name or id -> policy).
    std::string policy = "notion-wins";
    std::vector<std::pair<std::string, std::string>> fields = {};
    // If more than this share of a data source's pages have external changes in one cycle,
    // none is written (they are held) until `sync-once --apply-held-writes`.
    double max_write_ratio = 0.2;
    // A select or multi-select value Notion does not have as an option: written (Notion adds the
    // option) with true; by default reverted and reported, as options silently added are a
    // typo's way into a shared workspace. Status options must always exist.
    bool create_options = false;
    // A row deleted in the target moves its page to Notion's trash (within the sync's
    // max_delete_ratio); false: the row is restored from Notion.
    bool trash = false;
    // A row inserted in the target without a page_id becomes a page of the table's data source;
    // false: it stays in the table, reported.
    bool create = false;
    // How often every row of the target is compared with the base (the last agreed values), to
    // find edits made while the capture was off (triggers disabled); what differs is merged as
    // if captured. At least 1s.
    std::chrono::milliseconds verify_every = std::chrono::hours(24);
    // markdown (`body: two-way`): a file's edited body is written back as block changes when it
    // maps to blocks without loss; by default (`read-only`) only the front matter is.
    bool body = false;
};

struct TargetSettings {
    std::string connector = {};
    std::string table = {};
    std::vector<std::pair<std::string, std::string>> mapping = {};  // property name or id -> column
    bool soft_delete = false;
    std::vector<std::string> include = {};  // property names or ids; empty = all
    std::vector<std::string> exclude = {};
    std::string unmapped = "columns";  // columns | json | skip
    // A new (or reset) target first receives every live page from the mirror; false: only the
    // changes from now on (a chat webhook does not want a message per existing page).
    bool snapshot = true;
    std::optional<TwoWaySettings> two_way = {};
};

struct SyncSettings {
    std::string name = {};
    SourceSettings source = {};
    // Adaptive polling (issue 15): each data source is read at least every `every`, and down to
    // every `min_every` while it changes, as the connection's budget allows.
    std::chrono::milliseconds every = 30s;
    std::chrono::milliseconds min_every = 5s;
    std::optional<std::chrono::milliseconds> reconcile_every = std::chrono::hours(6);
    std::chrono::milliseconds overlap = 2min;
    // How often each data source's schema is read again when no page shows an unknown property
    // and no webhook says it changed.
    std::chrono::milliseconds schema_every = std::chrono::hours(1);
    // Rollups, formulas and relation back-links can change without the page's last_edited_time
    // moving: data sources holding them are re-read whole this often (nullopt: never).
    std::optional<std::chrono::milliseconds> refresh_every = std::chrono::hours(24);
    double max_delete_ratio = 0.2;
    bool content = false;
    std::vector<TargetSettings> targets = {};
};

struct ConnectorSettings {
    std::string name = {};
    std::string type = {};
    YAML::Node node = {};  // the block, for the connector's own parser
};

struct Config {
    std::string path = {};
    NotionSettings notion = {};
    std::string state_dir = "/var/lib/notion-syncd";
    std::string control_listen = "127.0.0.1:9464";  // or "off"
    std::string control_auth = {};    // bearer token for the control server; never printed
    std::string webhook_secret = {};  // Notion webhook verification token; never printed
    // Keys whose secret is written literally in the file (a world-readable file is refused).
    std::vector<std::string> literal_secrets = {};
    std::vector<ConnectorSettings> connectors = {};
    std::vector<SyncSettings> syncs = {};
};

// Checks one connector block: reads its keys from `settings` (recording problems there) and
// returns false for an unknown type. Supplied by the connector registry.
using ConnectorValidator = std::function<bool(const std::string& type, SettingsReader& settings)>;

// What parse() checks besides the text: `machine` also checks the files, directories and
// programs the settings name (state.dir writable, CA files load, exec commands executable).
enum class Checks { text, machine };

// Loads and validates `path`, machine included: `check-config`, `run` and a reload share this
// one path. Throws Error listing every problem (file:line:column each).
Config load(const std::string& path, const ConnectorValidator& validate);
// The same from text (tests).
Config parse(const std::string& text, const std::string& name, const ConnectorValidator& validate,
             Checks checks = Checks::text);

// A Notion id from a dashed or undashed UUID or a Notion URL; nullopt if there is none.
std::optional<std::string> parse_notion_id(const std::string& text);

}  // namespace syncd::config
