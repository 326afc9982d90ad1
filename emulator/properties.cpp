#include "emulator/properties.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cmath>

#include "emulator/api_error.hpp"

namespace emulator {
namespace {

constexpr std::size_t max_array = 100;
constexpr std::size_t max_text = 2000;
constexpr std::size_t truncation = 25;

const std::set<std::string, std::less<>> config_less_types = {"title",
                                                              "rich_text",
                                                              "url",
                                                              "people",
                                                              "files",
                                                              "email",
                                                              "phone_number",
                                                              "date",
                                                              "checkbox",
                                                              "created_by",
                                                              "created_time",
                                                              "last_edited_by",
                                                              "last_edited_time",
                                                              "button",
                                                              "place",
                                                              "verification"};

const std::set<std::string, std::less<>> known_types = {"title",
                                                        "rich_text",
                                                        "number",
                                                        "select",
                                                        "multi_select",
                                                        "status",
                                                        "date",
                                                        "people",
                                                        "files",
                                                        "checkbox",
                                                        "url",
                                                        "email",
                                                        "phone_number",
                                                        "formula",
                                                        "relation",
                                                        "rollup",
                                                        "created_time",
                                                        "created_by",
                                                        "last_edited_time",
                                                        "last_edited_by",
                                                        "unique_id",
                                                        "verification",
                                                        "button",
                                                        "place"};

const std::set<std::string, std::less<>> colors = {"default", "gray", "brown",  "orange", "yellow",
                                                   "green",   "blue", "purple", "pink",   "red"};

std::string describe(const json::value& v) {
    if (v.is_null()) return "`null`";
    std::string text = json::serialize(v);
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return "`" + text + "`";
}

[[noreturn]] void fail(const std::string& path, const std::string& expected,
                       const json::value& got) {
    throw validation_error("body failed validation: " + path + " should be " + expected +
                           ", instead was " + describe(got) + ".");
}

const json::object& require_object(const json::value& v, const std::string& path) {
    if (!v.is_object()) fail(path, "an object", v);
    return v.get_object();
}

const json::array& require_array(const json::value& v, const std::string& path,
                                 std::size_t limit = max_array) {
    if (!v.is_array()) fail(path, "an array", v);
    if (v.get_array().size() > limit) {
        throw validation_error("body failed validation: " + path + ".length should be ≤ `" +
                               std::to_string(limit) + "`, instead was `" +
                               std::to_string(v.get_array().size()) + "`.");
    }
    return v.get_array();
}

std::string require_string(const json::value& v, const std::string& path,
                           std::size_t limit = max_text) {
    if (!v.is_string()) fail(path, "a string", v);
    const auto& s = v.get_string();
    // Notion counts JavaScript string length, UTF-16 code units: a character outside the BMP
    // (most emoji) is two, so 1,001 emoji are 2,002 (notion-api.md §3.2; tests/conformance/
    // FINDINGS.md).
    const std::size_t length = utf16_length(s);
    if (length > limit) {
        throw validation_error("body failed validation: " + path + ".length should be ≤ `" +
                               std::to_string(limit) + "`, instead was `" + std::to_string(length) +
                               "`.");
    }
    return std::string(s);
}

std::optional<std::string> optional_string(const json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string())
        return std::string(v->get_string());
    return std::nullopt;
}

json::object default_annotations() {
    return {{"bold", false},      {"italic", false}, {"strikethrough", false},
            {"underline", false}, {"code", false},   {"color", "default"}};
}

json::object normalize_annotations(const json::value* request, const std::string& path) {
    json::object out = default_annotations();
    if (request == nullptr || request->is_null()) return out;
    const auto& a = require_object(*request, path);
    for (const auto& [key, value] : a) {
        if (key == "color") {
            const std::string color = require_string(value, path + ".color", 100);
            const std::string base =
                color.ends_with("_background") ? color.substr(0, color.size() - 11) : color;
            if (!colors.contains(base)) fail(path + ".color", "a valid color", value);
            out["color"] = color;
        } else if (out.contains(key)) {
            if (!value.is_bool()) fail(path + "." + std::string(key), "a boolean", value);
            out[key] = value;
        } else {
            throw validation_error("body failed validation: " + path + "." + std::string(key) +
                                   " should be not present, instead was " + describe(value) + ".");
        }
    }
    return out;
}

std::string require_uuid(const json::value& v, const std::string& path) {
    if (!v.is_string()) fail(path, "a valid uuid", v);
    auto id = normalize_uuid(v.get_string());
    if (!id) fail(path, "a valid uuid", v);
    return *id;
}

// Whether a parsed ISO 8601 date-time names its offset ("Z", "+02:00", "-0400").
bool has_offset(std::string_view text) {
    const auto time = text.find_first_of("Tt ");
    return time != std::string_view::npos &&
           text.find_first_of("Zz+-", time) != std::string_view::npos;
}

// An IANA zone name as Notion takes them ("Europe/Berlin", "America/Argentina/Buenos_Aires",
// "UTC", "Etc/GMT+5"): only the shape is checked, the emulator has no zone database.
bool is_zone_name(std::string_view zone) {
    if (zone.empty() || !std::isalpha(static_cast<unsigned char>(zone.front()))) return false;
    if (zone.back() == '/' || zone.find("//") != std::string_view::npos) return false;
    return std::all_of(zone.begin(), zone.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
               c == '+';
    });
}

