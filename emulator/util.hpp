// Small pure helpers of the emulator: time stamps, ids, cursors, URL pieces. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace emulator {

// Milliseconds since the Unix epoch, UTC.
using Millis = std::int64_t;

// "2026-05-01T10:15:42.123Z" (always UTC, always milliseconds).
std::string format_time(Millis t);
// Parses ISO 8601 dates and date-times: "2026-05-01", "2026-05-01T10:15", "…:42", "…:42.123",
// with "Z", "+02:00", "-0400" or no offset (UTC). Returns nullopt when it is not one.
std::optional<Millis> parse_time(std::string_view text);
// Whether the text is a date without a time ("2026-05-01").
bool is_date_only(std::string_view text);
// Notion rounds created_time and last_edited_time down to the minute (notion-api.md §8).
constexpr Millis floor_to_minute(Millis t) {
    constexpr Millis minute = 60'000;
    return t >= 0 ? t - t % minute : t - ((t % minute) + minute) % minute;
}

// Lower-case dashed UUID from 32 hex digits with or without dashes; nullopt if not a UUID.
std::optional<std::string> normalize_uuid(std::string_view text);
// The 32 hex digits of a dashed UUID.
std::string compact_uuid(std::string_view dashed);

// Deterministic or random source of ids.
class IdSource {
public:
    explicit IdSource(std::uint64_t seed);
    std::string uuid();
    // A short property id in Notion's style: four characters, URL-encoded ("fk%5EY").
    std::string property_id();
    // A short option id ("a1b2").
    std::string option_id();
    std::string hex(std::size_t digits);
    std::uint64_t next() { return engine_(); }

private:
    std::mt19937_64 engine_;
};

// Opaque pagination cursors. They look like UUIDs (as Notion's do) but carry an offset into a
// result list and a checksum, so a forged or garbled cursor is refused instead of misread.
std::string encode_cursor(std::size_t offset, std::uint64_t secret);
std::optional<std::size_t> decode_cursor(std::string_view cursor, std::uint64_t secret);

// The length of UTF-8 `text` in UTF-16 code units, as JavaScript's String.length counts it
// (Notion's size limits do): characters outside the BMP count twice.
std::size_t utf16_length(std::string_view text);

// Percent-decoding; '+' becomes a space only in query strings.
std::string url_decode(std::string_view text, bool plus_is_space = false);
std::string url_encode(std::string_view text);

// The query string split into decoded (key, value) pairs, in order.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

// HMAC-SHA256 of `message` keyed by `key`, as 64 lower-case hex digits.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

}  // namespace emulator
