#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <numeric>

#include "emulator/api_error.hpp"
#include "emulator/filter.hpp"
#include "emulator/model.hpp"
#include "emulator/properties.hpp"

namespace emulator {
namespace {

constexpr std::size_t query_cap = 10'000;
constexpr std::size_t max_children = 100;
constexpr std::size_t max_block_elements = 1000;

const std::set<std::string, std::less<>> text_blocks = {
    "paragraph",          "heading_1", "heading_2", "heading_3", "heading_4", "bulleted_list_item",
    "numbered_list_item", "quote",     "toggle",    "to_do",     "callout",   "template"};
const std::set<std::string, std::less<>> media_blocks = {"image", "video", "pdf", "audio", "file"};
const std::set<std::string, std::less<>> other_blocks = {
    "code",     "equation",          "divider",      "breadcrumb",   "column_list",
    "column",   "table_of_contents", "table",        "table_row",    "embed",
    "bookmark", "link_preview",      "link_to_page", "synced_block", "tab"};

std::string string_or(const json::object& o, std::string_view key, std::string fallback) {
    if (const auto* v = o.if_contains(key); v && v->is_string())
        return std::string(v->get_string());
    return fallback;
}

void reject_unknown_keys(const json::object& body, std::initializer_list<std::string_view> known,
                         const std::string& path = "body") {
    for (const auto& [key, value] : body) {
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            throw validation_error("body failed validation: " + path + "." + std::string(key) +
                                   " should be not present, instead was `" +
                                   json::serialize(value).substr(0, 60) + "`.");
        }
    }
}

std::size_t page_size_of(const json::object& body) {
    const auto* v = body.if_contains("page_size");
    if (v == nullptr || v->is_null()) return 100;
    if (!v->is_int64() && !v->is_uint64()) {
        throw validation_error(
            "body failed validation: body.page_size should be an integer, instead was `" +
            json::serialize(*v) + "`.");
    }
    const auto n = v->to_number<std::int64_t>();
    if (n < 1 || n > 100) {
        throw validation_error(
            "body failed validation: body.page_size should be ≤ `100` and ≥ `1`, instead was `" +
            std::to_string(n) + "`.");
    }
    return static_cast<std::size_t>(n);
}

std::string slug(const std::string& title) {
    std::string out;
    for (const char c : title) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
            out.push_back(c);
        } else if (!out.empty() && out.back() != '-') {
            out.push_back('-');
        }
    }
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out;
}

std::size_t offset_of(const std::optional<std::string>& cursor, std::uint64_t secret) {
    if (!cursor) return 0;
    const auto offset = decode_cursor(*cursor, secret);
    if (!offset) {
        throw validation_error(
            "body failed validation: start_cursor should be a cursor returned by a previous "
            "request, instead was `" +
            *cursor + "`.");
    }
    return *offset;
}

std::optional<std::string> cursor_of(const json::object& body) {
    const auto* v = body.if_contains("start_cursor");
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (!v->is_string()) {
        throw validation_error(
            "body failed validation: body.start_cursor should be a string, instead was `" +
            json::serialize(*v) + "`.");
    }
    return std::string(v->get_string());
}

bool truthy(const json::value& v, const std::string& path) {
    if (!v.is_bool()) {
        throw validation_error("body failed validation: " + path +
                               " should be a boolean, instead was `" + json::serialize(v) + "`.");
    }
    return v.get_bool();
}

json::value icon_or_cover(const json::value& v, const std::string& path) {
    if (v.is_null()) return nullptr;
    if (!v.is_object()) {
        throw validation_error("body failed validation: " + path +
                               " should be an object or `null`.");
    }
    const auto& o = v.get_object();
    if (const auto* emoji = o.if_contains("emoji"); emoji && emoji->is_string()) {
        return json::object{{"type", "emoji"}, {"emoji", *emoji}};
    }
    if (const auto* external = o.if_contains("external");
        external && external->is_object() && external->as_object().contains("url")) {
        return json::object{{"type", "external"},
                            {"external", json::object{{"url", external->at("url")}}}};
    }
    throw validation_error("body failed validation: " + path +
                           " should be an emoji or an external file.");
}

// Puts a data source's schema back unless committed: select and multi-select values add their
// new options to the schema while they are validated, and a refused write must change nothing.
class SchemaGuard {
public:
    explicit SchemaGuard(DataSource* ds) : ds_(ds) {
        if (ds_ != nullptr) saved_ = ds_->properties;
    }
    ~SchemaGuard() {
        if (ds_ != nullptr && !committed_) ds_->properties.swap(saved_);
    }
    SchemaGuard(const SchemaGuard&) = delete;
    SchemaGuard& operator=(const SchemaGuard&) = delete;
    void commit() { committed_ = true; }

private:
    DataSource* ds_;
    std::vector<PropertyDef> saved_;
    bool committed_ = false;
};

}  // namespace

std::optional<Version> parse_version(std::string_view text) {
    if (text == "2022-06-28") return Version::v2022_06_28;
    if (text == "2025-09-03") return Version::v2025_09_03;
    if (text == "2026-03-11") return Version::v2026_03_11;
    return std::nullopt;
}

Millis Clock::now() const {
    if (frozen_) return *frozen_;
    const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    return wall + offset_;
}

void Clock::set(Millis t, bool freeze) {
    if (freeze) {
        frozen_ = t;
        return;
    }
    frozen_.reset();
    offset_ = 0;
    offset_ = t - now();
}

void Clock::advance(Millis ms) {
    if (frozen_) {
        *frozen_ += ms;
    } else {
        offset_ += ms;
    }
}

Workspace::Workspace(Clock& clock, std::uint64_t seed)
    : clock_(clock), ids_(seed), cursor_secret_(ids_.next()) {
    workspace_id_ = ids_.uuid();
    owner_user_id_ = ids_.uuid();
    reset();
}

Millis Workspace::steady_now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void Workspace::reset() {
    invalidate();
    pages_.clear();
    databases_.clear();
    data_sources_.clear();
    blocks_.clear();
    children_.clear();
    top_level_.clear();
    events_.clear();
    last_committed_.clear();
    std::map<std::string, Connection> kept;
    for (auto& [name, c] : connections_) {
        if (c.from_command_line) {
            c.shared.clear();
            kept.emplace(name, std::move(c));
        }
    }
    connections_ = std::move(kept);
    std::unordered_map<std::string, User> users;
    std::vector<std::string> order;
    auto keep = [&](const std::string& id) {
        if (auto it = users_.find(id); it != users_.end()) {
            users.emplace(id, it->second);
            order.push_back(id);
        }
    };
    if (!users_.contains(owner_user_id_)) {
        users_.emplace(
            owner_user_id_,
            User{.id = owner_user_id_, .name = "Workspace Owner", .email = "owner@example.com"});
    }
    keep(owner_user_id_);
    for (const auto& [name, c] : connections_) {
        if (c.user_id != owner_user_id_) keep(c.user_id);
    }
    users_ = std::move(users);
    user_order_ = std::move(order);
}

const Connection* Workspace::find_token(std::string_view token) const {
    for (const auto& [name, c] : connections_) {
        if (c.token == token) return &c;
    }
    return nullptr;
}

Connection* Workspace::find_connection(std::string_view key) {
    for (auto& [name, c] : connections_) {
        if (c.name == key || c.token == key) return &c;
    }
    return nullptr;
}

Connection& Workspace::add_connection(std::string token, std::string name, bool is_owner,
                                      bool from_command_line) {
    if (find_token(token) != nullptr)
        throw validation_error("A connection with this token exists.");
    if (connections_.contains(name)) {
        throw validation_error("A connection named \"" + name + "\" exists.");
    }
    Connection c{.name = name,
                 .token = std::move(token),
                 .user_id = is_owner ? owner_user_id_ : ids_.uuid(),
                 .is_owner = is_owner,
                 .from_command_line = from_command_line};
    if (!is_owner) {
        users_.emplace(c.user_id, User{.id = c.user_id, .name = name, .is_bot = true});
        user_order_.push_back(c.user_id);
    }
    return connections_.emplace(name, std::move(c)).first->second;
}

std::string Workspace::parent_of(const std::string& id) const {
    if (auto it = pages_.find(id); it != pages_.end()) return it->second.parent.id;
    if (auto it = data_sources_.find(id); it != data_sources_.end()) return it->second.database_id;
    if (auto it = databases_.find(id); it != databases_.end()) return it->second.parent.id;
    if (auto it = blocks_.find(id); it != blocks_.end()) return it->second.parent.id;
    return {};
}

std::string Workspace::parent_data_source(const std::string& page_id) const {
    auto it = pages_.find(page_id);
    if (it == pages_.end() || it->second.parent.type != "data_source_id") return {};
    return it->second.parent.id;
}

json::object Workspace::webhook_parent(const std::string& id) const {
    auto parent_object = [&](const Parent& parent) -> json::object {
        if (parent.type == "data_source_id") {
            const DataSource* ds = data_source(parent.id);
            return {{"id", ds != nullptr ? ds->database_id : parent.id},
                    {"type", "database"},
                    {"data_source_id", parent.id}};
        }
        if (parent.type == "page_id") return {{"id", parent.id}, {"type", "page"}};
        if (parent.type == "block_id") return {{"id", parent.id}, {"type", "block"}};
        if (parent.type == "database_id") return {{"id", parent.id}, {"type", "database"}};
        return {{"id", workspace_id_}, {"type", "space"}};
    };
    if (auto it = pages_.find(id); it != pages_.end()) return parent_object(it->second.parent);
    if (auto it = databases_.find(id); it != databases_.end())
        return parent_object(it->second.parent);
    if (auto it = data_sources_.find(id); it != data_sources_.end())
        return {{"id", it->second.database_id}, {"type", "database"}};
    if (auto it = blocks_.find(id); it != blocks_.end()) return parent_object(it->second.parent);
    return parent_object(Parent{"workspace", ""});
}

bool Workspace::can_see(const Connection& connection, const std::string& id) const {
    if (connection.is_owner) return true;
    std::string current = id;
    for (int depth = 0; !current.empty() && depth < 1000; ++depth) {
        if (connection.shared.contains(current)) return true;
        current = parent_of(current);
    }
    return false;
}

void Workspace::share(Connection& connection, const std::string& id) {
    if (!pages_.contains(id) && !databases_.contains(id) && !data_sources_.contains(id)) {
        throw object_not_found("page or database", id);
    }
    invalidate();  // rendered pages depend on what their reader can see
    connection.shared.insert(id);
}

