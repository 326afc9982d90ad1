#include "emulator/filter.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cmath>

#include "emulator/api_error.hpp"
#include "emulator/properties.hpp"

namespace emulator {
namespace {

constexpr Millis day = 86'400'000;

const std::set<std::string, std::less<>> text_ops = {
    "equals",      "does_not_equal", "contains", "does_not_contain",
    "starts_with", "ends_with",      "is_empty", "is_not_empty"};
const std::set<std::string, std::less<>> number_ops = {"equals",
                                                       "does_not_equal",
                                                       "greater_than",
                                                       "less_than",
                                                       "greater_than_or_equal_to",
                                                       "less_than_or_equal_to",
                                                       "is_empty",
                                                       "is_not_empty"};
const std::set<std::string, std::less<>> date_ops = {
    "equals",     "before",    "after",      "on_or_before", "on_or_after",
    "this_week",  "past_week", "past_month", "past_year",    "next_week",
    "next_month", "next_year", "is_empty",   "is_not_empty"};
const std::set<std::string, std::less<>> select_ops = {"equals", "does_not_equal", "is_empty",
                                                       "is_not_empty"};
const std::set<std::string, std::less<>> contains_ops = {"contains", "does_not_contain", "is_empty",
                                                         "is_not_empty"};
const std::set<std::string, std::less<>> empty_ops = {"is_empty", "is_not_empty"};
const std::set<std::string, std::less<>> checkbox_ops = {"equals", "does_not_equal"};

[[noreturn]] void bad(const std::string& message) {
    throw validation_error("body failed validation: " + message);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The condition kind a property type is filtered with.
const std::set<std::string, std::less<>>* ops_for(std::string_view kind) {
    if (kind == "title" || kind == "rich_text" || kind == "url" || kind == "email" ||
        kind == "phone_number" || kind == "string") {
        return &text_ops;
    }
    if (kind == "number" || kind == "unique_id") return &number_ops;
    if (kind == "date" || kind == "created_time" || kind == "last_edited_time") return &date_ops;
    if (kind == "select" || kind == "status") return &select_ops;
    if (kind == "multi_select" || kind == "people" || kind == "relation" || kind == "created_by" ||
        kind == "last_edited_by") {
        return &contains_ops;
    }
    if (kind == "files") return &empty_ops;
    if (kind == "checkbox") return &checkbox_ops;
    return nullptr;
}

void validate_condition(std::string_view kind, const json::value& condition,
                        const std::string& path) {
    if (!condition.is_object()) bad(path + " should be an object.");
    const auto* ops = ops_for(kind);
    if (ops == nullptr) bad(path + ": filtering on `" + std::string(kind) + "` is not supported.");
    const auto& c = condition.get_object();
    if (c.size() != 1) bad(path + " should have exactly one condition.");
    const auto& [op, value] = *c.begin();
    if (!ops->contains(op)) {
        bad(path + "." + std::string(op) + " is not a valid condition for `" + std::string(kind) +
            "`.");
    }
    if (op == "is_empty" || op == "is_not_empty") {
        if (value != true) bad(path + "." + std::string(op) + " should be `true`.");
        return;
    }
    if (ops == &date_ops) {
        if (op == "this_week" || op.starts_with("past_") || op.starts_with("next_")) {
            if (!value.is_object()) bad(path + "." + std::string(op) + " should be an object.");
            return;
        }
        static const std::set<std::string, std::less<>> relative = {
            "today",         "tomorrow",          "yesterday", "one_week_ago", "one_week_from_now",
            "one_month_ago", "one_month_from_now"};
        if (!value.is_string() ||
            (!parse_time(value.get_string()) && !relative.contains(value.get_string()))) {
            bad(path + "." + std::string(op) +
                " should be a valid ISO 8601 date string, instead was `" + json::serialize(value) +
                "`.");
        }
        return;
    }
    if (ops == &number_ops) {
        if (!value.is_number()) bad(path + "." + std::string(op) + " should be a number.");
        return;
    }
    if (ops == &checkbox_ops) {
        if (!value.is_bool()) bad(path + "." + std::string(op) + " should be a boolean.");
        return;
    }
    if (ops == &text_ops) {
        if (!value.is_string()) bad(path + "." + std::string(op) + " should be a string.");
        return;
    }
    // select / multi_select: a string or an array of strings; people / relation: a UUID.
    const bool ids =
        kind == "people" || kind == "relation" || kind == "created_by" || kind == "last_edited_by";
    if (ids) {
        if (!value.is_string() || (!normalize_uuid(value.get_string()) && value != "me")) {
            bad(path + "." + std::string(op) + " should be a valid uuid, instead was `" +
                json::serialize(value) + "`.");
        }
        return;
    }
    if (value.is_string()) return;
    if (value.is_array() && std::all_of(value.get_array().begin(), value.get_array().end(),
                                        [](const json::value& v) { return v.is_string(); })) {
        return;
    }
    bad(path + "." + std::string(op) + " should be a string or an array of strings.");
}

void validate(const json::value& filter, const std::vector<PropertyDef>& schema, int depth,
              const std::string& path) {
    if (!filter.is_object()) bad(path + " should be an object.");
    const auto& f = filter.get_object();
    for (const char* compound : {"and", "or"}) {
        if (const auto* items = f.if_contains(compound)) {
            if (f.size() != 1) bad(path + " should have only `" + compound + "`.");
            if (depth >= 2) {
                bad(path + " nests compound filters more than two levels deep.");
            }
            if (!items->is_array()) bad(path + "." + compound + " should be an array.");
            if (items->get_array().size() > 100)
                bad(path + "." + compound + ".length should be ≤ `100`.");
            for (std::size_t i = 0; i < items->get_array().size(); ++i) {
                validate(items->get_array()[i], schema, depth + 1,
                         path + "." + compound + "[" + std::to_string(i) + "]");
            }
            return;
        }
    }
    if (const auto* timestamp = f.if_contains("timestamp")) {
        if (f.contains("property"))
            bad(path + ".property should be not present for a timestamp filter.");
        if (*timestamp != "created_time" && *timestamp != "last_edited_time") {
            bad(path + ".timestamp should be `created_time` or `last_edited_time`.");
        }
        const std::string kind(timestamp->get_string());
        if (!f.contains(kind)) bad(path + "." + kind + " should be defined.");
        validate_condition("date", f.at(kind), path + "." + kind);
        return;
    }
    const auto* property = f.if_contains("property");
    if (property == nullptr || !property->is_string()) {
        bad(path + " should be a property, timestamp or compound filter.");
    }
    const PropertyDef* def = find_property(schema, property->get_string());
    if (def == nullptr) {
        throw validation_error("Could not find property with name or id: " +
                               std::string(property->get_string()));
    }
    std::string key;
    for (const auto& [k, v] : f) {
        if (k == "property" || k == "type") continue;
        if (!key.empty()) bad(path + " should have one condition key.");
        key = std::string(k);
        (void)v;
    }
    const bool time_alias =
        (def->type == "created_time" || def->type == "last_edited_time") && key == "date";
    const bool person_alias =
        (def->type == "created_by" || def->type == "last_edited_by") && key == "people";
    if (key != def->type && !time_alias && !person_alias) {
        bad(path + ": property `" + def->name + "` is of type `" + def->type +
            "` and cannot be filtered with a `" + key + "` condition.");
    }
    const auto& condition = f.at(key);
    const std::string cpath = path + "." + key;
    if (def->type == "formula") {
        if (!condition.is_object() || condition.get_object().size() != 1) {
            bad(cpath + " should have one of string, number, checkbox, date.");
        }
        const auto& [sub, sub_condition] = *condition.get_object().begin();
        if (sub != "string" && sub != "number" && sub != "checkbox" && sub != "date") {
            bad(cpath + " should have one of string, number, checkbox, date.");
        }
        validate_condition(sub, sub_condition, cpath + "." + std::string(sub));
        return;
    }
    if (def->type == "rollup") {
        if (!condition.is_object() || condition.get_object().size() != 1) {
            bad(cpath + " should have one of any, every, none, number, date.");
        }
        const auto& [sub, sub_condition] = *condition.get_object().begin();
        if (sub == "number" || sub == "date") {
            validate_condition(sub, sub_condition, cpath + "." + std::string(sub));
        } else if (sub == "any" || sub == "every" || sub == "none") {
            if (!sub_condition.is_object() || sub_condition.get_object().size() != 1) {
                bad(cpath + "." + std::string(sub) + " should have one typed condition.");
            }
            const auto& [type, inner] = *sub_condition.get_object().begin();
            validate_condition(type, inner,
                               cpath + "." + std::string(sub) + "." + std::string(type));
        } else {
            bad(cpath + " should have one of any, every, none, number, date.");
        }
        return;
    }
    validate_condition(
        def->type == "created_time" || def->type == "last_edited_time" ? "date" : def->type,
        condition, cpath);
}

// A day-only value "2026-05-01" matches the whole day; a date-time is an instant.
struct Span {
    Millis start;
    Millis end;  // exclusive
};

Span resolve_date(const json::value& value, Millis now) {
    const std::string_view s = value.get_string();
    const Millis today = now - ((now % day) + day) % day;
    if (s == "today") return {today, today + day};
    if (s == "tomorrow") return {today + day, today + 2 * day};
    if (s == "yesterday") return {today - day, today};
    if (s == "one_week_ago") return {today - 7 * day, today - 6 * day};
    if (s == "one_week_from_now") return {today + 7 * day, today + 8 * day};
    if (s == "one_month_ago") return {today - 30 * day, today - 29 * day};
    if (s == "one_month_from_now") return {today + 30 * day, today + 31 * day};
    const Millis t = *parse_time(s);
    return is_date_only(s) ? Span{t, t + day} : Span{t, t + 1};
}

bool date_matches(std::optional<Millis> v, const json::object& condition, Millis now) {
    const auto& [op, value] = *condition.begin();
    if (op == "is_empty") return !v;
    if (op == "is_not_empty") return v.has_value();
    if (!v) return false;
    const Millis today = now - ((now % day) + day) % day;
    if (op == "past_week") return *v >= now - 7 * day && *v <= now;
    if (op == "past_month") return *v >= now - 30 * day && *v <= now;
    if (op == "past_year") return *v >= now - 365 * day && *v <= now;
    if (op == "next_week") return *v >= now && *v <= now + 7 * day;
    if (op == "next_month") return *v >= now && *v <= now + 30 * day;
    if (op == "next_year") return *v >= now && *v <= now + 365 * day;
    if (op == "this_week") {
        // Weeks start on Sunday; 1970-01-01 was a Thursday.
        const Millis days_since_sunday = ((today / day) + 4) % 7;
        const Millis start = today - days_since_sunday * day;
        return *v >= start && *v < start + 7 * day;
    }
    const Span span = resolve_date(value, now);
    if (op == "equals") return *v >= span.start && *v < span.end;
    if (op == "before") return *v < span.start;
    if (op == "after") return *v >= span.end;
    if (op == "on_or_before") return *v < span.end;
    if (op == "on_or_after") return *v >= span.start;
    return false;
}

std::optional<Millis> date_start(const json::value& v) {
    if (!v.is_object()) return std::nullopt;
    const auto* start = v.get_object().if_contains("start");
    if (start == nullptr || !start->is_string()) return std::nullopt;
    return parse_time(start->get_string());
}

bool text_matches(std::string_view text, const json::object& condition) {
    const auto& [op, value] = *condition.begin();
    if (op == "is_empty") return text.empty();
    if (op == "is_not_empty") return !text.empty();
    const std::string needle = lower(value.get_string());
    const std::string hay = lower(text);
    // equals is exact; the substring operators ignore case (UNCONFIRMED, emulator/README.md).
    if (op == "equals") return text == value.get_string();
    if (op == "does_not_equal") return text != value.get_string();
    if (op == "contains") return hay.find(needle) != std::string::npos;
    if (op == "does_not_contain") return hay.find(needle) == std::string::npos;
    if (op == "starts_with") return hay.starts_with(needle);
    if (op == "ends_with") return hay.ends_with(needle);
    return false;
}

bool number_matches(const json::value& v, const json::object& condition) {
    const auto& [op, value] = *condition.begin();
    if (op == "is_empty") return v.is_null();
    if (op == "is_not_empty") return !v.is_null();
    if (!v.is_number()) return false;
    const double x = v.to_number<double>();
    const double y = value.to_number<double>();
    if (op == "equals") return x == y;
    if (op == "does_not_equal") return x != y;
    if (op == "greater_than") return x > y;
    if (op == "less_than") return x < y;
    if (op == "greater_than_or_equal_to") return x >= y;
    if (op == "less_than_or_equal_to") return x <= y;
    return false;
}

std::vector<std::string> names_of(const json::value& v) {
    std::vector<std::string> out;
    if (v.is_string()) out.emplace_back(v.get_string());
    if (v.is_array()) {
        for (const auto& x : v.get_array()) out.emplace_back(x.get_string());
    }
    return out;
}

bool set_matches(const std::vector<std::string>& have, const json::object& condition, bool single) {
    const auto& [op, value] = *condition.begin();
    if (op == "is_empty") return have.empty();
    if (op == "is_not_empty") return !have.empty();
    std::vector<std::string> wanted = names_of(value);
    for (auto& w : wanted) {
        if (auto id = normalize_uuid(w)) w = *id;
    }
    const bool any = std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) {
        return std::find(have.begin(), have.end(), w) != have.end();
    });
    if (op == "equals" || op == "contains") return any;
    if (op == "does_not_equal" || op == "does_not_contain") return !any;
    (void)single;
    return false;
}

// The text / number / date / ids a rendered value exposes to filters and sorts.
std::string text_of(const std::string& type, const json::value& v) {
    if (type == "title" || type == "rich_text") return plain_text(v.as_array());
    if (v.is_string()) return std::string(v.get_string());
    return "";
}

std::vector<std::string> ids_of(const std::string& type, const json::value& v) {
    std::vector<std::string> out;
    if (type == "multi_select") {
        for (const auto& o : v.as_array()) out.emplace_back(o.at("name").as_string());
    } else if (type == "select" || type == "status") {
        if (v.is_object()) out.emplace_back(v.at("name").as_string());
    } else if (type == "created_by" || type == "last_edited_by") {
        out.emplace_back(v.at("id").as_string());
    } else if (v.is_array()) {
        for (const auto& o : v.as_array()) out.emplace_back(o.at("id").as_string());
    }
    return out;
}

bool value_matches(const std::string& type, const json::value& v, const json::object& condition,
                   Millis now) {
    if (type == "title" || type == "rich_text" || type == "url" || type == "email" ||
        type == "phone_number" || type == "string") {
        return text_matches(text_of(type, v), condition);
    }
    if (type == "number") return number_matches(v, condition);
    if (type == "unique_id") return number_matches(v.at("number"), condition);
    if (type == "checkbox" || type == "boolean") {
        const auto& [op, value] = *condition.begin();
        return op == "equals" ? v == value : v != value;
    }
    if (type == "date") return date_matches(date_start(v), condition, now);
    if (type == "created_time" || type == "last_edited_time") {
        return date_matches(parse_time(v.as_string()), condition, now);
    }
    if (type == "files") {
        const auto& [op, value] = *condition.begin();
        return (op == "is_empty") == v.as_array().empty();
    }
    return set_matches(ids_of(type, v), condition, type == "select" || type == "status");
}

// Formula and rollup results name their own type; a filter on them names the condition kind.
bool computed_matches(const json::object& result, const std::string& kind,
                      const json::object& condition, Millis now) {
    const std::string type(result.at("type").as_string());
    const json::value& v = field(result, type);
    if (kind == "checkbox")
        return value_matches("checkbox", v.is_bool() ? v : json::value(false), condition, now);
    if (kind == "string")
        return text_matches(v.is_string() ? std::string(v.get_string()) : "", condition);
    if (kind == "number")
        return number_matches(v.is_number() ? v : json::value(nullptr), condition);
    if (kind == "date") return date_matches(date_start(v), condition, now);
    return false;
}

bool evaluate(const json::value& filter, const Row& row, const std::vector<PropertyDef>& schema,
              Millis now) {
    const auto& f = filter.get_object();
    if (const auto* items = f.if_contains("and")) {
        for (const auto& item : items->get_array()) {
            if (!evaluate(item, row, schema, now)) return false;
        }
        return true;
    }
    if (const auto* items = f.if_contains("or")) {
        for (const auto& item : items->get_array()) {
            if (evaluate(item, row, schema, now)) return true;
        }
        return false;
    }
    if (const auto* timestamp = f.if_contains("timestamp")) {
        const std::string kind(timestamp->get_string());
        const Millis t = kind == "created_time" ? row.created : row.edited;
        return date_matches(t, f.at(kind).get_object(), now);
    }
    const PropertyDef* def = find_property(schema, f.at("property").get_string());
    const json::object& rendered = row.properties->at(def->id).as_object();
    const json::value& value = rendered.at(def->type);
    std::string key;
    for (const auto& [k, v] : f) {
        if (k != "property" && k != "type") key = std::string(k);
        (void)v;
    }
    const auto& condition = f.at(key).get_object();
    if (def->type == "formula") {
        const auto& [sub, inner] = *condition.begin();
        return computed_matches(value.as_object(), std::string(sub), inner.get_object(), now);
    }
    if (def->type == "rollup") {
        const auto& [sub, inner] = *condition.begin();
        const auto& result = value.as_object();
        if (sub == "number" || sub == "date") {
            return computed_matches(result, std::string(sub), inner.get_object(), now);
        }
        const auto& [type, typed] = *inner.get_object().begin();
        std::size_t hits = 0;
        std::size_t total = 0;
        if (result.at("type") == "array") {
            for (const auto& item : result.at("array").as_array()) {
                ++total;
                const std::string item_type(item.at("type").as_string());
                hits += value_matches(item_type, item.at(item_type), typed.get_object(), now);
            }
        }
        if (sub == "any") return hits > 0;
        if (sub == "every") return hits == total;
        return hits == 0;
    }
    return value_matches(def->type, value, condition, now);
}

SortKey sort_key(const PropertyDef& def, const json::value& v) {
    const std::string& t = def.type;
    if (t == "number") return v.is_number() ? SortKey{v.to_number<double>(), {}} : SortKey{};
    if (t == "checkbox") return {v == true ? 1.0 : 0.0, {}};
    if (t == "unique_id")
        return v.at("number").is_number() ? SortKey{v.at("number").to_number<double>(), {}}
                                          : SortKey{};
    if (t == "date") {
        const auto start = date_start(v);
        return start ? SortKey{static_cast<double>(*start), {}} : SortKey{};
    }
    if (t == "created_time" || t == "last_edited_time") {
        return {static_cast<double>(*parse_time(v.as_string())), {}};
    }
    if (t == "select" || t == "status") {
        if (!v.is_object()) return {};
        const auto& options = def.config.at("options").as_array();
        for (std::size_t i = 0; i < options.size(); ++i) {
            if (options[i].at("id") == v.at("id")) return {static_cast<double>(i), {}};
        }
        return {};
    }
    if (t == "formula") {
        const std::string type(v.at("type").as_string());
        const auto& x = v.at(type);
        if (x.is_number()) return {x.to_number<double>(), {}};
        if (x.is_string())
            return x.get_string().empty() ? SortKey{} : SortKey{{}, lower(x.get_string())};
        if (x.is_bool()) return {x.get_bool() ? 1.0 : 0.0, {}};
        return {};
    }
    if (t == "rollup") {
        const std::string type(v.at("type").as_string());
        const auto& x = v.at(type);
        if (x.is_number()) return {x.to_number<double>(), {}};
        return {};
    }
    std::string text = text_of(t, v);
    if (text.empty()) {
        const auto ids = ids_of(t, v);
        for (const auto& id : ids) text += id + ",";
    }
    if (text.empty()) return {};
    return {{}, lower(text)};
}

}  // namespace

