#include "daemon/model/write_value.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cctype>
#include <cstdio>
#include <set>

#include "daemon/model/json_text.hpp"
#include "daemon/model/record.hpp"
#include "daemon/model/time_zone.hpp"

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
    json::value parsed = model::parse_json(stored.get_string(), error);
    return error ? stored : parsed;
}

// A date or datetime of Notion's (or of a database column): its instant in UTC and how it was
// written. Date-only values stand for their day; a datetime without an offset is a local time
// in `zone` (UTC when there is none).
struct Moment {
    bool ok = false;
    bool date_only = false;
    std::int64_t seconds = 0;  // UTC; a date: its midnight UTC
    int millis = 0;
    bool has_offset = false;  // Z or ±hh:mm in the text
    int offset = 0;           // seconds east of UTC, when has_offset
};

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

Moment parse_moment(const json::value& value, const json::value& zone) {
    Moment m;
    if (!value.is_string()) return m;
    const std::string text(value.get_string());
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &consumed) != 3 || mo < 1 ||
        mo > 12 || d < 1 || d > 31)
        return m;
    const std::int64_t day =
        days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    std::size_t at = static_cast<std::size_t>(consumed);
    if (at == text.size()) {
        m.ok = m.date_only = true;
        m.seconds = day * 86400;
        return m;
    }
    if (text[at] != 'T' && text[at] != ' ') return m;
    if (std::sscanf(text.c_str() + at + 1, "%2d:%2d%n", &h, &mi, &consumed) != 2) return m;
    at += 1 + static_cast<std::size_t>(consumed);
    int sec = 0;
    if (at < text.size() && text[at] == ':') {
        if (std::sscanf(text.c_str() + at + 1, "%2d%n", &sec, &consumed) != 1) return m;
        at += 1 + static_cast<std::size_t>(consumed);
    }
    if (at < text.size() && text[at] == '.') {
        int digits = 0;
        for (++at; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])); ++at) {
            if (digits++ < 3) m.millis = m.millis * 10 + (text[at] - '0');
        }
        for (; digits < 3; ++digits) m.millis *= 10;
    }
    const std::int64_t local = day * 86400 + h * 3600 + mi * 60 + sec;
    if (at == text.size()) {
        m.seconds = local;
        if (zone.is_string()) {
            const auto utc = local_to_utc(std::string(zone.get_string()), local);
            if (!utc) return m;
            m.seconds = *utc;
        }
        m.ok = true;
        return m;
    }
    if (text[at] == 'Z' && at + 1 == text.size()) {
        m.ok = m.has_offset = true;
        m.seconds = local;
        return m;
    }
    int oh = 0, om = 0;
    const char sign = text[at];
    if ((sign != '+' && sign != '-') ||
        (std::sscanf(text.c_str() + at + 1, "%2d:%2d", &oh, &om) != 2 &&
         std::sscanf(text.c_str() + at + 1, "%2d%2d", &oh, &om) != 2 &&
         std::sscanf(text.c_str() + at + 1, "%2d", &oh) != 1))
        return m;
    m.offset = (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    m.ok = m.has_offset = true;
    m.seconds = local - m.offset;
    return m;
}

// Whether two date strings mean the same: the same day, or the same instant; a time at midnight
// UTC stands for a date without a time (how a timestamptz column holds a date-only value).
bool same_moment(const Moment& a, const Moment& b) {
    if (!a.ok || !b.ok) return false;
    if (a.date_only != b.date_only) {
        const Moment& time = a.date_only ? b : a;
        const Moment& date = a.date_only ? a : b;
        return time.millis == 0 && time.seconds == date.seconds;
    }
    return a.seconds == b.seconds && a.millis == b.millis;
}