void Workspace::unshare(Connection& connection, const std::string& id) {
    invalidate();
    connection.shared.erase(id);
}

const Page* Workspace::page(const std::string& id) const {
    auto it = pages_.find(id);
    return it == pages_.end() ? nullptr : &it->second;
}

const DataSource* Workspace::data_source(const std::string& id) const {
    auto it = data_sources_.find(id);
    return it == data_sources_.end() ? nullptr : &it->second;
}

const User* Workspace::user(const std::string& id) const {
    auto it = users_.find(id);
    return it == users_.end() ? nullptr : &it->second;
}

std::string Workspace::require_id(const std::string& raw, std::string_view what) const {
    const auto id = normalize_uuid(raw);
    if (!id) {
        throw validation_error("path failed validation: path." + std::string(what) +
                               " should be a valid uuid, instead was `\"" + raw + "\"`.");
    }
    return *id;
}

void Workspace::require_visible(const Caller& caller, const std::string& id,
                                std::string_view kind) const {
    if (!can_see(*caller.connection, id)) throw object_not_found(kind, id);
}

Stamp Workspace::new_stamp(const Caller& caller) const {
    const Millis now = clock_.now();
    return {.created = now,
            .edited = now,
            .created_by = caller.connection->user_id,
            .edited_by = caller.connection->user_id};
}

void Workspace::touch(Stamp& stamp, const Caller& caller) const {
    stamp.edited = clock_.now();
    stamp.edited_by = caller.connection->user_id;
}

void Workspace::record(ChangeEvent event) {
    event.at = clock_.now();
    events_.push_back(std::move(event));
}

// --- rendering ---

json::object Workspace::render_user_ref(const std::string& id) const {
    return {{"object", "user"}, {"id", id}};
}

json::object Workspace::render_user(const User& u) const {
    json::object out{{"object", "user"}, {"id", u.id}, {"name", u.name}, {"avatar_url", nullptr}};
    if (u.is_bot) {
        out["type"] = "bot";
        out["bot"] = json::object{
            {"owner", json::object{{"type", "workspace"}, {"workspace", true}}},
            {"workspace_id", workspace_id_},
            {"workspace_name", workspace_name_},
            {"workspace_limits", json::object{{"max_file_upload_size_in_bytes", 5368709120LL}}}};
    } else {
        out["type"] = "person";
        out["person"] = json::object{{"email", u.email}};
    }
    return out;
}

json::object Workspace::render_parent(const Parent& parent, const Caller& caller) const {
    if (parent.type == "workspace") return {{"type", "workspace"}, {"workspace", true}};
    if (parent.type == "data_source_id") {
        const auto& ds = data_sources_.at(parent.id);
        if (caller.version == Version::v2022_06_28) {
            return {{"type", "database_id"}, {"database_id", ds.database_id}};
        }
        return {{"type", "data_source_id"},
                {"data_source_id", parent.id},
                {"database_id", ds.database_id}};
    }
    return {{"type", parent.type}, {parent.type, parent.id}};
}

void Workspace::add_common(json::object& out, const Stamp& stamp, bool in_trash,
                           const Caller& caller) const {
    out["created_time"] = format_time(floor_to_minute(stamp.created));
    out["last_edited_time"] = format_time(floor_to_minute(stamp.edited));
    out["created_by"] = render_user_ref(stamp.created_by);
    out["last_edited_by"] = render_user_ref(stamp.edited_by);
    if (caller.version != Version::v2026_03_11) out["archived"] = in_trash;
    out["in_trash"] = in_trash;
}

json::object Workspace::render_page(const Page& page, const Caller& caller,
                                    const std::vector<std::string>& filter_properties) const {
    json::object out{{"object", "page"}, {"id", page.id}};
    add_common(out, page.stamp, page.in_trash, caller);
    out["is_archived"] = false;
    out["is_locked"] = page.is_locked;
    out["icon"] = page.icon;
    out["cover"] = page.cover;
    out["parent"] = render_parent(page.parent, caller);
    json::object properties;
    std::string title;
    if (const DataSource* ds = data_source(parent_data_source(page.id))) {
        for (const auto& def : ds->properties) {
            if (def.type == "title") {
                if (const auto* v = page.values.if_contains(def.id))
                    title = plain_text(v->as_array());
            }
            if (!filter_properties.empty() &&
                std::none_of(
                    filter_properties.begin(), filter_properties.end(), [&](const std::string& f) {
                        return f == def.name || f == def.id || url_decode(f) == url_decode(def.id);
                    })) {
                continue;
            }
            properties[def.name] =
                PropertyCodec::render_value(*this, page, def, true, caller.connection);
        }
    } else {
        json::array t;
        if (const auto* v = page.values.if_contains("title")) t = v->as_array();
        title = plain_text(t);
        if (t.size() > 25) t.resize(25);
        if (filter_properties.empty() ||
            std::find(filter_properties.begin(), filter_properties.end(), "title") !=
                filter_properties.end()) {
            properties["title"] = json::object{{"id", "title"}, {"type", "title"}, {"title", t}};
        }
    }
    out["properties"] = std::move(properties);
    const std::string s = slug(title);
    out["url"] = "https://www.notion.so/" + (s.empty() ? "" : s + "-") + compact_uuid(page.id);
    out["public_url"] = nullptr;
    return out;
}

json::object Workspace::render_data_source(const DataSource& ds, const Caller& caller) const {
    const Database& db = databases_.at(ds.database_id);
    json::object out{{"object", "data_source"}, {"id", ds.id}};
    add_common(out, ds.stamp, ds.in_trash, caller);
    out["title"] = ds.title;
    out["description"] = ds.description;
    out["parent"] = json::object{{"type", "database_id"}, {"database_id", ds.database_id}};
    out["database_parent"] = render_parent(db.parent, caller);
    out["is_inline"] = db.is_inline;
    out["icon"] = db.icon;
    out["cover"] = db.cover;
    json::object properties;
    for (const auto& def : ds.properties) {
        // Relations into data sources the caller cannot see are omitted (notion-api.md §1.3).
        if (def.type == "relation" &&
            !can_see(*caller.connection,
                     std::string(def.config.at("data_source_id").as_string()))) {
            continue;
        }
        properties[def.name] = PropertyCodec::render_config(*this, ds, def);
    }
    out["properties"] = std::move(properties);
    out["url"] = "https://www.notion.so/" + compact_uuid(ds.id);
    out["public_url"] = nullptr;
    return out;
}

json::object Workspace::render_database(const Database& db, const Caller& caller) const {
    json::object out{{"object", "database"}, {"id", db.id}};
    add_common(out, db.stamp, db.in_trash, caller);
    out["title"] = db.title;
    out["description"] = db.description;
    out["parent"] = render_parent(db.parent, caller);
    out["is_inline"] = db.is_inline;
    out["is_locked"] = db.is_locked;
    json::array sources;
    for (const auto& id : db.data_sources) {
        const auto& ds = data_sources_.at(id);
        sources.push_back(json::object{{"id", id}, {"name", plain_text(ds.title)}});
    }
    if (caller.version == Version::v2022_06_28 && !db.data_sources.empty()) {
        // The legacy shape: the (first) data source's schema on the database itself.
        out["properties"] =
            render_data_source(data_sources_.at(db.data_sources.front()), caller).at("properties");
    } else {
        out["data_sources"] = std::move(sources);
    }
    out["icon"] = db.icon;
    out["cover"] = db.cover;
    out["url"] = "https://www.notion.so/" + compact_uuid(db.id);
    out["public_url"] = nullptr;
    return out;
}

std::vector<std::string> Workspace::visible_children(const std::string& id) const {
    std::vector<std::string> out;
    auto it = children_.find(id);
    if (it == children_.end()) return out;
    for (const auto& child : it->second) {
        if (auto p = pages_.find(child); p != pages_.end() && p->second.in_trash) continue;
        if (auto d = databases_.find(child); d != databases_.end() && d->second.in_trash) continue;
        if (auto b = blocks_.find(child); b != blocks_.end() && b->second.in_trash) continue;
        out.push_back(child);
    }
    return out;
}

json::object Workspace::render_block(const std::string& id, const Caller& caller) const {
    json::object out{{"object", "block"}, {"id", id}};
    Parent parent;
    Stamp stamp;
    bool in_trash = false;
    std::string type;
    json::object payload;
    if (auto it = blocks_.find(id); it != blocks_.end()) {
        const Block& b = it->second;
        parent = b.parent;
        stamp = b.stamp;
        in_trash = b.in_trash;
        type = b.type;
        payload = b.payload;
        if (type == "meeting_notes" && caller.version != Version::v2026_03_11)
            type = "transcription";
    } else if (auto p = pages_.find(id); p != pages_.end()) {
        parent = p->second.parent;
        stamp = p->second.stamp;
        in_trash = p->second.in_trash;
        type = "child_page";
        json::array t;
        if (const auto* v = p->second.values.if_contains("title")) t = v->as_array();
        payload = {{"title", plain_text(t)}};
    } else {
        const Database& db = databases_.at(id);
        parent = db.parent;
        stamp = db.stamp;
        in_trash = db.in_trash;
        type = "child_database";
        payload = {{"title", plain_text(db.title)}};
    }
    out["parent"] = render_parent(parent, caller);
    add_common(out, stamp, in_trash, caller);
    out["has_children"] = !visible_children(id).empty();
    out["type"] = type;
    out[type] = std::move(payload);
    return out;
}

json::object Workspace::list_envelope(json::array results, std::optional<std::size_t> next_offset,
                                      std::string_view type) const {
    json::object out{{"object", "list"}, {"results", std::move(results)}};
    out["next_cursor"] = next_offset ? json::value(encode_cursor(*next_offset, cursor_secret_))
                                     : json::value(nullptr);
    out["has_more"] = next_offset.has_value();
    out["type"] = type;
    out[type] = json::object{};
    return out;
}

// --- users ---

json::object Workspace::users_me(const Caller& caller) const {
    return render_user(users_.at(caller.connection->user_id));
}

json::object Workspace::list_users(const Caller& /*caller*/,
                                   const std::optional<std::string>& cursor,
                                   std::size_t page_size) const {
    const std::size_t offset = offset_of(cursor, cursor_secret_);
    json::array results;
    for (std::size_t i = offset; i < user_order_.size() && results.size() < page_size; ++i) {
        results.push_back(render_user(users_.at(user_order_[i])));
    }
    const std::size_t next = offset + results.size();
    return list_envelope(std::move(results),
                         next < user_order_.size() ? std::optional(next) : std::nullopt, "user");
}