// A date value {start, end, time_zone} (notion-api.md §7.2): start and end are dates or
// date-times kept as sent, so a date stays a date and a time keeps its offset. With a time_zone
// they are local times, which must have a time and no offset. An end before its start is taken
// as sent (Notion's answer is UNCONFIRMED).
json::object date_value(const json::value& v, const std::string& path) {
    const auto& d = require_object(v, path);
    json::value zone = nullptr;
    if (const auto* tz = d.if_contains("time_zone"); tz && !tz->is_null()) {
        const std::string name = require_string(*tz, path + ".time_zone", 100);
        if (!is_zone_name(name)) fail(path + ".time_zone", "a valid IANA time zone", *tz);
        zone = name;
    }
    auto moment = [&](const json::value& value, const std::string& at, bool may_be_null) {
        const std::string expected =
            std::string("a valid ISO 8601 date string") + (may_be_null ? " or `null`" : "");
        if (!value.is_string() || !parse_time(value.get_string())) fail(at, expected, value);
        const auto text = std::string_view(value.get_string());
        if (zone.is_string() && (is_date_only(text) || has_offset(text))) {
            fail(at, "a date-time without a UTC offset when time_zone is given", value);
        }
    };
    const json::value& start = field(d, "start");
    moment(start, path + ".start", false);
    json::object out{{"start", start}, {"end", nullptr}, {"time_zone", zone}};
    if (const auto* end = d.if_contains("end"); end && !end->is_null()) {
        moment(*end, path + ".end", true);
        out["end"] = *end;
    }
    return out;
}

const User* find_user(const Workspace& ws, const std::string& id) { return ws.user(id); }

// The option of a select/status/multi_select schema matching a request {name} or {id}.
json::object resolve_option(Workspace& ws, PropertyDef& def, const json::value& request,
                            const std::string& path, bool may_create) {
    const auto& r = require_object(request, path);
    auto& options = def.config["options"].as_array();
    if (const auto id = optional_string(r, "id")) {
        for (const auto& o : options) {
            if (o.at("id").as_string() == *id) return o.as_object();
        }
        fail(path + ".id", "the id of an existing option", r.at("id"));
    }
    const auto* name_value = r.if_contains("name");
    if (name_value == nullptr) fail(path + ".name", "defined", json::value());
    const std::string name = require_string(*name_value, path + ".name", 100);
    if (name.empty()) fail(path + ".name", "a non-empty string", *name_value);
    if (name.find(',') != std::string::npos) {
        throw validation_error("Select option names cannot contain commas: " + name);
    }
    for (const auto& o : options) {
        if (o.at("name").as_string() == name) return o.as_object();
    }
    if (!may_create) {
        throw validation_error("Invalid status option. Status option \"" + name +
                               "\" does not exist for property \"" + def.name + "\".");
    }
    const std::string color = optional_string(r, "color").value_or("default");
    if (!colors.contains(color)) fail(path + ".color", "a valid color", r.at("color"));
    json::object option{
        {"id", ws.ids().option_id()}, {"name", name}, {"color", color}, {"description", nullptr}};
    options.push_back(option);
    return option;
}

json::object render_option(const PropertyDef& def, const json::value& stored) {
    if (!stored.is_object()) return {};
    const auto& id = stored.at("id").as_string();
    for (const auto& o : def.config.at("options").as_array()) {
        if (o.at("id").as_string() == id) {
            return {{"id", o.at("id")}, {"name", o.at("name")}, {"color", o.at("color")}};
        }
    }
    return {};
}

json::object status_defaults(IdSource& ids) {
    json::array options;
    json::array groups;
    const std::pair<const char*, const char*> defaults[] = {
        {"Not started", "default"}, {"In progress", "blue"}, {"Done", "green"}};
    const std::pair<const char*, const char*> group_names[] = {
        {"To-do", "gray"}, {"In progress", "blue"}, {"Complete", "green"}};
    for (std::size_t i = 0; i < 3; ++i) {
        const std::string id = ids.option_id();
        options.push_back(json::object{{"id", id},
                                       {"name", defaults[i].first},
                                       {"color", defaults[i].second},
                                       {"description", nullptr}});
        groups.push_back(json::object{{"id", ids.option_id()},
                                      {"name", group_names[i].first},
                                      {"color", group_names[i].second},
                                      {"option_ids", json::array{json::value(id)}}});
    }
    return {{"options", options}, {"groups", groups}};
}

json::array make_options(IdSource& ids, const json::object& config, const std::string& path) {
    json::array out;
    if (const auto* options = config.if_contains("options")) {
        const auto& list = require_array(*options, path + ".options", 100);
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string p = path + ".options[" + std::to_string(i) + "]";
            const auto& o = require_object(list[i], p);
            const auto* name = o.if_contains("name");
            if (name == nullptr) fail(p + ".name", "defined", json::value());
            const std::string n = require_string(*name, p + ".name", 100);
            if (n.find(',') != std::string::npos) {
                throw validation_error("Select option names cannot contain commas: " + n);
            }
            const std::string color = optional_string(o, "color").value_or("default");
            if (!colors.contains(color)) fail(p + ".color", "a valid color", o.at("color"));
            out.push_back(json::object{{"id", optional_string(o, "id").value_or(ids.option_id())},
                                       {"name", n},
                                       {"color", color},
                                       {"description", nullptr}});
        }
    }
    return out;
}

