// The emulated workspace: users, connections, pages, databases, data sources and blocks, and
// every operation of the public API on them. Pure state and JSON; the router (api.cpp) deals
// with HTTP, auth, rate limits and faults.
#pragma once

#include <array>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "emulator/util.hpp"

namespace emulator {

namespace json = boost::json;

enum class Version { v2022_06_28, v2025_09_03, v2026_03_11 };
std::optional<Version> parse_version(std::string_view text);

// The emulator's clock: wall time shifted by an offset, or frozen (control API /clock).
class Clock {
public:
    Millis now() const;
    void set(Millis t, bool freeze);
    void advance(Millis ms);

private:
    Millis offset_ = 0;
    std::optional<Millis> frozen_;
};

struct User {
    std::string id;
    std::string name = {};
    std::string email = {};
    bool is_bot = false;
};

// An internal connection (bot user) or the owner (a person with full access).
struct Connection {
    std::string name = {};
    std::string token = {};
    std::string user_id = {};
    bool is_owner = false;
    bool from_command_line = false;
    std::set<std::string> shared = {};
};

// Who makes a request and with which API version.
struct Caller {
    const Connection* connection = nullptr;
    Version version = Version::v2026_03_11;
};

struct Parent {
    std::string type;  // workspace, page_id, data_source_id, database_id, block_id
    std::string id;    // empty for workspace
};

struct PropertyDef {
    std::string id;
    std::string name;
    std::string type;
    json::object config = {};
    std::optional<std::string> description = {};
};

struct Stamp {
    Millis created = 0;
    Millis edited = 0;
    std::string created_by = {};
    std::string edited_by = {};
};

struct DataSource {
    std::string id;
    std::string database_id;
    json::array title = {};
    json::array description = {};
    std::vector<PropertyDef> properties = {};
    Stamp stamp = {};
    bool in_trash = false;
    std::int64_t next_unique_id = 1;
    std::vector<std::string> pages = {};  // creation order
    Millis indexed_at = 0;
};

struct Database {
    std::string id;
    Parent parent;
    json::array title = {};
    json::array description = {};
    bool is_inline = false;
    bool in_trash = false;
    bool is_locked = false;
    json::value icon = nullptr;
    json::value cover = nullptr;
    std::vector<std::string> data_sources = {};
    Stamp stamp = {};
};

struct Page {
    std::string id;
    Parent parent;
    Stamp stamp = {};
    bool in_trash = false;
    bool is_locked = false;
    json::value icon = nullptr;
    json::value cover = nullptr;
    json::object values = {};  // property id -> stored value (see properties.cpp)
    Millis indexed_at = 0;
};

struct Block {
    std::string id;
    Parent parent;
    std::string type;
    json::object payload = {};
    Stamp stamp = {};
    bool in_trash = false;
};

// A change that webhooks report (notion-api.md §9.4).
struct ChangeEvent {
    std::string type;  // page.created, page.properties_updated, …
    std::string entity_id;
    std::string entity_type;  // page, data_source, database, block
    std::string author_id;
    bool author_is_bot = false;
    Millis at = 0;
    json::array updated_properties = {};
    json::array updated_blocks = {};
};

// A list response whose results are already serialized JSON (the query hot path: rendered pages
// are cached until the next write).
struct RawList {
    json::object envelope = {};  // everything but "results"
    std::vector<std::shared_ptr<const std::string>> results = {};
    std::string serialize() const;
    json::object to_json() const;
};

class Workspace {
public:
    Workspace(Clock& clock, std::uint64_t seed);

    // --- connections and sharing (control API) ---
    void reset();
    const Connection* find_token(std::string_view token) const;
    // The connection with this name or token, or nullptr.
    Connection* find_connection(std::string_view name_or_token);
    Connection& add_connection(std::string token, std::string name, bool is_owner,
                               bool from_command_line);
    void share(Connection& connection, const std::string& id);
    void unshare(Connection& connection, const std::string& id);
    void load_fixture(const json::value& fixture);
    void set_search_lag(Millis lag) { search_lag_ = lag; }
    std::vector<ChangeEvent> take_events() { return std::exchange(events_, {}); }
    bool can_see(const Connection& connection, const std::string& id) const;
    std::string workspace_id() const { return workspace_id_; }
    std::string workspace_name() const { return workspace_name_; }
    std::string parent_data_source(const std::string& page_id) const;
    // `data.parent` of a webhook event about this page, database, data source or block
    // (notion-api.md §9.4): {id, type: "page" | "block" | "database" (+ data_source_id for rows)
    // | "space"}; "space" (the workspace id) for workspace-level and unknown objects.
    json::object webhook_parent(const std::string& entity_id) const;

    // --- the public API ---
    json::object users_me(const Caller& caller) const;
    json::object list_users(const Caller& caller, const std::optional<std::string>& cursor,
                            std::size_t page_size) const;
    json::object get_user(const Caller& caller, const std::string& id) const;
    json::object search(const Caller& caller, const json::object& body) const;

    json::object get_database(const Caller& caller, const std::string& id) const;
    json::object create_database(const Caller& caller, const json::object& body);
    json::object update_database(const Caller& caller, const std::string& id,
                                 const json::object& body);

    json::object get_data_source(const Caller& caller, const std::string& id) const;
    json::object create_data_source(const Caller& caller, const json::object& body);
    json::object update_data_source(const Caller& caller, const std::string& id,
                                    const json::object& body);
    RawList query_data_source(const Caller& caller, const std::string& id, const json::object& body,
                              const std::vector<std::string>& filter_properties) const;

