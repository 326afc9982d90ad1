#include "connectors/markdown/front_matter.hpp"

#include <boost/json/array.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>

#include "daemon/model/json_text.hpp"
#include "daemon/model/write_value.hpp"

namespace syncd::connectors::markdown {
namespace {

namespace json = boost::json;

bool one_of(std::string_view s, std::initializer_list<std::string_view> words) {
    std::string lower(s);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto w : words)
        if (lower == w) return true;
    return false;
}

bool is_id(std::string_view s) {
    if (s.size() != 36 && s.size() != 32) return false;
    for (const char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    return true;
}

// A double-quoted YAML scalar (escapes: \" \\ and control characters).
std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u == 0xC2 && i + 1 < text.size() &&
                   static_cast<unsigned char>(text[i + 1]) == 0x85) {
            // NEL, U+2028 and U+2029 are line breaks to YAML. As \u escapes: yaml-cpp reads
            // \N, \L and \P as bytes that are not UTF-8 (the front_matter fuzzer found it).
            out += "\\u0085";
            ++i;
        } else if (u == 0xE2 && i + 2 < text.size() &&
                   static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(text[i + 2]) == 0xA8 ||
                    static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
            out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
            i += 2;
        } else if (u == 0xEF && i + 2 < text.size() &&
                   static_cast<unsigned char>(text[i + 1]) == 0xBB &&
                   static_cast<unsigned char>(text[i + 2]) == 0xBF) {
            out += "\\uFEFF";
            i += 2;
        } else if (u < 0x20 || u == 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02X", u);
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// 2026-06-01, 2026-06-01T10:00:00.000+02:00: safe as a plain YAML scalar (a YAML date).
bool plain_date(std::string_view s) {
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') return false;
    for (const char c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c)) &&
            std::string_view("-:.+").find(c) == std::string_view::npos)
            return false;
    }
    return std::isdigit(static_cast<unsigned char>(s[0])) != 0;
}

// A date (canonical {start, end, time_zone}) as a YAML date, or a flow map with its end or
// time zone.
std::string yaml_date(const json::value& v) {
    // A date as a file holds it (a person's value kept in the file): as it was written.
    if (v.is_string())
        return plain_date(v.get_string()) ? std::string(v.get_string())
                                          : yaml_string(v.get_string());
    if (!v.is_object()) return "";
    const auto& o = v.get_object();
    const auto text = [&](const char* key) -> std::string {
        const auto* x = o.if_contains(key);
        return x && x->is_string() ? std::string(x->get_string()) : std::string();
    };
    const std::string start = text("start");
    const std::string end = text("end");
    const std::string zone = text("time_zone");
    if (start.empty()) return "";
    const auto as_date = [](const std::string& d) { return plain_date(d) ? d : yaml_string(d); };
    if (end.empty() && zone.empty()) return as_date(start);
    std::string out = "{start: " + as_date(start);
    if (!end.empty()) out += ", end: " + as_date(end);
    if (!zone.empty()) out += ", time_zone: " + yaml_string(zone);
    return out + "}";
}

// Any JSON as a YAML flow value, every string double-quoted (files, read-only values).
std::string yaml_flow(const json::value& v) {
    if (v.is_string()) return quoted(v.get_string());
    if (v.is_array()) {
        std::string out = "[";
        for (const auto& item : v.get_array())
            out += (out.size() > 1 ? ", " : "") + yaml_flow(item);
        return out + "]";
    }
    if (v.is_object()) {
        std::string out = "{";
        for (const auto& [key, item] : v.get_object()) {
            out += (out.size() > 1 ? ", " : "") + quoted(key) + ": " + yaml_flow(item);
        }
        return out + "}";
    }
    return model::to_json_text(v);  // numbers, booleans, null
}

std::string yaml_list(const json::value& v, const Names* names) {
    std::string out = "[";
    if (v.is_array()) {
        for (const auto& item : v.get_array()) {
            if (out.size() > 1) out += ", ";
            if (item.is_string() && is_id(item.get_string())) {
                const std::string id(item.get_string());
                const auto named = names ? names->find(id) : Names::const_iterator();
                out += names && named != names->end() && !named->second.empty()
                           ? yaml_string(named->second + " <" + id + ">")
                           : id;
            } else {
                out += item.is_string() ? yaml_string(item.get_string()) : yaml_flow(item);
            }
        }
    }
    return out + "]";
}

// A value by its property's type ("" for an unknown type: by its JSON kind).
std::string yaml_value(const json::value& v, const std::string& type,
                       const Names* names = nullptr) {
    if (v.is_null()) return "";
    if (type == "date") return yaml_date(v);
    if (type == "multi_select") return yaml_list(v, nullptr);
    if (type == "people" || type == "relation") return yaml_list(v, names);
    if (v.is_string()) return yaml_string(v.get_string());
    return yaml_flow(v);  // numbers, booleans, files
}