// --- formulas: a small subset of Notion's language, enough for fixtures and tests ---

class FormulaParser {
public:
    FormulaParser(const Workspace& ws, const Page& page, const DataSource& ds,
                  std::string_view text, const Connection* viewer)
        : ws_(ws), page_(page), ds_(ds), text_(text), viewer_(viewer) {}

    json::object parse() {
        json::object v = expression();
        skip();
        if (pos_ != text_.size()) throw std::runtime_error("unexpected input");
        return v;
    }

private:
    void skip() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }
    bool accept(char c) {
        skip();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    static double number_of(const json::object& v) {
        if (v.at("type") == "number" && !v.at("number").is_null()) {
            return v.at("number").to_number<double>();
        }
        throw std::runtime_error("not a number");
    }
    json::object expression() {
        json::object left = term();
        for (;;) {
            if (accept('+')) {
                json::object right = term();
                if (left.at("type") == "string" || right.at("type") == "string") {
                    left = {{"type", "string"}, {"string", text_of(left) + text_of(right)}};
                } else {
                    left = number(number_of(left) + number_of(right));
                }
            } else if (accept('-')) {
                left = number(number_of(left) - number_of(term()));
            } else {
                return left;
            }
        }
    }
    json::object term() {
        json::object left = factor();
        for (;;) {
            if (accept('*')) {
                left = number(number_of(left) * number_of(factor()));
            } else if (accept('/')) {
                left = number(number_of(left) / number_of(factor()));
            } else {
                return left;
            }
        }
    }
    json::object factor() {
        skip();
        if (accept('(')) {
            json::object v = expression();
            if (!accept(')')) throw std::runtime_error("missing )");
            return v;
        }
        if (pos_ < text_.size() && text_[pos_] == '"')
            return {{"type", "string"}, {"string", literal()}};
        if (text_.substr(pos_).starts_with("prop(")) {
            pos_ += 5;
            skip();
            const std::string name = literal();
            if (!accept(')')) throw std::runtime_error("missing )");
            return property(name);
        }
        std::size_t end = pos_;
        while (end < text_.size() &&
               (std::isdigit(static_cast<unsigned char>(text_[end])) || text_[end] == '.')) {
            ++end;
        }
        if (end == pos_) throw std::runtime_error("unexpected input");
        const double value = std::stod(std::string(text_.substr(pos_, end - pos_)));
        pos_ = end;
        return number(value);
    }
    std::string literal() {
        if (pos_ >= text_.size() || text_[pos_] != '"') throw std::runtime_error("expected string");
        const auto end = text_.find('"', pos_ + 1);
        if (end == std::string_view::npos) throw std::runtime_error("unterminated string");
        std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
        pos_ = end + 1;
        return s;
    }
    static json::object number(double v) {
        if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15) {
            return {{"type", "number"}, {"number", static_cast<std::int64_t>(v)}};
        }
        return {{"type", "number"}, {"number", std::isfinite(v) ? json::value(v) : nullptr}};
    }
    static std::string text_of(const json::object& v) {
        const auto& type = v.at("type").as_string();
        const auto& value = v.at(type);
        if (value.is_string()) return std::string(value.get_string());
        if (value.is_null()) return "";
        return json::serialize(value);
    }
    json::object property(const std::string& name) {
        for (const auto& def : ds_.properties) {
            if (def.name != name) continue;
            if (def.type == "formula") throw std::runtime_error("nested formula");
            const json::object rendered =
                PropertyCodec::render_value(ws_, page_, def, false, viewer_);
            const auto& v = rendered.at(def.type);
            if (def.type == "number") return {{"type", "number"}, {"number", v}};
            if (def.type == "checkbox") return {{"type", "boolean"}, {"boolean", v}};
            if (def.type == "date") return {{"type", "date"}, {"date", v}};
            if (def.type == "title" || def.type == "rich_text") {
                return {{"type", "string"}, {"string", plain_text(v.as_array())}};
            }
            if (def.type == "select" || def.type == "status") {
                return {{"type", "string"},
                        {"string", v.is_object() ? v.at("name") : json::value("")}};
            }
            if (v.is_string()) return {{"type", "string"}, {"string", v}};
            return {{"type", "string"}, {"string", v.is_null() ? "" : json::serialize(v)}};
        }
        throw std::runtime_error("unknown property");
    }

    const Workspace& ws_;
    const Page& page_;
    const DataSource& ds_;
    std::string_view text_;
    const Connection* viewer_;
    std::size_t pos_ = 0;
};

const PropertyDef* find_def(const DataSource& ds, std::string_view id, std::string_view name) {
    for (const auto& def : ds.properties) {
        if ((!id.empty() && def.id == id) || (id.empty() && def.name == name)) return &def;
    }
    return nullptr;
}