    json::object create_page(const Caller& caller, const json::object& body,
                             const std::vector<std::string>& filter_properties);
    json::object get_page(const Caller& caller, const std::string& id,
                          const std::vector<std::string>& filter_properties) const;
    // POST /v1/pages/{id}/move: a new parent (a page or a data source); values are kept for the
    // destination's properties of the same name and type (notion-api.md §6.5).
    json::object move_page(const Caller& caller, const std::string& id, const json::object& body);
    json::object update_page(const Caller& caller, const std::string& id, const json::object& body,
                             const std::vector<std::string>& filter_properties);
    json::object get_page_property(const Caller& caller, const std::string& page_id,
                                   const std::string& property_id,
                                   const std::optional<std::string>& cursor,
                                   std::size_t page_size) const;

    json::object list_children(const Caller& caller, const std::string& id,
                               const std::optional<std::string>& cursor,
                               std::size_t page_size) const;
    json::object append_children(const Caller& caller, const std::string& id,
                                 const json::object& body);
    json::object get_block(const Caller& caller, const std::string& id) const;
    json::object update_block(const Caller& caller, const std::string& id,
                              const json::object& body);
    json::object delete_block(const Caller& caller, const std::string& id);

    // Cursor checksum key: cursors from another emulator run are refused.
    std::uint64_t cursor_secret() const { return cursor_secret_; }
    // The id that a write committed last (for commit_then_status faults).
    const std::string& last_committed_id() const { return last_committed_; }

    // --- used by properties.cpp and tests ---
    const Page* page(const std::string& id) const;
    const DataSource* data_source(const std::string& id) const;
    const User* user(const std::string& id) const;
    IdSource& ids() { return ids_; }
    Millis now() const { return clock_.now(); }
    Millis steady_now() const;

private:
    friend struct PropertyCodec;
    friend struct FixtureLoader;

    // Every write calls this: rendered pages may depend on any other page (rollups, formulas).
    void invalidate();
    std::shared_ptr<const std::string> page_text(
        const Page& page, const Caller& caller,
        const std::vector<std::string>& filter_properties) const;
    void require_visible(const Caller& caller, const std::string& id, std::string_view kind) const;
    std::string require_id(const std::string& raw, std::string_view what) const;
    Page& page_for_write(const Caller& caller, const std::string& id);
    DataSource& data_source_for(const Caller& caller, const std::string& id);
    Stamp new_stamp(const Caller& caller) const;
    void touch(Stamp& stamp, const Caller& caller) const;
    void record(ChangeEvent event);
    std::string parent_of(const std::string& id) const;

    Parent read_parent(const Caller& caller, const json::value& parent, bool for_page) const;
    json::object render_parent(const Parent& parent, const Caller& caller) const;
    json::object render_user_ref(const std::string& id) const;
    json::object render_user(const User& user) const;
    json::object render_page(const Page& page, const Caller& caller,
                             const std::vector<std::string>& filter_properties) const;
    json::object render_data_source(const DataSource& ds, const Caller& caller) const;
    json::object render_database(const Database& db, const Caller& caller) const;
    json::object render_block(const std::string& id, const Caller& caller) const;
    void add_common(json::object& out, const Stamp& stamp, bool in_trash,
                    const Caller& caller) const;
    json::object list_envelope(json::array results, std::optional<std::size_t> next_offset,
                               std::string_view type) const;

    std::string create_page_internal(const Caller& caller, const json::object& body,
                                     std::optional<std::string> fixed_id,
                                     std::optional<Stamp> stamp);
    std::string create_database_internal(const Caller& caller, const json::object& body,
                                         std::optional<std::string> fixed_id);
    std::string add_data_source(const Caller& caller, const std::string& database_id,
                                const json::value& title, const json::object& properties,
                                std::optional<std::string> fixed_id);
    void apply_schema_changes(DataSource& ds, const json::object& properties, bool initial);
    // Validates `children` (nested children included) into new blocks under `parent` without
    // changing the workspace; appends them to `out`, each level before its children.
    void build_blocks(const Caller& caller, const Parent& parent, const json::array& children,
                      int depth, std::string_view path, std::vector<Block>& out);
    // Adds blocks made by build_blocks: those directly under `parent_id` at `position` among its
    // children, nested ones at the end of theirs. Returns the ids of the first level, in order.
    std::vector<std::string> commit_blocks(const std::string& parent_id, std::size_t position,
                                           std::vector<Block> blocks);
    void set_trash(const Caller& caller, const std::string& id, bool in_trash);
    bool is_trashed_deep(const std::string& id) const;
    std::vector<std::string> visible_children(const std::string& id) const;

    Clock& clock_;
    IdSource ids_;
    std::uint64_t cursor_secret_;
    std::string workspace_id_;
    std::string workspace_name_ = "Emulated Workspace";
    std::string owner_user_id_;
    Millis search_lag_ = 0;
    std::string last_committed_;

    std::map<std::string, Connection> connections_;  // by name
    std::unordered_map<std::string, User> users_;
    std::vector<std::string> user_order_;
    std::unordered_map<std::string, Page> pages_;
    std::unordered_map<std::string, Database> databases_;
    std::unordered_map<std::string, DataSource> data_sources_;
    std::unordered_map<std::string, Block> blocks_;
    std::unordered_map<std::string, std::vector<std::string>> children_;  // page/block -> ids
    std::vector<std::string> top_level_;  // workspace-level pages and databases
    std::vector<ChangeEvent> events_;
    // Serialized pages by id, one map per connection (name) and API version: what a page shows
    // depends on what the reader can see (relation values, rollups over them).
    mutable std::map<std::pair<std::string, Version>,
                     std::unordered_map<std::string, std::shared_ptr<const std::string>>>
        render_cache_;
};

}  // namespace emulator