void key_line(std::string& out, std::string_view indent, std::string_view key,
              const std::string& value) {
    out += indent;
    out += yaml_string(key);
    out += value.empty() ? ":\n" : ": " + value + "\n";
}

bool plain_null(const YAML::Node& node) {
    if (node.IsNull()) return true;
    return node.IsScalar() && node.Tag() != "!" && one_of(node.Scalar(), {"", "~", "null"});
}

// YAML (any node) as JSON, scalars as their text (null for a plain null).
json::value generic(const YAML::Node& node) {
    if (plain_null(node)) return nullptr;
    if (node.IsScalar()) return json::value(node.Scalar());
    if (node.IsSequence()) {
        json::array out;
        for (const auto& item : node) out.push_back(generic(item));
        return out;
    }
    if (node.IsMap()) {
        json::object out;
        for (const auto& entry : node) {
            if (entry.first.IsScalar()) out[entry.first.Scalar()] = generic(entry.second);
        }
        return out;
    }
    return nullptr;
}

std::optional<json::value> number_of(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::string_view digits = text;
    if (digits.front() == '+') digits.remove_prefix(1);
    std::int64_t whole = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), whole);
    // Integers beyond 2^53 are doubles, as Notion (and canonical_number) keep them.
    constexpr std::int64_t exact = 9007199254740992;
    if (error == std::errc() && end == digits.data() + digits.size() && whole <= exact &&
        whole >= -exact)
        return json::value(whole);
    double real = 0;
    auto [rend, rerror] = std::from_chars(digits.data(), digits.data() + digits.size(), real);
    if (rerror == std::errc() && rend == digits.data() + digits.size() && std::isfinite(real))
        return model::canonical_number(json::value(real));
    return std::nullopt;
}

// Whether `text` is valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        char32_t code = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            code = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            code = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            code = lead & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            const auto c = static_cast<unsigned char>(text[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            code = (code << 6) | (c & 0x3F);
        }
        if ((length == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
            (length == 4 && (code < 0x10000 || code > 0x10FFFF)))
            return false;
        i += length;
    }
    return true;
}

}  // namespace

bool read_only_in_file(const model::PropertyInfo& property) {
    if (!model::is_writable(property.type)) return true;
    if (property.type == "title") return false;
    return property.name == notion_id_key || property.name == title_key ||
           property.name == notion_key || property.name == conflict_copy_key;
}

std::string yaml_string(std::string_view text) {
    if (text.empty()) return "\"\"";
    const unsigned char first = static_cast<unsigned char>(text.front());
    // Numbers, dates, times and sexagesimals start with a digit; indicators with punctuation.
    if (std::isdigit(first) || (first < 0x80 && !std::isalpha(first))) return quoted(text);
    if (text.back() == ' ') return quoted(text);
    // Plain only when every character is one no YAML reader treats specially, in block or flow
    // context: letters, digits, space and `_-./()<>` (`Ada Lovelace <id>`), and non-ASCII text.
    // Anything else is quoted (the fuzzer found yaml-cpp misreading `:` and `?` inside flow lists;
    // a whitelist ends the chase), which keeps ordinary titles and option names plain.
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80 || std::isalnum(u)) continue;
        if (std::string_view(" _-./()<>").find(c) == std::string_view::npos) return quoted(text);
    }
    // Unicode line breaks and the byte order mark are whitespace to YAML.
    if (text.find("\xC2\x85") != std::string_view::npos ||
        text.find("\xC2\xA0") != std::string_view::npos ||
        text.find("\xE2\x80\xA8") != std::string_view::npos ||
        text.find("\xE2\x80\xA9") != std::string_view::npos ||
        text.find("\xEF\xBB\xBF") != std::string_view::npos)
        return quoted(text);
    // YAML 1.1 booleans and null.
    if (one_of(text, {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}))
        return quoted(text);
    return std::string(text);
}