json::object compute_rollup(const Workspace& ws, const Page& page, const PropertyDef& def,
                            bool truncate, const Connection* viewer) {
    const std::string function = std::string(def.config.at("function").as_string());
    json::object out{{"function", function}};
    const DataSource* ds = ws.data_source(ws.parent_data_source(page.id));
    const PropertyDef* relation =
        ds ? find_def(*ds, def.config.at("relation_property_id").as_string(), "") : nullptr;
    if (relation == nullptr) {
        out["type"] = "unsupported";
        out["unsupported"] = json::object{};
        return out;
    }
    // Only the related pages the viewer can see count (notion-api.md §1.3: rollups over
    // relations into unshared data sources are incomplete).
    json::array targets = PropertyCodec::visible_relation(ws, page, *relation, viewer);
    if (truncate && targets.size() > truncation) targets.resize(truncation);
    json::array values;
    for (const auto& target : targets) {
        const Page* related = ws.page(std::string(target.at("id").as_string()));
        if (related == nullptr || related->in_trash) continue;
        const DataSource* rds = ws.data_source(ws.parent_data_source(related->id));
        if (rds == nullptr) continue;
        const PropertyDef* rdef =
            find_def(*rds, def.config.at("rollup_property_id").as_string(), "");
        if (rdef == nullptr) continue;
        json::object item = PropertyCodec::render_value(ws, *related, *rdef, truncate, viewer);
        item.erase("id");
        values.push_back(std::move(item));
    }
    auto numbers = [&] {
        std::vector<double> out_numbers;
        for (const auto& v : values) {
            const auto& n = v.at(v.at("type").as_string());
            if (n.is_number()) out_numbers.push_back(n.to_number<double>());
        }
        return out_numbers;
    };
    auto set_number = [&](std::optional<double> v) {
        out["type"] = "number";
        out["number"] = v ? json::value(*v) : json::value(nullptr);
    };
    if (function == "count") {
        set_number(static_cast<double>(values.size()));
    } else if (function == "sum") {
        double s = 0;
        for (const double n : numbers()) s += n;
        set_number(s);
    } else if (function == "average" || function == "min" || function == "max" ||
               function == "range" || function == "median") {
        auto ns = numbers();
        if (ns.empty()) {
            set_number(std::nullopt);
        } else {
            std::sort(ns.begin(), ns.end());
            double v = 0;
            if (function == "average") {
                for (const double n : ns) v += n;
                v /= static_cast<double>(ns.size());
            } else if (function == "min") {
                v = ns.front();
            } else if (function == "max") {
                v = ns.back();
            } else if (function == "range") {
                v = ns.back() - ns.front();
            } else {
                v = ns[ns.size() / 2];
            }
            set_number(v);
        }
    } else if (function == "count_values" || function == "not_empty" || function == "empty") {
        std::size_t filled = 0;
        for (const auto& v : values) {
            const auto& x = v.at(v.at("type").as_string());
            const bool empty = x.is_null() || (x.is_array() && x.as_array().empty()) ||
                               (x.is_string() && x.as_string().empty());
            filled += !empty;
        }
        set_number(static_cast<double>(function == "empty" ? values.size() - filled : filled));
    } else if (function == "checked" || function == "unchecked") {
        std::size_t checked = 0;
        for (const auto& v : values) checked += v.at(v.at("type").as_string()) == true;
        set_number(static_cast<double>(function == "checked" ? checked : values.size() - checked));
    } else if (function == "earliest_date" || function == "latest_date") {
        std::optional<std::pair<Millis, json::value>> best;
        for (const auto& v : values) {
            const auto& d = v.at(v.at("type").as_string());
            if (!d.is_object() || !d.as_object().contains("start")) continue;
            const auto t = parse_time(d.at("start").as_string());
            if (!t) continue;
            if (!best || (function == "earliest_date" ? *t < best->first : *t > best->first)) {
                best = {{*t, d}};
            }
        }
        out["type"] = "date";
        out["date"] = best ? best->second : json::value(nullptr);
    } else if (function == "show_original" || function == "show_unique") {
        out["type"] = "array";
        out["array"] = values;
    } else {
        out["type"] = "unsupported";
        out["unsupported"] = json::object{};
    }
    return out;
}

std::string signed_file_url(const Workspace& ws, const Page& page, const std::string& name) {
    // A different signature on every read, as S3 presigned URLs are (notion-api.md §10.4).
    auto& ids = const_cast<Workspace&>(ws).ids();
    return "https://prod-files-secure.s3.us-west-2.amazonaws.com/" + ws.workspace_id() + "/" +
           page.id + "/" + url_encode(name) +
           "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=" + ids.hex(64);
}

}  // namespace

std::string plain_text(const json::array& rich_text) {
    std::string out;
    for (const auto& item : rich_text) {
        if (const auto* p = item.as_object().if_contains("plain_text"); p && p->is_string()) {
            out += p->get_string();
        }
    }
    return out;
}

