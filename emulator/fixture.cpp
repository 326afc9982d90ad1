// Loads a workspace from a fixture file (format: emulator/README.md, "Fixtures").
#include <iostream>

#include "emulator/api_error.hpp"
#include "emulator/model.hpp"
#include "emulator/properties.hpp"

namespace emulator {

struct FixtureLoader {
    Workspace& ws;
    Connection owner;

    static std::string id_of(const json::object& o, std::string_view key, std::string_view where) {
        const auto* v = o.if_contains(key);
        if (v == nullptr || !v->is_string() || !normalize_uuid(v->get_string())) {
            throw std::runtime_error("fixture: " + std::string(where) + "." + std::string(key) +
                                     " must be a UUID");
        }
        return *normalize_uuid(v->get_string());
    }

    std::optional<Stamp> stamp_of(const json::object& o) const {
        Stamp s{.created = ws.now(),
                .edited = ws.now(),
                .created_by = ws.owner_user_id_,
                .edited_by = ws.owner_user_id_};
        bool any = false;
        auto time = [&](std::string_view key, Millis& out) {
            if (const auto* v = o.if_contains(key); v && v->is_string()) {
                const auto t = parse_time(v->get_string());
                if (!t)
                    throw std::runtime_error("fixture: bad " + std::string(key) + ": " +
                                             std::string(v->get_string()));
                out = *t;
                any = true;
            }
        };
        time("created_time", s.created);
        s.edited = s.created;
        time("last_edited_time", s.edited);
        for (const auto& [key, field] :
             {std::pair{"created_by", &s.created_by}, std::pair{"last_edited_by", &s.edited_by}}) {
            if (const auto* v = o.if_contains(key); v && v->is_string()) {
                *field = *normalize_uuid(v->get_string());
                any = true;
            }
        }
        return any ? std::optional(s) : std::nullopt;
    }

    void database(const json::object& o, std::size_t index) {
        const std::string where = "objects[" + std::to_string(index) + "]";
        const Caller caller{.connection = &owner};
        Database db{.id = id_of(o, "id", where),
                    .parent = ws.read_parent(caller, field(o, "parent"), false)};
        if (const auto* t = o.if_contains("title"))
            db.title = normalize_rich_text(ws, *t, where + ".title");
        if (const auto* d = o.if_contains("description"))
            db.description = normalize_rich_text(ws, *d, where + ".description");
        if (const auto* v = o.if_contains("is_inline")) db.is_inline = v->as_bool();
        if (const auto* v = o.if_contains("icon")) db.icon = *v;
        if (const auto* v = o.if_contains("cover")) db.cover = *v;
        db.stamp = stamp_of(o).value_or(ws.new_stamp(caller));
        const std::string id = db.id;
        if (db.parent.type == "workspace") {
            ws.top_level_.push_back(id);
        } else {
            ws.children_[db.parent.id].push_back(id);
        }
        ws.databases_.emplace(id, std::move(db));
        const auto* sources = o.if_contains("data_sources");
        if (sources == nullptr || !sources->is_array() || sources->as_array().empty()) {
            throw std::runtime_error("fixture: " + where +
                                     ".data_sources must be a non-empty array");
        }
        for (std::size_t i = 0; i < sources->as_array().size(); ++i) {
            const auto& s = sources->as_array()[i].as_object();
            const std::string sid =
                id_of(s, "id", where + ".data_sources[" + std::to_string(i) + "]");
            json::object properties;
            if (const auto* p = s.if_contains("properties")) properties = p->as_object();
            ws.add_data_source(caller, id,
                               s.contains("title") ? s.at("title") : json::value(nullptr),
                               properties, sid);
            if (auto st = stamp_of(o)) ws.data_sources_.at(sid).stamp = *st;
        }
    }

    void page(const json::object& o, std::size_t index) {
        const std::string where = "objects[" + std::to_string(index) + "]";
        const Caller caller{.connection = &owner};
        json::object body = o;
        body.erase("object");
        body.erase("id");
        for (const char* key : {"created_time", "last_edited_time", "created_by", "last_edited_by"})
            body.erase(key);
        ws.create_page_internal(caller, body, id_of(o, "id", where), stamp_of(o));
    }