json::object Workspace::get_user(const Caller& /*caller*/, const std::string& raw) const {
    const std::string id = require_id(raw, "user_id");
    const User* u = user(id);
    if (u == nullptr) throw object_not_found("user", id);
    return render_user(*u);
}

// --- search ---

json::object Workspace::search(const Caller& caller, const json::object& body) const {
    reject_unknown_keys(body, {"query", "filter", "sort", "start_cursor", "page_size"});
    const std::size_t page_size = page_size_of(body);
    std::string query;
    if (const auto* q = body.if_contains("query"); q && !q->is_null()) {
        if (!q->is_string())
            throw validation_error("body failed validation: body.query should be a string.");
        query = std::string(q->get_string());
        std::transform(query.begin(), query.end(), query.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
    std::string only;
    std::optional<bool> trash_filter;
    if (const auto* f = body.if_contains("filter"); f && !f->is_null()) {
        if (!f->is_object())
            throw validation_error("body failed validation: body.filter should be an object.");
        const auto& fo = f->get_object();
        if (const auto* value = fo.if_contains("value")) {
            const std::string v = value->is_string() ? std::string(value->get_string()) : "";
            const bool legacy = caller.version == Version::v2022_06_28;
            if (v != "page" && v != (legacy ? "database" : "data_source")) {
                throw validation_error(
                    std::string(
                        "body failed validation: body.filter.value should be `\"page\"` or `\"") +
                    (legacy ? "database" : "data_source") + "\"`, instead was `" +
                    json::serialize(*value) + "`.");
            }
            if (string_or(fo, "property", "") != "object") {
                throw validation_error(
                    "body failed validation: body.filter.property should be `\"object\"`.");
            }
            only = v;
        }
        if (const auto* t = fo.if_contains("in_trash"))
            trash_filter = truthy(*t, "body.filter.in_trash");
    }
    bool ascending = false;
    if (const auto* s = body.if_contains("sort"); s && !s->is_null()) {
        if (!s->is_object())
            throw validation_error("body failed validation: body.sort should be an object.");
        const auto& so = s->get_object();
        if (so.contains("timestamp") && so.at("timestamp") != "last_edited_time") {
            throw validation_error(
                "body failed validation: body.sort.timestamp should be `\"last_edited_time\"`.");
        }
        const std::string direction = string_or(so, "direction", "descending");
        if (direction != "ascending" && direction != "descending") {
            throw validation_error(
                "body failed validation: body.sort.direction should be `\"ascending\"` or "
                "`\"descending\"`.");
        }
        ascending = direction == "ascending";
    }
    const Millis indexed_before = steady_now() - search_lag_;
    struct Hit {
        Millis edited;
        std::string id;
        bool is_page;
    };
    std::vector<Hit> hits;
    auto title_matches = [&](const std::string& title) {
        if (query.empty()) return true;
        std::string t = title;
        std::transform(t.begin(), t.end(), t.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return t.find(query) != std::string::npos;
    };
    if (only.empty() || only == "page") {
        for (const auto& [id, page] : pages_) {
            if (page.indexed_at > indexed_before) continue;
            if (page.in_trash != trash_filter.value_or(false)) continue;
            if (!can_see(*caller.connection, id)) continue;
            std::string title;
            if (const DataSource* ds = data_source(parent_data_source(id))) {
                for (const auto& def : ds->properties) {
                    if (def.type == "title" && page.values.contains(def.id)) {
                        title = plain_text(page.values.at(def.id).as_array());
                    }
                }
            } else if (page.values.contains("title")) {
                title = plain_text(page.values.at("title").as_array());
            }
            if (title_matches(title)) hits.push_back({page.stamp.edited, id, true});
        }
    }
    if (only.empty() || only != "page") {
        for (const auto& [id, ds] : data_sources_) {
            if (ds.indexed_at > indexed_before) continue;
            if (ds.in_trash != trash_filter.value_or(false)) continue;
            if (!can_see(*caller.connection, id)) continue;
            // The title match is on the database's title (notion-api.md §2.3).
            if (title_matches(plain_text(databases_.at(ds.database_id).title)) ||
                title_matches(plain_text(ds.title))) {
                hits.push_back({ds.stamp.edited, id, false});
            }
        }
    }
    std::sort(hits.begin(), hits.end(), [&](const Hit& a, const Hit& b) {
        const Millis ea = floor_to_minute(a.edited);
        const Millis eb = floor_to_minute(b.edited);
        if (ea != eb) return ascending ? ea < eb : ea > eb;
        return a.id < b.id;
    });
    const std::size_t offset = offset_of(cursor_of(body), cursor_secret_);
    json::array results;
    for (std::size_t i = offset; i < hits.size() && results.size() < page_size; ++i) {
        if (hits[i].is_page) {
            results.push_back(render_page(pages_.at(hits[i].id), caller, {}));
        } else if (caller.version == Version::v2022_06_28) {
            results.push_back(
                render_database(databases_.at(data_sources_.at(hits[i].id).database_id), caller));
        } else {
            results.push_back(render_data_source(data_sources_.at(hits[i].id), caller));
        }
    }
    const std::size_t next = offset + results.size();
    return list_envelope(
        std::move(results), next < hits.size() ? std::optional(next) : std::nullopt,
        caller.version == Version::v2022_06_28 ? "page_or_database" : "page_or_data_source");
}

// --- databases and data sources ---

Parent Workspace::read_parent(const Caller& caller, const json::value& value, bool for_page) const {
    if (!value.is_object()) {
        throw validation_error(
            "body failed validation: body.parent should be an object, instead was `" +
            json::serialize(value) + "`.");
    }
    const auto& p = value.get_object();
    auto id_of = [&](std::string_view key) {
        const auto* v = p.if_contains(key);
        if (v == nullptr || !v->is_string() || !normalize_uuid(v->get_string())) {
            throw validation_error("body failed validation: body.parent." + std::string(key) +
                                   " should be a valid uuid.");
        }
        return *normalize_uuid(v->get_string());
    };
    const std::string type = string_or(p, "type", "");
    if ((type.empty() || type == "workspace") && p.contains("workspace")) {
        if (!caller.connection->is_owner) {
            throw validation_error(
                "body failed validation: body.parent.workspace is only allowed for user tokens; "
                "internal connections must create pages under a shared page or data source.");
        }
        return {"workspace", ""};
    }
    if ((type.empty() || type == "page_id") && p.contains("page_id")) {
        const std::string id = id_of("page_id");
        if (!pages_.contains(id) || !can_see(*caller.connection, id)) {
            throw object_not_found("page", id);
        }
        return {"page_id", id};
    }
    if (for_page && (type.empty() || type == "data_source_id") && p.contains("data_source_id")) {
        if (caller.version == Version::v2022_06_28) throw invalid_request_url();
        const std::string id = id_of("data_source_id");
        if (!data_sources_.contains(id) || !can_see(*caller.connection, id)) {
            throw object_not_found("data source", id);
        }
        return {"data_source_id", id};
    }
    if (for_page && (type.empty() || type == "database_id") && p.contains("database_id")) {
        const std::string id = id_of("database_id");
        auto it = databases_.find(id);
        if (it == databases_.end() || !can_see(*caller.connection, id)) {
            throw object_not_found("database", id);
        }
        if (it->second.data_sources.size() != 1) {
            throw validation_error("Database " + id +
                                   " has several data sources; use a data_source_id parent.");
        }
        return {"data_source_id", it->second.data_sources.front()};
    }
    throw validation_error(std::string("body failed validation: body.parent should be one of ") +
                           (for_page ? "`page_id`, `data_source_id`, `database_id`, `workspace`"
                                     : "`page_id`, `workspace`") +
                           ".");
}

json::object Workspace::get_database(const Caller& caller, const std::string& raw) const {
    const std::string id = require_id(raw, "database_id");
    auto it = databases_.find(id);
    if (it == databases_.end() || !can_see(*caller.connection, id)) {
        throw object_not_found("database", id);
    }
    return render_database(it->second, caller);
}

void Workspace::apply_schema_changes(DataSource& ds, const json::object& properties, bool initial) {
    for (const auto& [key, value] : properties) {
        const std::string name(key);
        const std::string path = "body.properties." + name;
        PropertyDef* existing = nullptr;
        for (auto& def : ds.properties) {
            if (def.name == name || def.id == name || url_decode(def.id) == url_decode(name)) {
                existing = &def;
            }
        }
        if (value.is_null()) {
            if (existing == nullptr)
                throw validation_error("Could not find property with name or id: " + name);
            if (existing->type == "title")
                throw validation_error("Cannot delete the title property.");
            const std::string gone = existing->id;
            std::erase_if(ds.properties, [&](const PropertyDef& d) { return d.id == gone; });
            continue;
        }
        if (!value.is_object()) {
            throw validation_error("body failed validation: " + path +
                                   " should be an object or `null`.");
        }
        const auto& config = value.get_object();
        const std::string new_name = string_or(config, "name", existing ? existing->name : name);
        if (new_name.empty() || new_name.size() > 1000) {
            throw validation_error("body failed validation: " + path +
                                   ".name should be a non-empty string.");
        }
        for (const auto& def : ds.properties) {
            if (def.name == new_name && &def != existing) {
                if (initial && existing == nullptr) break;
                throw validation_error("A property named \"" + new_name + "\" already exists.");
            }
        }
        bool has_type = false;
        for (const auto& [k, v] : config) {
            (void)v;
            if (k != "name" && k != "description" && k != "id" && k != "type") has_type = true;
        }
        if (existing != nullptr && !has_type) {
            existing->name = new_name;
            if (const auto* d = config.if_contains("description")) {
                existing->description =
                    d->is_string() ? std::optional<std::string>(std::string(d->get_string()))
                                   : std::nullopt;
            }
            continue;
        }
        PropertyDef def = PropertyCodec::make_property(*this, ds, new_name, config, path);
        if (def.type == "title") {
            auto current = std::find_if(ds.properties.begin(), ds.properties.end(),
                                        [](const PropertyDef& d) { return d.type == "title"; });
            if (current != ds.properties.end() && &*current != existing) {
                if (!initial)
                    throw validation_error("A data source has exactly one title property.");
                ds.properties.erase(current);
                existing = nullptr;
            }
        }
        if (existing != nullptr) {
            // A type or config change keeps the id, as Notion's does.
            def.id = existing->id;
            if (existing->type != def.type) {
                for (const auto& page_id : ds.pages) pages_.at(page_id).values.erase(def.id);
            }
            *existing = std::move(def);
            continue;
        }
        while (std::any_of(ds.properties.begin(), ds.properties.end(),
                           [&](const PropertyDef& d) { return d.id == def.id; })) {
            def.id = ids_.property_id();
        }
        if (def.type == "relation" && def.config.at("type") == "dual_property") {
            // The synced property on the other side, named after this data source.
            auto& target =
                data_sources_.at(std::string(def.config.at("data_source_id").as_string()));
            const auto* requested = config.at("relation").as_object().if_contains("dual_property");
            std::string synced_name =
                plain_text(ds.title).empty() ? "Related" : plain_text(ds.title);
            if (requested && requested->is_object()) {
                synced_name =
                    string_or(requested->as_object(), "synced_property_name", synced_name);
            }
            const bool self = target.id == ds.id;
            std::string synced_id = ids_.property_id();
            PropertyDef reverse{
                .id = synced_id,
                .name = synced_name,
                .type = "relation",
                .config = {{"database_id", ds.database_id},
                           {"data_source_id", ds.id},
                           {"type", "dual_property"},
                           {"dual_property", json::object{{"synced_property_id", def.id},
                                                          {"synced_property_name", def.name}}}}};
            def.config["dual_property"] = json::object{{"synced_property_id", synced_id},
                                                       {"synced_property_name", synced_name}};
            if (self) {
                ds.properties.push_back(std::move(def));
                ds.properties.push_back(std::move(reverse));
            } else {
                ds.properties.push_back(std::move(def));
                target.properties.push_back(std::move(reverse));
            }
            continue;
        }
        ds.properties.push_back(std::move(def));
    }
    if (std::none_of(ds.properties.begin(), ds.properties.end(),
                     [](const PropertyDef& d) { return d.type == "title"; })) {
        ds.properties.insert(ds.properties.begin(),
                             PropertyDef{.id = "title", .name = "Name", .type = "title"});
    }
}

std::string Workspace::add_data_source(const Caller& caller, const std::string& database_id,
                                       const json::value& title, const json::object& properties,
                                       std::optional<std::string> fixed_id) {
    DataSource ds{.id = fixed_id.value_or(ids_.uuid()), .database_id = database_id};
    if (!title.is_null()) ds.title = normalize_rich_text(*this, title, "body.title");
    ds.stamp = new_stamp(caller);
    ds.indexed_at = steady_now();
    const std::string id = ds.id;
    auto& stored = data_sources_.emplace(id, std::move(ds)).first->second;
    try {
        apply_schema_changes(stored, properties, true);
    } catch (...) {
        data_sources_.erase(id);
        throw;
    }
    databases_.at(database_id).data_sources.push_back(id);
    record({.type = "data_source.created",
            .entity_id = id,
            .entity_type = "data_source",
            .author_id = caller.connection->user_id,
            .author_is_bot = !caller.connection->is_owner});
    return id;
}

std::string Workspace::create_database_internal(const Caller& caller, const json::object& body,
                                                std::optional<std::string> fixed_id) {
    reject_unknown_keys(body, {"parent", "title", "description", "is_inline", "icon", "cover",
                               "initial_data_source", "properties"});
    if (!body.contains("parent"))
        throw validation_error(
            "body failed validation: body.parent should be defined, instead was `undefined`.");
    Database db{.id = fixed_id.value_or(ids_.uuid()),
                .parent = read_parent(caller, body.at("parent"), false)};
    if (const auto* t = body.if_contains("title"); t && !t->is_null())
        db.title = normalize_rich_text(*this, *t, "body.title");
    if (const auto* d = body.if_contains("description"); d && !d->is_null()) {
        db.description = normalize_rich_text(*this, *d, "body.description");
    }
    if (const auto* v = body.if_contains("is_inline")) db.is_inline = truthy(*v, "body.is_inline");
    if (const auto* v = body.if_contains("icon")) db.icon = icon_or_cover(*v, "body.icon");
    if (const auto* v = body.if_contains("cover")) db.cover = icon_or_cover(*v, "body.cover");
    db.stamp = new_stamp(caller);
    json::object properties;
    json::value title = db.title;
    if (const auto* initial = body.if_contains("initial_data_source");
        initial && !initial->is_null()) {
        if (!initial->is_object())
            throw validation_error(
                "body failed validation: body.initial_data_source should be an object.");
        reject_unknown_keys(initial->get_object(), {"properties", "title"},
                            "body.initial_data_source");
        if (const auto* p = initial->get_object().if_contains("properties")) {
            if (!p->is_object())
                throw validation_error(
                    "body failed validation: body.initial_data_source.properties should be an "
                    "object.");
            properties = p->get_object();
        }
        if (const auto* t = initial->get_object().if_contains("title")) title = *t;
    } else if (caller.version == Version::v2022_06_28) {
        if (const auto* p = body.if_contains("properties"); p && p->is_object())
            properties = p->get_object();
    }
    // With 2025-09-03+, top-level `properties` is ignored: only a title column is created
    // (notion-api.md §2.3, field report).
    const std::string id = db.id;
    const Parent parent = db.parent;
    databases_.emplace(id, std::move(db));
    if (parent.type == "workspace") {
        top_level_.push_back(id);
    } else {
        children_[parent.id].push_back(id);
    }
    try {
        add_data_source(caller, id, title, properties, std::nullopt);
    } catch (...) {
        databases_.erase(id);
        if (parent.type == "workspace") {
            top_level_.pop_back();
        } else {
            children_[parent.id].pop_back();
        }
        throw;
    }
    record({.type = "database.created",
            .entity_id = id,
            .entity_type = "database",
            .author_id = caller.connection->user_id,
            .author_is_bot = !caller.connection->is_owner});
    last_committed_ = id;
    return id;
}

json::object Workspace::create_database(const Caller& caller, const json::object& body) {
    invalidate();
    const std::string id = create_database_internal(caller, body, std::nullopt);
    return render_database(databases_.at(id), caller);
}

json::object Workspace::update_database(const Caller& caller, const std::string& raw,
                                        const json::object& body) {
    invalidate();
    const std::string id = require_id(raw, "database_id");
    auto it = databases_.find(id);
    if (it == databases_.end() || !can_see(*caller.connection, id))
        throw object_not_found("database", id);
    reject_unknown_keys(body, {"title", "description", "is_inline", "icon", "cover", "in_trash",
                               "archived", "is_locked", "properties", "parent"});
    if (body.contains("properties") && caller.version != Version::v2022_06_28) {
        throw validation_error(
            "body failed validation: body.properties should be not present; update a data source's "
            "schema with PATCH /v1/data_sources/{id}.");
    }
    if (body.contains("archived") && caller.version == Version::v2026_03_11) {
        throw validation_error(
            "body failed validation: body.archived should be not present; use `in_trash`.");
    }
    Database& db = it->second;
    if (const auto* t = body.if_contains("title"))
        db.title = normalize_rich_text(*this, *t, "body.title");
    if (const auto* d = body.if_contains("description"))
        db.description = normalize_rich_text(*this, *d, "body.description");
    if (const auto* v = body.if_contains("is_inline")) db.is_inline = truthy(*v, "body.is_inline");
    if (const auto* v = body.if_contains("is_locked")) db.is_locked = truthy(*v, "body.is_locked");
    if (const auto* v = body.if_contains("icon")) db.icon = icon_or_cover(*v, "body.icon");
    if (const auto* v = body.if_contains("cover")) db.cover = icon_or_cover(*v, "body.cover");
    for (const char* key : {"in_trash", "archived"}) {
        if (const auto* v = body.if_contains(key)) {
            const bool trash = truthy(*v, std::string("body.") + key);
            if (trash != db.in_trash) {
                db.in_trash = trash;
                record({.type = trash ? "database.deleted" : "database.undeleted",
                        .entity_id = id,
                        .entity_type = "database",
                        .author_id = caller.connection->user_id,
                        .author_is_bot = !caller.connection->is_owner});
            }
        }
    }
    touch(db.stamp, caller);
    return render_database(db, caller);
}

DataSource& Workspace::data_source_for(const Caller& caller, const std::string& raw) {
    const std::string id = require_id(raw, "data_source_id");
    auto it = data_sources_.find(id);
    if (it == data_sources_.end() || !can_see(*caller.connection, id)) {
        throw object_not_found("data source", id);
    }
    return it->second;
}

json::object Workspace::get_data_source(const Caller& caller, const std::string& raw) const {
    return render_data_source(const_cast<Workspace*>(this)->data_source_for(caller, raw), caller);
}

json::object Workspace::create_data_source(const Caller& caller, const json::object& body) {
    invalidate();
    reject_unknown_keys(body, {"parent", "title", "properties", "icon"});
    const auto* parent = body.if_contains("parent");
    if (parent == nullptr || !parent->is_object() || !parent->as_object().contains("database_id")) {
        throw validation_error(
            "body failed validation: body.parent.database_id should be defined.");
    }
    const std::string db_id =
        require_id(string_or(parent->as_object(), "database_id", ""), "parent.database_id");
    if (!databases_.contains(db_id) || !can_see(*caller.connection, db_id)) {
        throw object_not_found("database", db_id);
    }
    json::object properties;
    if (const auto* p = body.if_contains("properties"); p && p->is_object())
        properties = p->get_object();
    const std::string id = add_data_source(
        caller, db_id, body.contains("title") ? body.at("title") : json::value(nullptr), properties,
        std::nullopt);
    last_committed_ = id;
    return render_data_source(data_sources_.at(id), caller);
}

json::object Workspace::update_data_source(const Caller& caller, const std::string& raw,
                                           const json::object& body) {
    invalidate();
    DataSource& ds = data_source_for(caller, raw);
    reject_unknown_keys(
        body, {"title", "description", "properties", "in_trash", "archived", "icon", "parent"});
    if (body.contains("archived") && caller.version == Version::v2026_03_11) {
        throw validation_error(
            "body failed validation: body.archived should be not present; use `in_trash`.");
    }
    if (const auto* t = body.if_contains("title"))
        ds.title = normalize_rich_text(*this, *t, "body.title");
    if (const auto* d = body.if_contains("description"))
        ds.description = normalize_rich_text(*this, *d, "body.description");
    json::array updated;
    if (const auto* p = body.if_contains("properties")) {
        if (!p->is_object())
            throw validation_error("body failed validation: body.properties should be an object.");
        // Applied to a copy, so a failed change leaves the schema as it was.
        DataSource copy = ds;
        apply_schema_changes(copy, p->get_object(), false);
        for (const auto& def : copy.properties) {
            auto old = std::find_if(ds.properties.begin(), ds.properties.end(),
                                    [&](const PropertyDef& d) { return d.id == def.id; });
            if (old == ds.properties.end()) {
                updated.push_back(
                    json::object{{"id", def.id}, {"name", def.name}, {"action", "created"}});
            } else if (old->name != def.name || old->type != def.type ||
                       old->config != def.config) {
                updated.push_back(
                    json::object{{"id", def.id}, {"name", def.name}, {"action", "updated"}});
            }
        }
        for (const auto& def : ds.properties) {
            if (std::none_of(copy.properties.begin(), copy.properties.end(),
                             [&](const PropertyDef& d) { return d.id == def.id; })) {
                updated.push_back(
                    json::object{{"id", def.id}, {"name", def.name}, {"action", "deleted"}});
            }
        }
        ds.properties = std::move(copy.properties);
    }
    for (const char* key : {"in_trash", "archived"}) {
        if (const auto* v = body.if_contains(key))
            ds.in_trash = truthy(*v, std::string("body.") + key);
    }
    touch(ds.stamp, caller);
    record({.type = "data_source.schema_updated",
            .entity_id = ds.id,
            .entity_type = "data_source",
            .author_id = caller.connection->user_id,
            .author_is_bot = !caller.connection->is_owner,
            .updated_properties = updated});
    return render_data_source(ds, caller);
}

RawList Workspace::query_data_source(const Caller& caller, const std::string& raw,
                                     const json::object& body,
                                     const std::vector<std::string>& filter_properties) const {
    const DataSource& ds = const_cast<Workspace*>(this)->data_source_for(caller, raw);
    reject_unknown_keys(body, {"filter", "sorts", "start_cursor", "page_size", "result_type",
                               "in_trash", "archived", "is_archived", "filter_properties"});
    const std::size_t page_size = page_size_of(body);
    const json::value* filter = body.if_contains("filter");
    if (filter != nullptr && filter->is_null()) filter = nullptr;
    if (filter != nullptr) validate_filter(*filter, ds.properties);
    json::array sorts;
    if (const auto* s = body.if_contains("sorts"); s && !s->is_null()) {
        validate_sorts(*s, ds.properties);
        sorts = s->get_array();
    }
    if (const auto* rt = body.if_contains("result_type");
        rt && *rt != "page" && *rt != "data_source") {
        throw validation_error(
            "body failed validation: body.result_type should be `\"page\"` or `\"data_source\"`.");
    }
    const std::size_t offset = offset_of(cursor_of(body), cursor_secret_);
    if (const auto* rt = body.if_contains("result_type"); rt && *rt == "data_source") {
        return {.envelope = list_envelope({}, std::nullopt, "page_or_data_source")};
    }

    // Rendering every page is the expensive part: only done when a filter or sort needs values.
    const bool needs_values =
        (filter != nullptr && json::serialize(*filter).find("\"property\"") != std::string::npos) ||
        std::any_of(sorts.begin(), sorts.end(),
                    [](const json::value& s) { return s.as_object().contains("property"); });
    struct Candidate {
        const Page* page = nullptr;
        json::object values = {};
        Row row = {};
    };
    std::vector<Candidate> candidates;
    candidates.reserve(ds.pages.size());
    const Millis now = clock_.now();
    for (const auto& id : ds.pages) {
        const Page& p = pages_.at(id);
        if (p.in_trash) continue;
        Candidate c{.page = &p};
        if (needs_values) {
            for (const auto& def : ds.properties) {
                c.values[def.id] =
                    PropertyCodec::render_value(*this, p, def, false, caller.connection);
            }
        }
        candidates.push_back(std::move(c));
    }
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        auto& c = candidates[i];
        c.row = Row{.created = floor_to_minute(c.page->stamp.created),
                    .edited = floor_to_minute(c.page->stamp.edited),
                    .properties = &c.values};
        if (filter == nullptr || matches(*filter, c.row, ds.properties, now)) order.push_back(i);
    }
    if (!sorts.empty()) {
        std::vector<std::vector<SortKey>> keys(candidates.size());
        for (const std::size_t i : order)
            keys[i] = sort_keys(sorts, candidates[i].row, ds.properties);
        const std::vector<int> signs = sort_signs(sorts);
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return compare_keys(signs, keys[a], keys[b]) < 0;
        });
    }
    // At most 10,000 results per query; then has_more is false and request_status says why.
    const bool capped = order.size() > query_cap;
    const std::size_t reachable = std::min(order.size(), query_cap);
    RawList out;
    for (std::size_t i = offset; i < reachable && out.results.size() < page_size; ++i) {
        out.results.push_back(page_text(*candidates[order[i]].page, caller, filter_properties));
    }
    const std::size_t next = offset + out.results.size();
    out.envelope = list_envelope(
        {}, next < reachable ? std::optional(next) : std::nullopt,
        caller.version == Version::v2022_06_28 ? "page_or_database" : "page_or_data_source");
    out.envelope.erase("results");
    if (capped) {
        out.envelope["request_status"] = json::object{
            {"type", "incomplete"}, {"incomplete_reason", "query_result_limit_reached"}};
    }
    return out;
}

