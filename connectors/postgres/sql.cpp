#include "connectors/postgres/sql.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "daemon/model/json_text.hpp"

namespace syncd::connectors::postgres {
namespace {

namespace json = boost::json;

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool is_numeric_type(std::string_view type) {
    return type == "double precision" || type == "real" || type == "integer" || type == "bigint" ||
           type == "smallint" || starts_with(type, "numeric");
}

bool is_time_type(std::string_view type) {
    return starts_with(type, "timestamp") || type == "date" || starts_with(type, "time ");
}

}  // namespace

std::string truncate_identifier(std::string name) {
    if (name.size() <= max_identifier) return name;
    std::size_t cut = max_identifier;
    // Back up over UTF-8 continuation bytes (10xxxxxx) so no character is split.
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    name.resize(cut);
    return name;
}

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (const char c : name) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string qualified(std::string_view schema, std::string_view table) {
    return quote_identifier(schema) + "." + quote_identifier(table);
}

std::string column_type_for(std::string_view property_type, const json::value* sample) {
    static const std::set<std::string_view> text = {
        "title",  "rich_text", "url",        "email",          "phone_number", "select",
        "status", "unique_id", "created_by", "last_edited_by", "verification"};
    if (text.contains(property_type)) return "text";
    if (property_type == "number") return "double precision";
    if (property_type == "checkbox") return "boolean";
    if (property_type == "created_time" || property_type == "last_edited_time")
        return "timestamp with time zone";
    if (property_type == "multi_select") return "text[]";
    if (property_type == "people" || property_type == "relation") return "uuid[]";
    // The start; the end goes to <column>_end when a range arrives. Widened to timestamptz in
    // place when a value with a time arrives (date_column_fits()).
    if (property_type == "date") return "date";
    if (!property_type.empty() || sample == nullptr) return "jsonb";
    // A property the schema does not describe (yet): its value decides.
    if (sample->is_string()) return "text";
    if (sample->is_number()) return "double precision";
    if (sample->is_bool()) return "boolean";
    if (sample->is_array()) {
        bool strings = true;
        for (const auto& item : sample->get_array()) strings = strings && item.is_string();
        if (strings) return "text[]";
    }
    return "jsonb";
}

bool column_fits(std::string_view property_type, std::string_view column_type) {
    if (property_type == "date")
        return column_type == "date" || column_type == "timestamp with time zone";
    return column_type == column_type_for(property_type, nullptr);
}

bool has_time(const json::value& date) {
    const auto time_in = [](const json::value* v) {
        return v && v->is_string() && v->get_string().find('T') != json::string::npos;
    };
    if (date.is_string()) return time_in(&date);
    if (!date.is_object()) return false;
    return time_in(date.get_object().if_contains("start")) ||
           time_in(date.get_object().if_contains("end"));
}

std::string type_suffix(std::string_view column_type) {
    if (column_type == "text") return "text";
    if (column_type == "double precision") return "number";
    if (column_type == "boolean") return "bool";
    if (column_type == "timestamp with time zone") return "time";
    if (column_type == "text[]") return "list";
    if (column_type == "uuid[]") return "ids";
    if (column_type == "date") return "date";
    if (column_type == "jsonb") return "json";
    std::string out;
    for (const char c : column_type) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
            out.push_back(c);
        } else if (!out.empty() && out.back() != '_') {
            out.push_back('_');
        }
    }
    return out.empty() ? "new" : out;
}

std::string unique_name(const std::string& wanted, const std::set<std::string>& taken) {
    std::string name = truncate_identifier(wanted);
    for (int n = 2; taken.contains(name); ++n) {
        const std::string suffix = "_" + std::to_string(n);
        name = truncate_identifier(wanted.substr(0, max_identifier - suffix.size())) + suffix;
    }
    return name;
}

std::string number_text(const json::value& number) {
    if (number.is_int64()) return std::to_string(number.get_int64());
    if (number.is_uint64()) return std::to_string(number.get_uint64());
    const double d = number.to_number<double>();
    if (std::isfinite(d)) return model::to_json_text(number);
    char text[32];  // nan, inf, -inf: numeric and float columns read these
    const auto [end, error] = std::to_chars(text, text + sizeof text, d);
    return std::string(text, end);
}