const PropertyDef* find_property(const std::vector<PropertyDef>& schema, std::string_view key) {
    for (const auto& def : schema) {
        if (def.name == key || def.id == key) return &def;
    }
    const std::string decoded = url_decode(key);
    for (const auto& def : schema) {
        if (url_decode(def.id) == decoded) return &def;
    }
    return nullptr;
}

void validate_filter(const json::value& filter, const std::vector<PropertyDef>& schema) {
    validate(filter, schema, 0, "body.filter");
}

bool matches(const json::value& filter, const Row& row, const std::vector<PropertyDef>& schema,
             Millis now) {
    return evaluate(filter, row, schema, now);
}

void validate_sorts(const json::value& sorts, const std::vector<PropertyDef>& schema) {
    if (!sorts.is_array()) bad("body.sorts should be an array.");
    for (std::size_t i = 0; i < sorts.get_array().size(); ++i) {
        const std::string path = "body.sorts[" + std::to_string(i) + "]";
        const auto& s = sorts.get_array()[i];
        if (!s.is_object()) bad(path + " should be an object.");
        const auto& o = s.get_object();
        const auto* direction = o.if_contains("direction");
        if (direction == nullptr || (*direction != "ascending" && *direction != "descending")) {
            bad(path + ".direction should be `ascending` or `descending`.");
        }
        if (const auto* timestamp = o.if_contains("timestamp")) {
            if (*timestamp != "created_time" && *timestamp != "last_edited_time") {
                bad(path + ".timestamp should be `created_time` or `last_edited_time`.");
            }
        } else if (const auto* property = o.if_contains("property");
                   property && property->is_string()) {
            if (find_property(schema, property->get_string()) == nullptr) {
                throw validation_error("Could not find sort property with name or id: " +
                                       std::string(property->get_string()));
            }
        } else {
            bad(path + " should have `property` or `timestamp`.");
        }
    }
}