std::string render_front_matter(const model::ChangeEvent& event, const model::Schema* schema,
                                bool conflict_copy, const Names* names) {
    std::string out = "---\n";
    out +=
        "notion_id: " + (is_id(event.page_id) ? event.page_id : yaml_string(event.page_id)) + "\n";
    if (conflict_copy) out += std::string(conflict_copy_key) + ": true\n";
    std::string read_only;
    for (const auto& [name_key, value] : event.properties) {
        const std::string name(name_key);
        const model::PropertyInfo* info = nullptr;
        if (const auto* id = event.property_ids.if_contains(name); schema && id && id->is_string())
            info = schema->by_id(std::string(id->get_string()));
        if (info == nullptr) {
            key_line(out, "", name, yaml_value(value, ""));
        } else if (read_only_in_file(*info)) {
            key_line(read_only, "  ", name, value.is_null() ? "" : yaml_flow(value));
        } else {
            key_line(out, "", info->type == "title" ? std::string(title_key) : name,
                     yaml_value(value, info->type, names));
        }
    }
    out += std::string(notion_key) + ":\n";
    if (!event.url.empty()) key_line(out, "  ", "url", yaml_string(event.url));
    if (!event.data_source_id.empty())
        key_line(out, "  ", "data_source", yaml_string(event.data_source_id));
    key_line(out, "  ", "last_edited_time", event.last_edited_time);
    out += read_only;
    out += "---\n";
    return out;
}

FrontMatter read_front_matter(std::string_view file) {
    FrontMatter out;
    if (!file.starts_with("---\n") && !file.starts_with("---\r\n")) {
        out.body = std::string(file);
        return out;
    }
    const std::size_t from = file.find('\n') + 1;
    std::size_t end = std::string_view::npos;
    std::size_t after = 0;
    for (std::size_t line = from; line < file.size();) {
        std::size_t next = file.find('\n', line);
        const std::size_t stop = next == std::string_view::npos ? file.size() : next;
        std::string_view text = file.substr(line, stop - line);
        if (text.ends_with('\r')) text.remove_suffix(1);
        if (text == "---" || text == "...") {
            end = line;
            after = next == std::string_view::npos ? file.size() : next + 1;
            break;
        }
        if (next == std::string_view::npos) break;
        line = next + 1;
    }
    out.present = true;
    if (end == std::string_view::npos) {
        out.error = "the front matter has no closing --- line";
        return out;
    }
    out.body = std::string(file.substr(after));
    const std::string_view yaml = file.substr(from, end - from);
    if (!valid_utf8(yaml)) {
        out.error = "the front matter is not valid UTF-8; save the file as UTF-8";
        return out;
    }
    for (const char c : yaml) {
        // YAML takes printable characters only (and so does Notion's text).
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f) {
            char code[8];
            std::snprintf(code, sizeof code, "%04X", u);
            out.error = std::string("the front matter holds a control character (U+") + code +
                        "); remove it";
            return out;
        }
    }
    YAML::Node root;
    try {
        root = YAML::Load(std::string(file.substr(from, end - from)));
    } catch (const YAML::Exception& e) {
        // The mark counts lines from the front matter's first line, the file's second.
        out.error = "front matter line " + std::to_string(e.mark.line + 2) + ": " + e.msg;
        return out;
    }
    if (root.IsNull()) return out;
    if (!root.IsMap()) {
        out.error = "the front matter is not a map of keys and values";
        return out;
    }
    // yaml-cpp turns some escapes of double-quoted text (`\_`, `\N`, `\L`, `\P`) into bytes
    // that are not UTF-8: such text could be neither kept nor written back.
    const std::function<const YAML::Node*(const YAML::Node&)> invalid =
        [&](const YAML::Node& node) -> const YAML::Node* {
        if (node.IsScalar()) return valid_utf8(node.Scalar()) ? nullptr : &node;
        if (node.IsSequence()) {
            for (const auto& item : node) {
                if (const auto* bad = invalid(item)) return bad;
            }
        }
        if (node.IsMap()) {
            for (const auto& entry : node) {
                if (!valid_utf8(entry.first.Scalar())) return &entry.first;
                if (const auto* bad = invalid(entry.second)) return bad;
            }
        }
        return nullptr;
    };
    if (const YAML::Node* bad = invalid(root)) {
        out.error = "front matter line " + std::to_string(bad->Mark().line + 2) +
                    ": a quoted value's escape sequence reads as invalid text; write the "
                    "character itself instead of the escape";
        return out;
    }
    try {
        for (const auto& entry : root) {
            if (!entry.first.IsScalar()) continue;
            const std::string key = entry.first.Scalar();
            if (key == notion_id_key) {
                if (entry.second.IsScalar()) out.notion_id = entry.second.Scalar();
            } else if (key == conflict_copy_key) {
                out.conflict_copy = !plain_null(entry.second) && entry.second.IsScalar() &&
                                    one_of(entry.second.Scalar(), {"true", "yes", "on"});
            } else if (key == notion_key) {
                if (entry.second.IsMap() && entry.second["data_source"].IsScalar())
                    out.data_source_id = entry.second["data_source"].Scalar();
            } else {
                out.keys[key] = entry.second;
            }
        }
    } catch (const YAML::Exception& e) {
        out.error = "front matter: " + e.msg;
    }
    return out;
}