void Workspace::invalidate() { render_cache_.clear(); }

std::shared_ptr<const std::string> Workspace::page_text(
    const Page& page, const Caller& caller,
    const std::vector<std::string>& filter_properties) const {
    // Notion-hosted files get a new signed URL on every read: such pages are never cached.
    const bool hosted_files =
        std::any_of(page.values.begin(), page.values.end(), [](const auto& kv) {
            const auto& v = kv.value();
            return v.is_array() && std::any_of(v.get_array().begin(), v.get_array().end(),
                                               [](const json::value& f) {
                                                   return f.is_object() &&
                                                          f.get_object().contains("file");
                                               });
        });
    if (!filter_properties.empty() || hosted_files) {
        return std::make_shared<const std::string>(
            json::serialize(render_page(page, caller, filter_properties)));
    }
    auto& cache = render_cache_[{caller.connection->name, caller.version}];
    auto [it, inserted] = cache.try_emplace(page.id);
    if (inserted) {
        it->second =
            std::make_shared<const std::string>(json::serialize(render_page(page, caller, {})));
    }
    return it->second;
}

std::string RawList::serialize() const {
    std::string out = "{\"results\":[";
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (i != 0) out += ',';
        out += *results[i];
    }
    out += "],";
    const std::string rest = json::serialize(envelope);
    out.append(rest, 1, std::string::npos);
    return out;
}

