#include "daemon/model/json_text.hpp"

#include <boost/json/value.hpp>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace syncd::model {

void append_json_escaped(std::string& out, std::string_view s) {
    // The escapes of Boost.JSON's serializer: short forms where JSON has them, \u00xx for the
    // other control characters, every other byte as it is.
    // Runs of bytes that need no escape (nearly all of any text) are appended at once.
    static constexpr char hex[] = "0123456789abcdef";
    const auto plain = [](unsigned char byte) {
        return byte >= 0x20 && byte != '"' && byte != '\\';
    };
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t run = i;
        while (run < s.size() && plain(static_cast<unsigned char>(s[run]))) ++run;
        out.append(s.data() + i, run - i);
        if (run == s.size()) break;
        const char c = s[run];
        i = run + 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default: {
                const auto byte = static_cast<unsigned char>(c);
                out += "\\u00";
                out += hex[byte >> 4];
                out += hex[byte & 0xf];
            }
        }
    }
}

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    append_json_escaped(out, s);
    out += '"';
}

void append_json_string_or_null(std::string& out, std::string_view text) {
    if (text.empty()) {
        out += "null";
    } else {
        append_json_string(out, text);
    }
}

void append_json_key(std::string& out, std::string_view key, bool first) {
    if (!first) out += ',';
    append_json_string(out, key);
    out += ':';
}

namespace {

namespace json = boost::json;

void append_string(std::string& out, std::string_view s) { append_json_string(out, s); }

template <typename Integer>
void append_integer(std::string& out, Integer n) {
    char text[24];
    const auto result = std::to_chars(text, text + sizeof text, n);
    out.append(text, result.ptr);
}

// Number::toString of ECMA-262 (§6.1.6.1.20): with the shortest digits d1…dk and n such that the
// value is 0.d1…dk × 10^n, plain digits for -6 < n <= 21, else d1.d2…dk e±(n-1).
void append_double(std::string& out, double d) {
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    if (d == 0) {
        out += '0';
        return;
    }
    if (d < 0) {
        out += '-';
        d = -d;
    }
    char text[32];
    // Shortest round-trip digits in the form d[.ddd]e±xx.
    const auto result = std::to_chars(text, text + sizeof text, d, std::chars_format::scientific);
    const std::string_view scientific(text, static_cast<std::size_t>(result.ptr - text));
    const auto e = scientific.find('e');
    char digit_text[24];
    std::size_t k = 0;
    digit_text[k++] = scientific[0];
    for (std::size_t i = 2; i < e; ++i) digit_text[k++] = scientific[i];
    const std::string_view digits(digit_text, k);
    std::string_view exponent_text = scientific.substr(e + 1);
    if (exponent_text.front() == '+') exponent_text.remove_prefix(1);
    int exponent = 0;
    std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);

    const int n = exponent + 1;
    if (static_cast<int>(k) <= n && n <= 21) {
        out += digits;
        out.append(static_cast<std::size_t>(n) - k, '0');
    } else if (0 < n && n <= 21) {
        out += digits.substr(0, static_cast<std::size_t>(n));
        out += '.';
        out += digits.substr(static_cast<std::size_t>(n));
    } else if (-6 < n && n <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-n), '0');
        out += digits;
    } else {
        out += digits[0];
        if (k > 1) {
            out += '.';
            out += digits.substr(1);
        }
        out += n - 1 < 0 ? "e-" : "e+";
        append_integer(out, std::abs(n - 1));
    }
}

void append_array(std::string& out, const json::array& array);
void append_object(std::string& out, const json::object& object);

void append_value(std::string& out, const json::value& value) {
    switch (value.kind()) {
        case json::kind::null:
            out += "null";
            break;
        case json::kind::bool_:
            out += value.get_bool() ? "true" : "false";
            break;
        case json::kind::int64:
            append_integer(out, value.get_int64());
            break;
        case json::kind::uint64:
            append_integer(out, value.get_uint64());
            break;
        case json::kind::double_:
            append_double(out, value.get_double());
            break;
        case json::kind::string:
            append_string(out, value.get_string());
            break;
        case json::kind::array:
            append_array(out, value.get_array());
            break;
        case json::kind::object:
            append_object(out, value.get_object());
            break;
    }
}

void append_array(std::string& out, const json::array& array) {
    out += '[';
    bool first = true;
    for (const auto& item : array) {
        if (!first) out += ',';
        first = false;
        append_value(out, item);
    }
    out += ']';
}

void append_object(std::string& out, const json::object& object) {
    out += '{';
    bool first = true;
    for (const auto& [key, member] : object) {
        if (!first) out += ',';
        first = false;
        append_string(out, key);
        out += ':';
        append_value(out, member);
    }
    out += '}';
}

}  // namespace

void append_json_text(std::string& out, const json::value& value) { append_value(out, value); }
void append_json_text(std::string& out, const json::object& object) { append_object(out, object); }
void append_json_text(std::string& out, const json::array& array) { append_array(out, array); }

std::string to_json_text(const json::value& value) {
    std::string out;
    append_value(out, value);
    return out;
}

std::string to_json_text(const json::object& object) {
    std::string out;
    append_object(out, object);
    return out;
}

std::string to_json_text(const json::array& array) {
    std::string out;
    append_array(out, array);
    return out;
}

std::string string_at(const boost::json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string())
        return std::string(v->get_string());
    return {};
}

}  // namespace syncd::model