std::vector<SortKey> sort_keys(const json::array& sorts, const Row& row,
                               const std::vector<PropertyDef>& schema) {
    std::vector<SortKey> keys;
    keys.reserve(sorts.size());
    for (const auto& s : sorts) {
        const auto& o = s.get_object();
        if (const auto* timestamp = o.if_contains("timestamp")) {
            keys.push_back(
                {static_cast<double>(*timestamp == "created_time" ? row.created : row.edited), {}});
        } else {
            const PropertyDef* def = find_property(schema, o.at("property").get_string());
            keys.push_back(sort_key(*def, row.properties->at(def->id).at(def->type)));
        }
    }
    return keys;
}

std::vector<int> sort_signs(const json::array& sorts) {
    std::vector<int> signs;
    for (const auto& s : sorts)
        signs.push_back(s.get_object().at("direction") == "ascending" ? 1 : -1);
    return signs;
}

int compare_keys(const std::vector<int>& signs, const std::vector<SortKey>& a,
                 const std::vector<SortKey>& b) {
    for (std::size_t i = 0; i < signs.size(); ++i) {
        const int sign = signs[i];
        const SortKey& ka = a[i];
        const SortKey& kb = b[i];
        if (ka.empty() != kb.empty()) return ka.empty() ? 1 : -1;
        if (ka.empty()) continue;
        if (ka.number && kb.number && *ka.number != *kb.number) {
            return *ka.number < *kb.number ? -sign : sign;
        }
        if (ka.text && kb.text && *ka.text != *kb.text) return *ka.text < *kb.text ? -sign : sign;
    }
    return 0;
}

int compare_rows(const json::array& sorts, const Row& a, const Row& b,
                 const std::vector<PropertyDef>& schema) {
    return compare_keys(sort_signs(sorts), sort_keys(sorts, a, schema),
                        sort_keys(sorts, b, schema));
}

}  // namespace emulator
