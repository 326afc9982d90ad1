#include "daemon/model/write_value.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <set>

#include "daemon/model/record.hpp"

namespace syncd::model {
namespace {

namespace json = boost::json;

// `text` as rich text items of at most 2,000 UTF-16 code units each, cut between code points.
json::array rich_text_items(std::string_view text, std::string& error) {
    json::array items;
    std::string chunk;
    std::size_t units = 0;
    for (std::size_t i = 0; i < text.size();) {
        const auto lead = static_cast<unsigned char>(text[i]);
        const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        const std::size_t cost = length == 4 ? 2 : 1;  // a surrogate pair in UTF-16
        if (units + cost > 2000) {
            items.push_back(json::object{{"type", "text"}, {"text", {{"content", chunk}}}});
            chunk.clear();
            units = 0;
        }
        chunk.append(text.substr(i, length));
        units += cost;
        i += length;
    }
    if (!chunk.empty())
        items.push_back(json::object{{"type", "text"}, {"text", {{"content", chunk}}}});
    if (items.size() > 100) {
        error = "the text is longer than Notion takes (100 items of 2,000 characters)";
    }
    return items;
}

json::value parse_json_text(const json::value& stored) {
    if (!stored.is_string()) return stored;
    boost::system::error_code error;
    json::value parsed = json::parse(stored.get_string(), error);
    return error ? stored : parsed;
}

}  // namespace

bool is_writable(const std::string& type) {
    static const std::set<std::string> writable = {
        "title", "rich_text", "number", "checkbox",     "select", "multi_select", "status",
        "date",  "url",       "email",  "phone_number", "people", "relation",     "files"};
    return writable.contains(type);
}

ReadBack canonical_from_column(const json::value& stored, const std::string& type) {
    if (type == "title" || type == "rich_text") {
        if (stored.is_null()) return {json::value("")};
        if (stored.is_string()) return {stored};
        return {{}, "expected text"};
    }
    if (type == "url" || type == "email" || type == "phone_number" || type == "select" ||
        type == "status") {
        if (stored.is_null() || (stored.is_string() && stored.get_string().empty()))
            return {nullptr};
        if (stored.is_string()) return {stored};
        return {{}, "expected text"};
    }
    if (type == "number") {
        if (stored.is_null()) return {nullptr};
        if (stored.is_number()) return {canonical_number(stored)};
        return {{}, "expected a number"};
    }
    if (type == "checkbox") {
        if (stored.is_bool()) return {stored};
        if (stored.is_int64() || stored.is_uint64())
            return {json::value(stored.to_number<std::int64_t>() != 0)};
        if (stored.is_null()) return {json::value(false)};
        return {{}, "expected 0 or 1"};
    }
    if (type == "multi_select" || type == "people" || type == "relation" || type == "files") {
        if (stored.is_null()) return {json::array{}};
        const json::value list = parse_json_text(stored);
        if (!list.is_array()) return {{}, "expected a JSON list, e.g. [\"a\", \"b\"]"};
        if (type != "files") {
            for (const auto& item : list.get_array()) {
                if (!item.is_string()) return {{}, "expected a JSON list of strings"};
            }
        }
        return {list};
    }
    if (type == "date") {
        if (stored.is_null()) return {nullptr};  // as an empty date reads from Notion
        const json::value date = parse_json_text(stored);
        if (date.is_string()) {  // a bare "2026-06-01": a date without end or time zone
            return {json::object{{"start", date}, {"end", nullptr}, {"time_zone", nullptr}}};
        }
        if (!date.is_object() || !date.get_object().contains("start"))
            return {{}, "expected a date (2026-06-01) or {\"start\": …, \"end\": …}"};
        const auto& o = date.get_object();
        if (o.at("start").is_null()) return {nullptr};
        return {json::object{
            {"start", o.at("start")},
            {"end", o.contains("end") ? o.at("end") : json::value()},
            {"time_zone", o.contains("time_zone") ? o.at("time_zone") : json::value()}}};
    }
    return {{}, "a " + type + " property cannot be written back"};
}

Payload notion_property(const json::value& v, const std::string& type) {
    if (!is_writable(type)) return {{}, "a " + type + " property is read-only in Notion"};
    std::string error;
    if (type == "title" || type == "rich_text") {
        const std::string_view text = v.is_string() ? std::string_view(v.get_string()) : "";
        json::array items = rich_text_items(text, error);
        return {json::object{{type, std::move(items)}}, error};
    }
    if (type == "number" || type == "url" || type == "email" || type == "phone_number" ||
        type == "checkbox") {
        return {json::object{{type, v}}};
    }
    if (type == "select" || type == "status") {
        if (v.is_null()) return {json::object{{type, nullptr}}};
        return {json::object{{type, {{"name", v}}}}};
    }
    const json::array none;
    const json::array& list = v.is_array() ? v.get_array() : none;  // null: an empty list
    if (type == "multi_select") {
        json::array options;
        for (const auto& name : list) options.push_back(json::object{{"name", name}});
        return {json::object{{type, std::move(options)}}};
    }
    if (type == "people" || type == "relation") {
        json::array ids;
        for (const auto& id : list) ids.push_back(json::object{{"id", id}});
        if (type == "relation" && ids.size() > 100)
            return {{}, "more than 100 related pages: Notion takes at most 100 in one write"};
        return {json::object{{type, std::move(ids)}}};
    }
    if (type == "date") {
        if (!v.is_object() || !v.get_object().contains("start") ||
            v.get_object().at("start").is_null())
            return {json::object{{"date", nullptr}}};  // no date
        const auto& o = v.get_object();
        json::object date{{"start", o.at("start")}};
        if (const auto* end = o.if_contains("end"); end && !end->is_null()) date["end"] = *end;
        if (const auto* zone = o.if_contains("time_zone"); zone && !zone->is_null())
            date["time_zone"] = *zone;
        return {json::object{{"date", std::move(date)}}};
    }
    // files: external URLs only (Notion-hosted files cannot be written by URL).
    json::array files;
    for (const auto& f : list) {
        if (!f.is_object()) return {{}, "expected files as {\"name\", \"url\"} objects"};
        const auto& o = f.get_object();
        const auto* url = o.if_contains("url");
        if (url == nullptr || !url->is_string())
            return {{}, "only external files (with a url) can be written"};
        files.push_back(json::object{{"name", o.contains("name") ? o.at("name") : *url},
                                     {"type", "external"},
                                     {"external", {{"url", *url}}}});
    }
    return {json::object{{"files", std::move(files)}}};
}

}  // namespace syncd::model