json::object RawList::to_json() const { return json::parse(serialize()).as_object(); }

// --- pages ---

std::string Workspace::create_page_internal(const Caller& caller, const json::object& body,
                                            std::optional<std::string> fixed_id,
                                            std::optional<Stamp> stamp) {
    // Everything is validated before anything changes, so a refused create leaves no trace: no
    // page, no blocks, no dual-relation back-links, no new select options, no unique id used.
    const bool from_fixture = fixed_id.has_value();
    if (!from_fixture) {
        reject_unknown_keys(body, {"parent", "properties", "children", "icon", "cover", "content",
                                   "markdown", "template", "position", "in_trash"});
    }
    if (body.contains("markdown")) {
        throw validation_error(
            "notion-emulator does not implement markdown content; use `children`.");
    }
    const auto* parent_value = body.if_contains("parent");
    if (parent_value == nullptr) {
        throw validation_error(
            "body failed validation: body.parent should be defined, instead was `undefined`.");
    }
    Page page{.id = fixed_id.value_or(ids_.uuid()),
              .parent = read_parent(caller, *parent_value, true)};
    page.stamp = stamp.value_or(new_stamp(caller));
    page.indexed_at = steady_now();
    if (const auto* v = body.if_contains("icon")) page.icon = icon_or_cover(*v, "body.icon");
    if (const auto* v = body.if_contains("cover")) page.cover = icon_or_cover(*v, "body.cover");
    if (const auto* v = body.if_contains("in_trash"); v && from_fixture)
        page.in_trash = v->as_bool();
    json::object properties;
    if (const auto* p = body.if_contains("properties"); p && !p->is_null()) {
        if (!p->is_object())
            throw validation_error("body failed validation: body.properties should be an object.");
        properties = p->get_object();
    }
    DataSource* ds =
        page.parent.type == "data_source_id" ? &data_sources_.at(page.parent.id) : nullptr;
    SchemaGuard schema(ds);
    const Connection* writer = from_fixture ? nullptr : caller.connection;
    if (ds != nullptr) {
        for (const auto& [key, value] : properties) {
            const PropertyDef* def = find_property(ds->properties, key);
            if (def == nullptr) {
                throw validation_error(std::string(key) + " is not a property that exists.");
            }
            page.values[def->id] = PropertyCodec::normalize_value(
                *this, ds, *def, value, "body.properties." + std::string(key), from_fixture,
                writer);
        }
    } else {
        for (const auto& [key, value] : properties) {
            if (key != "title" && !(value.is_object() && value.as_object().contains("title"))) {
                throw validation_error(
                    "body failed validation: a page whose parent is a page or the workspace only "
                    "has a `title` property; " +
                    std::string(key) + " is not allowed.");
            }
            PropertyDef title{.id = "title", .name = "title", .type = "title"};
            page.values["title"] = PropertyCodec::normalize_value(
                *this, nullptr, title, value, "body.properties." + std::string(key), from_fixture,
                writer);
        }
    }
    std::vector<Block> blocks;
    for (const char* key : {"children", "content"}) {
        if (const auto* c = body.if_contains(key); c && !c->is_null()) {
            if (!c->is_array())
                throw validation_error(std::string("body failed validation: body.") + key +
                                       " should be an array.");
            if (!from_fixture && c->get_array().size() > max_children) {
                throw validation_error(std::string("body failed validation: body.") + key +
                                       ".length should be ≤ `100`, instead was `" +
                                       std::to_string(c->get_array().size()) + "`.");
            }
            blocks.clear();
            build_blocks(caller, Parent{"page_id", page.id}, c->get_array(), 0,
                         from_fixture ? "children" : "body.children", blocks);
        }
    }

    // Validated: from here on nothing throws.
    schema.commit();
    if (ds != nullptr && std::any_of(ds->properties.begin(), ds->properties.end(),
                                     [](const PropertyDef& d) { return d.type == "unique_id"; })) {
        for (const auto& def : ds->properties) {
            if (def.type == "unique_id") page.values[def.id] = ds->next_unique_id;
        }
        ++ds->next_unique_id;
    }
    const std::string id = page.id;
    const Parent parent = page.parent;
    const Page& stored = pages_.emplace(id, std::move(page)).first->second;
    if (ds != nullptr) {
        ds->pages.push_back(id);
    } else if (parent.type == "workspace") {
        top_level_.push_back(id);
    } else {
        children_[parent.id].push_back(id);
    }
    if (ds != nullptr && !from_fixture) {
        // Dual relations show the link on both sides (fixtures: FixtureLoader links them).
        for (const auto& def : ds->properties) {
            const auto* dual = def.config.if_contains("dual_property");
            if (def.type != "relation" || dual == nullptr || !stored.values.contains(def.id))
                continue;
            const auto& synced = dual->at("synced_property_id");
            if (!synced.is_string()) continue;
            for (const auto& target : stored.values.at(def.id).as_array()) {
                auto t = pages_.find(std::string(target.at("id").as_string()));
                if (t == pages_.end()) continue;
                auto& list = t->second.values[synced.as_string()];
                if (!list.is_array()) list = json::array{};
                list.as_array().push_back(json::object{{"id", id}});
            }
        }
    }
    commit_blocks(id, 0, std::move(blocks));
    record({.type = "page.created",
            .entity_id = id,
            .entity_type = "page",
            .author_id = caller.connection->user_id,
            .author_is_bot = !caller.connection->is_owner});
    last_committed_ = id;
    return id;
}