std::string array_literal(const json::array& items) {
    ArrayLiteral out;
    for (const auto& item : items) {
        if (item.is_string()) {
            out.add(std::string_view(item.get_string()));
        } else if (item.is_null()) {
            out.add_null();
        } else if (item.is_number()) {
            out.add(number_text(item));
        } else {
            out.add(model::to_json_text(item));
        }
    }
    return out.finish();
}

std::optional<std::string> to_parameter(const json::value& value, std::string_view column_type) {
    if (value.is_null()) return std::nullopt;
    if (column_type == "jsonb" || column_type == "json") return model::to_json_text(value);
    if (column_type == "boolean") {
        if (value.is_bool()) return value.get_bool() ? "t" : "f";
        if (value.is_string()) return std::string(value.get_string());
        if (value.is_number()) return value.to_number<double>() != 0 ? "t" : "f";
        return std::nullopt;
    }
    if (is_numeric_type(column_type)) {
        if (value.is_number()) return number_text(value);
        if (value.is_string()) return std::string(value.get_string());
        return std::nullopt;
    }
    if (is_time_type(column_type)) {
        const json::value* text = &value;
        if (value.is_object()) text = value.get_object().if_contains("start");
        if (text && text->is_string() && !text->get_string().empty())
            return std::string(text->get_string());
        return std::nullopt;
    }
    if (ends_with(column_type, "[]")) {
        if (value.is_array()) return array_literal(value.get_array());
        json::array one;
        one.push_back(value);
        return array_literal(one);
    }
    // text, character varying, uuid and anything else: a string as it is, others as JSON text.
    if (value.is_string()) return std::string(value.get_string());
    if (value.is_number()) return number_text(value);
    if (value.is_bool()) return value.get_bool() ? "true" : "false";
    return model::to_json_text(value);
}

std::size_t upsert_parameters(const MetaColumns& meta, std::size_t columns) {
    return 1 + (meta.notion_url.empty() ? 0 : 1) + (meta.last_edited_time.empty() ? 0 : 1) +
           columns;
}

std::string upsert_sql(const std::string& qualified_table, const MetaColumns& meta,
                       const std::vector<Column>& columns) {
    std::vector<Column> parameters = {{"page_id", meta.page_id}};
    if (!meta.notion_url.empty()) parameters.push_back({"notion_url", meta.notion_url});
    if (!meta.last_edited_time.empty())
        parameters.push_back({"last_edited_time", meta.last_edited_time});
    parameters.insert(parameters.end(), columns.begin(), columns.end());

    std::string names;
    std::string selected;
    std::string arrays;
    std::string aliases;
    std::string updates;
    const auto add = [](std::string& list, const std::string& item) {
        list += (list.empty() ? "" : ", ") + item;
    };
    for (std::size_t i = 0; i < parameters.size(); ++i) {
        const std::string q = quote_identifier(parameters[i].name);
        const std::string alias = "c" + std::to_string(i);
        add(names, q);
        add(selected, "x." + alias + "::" + parameters[i].type);
        add(arrays, "$" + std::to_string(i + 1) + "::text[]");
        add(aliases, alias);
        if (i > 0) add(updates, q + " = excluded." + q);
        if (i == 0) {
            // The metadata the server fills in follows page_id in the column list.
            if (!meta.synced_at.empty()) {
                add(names, "synced_at");
                add(selected, "now()::" + meta.synced_at);
                add(updates, "synced_at = excluded.synced_at");
            }
            if (!meta.deleted_at.empty()) {
                add(names, "deleted_at");
                add(selected, "NULL::" + meta.deleted_at);
                add(updates, "deleted_at = NULL");
            }
        }
    }
    std::string sql = "INSERT INTO " + qualified_table + " AS t (" + names + ") SELECT " +
                      selected + " FROM unnest(" + arrays + ") AS x(" + aliases +
                      ") ON CONFLICT (page_id) DO ";
    if (updates.empty()) return sql + "NOTHING";
    sql += "UPDATE SET " + updates;
    if (!meta.last_edited_time.empty()) {
        sql +=
            " WHERE t.last_edited_time IS NULL OR excluded.last_edited_time IS NULL OR "
            "t.last_edited_time <= excluded.last_edited_time";
    }
    return sql;
}

