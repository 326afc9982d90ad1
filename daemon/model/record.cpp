#include "daemon/model/record.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>

#include "daemon/model/hash.hpp"
#include "daemon/model/json_text.hpp"

namespace syncd::model {
namespace {

std::string plain_text(const json::value& rich) {
    std::string out;
    if (!rich.is_array()) return out;
    for (const auto& item : rich.get_array()) {
        if (item.is_object()) out += string_at(item.get_object(), "plain_text");
    }
    return out;
}

json::array ids_of(const json::value& list) {
    json::array out;
    if (!list.is_array()) return out;
    for (const auto& item : list.get_array()) {
        if (item.is_object()) out.emplace_back(string_at(item.get_object(), "id"));
    }
    return out;
}

json::value date_of(const json::value& d) {
    if (!d.is_object()) return nullptr;
    const auto& o = d.get_object();
    return json::object{{"start", o.contains("start") ? o.at("start") : json::value()},
                        {"end", o.contains("end") ? o.at("end") : json::value()},
                        {"time_zone", o.contains("time_zone") ? o.at("time_zone") : json::value()}};
}

}  // namespace

// An integral number as an integer, however the API wrote it (a rollup's 1.8E2 is 180): values are
// stored as JSON text, which reads 180 back as an integer, and a fresh value must compare equal to
// its stored self (Boost.JSON's == tells an int64 from a double). A number beyond a double's range
// (1e400; Boost.JSON reads 0e999 as NaN) has no JSON text: it is null, as every writer stores it.
json::value canonical_number(const json::value& n) {
    if (!n.is_double()) return n;
    const double d = n.get_double();
    if (!std::isfinite(d)) return nullptr;
    constexpr double exact_integers = 9007199254740992.0;  // 2^53
    if (d == std::trunc(d) && std::fabs(d) < exact_integers) return static_cast<std::int64_t>(d);
    return n;
}

namespace {

// A formula or rollup result {type, <type>: value} as a canonical value.
json::value computed(const json::value& v) {
    if (!v.is_object()) return nullptr;
    const auto& o = v.get_object();
    const std::string type = string_at(o, "type");
    if (!o.contains(type)) return nullptr;
    const auto& x = o.at(type);
    if (type == "date") return date_of(x);
    if (type == "array") {
        json::array out;
        for (const auto& item : x.as_array()) {
            if (item.is_object()) out.push_back(canonical_value(item.get_object()));
        }
        return out;
    }
    if (type == "unsupported" || type == "incomplete") return nullptr;
    if (type == "number") return canonical_number(x);
    return x;
}

}  // namespace

json::value canonical_value(const json::object& p) {
    const std::string type = string_at(p, "type");
    const json::value missing;
    const json::value& v = p.contains(type) ? p.at(type) : missing;
    if (type == "title" || type == "rich_text") return json::value(plain_text(v));
    if (type == "url" || type == "email" || type == "phone_number")
        return v.is_string() ? v : json::value();
    if (type == "number") return v.is_number() ? canonical_number(v) : json::value();
    if (type == "checkbox") return v.is_bool() ? v : json::value(false);
    if (type == "select" || type == "status") {
        return v.is_object() ? json::value(string_at(v.get_object(), "name")) : json::value();
    }
    if (type == "multi_select") {
        json::array names;
        if (v.is_array()) {
            for (const auto& o : v.get_array())
                names.emplace_back(string_at(o.as_object(), "name"));
        }
        return names;
    }
    if (type == "date") return date_of(v);
    if (type == "people" || type == "relation") return ids_of(v);
    if (type == "files") {
        json::array files;
        if (v.is_array()) {
            for (const auto& f : v.get_array()) {
                const auto& fo = f.as_object();
                const std::string kind = string_at(fo, "type");
                json::object file{{"name", string_at(fo, "name")}, {"type", kind}};
                // Notion-hosted URLs are signed and change on every read: never part of the value.
                if (kind == "external" && fo.contains("external")) {
                    file["url"] = string_at(fo.at("external").as_object(), "url");
                }
                files.push_back(std::move(file));
            }
        }
        return files;
    }
    if (type == "formula" || type == "rollup") return computed(v);
    if (type == "created_time" || type == "last_edited_time")
        return v.is_string() ? v : json::value();
    if (type == "created_by" || type == "last_edited_by") {
        return v.is_object() ? json::value(string_at(v.get_object(), "id")) : json::value();
    }
    if (type == "unique_id") {
        if (!v.is_object()) return nullptr;
        const auto& o = v.get_object();
        const auto* number = o.if_contains("number");
        if (number == nullptr || !number->is_number()) return nullptr;
        const auto* prefix = o.if_contains("prefix");
        if (prefix && prefix->is_string() && !prefix->get_string().empty()) {
            return json::value(std::string(prefix->get_string()) + "-" +
                               std::to_string(number->to_number<std::int64_t>()));
        }
        return canonical_number(*number);
    }
    if (type == "verification") {
        return v.is_object() ? json::value(string_at(v.get_object(), "state")) : json::value();
    }
    if (type == "button") return nullptr;
    return v.is_null() ? json::value() : v;
}

bool is_truncated(const json::object& p) {
    const std::string type = string_at(p, "type");
    if (type == "relation") {
        const auto* more = p.if_contains("has_more");
        return more && more->is_bool() && more->get_bool();
    }
    if (type == "title" || type == "rich_text" || type == "people") {
        const auto* v = p.if_contains(type);
        return v && v->is_array() && v->get_array().size() >= 25;
    }
    return false;
}

std::string hash_of(const Record& record) {
    std::vector<std::pair<std::string_view, const json::value*>> sorted;
    for (const auto& [id, value] : record.values) sorted.emplace_back(id, &value);
    std::sort(sorted.begin(), sorted.end());
    // 'R', the trash flag, then the values as one object with its members in id order.
    Hasher h;
    h.tag('R');
    h.tag(record.in_trash ? 'T' : 'F');
    h.tag('{');
    h.length(sorted.size());
    for (const auto& [id, value] : sorted) {
        h.string(id);
        h.value(*value);
    }
    return h.hex();
}

namespace {

// The names of the users a people, created_by or last_edited_by value holds, when it says them.
void users_named(const json::object& property, std::map<std::string, std::string>& names) {
    const std::string type = string_at(property, "type");
    if (type != "people" && type != "created_by" && type != "last_edited_by") return;
    const auto* v = property.if_contains(type);
    if (v == nullptr) return;
    const auto named = [&](const json::value& user) {
        if (!user.is_object()) return;
        const std::string id = string_at(user.get_object(), "id");
        const std::string name = string_at(user.get_object(), "name");
        if (!id.empty() && !name.empty()) names[id] = name;
    };
    if (v->is_array()) {
        for (const auto& user : v->get_array()) named(user);
    } else {
        named(*v);
    }
}

}  // namespace

Record to_record(const json::object& page) {
    Record r{.page_id = string_at(page, "id"),
             .created_time = string_at(page, "created_time"),
             .last_edited_time = string_at(page, "last_edited_time"),
             .url = string_at(page, "url")};
    if (const auto* parent = page.if_contains("parent"); parent && parent->is_object()) {
        r.data_source_id = string_at(parent->get_object(), "data_source_id");
    }
    if (const auto* t = page.if_contains("in_trash"); t && t->is_bool()) r.in_trash = t->get_bool();
    if (const auto* props = page.if_contains("properties"); props && props->is_object()) {
        for (const auto& [name, value] : props->get_object()) {
            if (!value.is_object()) continue;
            const std::string id = string_at(value.get_object(), "id");
            r.values[id.empty() ? std::string(name) : id] = canonical_value(value.get_object());
            users_named(value.get_object(), r.names);
        }
    }
    r.hash = hash_of(r);
    return r;
}

const PropertyInfo* Schema::by_id(const std::string& id) const {
    for (const auto& p : properties) {
        if (p.id == id) return &p;
    }
    return nullptr;
}

json::object Schema::to_json() const {
    json::array props;
    for (const auto& p : properties) {
        json::object property{{"id", p.id}, {"name", p.name}, {"type", p.type}};
        if (!p.options.empty()) {
            json::array options;
            for (const auto& o : p.options) options.emplace_back(o);
            property["options"] = std::move(options);
        }
        props.push_back(std::move(property));
    }
    return {{"data_source_id", data_source_id}, {"title", title}, {"properties", props}};
}

Schema Schema::from_json(const json::object& o) {
    Schema s{.data_source_id = string_at(o, "data_source_id"), .title = string_at(o, "title")};
    if (const auto* props = o.if_contains("properties"); props && props->is_array()) {
        for (const auto& p : props->get_array()) {
            const auto& po = p.as_object();
            PropertyInfo info{string_at(po, "id"), string_at(po, "name"), string_at(po, "type")};
            if (const auto* options = po.if_contains("options"); options && options->is_array()) {
                for (const auto& option : options->get_array()) {
                    if (option.is_string()) info.options.emplace_back(option.get_string());
                }
            }
            s.properties.push_back(std::move(info));
        }
    }
    return s;
}

Schema Schema::from_data_source(const json::object& ds) {
    Schema s{.data_source_id = string_at(ds, "id")};
    if (const auto* title = ds.if_contains("title")) s.title = plain_text(*title);
    if (const auto* props = ds.if_contains("properties"); props && props->is_object()) {
        for (const auto& [name, p] : props->get_object()) {
            const auto& po = p.as_object();
            PropertyInfo info{string_at(po, "id"), std::string(name), string_at(po, "type")};
            // {"select": {"options": [{"name": …}, …]}}; status also has groups.
            if (const auto* config = po.if_contains(info.type); config && config->is_object()) {
                if (const auto* options = config->get_object().if_contains("options");
                    options && options->is_array()) {
                    for (const auto& o : options->get_array()) {
                        if (o.is_object())
                            info.options.push_back(string_at(o.get_object(), "name"));
                    }
                }
            }
            s.properties.push_back(std::move(info));
        }
    }
    return s;
}

json::object ChangeEvent::to_json() const {
    json::object out{{"event", kind},
                     {"seq", seq},
                     {"sync", sync},
                     {"data_source_id", data_source_id},
                     {"page_id", page_id.empty() ? json::value(nullptr) : json::value(page_id)},
                     {"last_edited_time", last_edited_time.empty() ? json::value(nullptr)
                                                                   : json::value(last_edited_time)},
                     {"url", url.empty() ? json::value(nullptr) : json::value(url)},
                     {"properties", properties},
                     {"changed", changed},
                     {"property_ids", property_ids}};
    if (content) {
        out["content"] = *content;
        out["content_changed"] = content_changed;
    }
    if (snapshot) out["snapshot"] = true;
    return out;
}

void ChangeEvent::append_json_text(std::string& out) const {
    // The members and order of to_json().
    out += '{';
    append_json_key(out, "event", true);
    append_json_string(out, kind);
    append_json_key(out, "seq");
    out += std::to_string(seq);
    append_json_key(out, "sync");
    append_json_string(out, sync);
    append_json_key(out, "data_source_id");
    append_json_string(out, data_source_id);
    append_json_key(out, "page_id");
    append_json_string_or_null(out, page_id);
    append_json_key(out, "last_edited_time");
    append_json_string_or_null(out, last_edited_time);
    append_json_key(out, "url");
    append_json_string_or_null(out, url);
    append_json_key(out, "properties");
    model::append_json_text(out, properties);
    append_json_key(out, "changed");
    model::append_json_text(out, changed);
    append_json_key(out, "property_ids");
    model::append_json_text(out, property_ids);
    if (content) {
        append_json_key(out, "content");
        model::append_json_text(out, *content);
        append_json_key(out, "content_changed");
        out += content_changed ? "true" : "false";
    }
    if (snapshot) {
        append_json_key(out, "snapshot");
        out += "true";
    }
    out += '}';
}

ChangeEvent ChangeEvent::from_json(const json::object& o) {
    ChangeEvent e{.kind = string_at(o, "event"),
                  .sync = string_at(o, "sync"),
                  .data_source_id = string_at(o, "data_source_id"),
                  .page_id = string_at(o, "page_id"),
                  .last_edited_time = string_at(o, "last_edited_time"),
                  .url = string_at(o, "url")};
    if (const auto* s = o.if_contains("seq"); s && s->is_number())
        e.seq = s->to_number<std::int64_t>();
    if (const auto* p = o.if_contains("properties"); p && p->is_object())
        e.properties = p->get_object();
    if (const auto* c = o.if_contains("changed"); c && c->is_array()) e.changed = c->get_array();
    if (const auto* i = o.if_contains("property_ids"); i && i->is_object())
        e.property_ids = i->get_object();
    if (const auto* b = o.if_contains("content"); b && b->is_array()) e.content = b->get_array();
    if (const auto* c = o.if_contains("content_changed"); c && c->is_bool())
        e.content_changed = c->get_bool();
    if (const auto* s = o.if_contains("snapshot"); s && s->is_bool()) e.snapshot = s->get_bool();
    return e;
}

namespace {
// Hasher::value, leaving out what churns: a Notion-hosted file {url (signed), expiry_time}.
void hash_content_value(const json::value& v, Hasher& h) {
    switch (v.kind()) {
        case json::kind::object: {
            const auto& o = v.get_object();
            const bool signed_file = o.contains("expiry_time");
            auto kept = [&](std::string_view key) {
                return !(signed_file && (key == "url" || key == "expiry_time"));
            };
            std::size_t members = 0;
            for (const auto& member : o) members += kept(member.key()) ? 1 : 0;
            h.tag('{');
            h.length(members);
            for (const auto& [key, value] : o) {
                if (!kept(key)) continue;
                h.string(key);
                hash_content_value(value, h);
            }
            break;
        }
        case json::kind::array:
            h.tag('[');
            h.length(v.get_array().size());
            for (const auto& item : v.get_array()) hash_content_value(item, h);
            break;
        default:
            h.value(v);
    }
}
}  // namespace

std::string content_hash(const json::array& blocks) {
    Hasher h;
    h.tag('C');
    hash_content_value(blocks, h);
    return h.hex();
}

std::string snake_case(const std::string& name) {
    std::string out;
    for (const unsigned char c : name) {
        if (std::isalnum(c)) {
            out.push_back(static_cast<char>(std::tolower(c)));
        } else if (c >= 0x80) {
            out.push_back(static_cast<char>(c));  // keep non-ASCII letters as they are
        } else if (!out.empty() && out.back() != '_') {
            out.push_back('_');
        }
    }
    while (!out.empty() && out.back() == '_') out.pop_back();
    if (out.empty() || std::isdigit(static_cast<unsigned char>(out.front()))) out = "p_" + out;
    return out;
}

}  // namespace syncd::model