json::object Workspace::create_page(const Caller& caller, const json::object& body,
                                    const std::vector<std::string>& filter_properties) {
    invalidate();
    const std::string id = create_page_internal(caller, body, std::nullopt, std::nullopt);
    return render_page(pages_.at(id), caller, filter_properties);
}

json::object Workspace::get_page(const Caller& caller, const std::string& raw,
                                 const std::vector<std::string>& filter_properties) const {
    const std::string id = require_id(raw, "page_id");
    auto it = pages_.find(id);
    if (it == pages_.end() || !can_see(*caller.connection, id)) throw object_not_found("page", id);
    return render_page(it->second, caller, filter_properties);
}

Page& Workspace::page_for_write(const Caller& caller, const std::string& raw) {
    const std::string id = require_id(raw, "page_id");
    auto it = pages_.find(id);
    if (it == pages_.end() || !can_see(*caller.connection, id)) throw object_not_found("page", id);
    return it->second;
}

json::object Workspace::update_page(const Caller& caller, const std::string& raw,
                                    const json::object& body,
                                    const std::vector<std::string>& filter_properties) {
    invalidate();
    Page& page = page_for_write(caller, raw);
    reject_unknown_keys(body, {"properties", "in_trash", "archived", "icon", "cover", "is_locked",
                               "erase_content", "template", "is_archived"});
    if (body.contains("archived") && caller.version == Version::v2026_03_11) {
        throw validation_error(
            "body failed validation: body.archived should be not present; since Notion-Version "
            "2026-03-11 use `in_trash`.");
    }
    std::optional<bool> trash;
    for (const char* key : {"in_trash", "archived"}) {
        if (const auto* v = body.if_contains(key)) trash = truthy(*v, std::string("body.") + key);
    }
    const bool edits = body.contains("properties") || body.contains("icon") ||
                       body.contains("cover") || body.contains("erase_content");
    if (page.in_trash && edits && trash.value_or(true)) {
        throw validation_error(
            "Can't edit page that is archived. You must unarchive the page before editing.");
    }
    DataSource* ds =
        page.parent.type == "data_source_id" ? &data_sources_.at(page.parent.id) : nullptr;
    // Validated into copies (values, and the schema that new select options change): one bad
    // value changes nothing.
    SchemaGuard schema(ds);
    json::object values = page.values;
    json::array updated;
    if (const auto* p = body.if_contains("properties"); p && !p->is_null()) {
        if (!p->is_object())
            throw validation_error("body failed validation: body.properties should be an object.");
        for (const auto& [key, value] : p->get_object()) {
            const std::string path = "body.properties." + std::string(key);
            if (ds != nullptr) {
                const PropertyDef* def = find_property(ds->properties, key);
                if (def == nullptr)
                    throw validation_error(std::string(key) + " is not a property that exists.");
                json::value normalized = PropertyCodec::normalize_value(
                    *this, ds, *def, value, path, false, caller.connection);
                if (def->type == "relation" && !caller.connection->is_owner) {
                    // Links to pages the connection cannot see are not shown to it, so its
                    // write (which replaces the visible ones) keeps them (UNCONFIRMED; README).
                    json::array kept;
                    if (const auto* old = page.values.if_contains(def->id);
                        old && old->is_array()) {
                        for (const auto& target : old->as_array()) {
                            if (!can_see(*caller.connection,
                                         std::string(target.at("id").as_string())))
                                kept.push_back(target);
                        }
                    }
                    for (auto& target : normalized.as_array()) kept.push_back(std::move(target));
                    normalized = std::move(kept);
                }
                values[def->id] = std::move(normalized);
                updated.push_back(json::value(def->id));
            } else {
                if (key != "title") {
                    throw validation_error(std::string(key) + " is not a property that exists.");
                }
                PropertyDef title{.id = "title", .name = "title", .type = "title"};
                values["title"] = PropertyCodec::normalize_value(*this, nullptr, title, value, path,
                                                                 false, caller.connection);
                updated.push_back(json::value("title"));
            }
        }
    }
    json::value icon = page.icon;
    json::value cover = page.cover;
    if (const auto* v = body.if_contains("icon")) icon = icon_or_cover(*v, "body.icon");
    if (const auto* v = body.if_contains("cover")) cover = icon_or_cover(*v, "body.cover");
    std::optional<bool> locked;
    if (const auto* v = body.if_contains("is_locked")) locked = truthy(*v, "body.is_locked");
    // Validated: from here on nothing throws.
    schema.commit();
    if (locked) page.is_locked = *locked;
    // Dual relations: mirror added and removed links on the other side.
    if (ds != nullptr) {
        for (const auto& def : ds->properties) {
            if (def.type != "relation" || !def.config.contains("dual_property")) continue;
            const auto& synced = def.config.at("dual_property").at("synced_property_id");
            if (!synced.is_string()) continue;
            auto ids_in = [](const json::object& vals, const std::string& key) {
                std::set<std::string> out;
                if (const auto* v = vals.if_contains(key); v && v->is_array()) {
                    for (const auto& x : v->as_array()) out.emplace(x.at("id").as_string());
                }
                return out;
            };
            const auto before = ids_in(page.values, def.id);
            const auto after = ids_in(values, def.id);
            if (before == after) continue;
            for (const auto& target : before) {
                if (after.contains(target) || !pages_.contains(target)) continue;
                auto& list = pages_.at(target).values[synced.as_string()];
                if (list.is_array()) {
                    auto& arr = list.as_array();
                    arr.erase(std::remove_if(arr.begin(), arr.end(),
                                             [&](const json::value& x) {
                                                 return x.at("id").as_string() == page.id;
                                             }),
                              arr.end());
                }
            }
            for (const auto& target : after) {
                if (before.contains(target) || !pages_.contains(target)) continue;
                auto& list = pages_.at(target).values[synced.as_string()];
                if (!list.is_array()) list = json::array{};
                list.as_array().push_back(json::object{{"id", page.id}});
            }
        }
    }
    page.values = std::move(values);
    page.icon = std::move(icon);
    page.cover = std::move(cover);
    if (body.contains("erase_content") && body.at("erase_content") == true) {
        for (const auto& child : children_[page.id]) {
            if (auto b = blocks_.find(child); b != blocks_.end()) b->second.in_trash = true;
        }
    }
    touch(page.stamp, caller);
    if (!updated.empty() || body.contains("icon") || body.contains("cover")) {
        record({.type = "page.properties_updated",
                .entity_id = page.id,
                .entity_type = "page",
                .author_id = caller.connection->user_id,
                .author_is_bot = !caller.connection->is_owner,
                .updated_properties = updated});
    }
    if (trash && *trash != page.in_trash) {
        page.in_trash = *trash;
        record({.type = *trash ? "page.deleted" : "page.undeleted",
                .entity_id = page.id,
                .entity_type = "page",
                .author_id = caller.connection->user_id,
                .author_is_bot = !caller.connection->is_owner});
    }
    last_committed_ = page.id;
    return render_page(page, caller, filter_properties);
}

json::object Workspace::move_page(const Caller& caller, const std::string& raw,
                                  const json::object& body) {
    invalidate();
    Page& page = page_for_write(caller, raw);
    reject_unknown_keys(body, {"parent"});
    const auto* parent = body.if_contains("parent");
    if (parent == nullptr || !parent->is_object())
        throw validation_error("body failed validation: body.parent should be an object.");
    const auto& po = parent->as_object();
    Parent to;
    if (const auto* ds = po.if_contains("data_source_id"); ds && ds->is_string()) {
        to = {.type = "data_source_id",
              .id = data_source_for(caller, std::string(ds->as_string())).id};
    } else if (const auto* pg = po.if_contains("page_id"); pg && pg->is_string()) {
        to = {.type = "page_id", .id = page_for_write(caller, std::string(pg->as_string())).id};
    } else {
        throw validation_error(
            "body failed validation: body.parent should be a page_id or a data_source_id.");
    }
    const DataSource* from_ds =
        page.parent.type == "data_source_id" ? &data_sources_.at(page.parent.id) : nullptr;
    const DataSource* to_ds = to.type == "data_source_id" ? &data_sources_.at(to.id) : nullptr;
    json::object values;
    auto title_of = [](const DataSource* ds) -> std::string {
        if (ds == nullptr) return "title";
        for (const auto& def : ds->properties) {
            if (def.type == "title") return def.id;
        }
        return "title";
    };
    if (const auto* title = page.values.if_contains(title_of(from_ds)))
        values[title_of(to_ds)] = *title;
    if (from_ds != nullptr && to_ds != nullptr) {
        for (const auto& def : to_ds->properties) {
            if (def.type == "title") continue;
            for (const auto& old : from_ds->properties) {
                if (old.name == def.name && old.type == def.type && page.values.contains(old.id))
                    values[def.id] = page.values.at(old.id);
            }
        }
    }
    auto erase_from = [&](std::vector<std::string>& list) {
        list.erase(std::remove(list.begin(), list.end(), page.id), list.end());
    };
    if (page.parent.type == "data_source_id") {
        erase_from(data_sources_.at(page.parent.id).pages);
    } else if (page.parent.type == "workspace") {
        erase_from(top_level_);
    } else {
        erase_from(children_[page.parent.id]);
    }
    if (to.type == "data_source_id") {
        data_sources_.at(to.id).pages.push_back(page.id);
    } else {
        children_[to.id].push_back(page.id);
    }
    page.parent = to;
    page.values = std::move(values);
    touch(page.stamp, caller);
    record({.type = "page.moved",
            .entity_id = page.id,
            .entity_type = "page",
            .author_id = caller.connection->user_id,
            .author_is_bot = !caller.connection->is_owner});
    last_committed_ = page.id;
    return render_page(page, caller, {});
}

