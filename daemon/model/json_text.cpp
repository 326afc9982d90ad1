#include "daemon/model/json_text.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_stack.hpp>
#include <boost/system/system_error.hpp>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace syncd::model {

namespace json = boost::json;

namespace {

// Boost.JSON's own value-building handler (detail::handler), but a double is converted from its
// text with std::from_chars, which rounds correctly.
class ExactNumbers {
public:
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    explicit ExactNumbers(json::storage_ptr storage) : stack_(json::storage_ptr()) {
        stack_.reset(std::move(storage));
    }
    json::value release() { return stack_.release(); }

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t n, json::error_code&) {
        stack_.push_object(n);
        return true;
    }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) {
        stack_.push_array(n);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        stack_.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        stack_.push_key(s);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        stack_.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        stack_.push_string(s);
        return true;
    }
    bool on_number_part(json::string_view s, json::error_code&) {
        number_.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        number_.clear();
        stack_.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        number_.clear();
        stack_.push_uint64(u);
        return true;
    }
    bool on_double(double d, json::string_view s, json::error_code&) {
        std::string_view text(s.data(), s.size());
        if (!number_.empty()) {  // the number arrived in parts
            number_.append(s.data(), s.size());
            text = number_;
        }
        double exact = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), exact);
        // Out of range (1e400): Boost's infinity or zero, as before.
        if (error == std::errc() && end == text.data() + text.size()) d = exact;
        number_.clear();
        stack_.push_double(d);
        return true;
    }
    bool on_bool(bool b, json::error_code&) {
        stack_.push_bool(b);
        return true;
    }
    bool on_null(json::error_code&) {
        stack_.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

private:
    json::value_stack stack_;
    std::string number_;
};

}  // namespace

json::value parse_json(std::string_view text, boost::system::error_code& error,
                       json::storage_ptr storage) {
    json::basic_parser<ExactNumbers> parser(json::parse_options{}, std::move(storage));
    error = {};
    const std::size_t used = parser.write_some(false, text.data(), text.size(), error);
    if (!error && used < text.size()) error = json::error::extra_data;
    if (error) return nullptr;
    return parser.handler().release();
}

json::value parse_json(std::string_view text, json::storage_ptr storage) {
    boost::system::error_code error;
    auto value = parse_json(text, error, std::move(storage));
    if (error) throw boost::system::system_error(error);
    return value;
}

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