json::array normalize_rich_text(const Workspace& ws, const json::value& request,
                                const std::string& path) {
    const auto& items = require_array(request, path);
    json::array out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string p = path + "[" + std::to_string(i) + "]";
        const auto& item = require_object(items[i], p);
        std::string type = optional_string(item, "type").value_or("");
        if (type.empty()) {
            for (const char* candidate : {"text", "mention", "equation"}) {
                if (item.contains(candidate)) type = candidate;
            }
        }
        json::object result{{"type", type}};
        json::value href = nullptr;
        std::string plain;
        if (type == "text") {
            const auto* text = item.if_contains("text");
            if (text == nullptr) fail(p + ".text", "defined", json::value());
            const auto& t = require_object(*text, p + ".text");
            const auto* content = t.if_contains("content");
            if (content == nullptr) fail(p + ".text.content", "defined", json::value());
            plain = require_string(*content, p + ".text.content");
            json::value link = nullptr;
            if (const auto* l = t.if_contains("link"); l && !l->is_null()) {
                const auto& lo = require_object(*l, p + ".text.link");
                const auto* url = lo.if_contains("url");
                if (url == nullptr) fail(p + ".text.link.url", "defined", json::value());
                const std::string u = require_string(*url, p + ".text.link.url");
                link = json::object{{"url", u}};
                href = u;
            }
            result["text"] = json::object{{"content", plain}, {"link", link}};
        } else if (type == "equation") {
            const auto& e = require_object(field(item, "equation"), p + ".equation");
            const auto* expression = e.if_contains("expression");
            if (expression == nullptr) fail(p + ".equation.expression", "defined", json::value());
            plain = require_string(*expression, p + ".equation.expression", 1000);
            result["equation"] = json::object{{"expression", plain}};
        } else if (type == "mention") {
            const auto& m = require_object(field(item, "mention"), p + ".mention");
            json::object mention;
            if (const auto* u = m.if_contains("user")) {
                const std::string id = require_uuid(
                    field(require_object(*u, p + ".mention.user"), "id"), p + ".mention.user.id");
                const User* user = find_user(ws, id);
                mention = {{"type", "user"},
                           {"user", json::object{{"object", "user"}, {"id", id}}}};
                plain = "@" + (user ? user->name : std::string("Unknown user"));
            } else if (const auto* pg = m.if_contains("page")) {
                const auto& po = require_object(*pg, p + ".mention.page");
                const std::string id = require_uuid(field(po, "id"), p + ".mention.page.id");
                mention = {{"type", "page"}, {"page", json::object{{"id", id}}}};
                plain = "Untitled";
                if (const Page* target = ws.page(id)) {
                    // A title property's id is always "title" (notion-api.md §6.3).
                    if (const auto* title = target->values.if_contains("title")) {
                        plain = plain_text(title->as_array());
                    }
                }
            } else if (const auto* db = m.if_contains("database")) {
                const auto& dbo = require_object(*db, p + ".mention.database");
                const std::string id = require_uuid(field(dbo, "id"), p + ".mention.database.id");
                mention = {{"type", "database"}, {"database", json::object{{"id", id}}}};
                plain = "Untitled";
            } else if (const auto* date = m.if_contains("date")) {
                json::object d = date_value(*date, p + ".mention.date");
                plain = std::string(d.at("start").as_string());
                if (d.at("end").is_string()) plain += " → " + std::string(d.at("end").as_string());
                mention = {{"type", "date"}, {"date", d}};
            } else if (const auto* lp = m.if_contains("link_preview")) {
                const auto& lo = require_object(*lp, p + ".mention.link_preview");
                const std::string url =
                    require_string(field(lo, "url"), p + ".mention.link_preview.url");
                mention = {{"type", "link_preview"}, {"link_preview", json::object{{"url", url}}}};
                plain = url;
                href = url;
            } else if (const auto* tm = m.if_contains("template_mention")) {
                mention = {{"type", "template_mention"}, {"template_mention", *tm}};
                plain = "@Today";
            } else {
                fail(p + ".mention",
                     "one of user, page, database, date, link_preview, template_mention",
                     item.at("mention"));
            }
            result["mention"] = mention;
        } else {
            fail(p + ".type", "`text`, `mention` or `equation`", field(item, "type"));
        }
        result["annotations"] =
            normalize_annotations(item.if_contains("annotations"), p + ".annotations");
        result["plain_text"] = plain;
        result["href"] = href;
        out.push_back(std::move(result));
    }
    return out;
}

bool PropertyCodec::is_read_only(std::string_view type) {
    return type == "formula" || type == "rollup" || type == "created_time" ||
           type == "created_by" || type == "last_edited_time" || type == "last_edited_by" ||
           type == "unique_id" || type == "button";
}