ReadValue read_value(const YAML::Node& node, const std::string& type) {
    const bool quoted_scalar = node.IsScalar() && node.Tag() == "!";
    if (type == "title" || type == "rich_text" || type == "url" || type == "email" ||
        type == "phone_number" || type == "select" || type == "status") {
        if (plain_null(node)) return {nullptr};
        if (!node.IsScalar()) return {{}, "expected text, not a list or a map"};
        return {json::value(node.Scalar())};
    }
    if (type == "number") {
        if (plain_null(node)) return {nullptr};
        if (!node.IsScalar()) return {{}, "expected a number, not a list or a map"};
        if (quoted_scalar) {
            return {{},
                    quoted(node.Scalar()) +
                        " is quoted, so it is text; write the number without quotes"};
        }
        if (auto n = number_of(node.Scalar())) return {*n};
        return {{}, "expected a number, not " + quoted(node.Scalar())};
    }
    if (type == "checkbox") {
        if (plain_null(node)) return {json::value(false)};
        if (node.IsScalar() && !quoted_scalar) {
            if (one_of(node.Scalar(), {"true", "yes", "on"})) return {json::value(true)};
            if (one_of(node.Scalar(), {"false", "no", "off"})) return {json::value(false)};
        }
        return {{}, "expected true or false (unquoted)"};
    }
    if (type == "multi_select" || type == "people" || type == "relation") {
        if (plain_null(node)) return {json::array{}};
        if (!node.IsSequence()) return {{}, "expected a list, e.g. [a, b]"};
        json::array items;
        for (const auto& item : node) {
            if (!item.IsScalar()) return {{}, "expected a list of names, not of lists or maps"};
            std::string text = item.Scalar();
            if (type != "multi_select") {
                // "Ada Lovelace <5c6a…>": the id in angle brackets counts.
                const auto open = text.rfind('<');
                if (open != std::string::npos && text.ends_with('>'))
                    text = text.substr(open + 1, text.size() - open - 2);
                if (!is_id(text)) {
                    return {{},
                            "expected `Name <id>` or an id, not " + quoted(item.Scalar()) +
                                " (a name alone is not looked up: copy the id from the page's "
                                "Notion URL or from another file)"};
                }
            }
            items.emplace_back(text);
        }
        return {items};
    }
    if (type == "date") {
        if (plain_null(node)) return {nullptr};
        if (node.IsScalar()) return {json::value(node.Scalar())};
        if (node.IsMap()) {
            const json::value read = generic(node);
            json::object date{{"start", nullptr}, {"end", nullptr}, {"time_zone", nullptr}};
            for (const auto& [key, value] : read.get_object()) {
                if (!date.contains(key) || !(value.is_string() || value.is_null()))
                    return {{}, "expected a date as {start: …, end: …, time_zone: …}"};
                date[key] = value;
            }
            if (!read.get_object().contains("start"))
                return {{}, "expected a date (2026-06-01) or {start: …, end: …}"};
            // No start: no date (as Notion reads it). {start: 2026-06-01} is the date
            // 2026-06-01, as it is written back.
            if (date.at("start").is_null()) return {nullptr};
            if (date.at("end").is_null() && date.at("time_zone").is_null() &&
                date.at("start").is_string())
                return {date.at("start")};
            return {date};
        }
        return {{}, "expected a date (2026-06-01) or {start: …, end: …}"};
    }
    if (type == "files") {
        if (plain_null(node)) return {json::array{}};
        if (!node.IsSequence()) return {{}, "expected a list of files"};
        return {generic(node)};
    }
    return {{}, "a " + type + " property cannot be written back"};
}

FileValues values_of(const FrontMatter& front, const model::Schema& schema) {
    FileValues out;
    for (const auto& property : schema.properties) {
        if (read_only_in_file(property)) continue;
        const std::string key = property.type == "title" ? std::string(title_key) : property.name;
        const auto it = front.keys.find(key);
        if (it == front.keys.end()) continue;
        ReadValue read = read_value(it->second, property.type);
        if (read.error.empty()) {
            out.values[property.id] = std::move(read.value);
        } else {
            out.errors[property.id] = "`" + key + "`: " + read.error;
        }
    }
    return out;
}

std::string mark_conflict_copy(std::string_view file) {
    if (file.starts_with("---\n"))
        return "---\n" + std::string(conflict_copy_key) + ": true\n" + std::string(file.substr(4));
    return "---\n" + std::string(conflict_copy_key) + ": true\n---\n" + std::string(file);
}

}  // namespace syncd::connectors::markdown