// An instant written the way `like` is written: in its offset, or as a local time of `zone`.
std::string render_like(const Moment& m, const Moment& like, const json::value& zone) {
    std::int64_t local = m.seconds;
    int offset = 0;
    if (like.has_offset) {
        offset = like.offset;
    } else if (zone.is_string()) {
        offset = utc_offset(std::string(zone.get_string()), m.seconds).value_or(0);
    }
    local += offset;
    const std::int64_t days = (local >= 0 ? local : local - 86399) / 86400;
    const std::int64_t rest = local - days * 86400;
    int y = 0;
    unsigned mo = 0, d = 0;
    civil_from_days(days, y, mo, d);
    char text[48];
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%03d", y, mo, d,
                  static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60),
                  static_cast<int>(rest % 60), m.millis);
    std::string out = text;
    if (like.has_offset) {
        if (offset == 0) return out + "Z";
        const int a = offset < 0 ? -offset : offset;
        std::snprintf(text, sizeof text, "%c%02d:%02d", offset < 0 ? '-' : '+', a / 3600,
                      a / 60 % 60);
        out += text;
    }
    return out;
}

// A date read from a target, made to look like the stored one (`reference`) where it means the
// same, and written in the reference's offset or time zone where it changed: so an unchanged
// value is not an edit and a changed time keeps its time zone (never shifted by a day).
json::value like_reference(const json::object& date, const json::value& reference) {
    const json::object* ref = reference.is_object() ? &reference.get_object() : nullptr;
    if (ref == nullptr || !ref->contains("start")) return date;
    const json::value none;
    const json::value& zone = ref->contains("time_zone") ? ref->at("time_zone") : none;
    json::object out;
    bool zoned = false;
    for (const char* key : {"start", "end"}) {
        const json::value& v = date.contains(key) ? date.at(key) : none;
        const json::value& r =
            ref->contains(key) && !ref->at(key).is_null() ? ref->at(key) : ref->at("start");
        // A time without an offset in the target is a local time of the reference's zone.
        const Moment mv = parse_moment(v, zone);
        const Moment mr = parse_moment(r, zone);
        if (!mv.ok || !mr.ok) {
            out[key] = v;
            continue;
        }
        if (same_moment(mv, mr) && (std::string_view(key) == "start" || !ref->at(key).is_null())) {
            out[key] = ref->at(key);
            zoned = zoned || (!mr.date_only && !mr.has_offset && zone.is_string());
            continue;
        }
        if (mv.date_only || (mr.date_only && mv.millis == 0 && mv.seconds % 86400 == 0)) {
            // A date (or a midnight UTC where the stored value was a date): a date.
            Moment day = mv;
            day.seconds -= day.seconds % 86400;
            const std::string text = render_like(day, Moment{.has_offset = true}, nullptr);
            out[key] = text.substr(0, 10);
            continue;
        }
        if (mr.date_only) {
            out[key] = v;  // a time where there was none: as written
            continue;
        }
        out[key] = render_like(mv, mr, zone);
        zoned = zoned || (!mr.has_offset && zone.is_string());
    }
    out["time_zone"] = zoned ? zone : json::value(nullptr);
    return out;
}

}  // namespace

bool is_writable(const std::string& type) {
    static const std::set<std::string> writable = {
        "title", "rich_text", "number", "checkbox",     "select", "multi_select", "status",
        "date",  "url",       "email",  "phone_number", "people", "relation",     "files"};
    return writable.contains(type);
}

ReadBack canonical_from_column(const json::value& stored, const std::string& type,
                               const json::value& reference) {
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
            return {like_reference(
                json::object{{"start", date}, {"end", nullptr}, {"time_zone", nullptr}},
                reference)};
        }
        if (!date.is_object() || !date.get_object().contains("start"))
            return {{}, "expected a date (2026-06-01) or {\"start\": …, \"end\": …}"};
        const auto& o = date.get_object();
        if (o.at("start").is_null()) return {nullptr};
        const json::object read{
            {"start", o.at("start")},
            {"end", o.contains("end") ? o.at("end") : json::value()},
            {"time_zone", o.contains("time_zone") ? o.at("time_zone") : json::value()}};
        if (!read.at("time_zone").is_null()) return {read};  // said by the target itself
        return {like_reference(read, reference)};
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