json::object Workspace::get_page_property(const Caller& caller, const std::string& raw,
                                          const std::string& property_id,
                                          const std::optional<std::string>& cursor,
                                          std::size_t page_size) const {
    const std::string id = require_id(raw, "page_id");
    auto it = pages_.find(id);
    if (it == pages_.end() || !can_see(*caller.connection, id)) throw object_not_found("page", id);
    const Page& page = it->second;
    PropertyDef title{.id = "title", .name = "title", .type = "title"};
    const PropertyDef* def = nullptr;
    if (const DataSource* ds = data_source(parent_data_source(id))) {
        def = find_property(ds->properties, property_id);
        if (def == nullptr) def = find_property(ds->properties, url_decode(property_id));
    } else if (property_id == "title") {
        def = &title;
    }
    if (def == nullptr) throw object_not_found("property", property_id);
    const json::object rendered =
        PropertyCodec::render_value(*this, page, *def, false, caller.connection);
    const std::string& type = def->type;
    const bool paginated = type == "title" || type == "rich_text" || type == "people" ||
                           type == "relation" || type == "rollup";
    if (!paginated) {
        return {{"object", "property_item"},
                {"id", def->id},
                {"type", type},
                {type, rendered.at(type)}};
    }
    json::array items;
    json::object rollup;
    if (type == "rollup") {
        rollup = rendered.at("rollup").as_object();
        if (rollup.at("type") == "array") {
            for (const auto& v : rollup.at("array").as_array()) items.push_back(v);
            rollup["array"] = json::array{};
        }
    } else {
        items = rendered.at(type).as_array();
    }
    const std::size_t offset = offset_of(cursor, cursor_secret_);
    json::array results;
    for (std::size_t i = offset; i < items.size() && results.size() < page_size; ++i) {
        json::object item{{"object", "property_item"}, {"id", def->id}};
        if (type == "rollup") {
            json::object v = items[i].as_object();
            item["type"] = v.at("type");
            const std::string t(v.at("type").as_string());
            item[t] = v.at(t);
        } else {
            item["type"] = type;
            item[type] = items[i];
        }
        results.push_back(std::move(item));
    }
    const std::size_t next = offset + results.size();
    const bool more = next < items.size();
    json::object out = list_envelope(std::move(results), more ? std::optional(next) : std::nullopt,
                                     "property_item");
    json::object meta{{"id", def->id}, {"type", type}};
    meta[type] = type == "rollup" ? json::value(rollup) : json::value(json::object{});
    meta["next_url"] =
        more ? json::value("https://api.notion.com/v1/pages/" + id + "/properties/" + def->id +
                           "?start_cursor=" + out.at("next_cursor").as_string().c_str() +
                           "&page_size=" + std::to_string(page_size))
             : json::value(nullptr);
    out["property_item"] = std::move(meta);
    return out;
}

// --- blocks ---

void Workspace::build_blocks(const Caller& caller, const Parent& parent,
                             const json::array& children, int depth, std::string_view path,
                             std::vector<Block>& out) {
    const bool from_fixture = !path.starts_with("body");
    if (!from_fixture && depth >= 3) {
        throw validation_error(
            "body failed validation: " + std::string(path) +
            " nests blocks more than two levels deep; append deeper children in another request.");
    }
    std::vector<Block> pending;
    std::vector<std::pair<std::size_t, json::array>> nested;
    for (std::size_t i = 0; i < children.size(); ++i) {
        const std::string p = std::string(path) + "[" + std::to_string(i) + "]";
        if (!children[i].is_object()) {
            throw validation_error("body failed validation: " + p + " should be an object.");
        }
        const auto& request = children[i].get_object();
        std::string type = string_or(request, "type", "");
        if (type.empty()) {
            for (const auto& [key, value] : request) {
                (void)value;
                if (key != "object" && key != "children") type = std::string(key);
            }
        }
        // meeting_notes (transcription) blocks are read-only in Notion: not creatable here either.
        const bool known = text_blocks.contains(type) || media_blocks.contains(type) ||
                           other_blocks.contains(type);
        if (!known || !request.contains(type)) {
            throw validation_error("body failed validation: " + p + "." +
                                   (type.empty() ? std::string("type") : type) +
                                   " is not a supported block type.");
        }
        json::object payload =
            request.at(type).is_object() ? request.at(type).get_object() : json::object{};
        json::array grandchildren;
        if (const auto* c = payload.if_contains("children"); c && c->is_array()) {
            grandchildren = c->get_array();
            payload.erase("children");
        }
        if (const auto* c = request.if_contains("children"); c && c->is_array())
            grandchildren = c->get_array();
        const std::string pp = p + "." + type;
        if (payload.contains("rich_text") || text_blocks.contains(type) || type == "code") {
            payload["rich_text"] =
                normalize_rich_text(*this,
                                    payload.contains("rich_text") ? payload.at("rich_text")
                                                                  : json::value(json::array{}),
                                    pp + ".rich_text");
        }
        if (payload.contains("caption") || media_blocks.contains(type) || type == "code" ||
            type == "embed" || type == "bookmark") {
            payload["caption"] = normalize_rich_text(
                *this,
                payload.contains("caption") ? payload.at("caption") : json::value(json::array{}),
                pp + ".caption");
        }
        if (text_blocks.contains(type) && type != "template") {
            if (!payload.contains("color")) payload["color"] = "default";
        }
        if (type.starts_with("heading_") && !payload.contains("is_toggleable"))
            payload["is_toggleable"] = false;
        if (type == "to_do" && !payload.contains("checked")) payload["checked"] = false;
        if (type == "callout" && !payload.contains("icon")) payload["icon"] = nullptr;
        if (type == "code" && !payload.contains("language")) payload["language"] = "plain text";
        if (type == "equation") {
            if (!payload.contains("expression") || !payload.at("expression").is_string()) {
                throw validation_error("body failed validation: " + pp +
                                       ".expression should be a string.");
            }
        }
        if (media_blocks.contains(type)) {
            if (const auto* ext = payload.if_contains("external"); ext && ext->is_object()) {
                payload["type"] = "external";
            } else if (const auto* f = payload.if_contains("file");
                       f && f->is_object() && from_fixture) {
                payload["type"] = "file";
            } else {
                throw validation_error("body failed validation: " + pp +
                                       ".external should be defined.");
            }
        }
        if (type == "table_row") {
            const auto* cells = payload.if_contains("cells");
            if (cells == nullptr || !cells->is_array()) {
                throw validation_error("body failed validation: " + pp +
                                       ".cells should be an array.");
            }
            json::array out_cells;
            for (std::size_t c = 0; c < cells->get_array().size(); ++c) {
                out_cells.push_back(normalize_rich_text(*this, cells->get_array()[c],
                                                        pp + ".cells[" + std::to_string(c) + "]"));
            }
            payload["cells"] = std::move(out_cells);
        }
        if (type == "table") {
            if (!payload.contains("table_width")) {
                throw validation_error("body failed validation: " + pp +
                                       ".table_width should be defined.");
            }
            if (!payload.contains("has_column_header")) payload["has_column_header"] = false;
            if (!payload.contains("has_row_header")) payload["has_row_header"] = false;
        }
        Block block{
            .id = ids_.uuid(), .parent = parent, .type = type, .payload = std::move(payload)};
        block.stamp = new_stamp(caller);
        if (!grandchildren.empty()) nested.emplace_back(pending.size(), std::move(grandchildren));
        pending.push_back(std::move(block));
    }
    const std::size_t first = out.size();
    for (auto& b : pending) out.push_back(std::move(b));
    for (auto& [index, grandchildren] : nested) {
        const std::string child_id = out[first + index].id;
        build_blocks(caller, Parent{"block_id", child_id}, grandchildren, depth + 1,
                     std::string(path) + "[" + std::to_string(index) + "].children", out);
    }
}

std::vector<std::string> Workspace::commit_blocks(const std::string& parent_id,
                                                  std::size_t position, std::vector<Block> blocks) {
    std::vector<std::string> first_level;
    for (const auto& b : blocks) {
        if (b.parent.id == parent_id) {
            first_level.push_back(b.id);
        } else {
            children_[b.parent.id].push_back(b.id);
        }
    }
    if (!first_level.empty()) {
        auto& siblings = children_[parent_id];
        position = std::min(position, siblings.size());
        siblings.insert(siblings.begin() + static_cast<std::ptrdiff_t>(position),
                        first_level.begin(), first_level.end());
    }
    for (auto& b : blocks) {
        const std::string id = b.id;
        blocks_.emplace(id, std::move(b));
    }
    return first_level;
}

json::object Workspace::list_children(const Caller& caller, const std::string& raw,
                                      const std::optional<std::string>& cursor,
                                      std::size_t page_size) const {
    const std::string id = require_id(raw, "block_id");
    if ((!pages_.contains(id) && !blocks_.contains(id)) || !can_see(*caller.connection, id)) {
        throw object_not_found("block", id);
    }
    const auto children = visible_children(id);
    const std::size_t offset = offset_of(cursor, cursor_secret_);
    json::array results;
    for (std::size_t i = offset; i < children.size() && results.size() < page_size; ++i) {
        results.push_back(render_block(children[i], caller));
    }
    const std::size_t next = offset + results.size();
    return list_envelope(std::move(results),
                         next < children.size() ? std::optional(next) : std::nullopt, "block");
}

