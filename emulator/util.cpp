#include "emulator/util.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>

namespace emulator {
namespace {

constexpr Millis ms_per_day = 86'400'000;

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
    std::int64_t year;
    unsigned month;
    unsigned day;
};

constexpr Civil civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {y + (m <= 2), m, d};
}

// Reads exactly `n` digits at `pos`, advancing it.
std::optional<int> digits(std::string_view s, std::size_t& pos, std::size_t n) {
    if (pos + n > s.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    pos += n;
    return value;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
    if (pos < s.size() && s[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

constexpr std::string_view hex_digits = "0123456789abcdef";

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

}  // namespace

std::string format_time(Millis t) {
    const std::int64_t days = (t >= 0 ? t : t - (ms_per_day - 1)) / ms_per_day;
    const Millis in_day = t - days * ms_per_day;
    const Civil c = civil_from_days(days);
    std::array<char, 64> buf{};
    std::snprintf(
        buf.data(), buf.size(), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
        static_cast<long long>(c.year), c.month, c.day, static_cast<long long>(in_day / 3'600'000),
        static_cast<long long>(in_day / 60'000 % 60), static_cast<long long>(in_day / 1000 % 60),
        static_cast<long long>(in_day % 1000));
    return buf.data();
}

bool is_date_only(std::string_view text) {
    return text.size() == 10 && parse_time(text).has_value();
}

std::optional<Millis> parse_time(std::string_view s) {
    std::size_t pos = 0;
    const auto year = digits(s, pos, 4);
    if (!year || !expect(s, pos, '-')) return std::nullopt;
    const auto month = digits(s, pos, 2);
    if (!month || !expect(s, pos, '-')) return std::nullopt;
    const auto day = digits(s, pos, 2);
    if (!day || *month < 1 || *month > 12 || *day < 1 || *day > 31) return std::nullopt;
    Millis t = days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day)) *
               ms_per_day;
    if (pos == s.size()) return t;
    if (!expect(s, pos, 'T') && !expect(s, pos, 't') && !expect(s, pos, ' ')) return std::nullopt;
    const auto hour = digits(s, pos, 2);
    if (!hour || !expect(s, pos, ':')) return std::nullopt;
    const auto minute = digits(s, pos, 2);
    if (!minute || *hour > 23 || *minute > 59) return std::nullopt;
    t += *hour * 3'600'000LL + *minute * 60'000LL;
    if (expect(s, pos, ':')) {
        const auto second = digits(s, pos, 2);
        if (!second || *second > 60) return std::nullopt;
        t += *second * 1000LL;
        if (expect(s, pos, '.')) {
            int scale = 100;
            std::size_t count = 0;
            while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
                t += (s[pos] - '0') * scale;
                scale /= 10;
                ++pos;
                ++count;
            }
            if (count == 0) return std::nullopt;
        }
    }
    if (pos == s.size()) return t;
    if (expect(s, pos, 'Z') || expect(s, pos, 'z'))
        return pos == s.size() ? std::optional(t) : std::nullopt;
    const char sign = s[pos];
    if (sign != '+' && sign != '-') return std::nullopt;
    ++pos;
    const auto off_h = digits(s, pos, 2);
    if (!off_h) return std::nullopt;
    expect(s, pos, ':');
    const auto off_m = digits(s, pos, 2);
    if (!off_m || pos != s.size()) return std::nullopt;
    const Millis offset = *off_h * 3'600'000LL + *off_m * 60'000LL;
    return sign == '+' ? t - offset : t + offset;
}

std::optional<std::string> normalize_uuid(std::string_view text) {
    std::string hex;
    hex.reserve(32);
    for (const char c : text) {
        if (c == '-') continue;
        const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (hex_digits.find(lower) == std::string_view::npos) return std::nullopt;
        hex.push_back(lower);
    }
    if (hex.size() != 32) return std::nullopt;
    if (text.size() == 36) {
        for (const std::size_t i : {8, 13, 18, 23}) {
            if (text[i] != '-') return std::nullopt;
        }
    } else if (text.size() != 32) {
        return std::nullopt;
    }
    return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
           hex.substr(16, 4) + '-' + hex.substr(20);
}

std::string compact_uuid(std::string_view dashed) {
    std::string out;
    for (const char c : dashed) {
        if (c != '-') out.push_back(c);
    }
    return out;
}

IdSource::IdSource(std::uint64_t seed) : engine_(seed) {}

std::string IdSource::hex(std::size_t n) {
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
        std::uint64_t bits = engine_();
        for (int i = 0; i < 16 && out.size() < n; ++i, bits >>= 4)
            out.push_back(hex_digits[bits & 15]);
    }
    return out;
}

std::string IdSource::uuid() {
    std::string h = hex(32);
    h[12] = '4';
    h[16] = hex_digits[8 + (engine_() & 3)];
    return *normalize_uuid(h);
}

std::string IdSource::property_id() {
    // Notion's property ids are short strings of printable characters, URL-encoded.
    static constexpr std::string_view alphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789^:;<>=?@[]{}~|`_";
    std::string raw;
    for (int i = 0; i < 4; ++i) raw.push_back(alphabet[engine_() % alphabet.size()]);
    return url_encode(raw);
}

std::string IdSource::option_id() { return hex(4); }

std::string encode_cursor(std::size_t offset, std::uint64_t secret) {
    const std::uint64_t check = mix(offset ^ secret);
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%08llx%016llx%08llx",
                  static_cast<unsigned long long>(offset & 0xffffffffULL),
                  static_cast<unsigned long long>(check),
                  static_cast<unsigned long long>(mix(check) & 0xffffffffULL));
    return *normalize_uuid(buf.data());
}

std::optional<std::size_t> decode_cursor(std::string_view cursor, std::uint64_t secret) {
    const auto uuid = normalize_uuid(cursor);
    if (!uuid) return std::nullopt;
    const std::string hex = compact_uuid(*uuid);
    std::size_t offset = 0;
    if (std::from_chars(hex.data(), hex.data() + 8, offset, 16).ec != std::errc{}) {
        return std::nullopt;
    }
    if (encode_cursor(offset, secret) != *uuid) return std::nullopt;
    return offset;
}

std::string url_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%' && i + 2 < text.size()) {
            int value = 0;
            const auto r = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
            if (r.ec == std::errc{} && r.ptr == text.data() + i + 3) {
                out.push_back(static_cast<char>(value));
                i += 2;
                continue;
            }
        }
        out.push_back(c == '+' && plus_is_space ? ' ' : c);
    }
    return out;
}

std::size_t utf16_length(std::string_view text) {
    std::size_t length = 0;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte & 0xC0) == 0x80) continue;      // a continuation byte
        length += (byte & 0xF8) == 0xF0 ? 2 : 1;  // a four-byte sequence is a surrogate pair
    }
    return length;
}

std::string url_encode(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back("0123456789ABCDEF"[u >> 4]);
            out.push_back("0123456789ABCDEF"[u & 15]);
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        if (!part.empty()) {
            const auto eq = part.find('=');
            out.emplace_back(
                url_decode(part.substr(0, eq), true),
                eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1), true));
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(),
         &size);
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out.push_back(hex_digits[digest[i] >> 4]);
        out.push_back(hex_digits[digest[i] & 15]);
    }
    return out;
}

}  // namespace emulator