PropertyDef PropertyCodec::make_property(Workspace& ws, DataSource& ds, const std::string& name,
                                         const json::object& request, const std::string& path) {
    std::string type;
    for (const auto& [key, value] : request) {
        if (key == "id" || key == "name" || key == "description" || key == "type") continue;
        if (!known_types.contains(key)) {
            throw validation_error("body failed validation: " + path + "." + std::string(key) +
                                   " should be not present, instead was " + describe(value) + ".");
        }
        if (!type.empty()) {
            throw validation_error("body failed validation: " + path +
                                   " should have exactly one property type, instead has `" + type +
                                   "` and `" + std::string(key) + "`.");
        }
        type = std::string(key);
    }
    if (type.empty()) {
        if (const auto t = optional_string(request, "type"); t && known_types.contains(*t)) {
            type = *t;
        } else {
            fail(path, "an object with a property type such as `rich_text`", json::value(request));
        }
    }
    PropertyDef def{
        .id = optional_string(request, "id")
                  .value_or(type == "title" ? std::string("title") : ws.ids().property_id()),
        .name = name,
        .type = type};
    if (const auto d = optional_string(request, "description")) def.description = *d;
    const json::value empty = json::object{};
    const json::value& raw = request.contains(type) ? request.at(type) : empty;
    const auto& config = require_object(raw, path + "." + type);
    if (config_less_types.contains(type)) {
        def.config = {};
    } else if (type == "number") {
        def.config = {{"format", optional_string(config, "format").value_or("number")}};
    } else if (type == "select" || type == "multi_select") {
        def.config = {{"options", make_options(ws.ids(), config, path + "." + type)}};
    } else if (type == "status") {
        def.config =
            config.contains("options")
                ? json::object{{"options", make_options(ws.ids(), config, path + ".status")},
                               {"groups", json::array{}}}
                : status_defaults(ws.ids());
    } else if (type == "formula") {
        def.config = {{"expression", require_string(field(config, "expression"),
                                                    path + ".formula.expression", 10000)}};
    } else if (type == "unique_id") {
        json::value prefix = nullptr;
        if (const auto p = optional_string(config, "prefix")) prefix = *p;
        def.config = {{"prefix", prefix}};
    } else if (type == "relation") {
        const auto* target = config.if_contains("data_source_id");
        if (target == nullptr) {
            fail(path + ".relation.data_source_id", "defined", json::value());
        }
        const std::string target_id = require_uuid(*target, path + ".relation.data_source_id");
        const DataSource* target_ds = ws.data_source(target_id);
        if (target_ds == nullptr) {
            throw object_not_found("data source", target_id);
        }
        const std::string relation_type =
            optional_string(config, "type").value_or("single_property");
        def.config = {{"database_id", target_ds->database_id},
                      {"data_source_id", target_id},
                      {"type", relation_type}};
        if (relation_type == "dual_property") {
            def.config["dual_property"] =
                json::object{{"synced_property_id", nullptr}, {"synced_property_name", nullptr}};
        } else if (relation_type == "single_property") {
            def.config["single_property"] = json::object{};
        } else {
            fail(path + ".relation.type", "`single_property` or `dual_property`",
                 config.at("type"));
        }
    } else if (type == "rollup") {
        auto relation_name = optional_string(config, "relation_property_name");
        auto relation_id = optional_string(config, "relation_property_id");
        const PropertyDef* relation =
            find_def(ds, relation_id.value_or(""), relation_name.value_or(""));
        if (relation == nullptr || relation->type != "relation") {
            throw validation_error("Rollup relation property not found: " +
                                   relation_name.value_or(relation_id.value_or("")));
        }
        const DataSource* target =
            ws.data_source(std::string(relation->config.at("data_source_id").as_string()));
        auto rollup_name = optional_string(config, "rollup_property_name");
        auto rollup_id = optional_string(config, "rollup_property_id");
        const PropertyDef* rolled =
            target ? find_def(*target, rollup_id.value_or(""), rollup_name.value_or("")) : nullptr;
        if (rolled == nullptr) {
            throw validation_error("Rollup target property not found: " +
                                   rollup_name.value_or(rollup_id.value_or("")));
        }
        def.config = {{"function", optional_string(config, "function").value_or("show_original")},
                      {"relation_property_name", relation->name},
                      {"relation_property_id", relation->id},
                      {"rollup_property_name", rolled->name},
                      {"rollup_property_id", rolled->id}};
    }
    return def;
}

json::object PropertyCodec::render_config(const Workspace& ws, const DataSource& ds,
                                          const PropertyDef& def) {
    json::object config = def.config;
    // Names of related properties follow renames: they are looked up by id on every read.
    if (def.type == "rollup") {
        const PropertyDef* relation =
            find_def(ds, def.config.at("relation_property_id").as_string(), "");
        if (relation != nullptr) {
            config["relation_property_name"] = relation->name;
            const DataSource* target =
                ws.data_source(std::string(relation->config.at("data_source_id").as_string()));
            const PropertyDef* rolled =
                target ? find_def(*target, def.config.at("rollup_property_id").as_string(), "")
                       : nullptr;
            if (rolled != nullptr) config["rollup_property_name"] = rolled->name;
        }
    } else if (def.type == "relation" && def.config.at("type") == "dual_property") {
        const DataSource* target =
            ws.data_source(std::string(def.config.at("data_source_id").as_string()));
        const auto& synced_id = def.config.at("dual_property").at("synced_property_id");
        const PropertyDef* synced = target && synced_id.is_string()
                                        ? find_def(*target, synced_id.as_string(), "")
                                        : nullptr;
        config["dual_property"] = json::object{
            {"synced_property_id", synced ? json::value(synced->id) : json::value(nullptr)},
            {"synced_property_name", synced ? json::value(synced->name) : json::value(nullptr)}};
    }
    return {{"id", def.id},
            {"name", def.name},
            {"description", def.description ? json::value(*def.description) : json::value(nullptr)},
            {"type", def.type},
            {def.type, config}};
}