json::object Workspace::append_children(const Caller& caller, const std::string& raw,
                                        const json::object& body) {
    invalidate();
    const std::string id = require_id(raw, "block_id");
    if ((!pages_.contains(id) && !blocks_.contains(id)) || !can_see(*caller.connection, id)) {
        throw object_not_found("block", id);
    }
    if (auto b = blocks_.find(id); b != blocks_.end() && b->second.in_trash) {
        throw validation_error(
            "Can't edit block that is archived. You must unarchive the block before editing.");
    }
    reject_unknown_keys(body, {"children", "position", "after"});
    const auto* children = body.if_contains("children");
    if (children == nullptr || !children->is_array()) {
        throw validation_error("body failed validation: body.children should be an array.");
    }
    if (children->get_array().size() > max_children) {
        throw validation_error(
            "body failed validation: body.children.length should be ≤ `100`, instead was `" +
            std::to_string(children->get_array().size()) + "`.");
    }
    const std::string text = json::serialize(*children);
    std::size_t elements = 0;
    for (std::size_t pos = 0; (pos = text.find("\"type\"", pos)) != std::string::npos; ++pos)
        ++elements;
    if (elements > max_block_elements) {
        throw validation_error(
            "body failed validation: the request has more than 1000 block elements.");
    }
    std::optional<std::string> after;
    bool at_start = false;
    if (const auto* a = body.if_contains("after")) {
        if (caller.version == Version::v2026_03_11) {
            throw validation_error(
                "body failed validation: body.after should be not present; since Notion-Version "
                "2026-03-11 use `position`.");
        }
        if (!a->is_string() || !normalize_uuid(a->get_string())) {
            throw validation_error("body failed validation: body.after should be a valid uuid.");
        }
        after = *normalize_uuid(a->get_string());
    }
    if (const auto* p = body.if_contains("position")) {
        if (caller.version != Version::v2026_03_11) {
            throw validation_error(
                "body failed validation: body.position should be not present; before "
                "Notion-Version 2026-03-11 use `after`.");
        }
        const std::string type = p->is_object() ? string_or(p->get_object(), "type", "") : "";
        if (type == "after_block") {
            const auto* ab = p->get_object().if_contains("after_block");
            const std::string target =
                ab && ab->is_object() ? string_or(ab->get_object(), "id", "") : "";
            if (!normalize_uuid(target)) {
                throw validation_error(
                    "body failed validation: body.position.after_block.id should be a valid uuid.");
            }
            after = *normalize_uuid(target);
        } else if (type == "start") {
            at_start = true;
        } else if (type != "end") {
            throw validation_error(
                "body failed validation: body.position.type should be `after_block`, `start` or "
                "`end`.");
        }
    }
    // Validated as a whole before anything is added: a bad block at any depth appends nothing.
    std::vector<Block> blocks;
    build_blocks(caller, Parent{pages_.contains(id) ? "page_id" : "block_id", id},
                 children->get_array(), 0, "body.children", blocks);
    const std::vector<std::string> none;
    const auto existing = children_.find(id);
    const auto& siblings = existing != children_.end() ? existing->second : none;
    std::size_t position = at_start ? 0 : siblings.size();
    if (after) {
        const auto found = std::find(siblings.begin(), siblings.end(), *after);
        if (found == siblings.end()) {
            throw validation_error("body failed validation: the block to insert after (" + *after +
                                   ") is not a child of " + id + ".");
        }
        position = static_cast<std::size_t>(found - siblings.begin()) + 1;
    }
    const std::vector<std::string> ids = commit_blocks(id, position, std::move(blocks));
    json::array results;
    for (const auto& child : ids) results.push_back(render_block(child, caller));
    // The containing page counts as edited.
    std::string page_id = id;
    while (!page_id.empty() && !pages_.contains(page_id)) page_id = parent_of(page_id);
    if (auto p = pages_.find(page_id); p != pages_.end()) {
        touch(p->second.stamp, caller);
        json::array updated;
        for (const auto& child : ids)
            updated.push_back(json::object{{"id", child}, {"type", "block"}});
        record({.type = "page.content_updated",
                .entity_id = page_id,
                .entity_type = "page",
                .author_id = caller.connection->user_id,
                .author_is_bot = !caller.connection->is_owner,
                .updated_blocks = updated});
    }
    last_committed_ = id;
    json::object out = list_envelope(std::move(results), std::nullopt, "block");
    return out;
}

json::object Workspace::get_block(const Caller& caller, const std::string& raw) const {
    const std::string id = require_id(raw, "block_id");
    if ((!blocks_.contains(id) && !pages_.contains(id) && !databases_.contains(id)) ||
        !can_see(*caller.connection, id)) {
        throw object_not_found("block", id);
    }
    return render_block(id, caller);
}

json::object Workspace::update_block(const Caller& caller, const std::string& raw,
                                     const json::object& body) {
    invalidate();
    const std::string id = require_id(raw, "block_id");
    if ((!blocks_.contains(id) && !pages_.contains(id) && !databases_.contains(id)) ||
        !can_see(*caller.connection, id)) {
        throw object_not_found("block", id);
    }
    if (body.contains("archived") && caller.version == Version::v2026_03_11) {
        throw validation_error(
            "body failed validation: body.archived should be not present; since Notion-Version "
            "2026-03-11 use `in_trash`.");
    }
    if (pages_.contains(id) || databases_.contains(id)) {
        // Page and database blocks: only the trash flag here; a page's title and properties
        // change through PATCH /v1/pages/{id}, a database's through PATCH /v1/databases/{id}.
        const bool is_page = pages_.contains(id);
        const std::string type = is_page ? "child_page" : "child_database";
        for (const auto& [key, value] : body) {
            if (key == "in_trash" || key == "archived" ||
                (key == "type" && value.is_string() && value.get_string() == type))
                continue;
            throw validation_error("body failed validation: body." + std::string(key) +
                                   " should be not present; the block is of type `" + type +
                                   "`, which takes only `in_trash` here (update it with PATCH " +
                                   (is_page ? "/v1/pages/{id}" : "/v1/databases/{id}") + ").");
        }
        std::optional<bool> trash;
        for (const char* key : {"in_trash", "archived"}) {
            if (const auto* v = body.if_contains(key))
                trash = truthy(*v, std::string("body.") + key);
        }
        if (trash) set_trash(caller, id, *trash);
        last_committed_ = id;
        return render_block(id, caller);
    }
    Block& block = blocks_.at(id);
    json::object payload = block.payload;  // a refused update changes nothing
    std::optional<bool> trash;
    for (const char* key : {"in_trash", "archived"}) {
        if (const auto* v = body.if_contains(key)) trash = truthy(*v, std::string("body.") + key);
    }
    for (const auto& [key, value] : body) {
        if (key == "in_trash" || key == "archived" || key == "type") continue;
        if (key != block.type) {
            throw validation_error("body failed validation: body." + std::string(key) +
                                   " should be not present; the block is of type `" + block.type +
                                   "`.");
        }
        if (block.in_trash && trash.value_or(true)) {
            throw validation_error(
                "Can't edit block that is archived. You must unarchive the block before editing.");
        }
        if (!value.is_object())
            throw validation_error("body failed validation: body." + block.type +
                                   " should be an object.");
        for (const auto& [field, field_value] : value.get_object()) {
            if (field == "children") {
                throw validation_error(
                    "body failed validation: body." + block.type +
                    ".children should be not present; use append block children.");
            }
            if (field == "rich_text" || field == "caption") {
                payload[field] = normalize_rich_text(
                    *this, field_value, "body." + block.type + "." + std::string(field));
            } else {
                payload[field] = field_value;
            }
        }
    }
    block.payload = std::move(payload);
    touch(block.stamp, caller);
    if (trash) block.in_trash = *trash;
    std::string page_id = id;
    while (!page_id.empty() && !pages_.contains(page_id)) page_id = parent_of(page_id);
    if (!page_id.empty()) {
        touch(pages_.at(page_id).stamp, caller);
        record({.type = "page.content_updated",
                .entity_id = page_id,
                .entity_type = "page",
                .author_id = caller.connection->user_id,
                .author_is_bot = !caller.connection->is_owner,
                .updated_blocks = json::array{json::object{{"id", id}, {"type", "block"}}}});
    }
    last_committed_ = id;
    return render_block(id, caller);
}

void Workspace::set_trash(const Caller& caller, const std::string& id, bool in_trash) {
    if (auto p = pages_.find(id); p != pages_.end()) {
        if (p->second.in_trash == in_trash) return;
        p->second.in_trash = in_trash;
        touch(p->second.stamp, caller);
        record({.type = in_trash ? "page.deleted" : "page.undeleted",
                .entity_id = id,
                .entity_type = "page",
                .author_id = caller.connection->user_id,
                .author_is_bot = !caller.connection->is_owner});
    } else if (auto d = databases_.find(id); d != databases_.end()) {
        d->second.in_trash = in_trash;
        touch(d->second.stamp, caller);
    } else if (auto b = blocks_.find(id); b != blocks_.end()) {
        b->second.in_trash = in_trash;
        touch(b->second.stamp, caller);
    }
}

json::object Workspace::delete_block(const Caller& caller, const std::string& raw) {
    invalidate();
    const std::string id = require_id(raw, "block_id");
    if ((!blocks_.contains(id) && !pages_.contains(id) && !databases_.contains(id)) ||
        !can_see(*caller.connection, id)) {
        throw object_not_found("block", id);
    }
    set_trash(caller, id, true);
    std::string page_id = parent_of(id);
    while (!page_id.empty() && !pages_.contains(page_id)) page_id = parent_of(page_id);
    if (blocks_.contains(id) && !page_id.empty()) {
        record({.type = "page.content_updated",
                .entity_id = page_id,
                .entity_type = "page",
                .author_id = caller.connection->user_id,
                .author_is_bot = !caller.connection->is_owner,
                .updated_blocks = json::array{json::object{{"id", id}, {"type", "block"}}}});
    }
    last_committed_ = id;
    return render_block(id, caller);
}

bool Workspace::is_trashed_deep(const std::string& id) const {
    std::string current = id;
    for (int depth = 0; !current.empty() && depth < 1000; ++depth) {
        if (auto p = pages_.find(current); p != pages_.end() && p->second.in_trash) return true;
        if (auto d = databases_.find(current); d != databases_.end() && d->second.in_trash)
            return true;
        current = parent_of(current);
    }
    return false;
}

}  // namespace emulator