    // Dual relations given on one side only are completed on the other.
    void link_dual_relations() {
        for (auto& [ds_id, ds] : ws.data_sources_) {
            for (const auto& def : ds.properties) {
                if (def.type != "relation" || !def.config.contains("dual_property")) continue;
                const auto& synced = def.config.at("dual_property").at("synced_property_id");
                if (!synced.is_string()) continue;
                for (const auto& page_id : ds.pages) {
                    const auto& values = ws.pages_.at(page_id).values;
                    const auto* links = values.if_contains(def.id);
                    if (links == nullptr) continue;
                    for (const auto& link : links->as_array()) {
                        auto target = ws.pages_.find(std::string(link.at("id").as_string()));
                        if (target == ws.pages_.end()) {
                            throw std::runtime_error("fixture: page " + page_id +
                                                     " relates to missing page " +
                                                     std::string(link.at("id").as_string()));
                        }
                        auto& reverse = target->second.values[synced.as_string()];
                        if (!reverse.is_array()) reverse = json::array{};
                        auto& arr = reverse.as_array();
                        const json::value entry = json::object{{"id", page_id}};
                        if (std::find(arr.begin(), arr.end(), entry) == arr.end())
                            arr.push_back(entry);
                    }
                }
            }
        }
    }
};

void Workspace::load_fixture(const json::value& fixture) {
    invalidate();
    if (!fixture.is_object()) throw std::runtime_error("fixture: the top level must be an object");
    const auto& f = fixture.as_object();
    if (const auto* w = f.if_contains("workspace"); w && w->is_object()) {
        if (const auto* id = w->as_object().if_contains("id"); id && id->is_string()) {
            workspace_id_ = *normalize_uuid(id->as_string());
        }
        if (const auto* name = w->as_object().if_contains("name"); name && name->is_string()) {
            workspace_name_ = std::string(name->as_string());
        }
    }
    if (const auto* o = f.if_contains("owner"); o && o->is_object()) {
        const auto& owner = o->as_object();
        User u = users_.at(owner_user_id_);
        users_.erase(owner_user_id_);
        if (const auto* id = owner.if_contains("id"); id && id->is_string())
            u.id = *normalize_uuid(id->as_string());
        if (const auto* n = owner.if_contains("name"); n && n->is_string())
            u.name = std::string(n->as_string());
        if (const auto* e = owner.if_contains("email"); e && e->is_string())
            u.email = std::string(e->as_string());
        std::replace(user_order_.begin(), user_order_.end(), owner_user_id_, u.id);
        for (auto& [name, c] : connections_) {
            if (c.is_owner) c.user_id = u.id;
        }
        owner_user_id_ = u.id;
        users_.emplace(u.id, u);
    }
    if (const auto* list = f.if_contains("users"); list && list->is_array()) {
        for (const auto& entry : list->as_array()) {
            const auto& o = entry.as_object();
            User u{.id = FixtureLoader::id_of(o, "id", "users[]"),
                   .name = o.contains("name") ? std::string(o.at("name").as_string()) : "",
                   .email = o.contains("email") ? std::string(o.at("email").as_string()) : ""};
            if (!users_.contains(u.id)) user_order_.push_back(u.id);
            users_[u.id] = u;
        }
    }
    FixtureLoader loader{
        .ws = *this,
        .owner = Connection{.name = "owner", .user_id = owner_user_id_, .is_owner = true}};
    const auto* objects = f.if_contains("objects");
    if (objects == nullptr || !objects->is_array())
        throw std::runtime_error("fixture: `objects` must be an array");
    for (std::size_t i = 0; i < objects->as_array().size(); ++i) {
        const auto& o = objects->as_array()[i];
        if (!o.is_object())
            throw std::runtime_error("fixture: objects[" + std::to_string(i) +
                                     "] must be an object");
        const auto* kind = o.as_object().if_contains("object");
        try {
            if (kind && *kind == "database") {
                loader.database(o.as_object(), i);
            } else if (kind && *kind == "page") {
                loader.page(o.as_object(), i);
            } else {
                throw std::runtime_error("`object` must be \"page\" or \"database\"");
            }
        } catch (const ApiError& e) {
            throw std::runtime_error("fixture: objects[" + std::to_string(i) + "]: " + e.what());
        }
    }
    loader.link_dual_relations();
    if (const auto* shares = f.if_contains("shares"); shares && shares->is_object()) {
        for (const auto& [name, ids] : shares->as_object()) {
            Connection* c = find_connection(name);
            if (c == nullptr) {
                std::cerr << "notion-emulator: fixture shares with \"" << std::string_view(name)
                          << "\", which was not given on the command line; skipped\n";
                continue;
            }
            for (const auto& id : ids.as_array()) share(*c, *normalize_uuid(id.as_string()));
        }
    }
    events_.clear();
}

}  // namespace emulator