json::value PropertyCodec::normalize_value(Workspace& ws, DataSource* ds, const PropertyDef& def,
                                           const json::value& request, const std::string& path,
                                           bool from_fixture, const Connection* writer) {
    if (is_read_only(def.type)) {
        throw validation_error("Cannot update property \"" + def.name + "\": properties of type `" +
                               def.type + "` are read-only.");
    }
    // A request value is {"<type>": value}; title also accepts a bare array for page parents.
    const json::value* raw = nullptr;
    if (request.is_object()) {
        raw = request.get_object().if_contains(def.type);
        if (raw == nullptr) {
            for (const auto& [key, value] : request.get_object()) {
                if (key != "type" && key != "id" && known_types.contains(key)) {
                    throw validation_error(def.name + " is expected to be " + def.type + ".");
                }
                (void)value;
            }
            fail(path + "." + def.type, "defined", json::value());
        }
    } else if (request.is_array() && def.type == "title") {
        raw = &request;
    } else {
        fail(path, "an object", request);
    }
    const json::value& v = *raw;
    const std::string p = path + "." + def.type;
    const std::string& t = def.type;
    if (t == "title" || t == "rich_text") return normalize_rich_text(ws, v, p);
    if (t == "number") {
        if (!v.is_null() && !v.is_number()) fail(p, "a number or `null`", v);
        if (v.is_double() && !std::isfinite(v.get_double())) fail(p, "a finite number", v);
        return v;
    }
    if (t == "checkbox") {
        if (!v.is_bool()) fail(p, "a boolean", v);
        return v;
    }
    if (t == "url" || t == "email" || t == "phone_number") {
        if (v.is_null()) return nullptr;
        const std::string s = require_string(v, p, t == "url" ? 2000 : 200);
        if (s.empty()) fail(p, "a non-empty string or `null`", v);
        return json::value(s);
    }
    if (t == "select" || t == "status") {
        if (v.is_null()) return nullptr;
        if (ds == nullptr) fail(p, "a property of a data source", v);
        PropertyDef& mutable_def =
            *std::find_if(ds->properties.begin(), ds->properties.end(),
                          [&](const PropertyDef& d) { return d.id == def.id; });
        json::object option = resolve_option(ws, mutable_def, v, p, t == "select");
        return json::object{{"id", option.at("id")}};
    }
    if (t == "multi_select") {
        const auto& items = require_array(v, p);
        PropertyDef& mutable_def =
            *std::find_if(ds->properties.begin(), ds->properties.end(),
                          [&](const PropertyDef& d) { return d.id == def.id; });
        json::array out;
        for (std::size_t i = 0; i < items.size(); ++i) {
            json::object option =
                resolve_option(ws, mutable_def, items[i], p + "[" + std::to_string(i) + "]", true);
            out.push_back(json::object{{"id", option.at("id")}});
        }
        return out;
    }
    if (t == "date") return v.is_null() ? json::value(nullptr) : json::value(date_value(v, p));
    if (t == "people") {
        const auto& items = require_array(v, p);
        json::array out;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const std::string ip = p + "[" + std::to_string(i) + "]";
            const auto& o = require_object(items[i], ip);
            const std::string id = require_uuid(field(o, "id"), ip + ".id");
            if (ws.user(id) == nullptr) {
                throw validation_error(
                    "body failed validation: " + ip +
                    ".id should be the id of a user in this workspace, instead was `" + id + "`.");
            }
            out.push_back(json::object{{"object", "user"}, {"id", id}});
        }
        return out;
    }
    if (t == "relation") {
        const auto& items = require_array(v, p);
        const std::string related(def.config.at("data_source_id").as_string());
        json::array out;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const std::string ip = p + "[" + std::to_string(i) + "]";
            const auto& o = require_object(items[i], ip);
            const std::string id = require_uuid(field(o, "id"), ip + ".id");
            if (!from_fixture) {
                // What the writer cannot see is answered as if it did not exist, as a retrieve
                // would be (notion-api.md §1.3; §7.2: "related DB must be shared").
                if (ws.page(id) == nullptr || (writer != nullptr && !ws.can_see(*writer, id))) {
                    throw object_not_found("page", id);
                }
                if (ws.parent_data_source(id) != related) {
                    throw validation_error("body failed validation: " + ip +
                                           ".id should be a page of the related data source " +
                                           related + ", instead was `" + id + "`.");
                }
            }
            out.push_back(json::object{{"id", id}});
        }
        return out;
    }
    if (t == "files") {
        const auto& items = require_array(v, p);
        json::array out;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const std::string ip = p + "[" + std::to_string(i) + "]";
            const auto& o = require_object(items[i], ip);
            const auto* name = o.if_contains("name");
            if (name == nullptr) fail(ip + ".name", "defined", json::value());
            const std::string n = require_string(*name, ip + ".name", 100);
            if (const auto* ext = o.if_contains("external")) {
                const auto& eo = require_object(*ext, ip + ".external");
                const std::string url = require_string(field(eo, "url"), ip + ".external.url");
                out.push_back(json::object{
                    {"name", n}, {"type", "external"}, {"external", json::object{{"url", url}}}});
            } else if (const auto* file = o.if_contains("file"); file && from_fixture) {
                const auto& fo = require_object(*file, ip + ".file");
                out.push_back(json::object{
                    {"name", n},
                    {"type", "file"},
                    {"file",
                     json::object{{"url", fo.contains("url") ? fo.at("url") : json::value("")}}}});
            } else if (o.contains("file_upload")) {
                throw validation_error(
                    "notion-emulator does not implement the File Upload API; use external files.");
            } else {
                fail(ip + ".external", "defined", json::value());
            }
        }
        return out;
    }
    if (t == "place") {
        if (v.is_null()) return nullptr;
        return require_object(v, p);
    }
    if (t == "verification") {
        const auto& o = require_object(v, p);
        const std::string state = require_string(field(o, "state"), p + ".state", 20);
        if (state == "unverified") return nullptr;
        if (state != "verified") fail(p + ".state", "`verified` or `unverified`", o.at("state"));
        return json::object{{"state", "verified"},
                            {"verified_by", nullptr},
                            {"date", o.contains("date") && !o.at("date").is_null()
                                         ? json::value(date_value(o.at("date"), p + ".date"))
                                         : json::value(nullptr)}};
    }
    fail(p, "a writable property value", v);
}