void ArrayLiteral::add(std::string_view item) {
    if (text_.size() > 1) text_.push_back(',');
    text_.push_back('"');
    for (const char c : item) {
        if (c == '"' || c == '\\') text_.push_back('\\');
        text_.push_back(c);
    }
    text_.push_back('"');
}

void ArrayLiteral::add_null() {
    if (text_.size() > 1) text_.push_back(',');
    text_ += "NULL";
}

std::string ArrayLiteral::finish() {
    text_.push_back('}');
    std::string out = std::move(text_);
    text_ = "{";
    return out;
}

std::string delete_sql(const std::string& qualified_table, bool soft) {
    if (soft) {
        return "UPDATE " + qualified_table +
               " SET deleted_at = now() WHERE page_id = ANY($1) AND deleted_at IS NULL";
    }
    return "DELETE FROM " + qualified_table + " WHERE page_id = ANY($1)";
}

std::string redact_dsn(const std::string& dsn) {
    const std::string_view view(dsn);
    if (starts_with(view, "postgresql://") || starts_with(view, "postgres://")) {
        std::string out = dsn;
        const std::size_t start = out.find("://") + 3;
        const std::size_t authority_end = std::min(out.find_first_of("/?", start), out.size());
        const std::size_t at = out.rfind('@', authority_end);
        if (at != std::string::npos && at >= start) {
            const std::size_t colon = out.find(':', start);
            if (colon != std::string::npos && colon < at)
                out.replace(colon + 1, at - colon - 1, "***");
        }
        // ?password=…&… or &password=…
        for (std::size_t p = out.find('?'); p != std::string::npos; p = out.find('&', p + 1)) {
            const std::size_t key = p + 1;
            if (out.compare(key, 9, "password=") == 0) {
                const std::size_t value = key + 9;
                const std::size_t end = std::min(out.find('&', value), out.size());
                out.replace(value, end - value, "***");
            }
        }
        return out;
    }
    // keyword = value pairs; values may be 'single quoted' with \' and \\ escapes.
    std::string out;
    std::size_t i = 0;
    while (i < dsn.size()) {
        if (std::isspace(static_cast<unsigned char>(dsn[i]))) {
            out.push_back(dsn[i++]);
            continue;
        }
        const std::size_t key_start = i;
        while (i < dsn.size() && dsn[i] != '=' && !std::isspace(static_cast<unsigned char>(dsn[i])))
            ++i;
        const std::string key = dsn.substr(key_start, i - key_start);
        out += key;
        while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i]))) out += dsn[i++];
        if (i >= dsn.size() || dsn[i] != '=') continue;
        out += dsn[i++];
        while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i]))) out += dsn[i++];
        const std::size_t value_start = i;
        if (i < dsn.size() && dsn[i] == '\'') {
            for (++i; i < dsn.size() && dsn[i] != '\''; ++i) {
                if (dsn[i] == '\\') ++i;
            }
            if (i < dsn.size()) ++i;
        } else {
            while (i < dsn.size() && !std::isspace(static_cast<unsigned char>(dsn[i]))) {
                if (dsn[i] == '\\') ++i;
                ++i;
            }
        }
        i = std::min(i, dsn.size());
        out += key == "password" ? "***" : dsn.substr(value_start, i - value_start);
    }
    return out;
}

std::string scrub(std::string text, const std::string& secret) {
    if (secret.empty()) return text;
    for (std::size_t p = text.find(secret); p != std::string::npos; p = text.find(secret, p + 3)) {
        text.replace(p, secret.size(), "***");
    }
    return text;
}

}  // namespace syncd::connectors::postgres
