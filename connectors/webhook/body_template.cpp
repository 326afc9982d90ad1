#include "connectors/webhook/body_template.hpp"

#include <algorithm>
#include <charconv>

#include "daemon/model/json_text.hpp"

namespace syncd::connectors::webhook {
namespace {

namespace json = boost::json;

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

const json::value* find(const json::object& context, const std::vector<std::string>& path) {
    const json::value* at = context.if_contains(path.front());
    for (std::size_t i = 1; at != nullptr && i < path.size(); ++i) {
        if (at->is_object()) {
            at = at->get_object().if_contains(path[i]);
        } else if (at->is_array()) {
            std::size_t index = 0;
            const auto& segment = path[i];
            const auto r = std::from_chars(segment.data(), segment.data() + segment.size(), index);
            const bool is_index = r.ec == std::errc{} && r.ptr == segment.data() + segment.size();
            at = is_index && index < at->get_array().size() ? &at->get_array()[index] : nullptr;
        } else {
            at = nullptr;
        }
    }
    return at;
}

// A value as words: lists joined with ", ", a date as "start → end", null as nothing.
void append_text(std::string& out, const json::value& v) {
    switch (v.kind()) {
        case json::kind::string:
            model::append_json_escaped(out, v.get_string());
            break;
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_:
            model::append_json_text(out, v);
            break;
        case json::kind::bool_:
            out += v.get_bool() ? "true" : "false";
            break;
        case json::kind::null:
            break;
        case json::kind::array: {
            bool first = true;
            for (const auto& item : v.get_array()) {
                if (!first) out += ", ";
                first = false;
                append_text(out, item);
            }
            break;
        }
        case json::kind::object: {
            const auto& o = v.get_object();
            if (const auto* start = o.if_contains("start"); start && start->is_string()) {
                append_text(out, *start);
                if (const auto* end = o.if_contains("end"); end && end->is_string()) {
                    out += " \xE2\x86\x92 ";  // →
                    append_text(out, *end);
                }
            } else {
                model::append_json_escaped(out, model::to_json_text(o));
            }
            break;
        }
    }
}

// Values of every type a template may meet, for the check at load time.
json::object sample_context() {
    return {{"event", "updated"},
            {"seq", 1},
            {"sync", "tasks"},
            {"data_source_id", "2f3e4d5c-6b7a-4988-9f0e-1d2c3b4a5968"},
            {"page_id", "1f2e3d4c-5b6a-4988-9f0e-1d2c3b4a5968"},
            {"last_edited_time", "2026-01-01T00:00:00.000Z"},
            {"url", "https://www.notion.so/Page-1f2e3d4c5b6a49889f0e1d2c3b4a5968"},
            {"properties",
             {{"Name", "A \"quoted\" name\n"},
              {"Count", 2.5},
              {"Done", true},
              {"Tags", json::array{"a", "b"}},
              {"Due", {{"start", "2026-06-01"}, {"end", nullptr}, {"time_zone", nullptr}}}}},
            {"changed", json::array{"Count"}},
            {"property_ids", {{"Name", "title"}}},
            {"title", "A \"quoted\" name\n"},
            {"data_source", "Tasks"},
            {"target", "tasks/chat"},
            {"delivery_id", "tasks/chat:1"}};
}

}  // namespace

const std::vector<std::string>& template_names() {
    static const std::vector<std::string> names{
        "event",  "seq",        "sync",    "data_source_id", "page_id", "last_edited_time",
        "url",    "properties", "changed", "property_ids",   "title",   "data_source",
        "target", "delivery_id"};
    return names;
}

BodyTemplate BodyTemplate::parse(std::string_view text) {
    BodyTemplate t;
    std::size_t at = 0;
    for (;;) {
        const auto open = text.find("{{", at);
        if (open == std::string_view::npos) {
            t.pieces_.push_back({.literal = std::string(text.substr(at))});
            break;
        }
        const auto close = text.find("}}", open + 2);
        if (close == std::string_view::npos) throw TemplateError("unclosed {{", open);
        Piece piece{.literal = std::string(text.substr(at, open - at))};
        std::string_view inner = trim(text.substr(open + 2, close - open - 2));
        if (inner.starts_with("json:")) {
            piece.as_json = true;
            inner = trim(inner.substr(5));
        } else if (const auto colon = inner.find(':'); colon != std::string_view::npos) {
            throw TemplateError("unknown prefix `" + std::string(inner.substr(0, colon + 1)) +
                                    "` in {{" + std::string(inner) + "}} (only json: is known)",
                                open);
        }
        if (inner.empty()) throw TemplateError("empty {{}}", open);
        for (std::size_t start = 0;;) {
            const auto dot = inner.find('.', start);
            const auto segment = trim(inner.substr(start, dot - start));
            if (segment.empty())
                throw TemplateError("empty name in {{" + std::string(inner) + "}}", open);
            piece.path.emplace_back(segment);
            if (dot == std::string_view::npos) break;
            start = dot + 1;
        }
        const auto& names = template_names();
        if (std::find(names.begin(), names.end(), piece.path.front()) == names.end()) {
            std::string known;
            for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
            throw TemplateError("unknown name `" + piece.path.front() + "` in {{" +
                                    std::string(inner) + "}} (expected one of: " + known + ")",
                                open);
        }
        t.pieces_.push_back(std::move(piece));
        at = close + 2;
    }
    // Only a body that is JSON for every kind of value can be sent as application/json.
    const std::string sample = t.render(sample_context());
    boost::system::error_code ec;
    (void)model::parse_json(sample, ec);
    if (ec) {
        throw TemplateError("does not render to JSON (" + ec.message() +
                                "); put {{name}} inside a JSON string, or use {{json:name}} for a "
                                "value outside one",
                            0);
    }
    return t;
}

std::string BodyTemplate::render(const json::object& context) const {
    std::string out;
    for (const auto& piece : pieces_) {
        out += piece.literal;
        if (piece.path.empty()) continue;
        const json::value* value = find(context, piece.path);
        if (piece.as_json) {
            if (value) {
                model::append_json_text(out, *value);
            } else {
                out += "null";
            }
        } else if (value) {
            append_text(out, *value);
        }
    }
    return out;
}

json::object template_context(const model::ChangeEvent& event,
                              const std::map<std::string, model::Schema>& schemas,
                              const std::string& target, const std::string& delivery_id) {
    json::object context = event.to_json();
    json::value title = nullptr;
    json::value data_source = nullptr;
    if (const auto schema = schemas.find(event.data_source_id); schema != schemas.end()) {
        data_source = schema->second.title.c_str();
        for (const auto& p : schema->second.properties) {
            if (p.type != "title") continue;
            if (const auto* v = event.properties.if_contains(p.name)) title = *v;
        }
    }
    context["title"] = std::move(title);
    context["data_source"] = std::move(data_source);
    context["target"] = target;
    context["delivery_id"] = delivery_id;
    return context;
}

}  // namespace syncd::connectors::webhook