json::array PropertyCodec::visible_relation(const Workspace& ws, const Page& page,
                                            const PropertyDef& def, const Connection* viewer) {
    json::array out;
    const json::value* stored = page.values.if_contains(def.id);
    if (stored == nullptr || !stored->is_array()) return out;
    if (viewer == nullptr || viewer->is_owner) return stored->as_array();
    for (const auto& target : stored->as_array()) {
        if (ws.can_see(*viewer, std::string(target.at("id").as_string()))) out.push_back(target);
    }
    return out;
}

json::object PropertyCodec::render_value(const Workspace& ws, const Page& page,
                                         const PropertyDef& def, bool truncate,
                                         const Connection* viewer) {
    json::object out{{"id", def.id}, {"type", def.type}};
    const json::value* stored = page.values.if_contains(def.id);
    const std::string& t = def.type;
    auto array_or_empty = [&]() -> json::array {
        return stored && stored->is_array() ? stored->as_array() : json::array{};
    };
    if (t == "title" || t == "rich_text") {
        json::array items = array_or_empty();
        if (truncate && items.size() > truncation) items.resize(truncation);
        out[t] = std::move(items);
    } else if (t == "people") {
        // User objects as the API gives them to a connection with user information: with the
        // name (a user no longer in the workspace stays a bare reference).
        json::array items;
        for (const auto& stored_user : array_or_empty()) {
            if (truncate && items.size() == truncation) break;
            const auto* id =
                stored_user.is_object() ? stored_user.as_object().if_contains("id") : nullptr;
            const User* user =
                id && id->is_string() ? ws.user(std::string(id->get_string())) : nullptr;
            items.push_back(user ? json::value(ws.render_user(*user)) : stored_user);
        }
        out[t] = std::move(items);
    } else if (t == "relation") {
        json::array items = visible_relation(ws, page, def, viewer);
        const bool more = truncate && items.size() > truncation;
        if (more) items.resize(truncation);
        out[t] = std::move(items);
        out["has_more"] = more;
    } else if (t == "multi_select") {
        json::array items;
        for (const auto& s : array_or_empty()) {
            json::object o = render_option(def, s);
            if (!o.empty()) items.push_back(std::move(o));
        }
        out[t] = std::move(items);
    } else if (t == "select" || t == "status") {
        json::object o = stored ? render_option(def, *stored) : json::object{};
        out[t] = o.empty() ? json::value(nullptr) : json::value(std::move(o));
    } else if (t == "files") {
        json::array items;
        for (const auto& f : array_or_empty()) {
            json::object file = f.as_object();
            if (file.at("type") == "file") {
                file["file"] = json::object{
                    {"url", signed_file_url(ws, page, std::string(file.at("name").as_string()))},
                    {"expiry_time", format_time(ws.now() + 3'600'000)}};
            }
            items.push_back(std::move(file));
        }
        out[t] = std::move(items);
    } else if (t == "checkbox") {
        out[t] = stored ? *stored : json::value(false);
    } else if (t == "created_time") {
        out[t] = format_time(floor_to_minute(page.stamp.created));
    } else if (t == "last_edited_time") {
        out[t] = format_time(floor_to_minute(page.stamp.edited));
    } else if (t == "created_by" || t == "last_edited_by") {
        const std::string& id = t == "created_by" ? page.stamp.created_by : page.stamp.edited_by;
        out[t] = json::object{{"object", "user"}, {"id", id}};
    } else if (t == "unique_id") {
        out[t] = json::object{{"prefix", def.config.at("prefix")},
                              {"number", stored ? *stored : json::value(nullptr)}};
    } else if (t == "formula") {
        const DataSource* ds = ws.data_source(ws.parent_data_source(page.id));
        json::object value{{"type", "string"}, {"string", nullptr}};
        if (ds != nullptr) {
            try {
                value = evaluate_formula(ws, page, *ds, def.config.at("expression").as_string(),
                                         viewer);
            } catch (const std::exception&) {
                value = {{"type", "string"}, {"string", nullptr}};
            }
        }
        out[t] = std::move(value);
    } else if (t == "rollup") {
        out[t] = compute_rollup(ws, page, def, truncate, viewer);
    } else if (t == "button") {
        out[t] = json::object{};
    } else if (t == "verification") {
        out[t] = stored && !stored->is_null()
                     ? *stored
                     : json::value(json::object{
                           {"state", "unverified"}, {"verified_by", nullptr}, {"date", nullptr}});
    } else {
        out[t] = stored ? *stored : json::value(nullptr);
    }
    return out;
}

const PropertyDef* PropertyCodec::find(const DataSource& ds, std::string_view id,
                                       std::string_view name) {
    return find_def(ds, id, name);
}

json::object evaluate_formula(const Workspace& ws, const Page& page, const DataSource& ds,
                              std::string_view expression, const Connection* viewer) {
    return FormulaParser(ws, page, ds, expression, viewer).parse();
}

}  // namespace emulator
