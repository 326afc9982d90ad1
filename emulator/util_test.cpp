#include "emulator/util.hpp"

#include <doctest/doctest.h>

using namespace emulator;

TEST_CASE("timestamps format as UTC with milliseconds and parse back") {
    const auto t = parse_time("2026-05-01T10:15:42.123Z");
    REQUIRE(t.has_value());
    CHECK(format_time(*t) == "2026-05-01T10:15:42.123Z");
    CHECK(format_time(0) == "1970-01-01T00:00:00.000Z");
    CHECK(format_time(*parse_time("2024-02-29")) == "2024-02-29T00:00:00.000Z");
}

TEST_CASE("offsets are converted to UTC and missing offsets mean UTC") {
    CHECK(parse_time("2026-06-01T09:00:00.000-04:00") == parse_time("2026-06-01T13:00:00Z"));
    CHECK(parse_time("2026-06-01T09:00:00+0200") == parse_time("2026-06-01T07:00:00Z"));
    CHECK(parse_time("2026-06-01T09:00") == parse_time("2026-06-01T09:00:00.000Z"));
}

TEST_CASE("malformed timestamps are refused") {
    for (const char* bad : {"", "2026", "2026-13-01", "2026-05-01T25:00", "2026-05-01X",
                            "yesterday", "2026-05-01T10:15:42.Z", "2026-05-01T10:15Zjunk"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_time(bad).has_value());
    }
    CHECK(is_date_only("2026-05-01"));
    CHECK_FALSE(is_date_only("2026-05-01T00:00"));
}

TEST_CASE("created and last edited times round down to the minute") {
    const Millis t = *parse_time("2026-05-01T10:15:42.123Z");
    CHECK(format_time(floor_to_minute(t)) == "2026-05-01T10:15:00.000Z");
    CHECK(floor_to_minute(*parse_time("2026-05-01T10:15:00.000Z")) ==
          *parse_time("2026-05-01T10:15:00.000Z"));
    CHECK(floor_to_minute(-1) == -60'000);
}

TEST_CASE("UUIDs are accepted with or without dashes and normalised to dashed lower case") {
    CHECK(normalize_uuid("1F2E3D4C5B6A49788796A5B4C3D2E1F0") ==
          "1f2e3d4c-5b6a-4978-8796-a5b4c3d2e1f0");
    CHECK(normalize_uuid("1f2e3d4c-5b6a-4978-8796-a5b4c3d2e1f0") ==
          "1f2e3d4c-5b6a-4978-8796-a5b4c3d2e1f0");
    CHECK_FALSE(normalize_uuid("not-a-uuid").has_value());
    CHECK_FALSE(normalize_uuid("1f2e3d4c5b6a49788796a5b4c3d2e1f").has_value());
    CHECK_FALSE(normalize_uuid("1f2e3d4c-5b6a4978-8796-a5b4c3d2e1f0-").has_value());
    IdSource ids(7);
    const std::string id = ids.uuid();
    CHECK(normalize_uuid(id) == id);
    CHECK(id[14] == '4');
}

TEST_CASE("cursors round-trip and forged or foreign cursors are refused") {
    const std::uint64_t secret = 0x1234;
    for (const std::size_t offset : {0UL, 1UL, 100UL, 9'999UL, 123'456UL}) {
        CHECK(decode_cursor(encode_cursor(offset, secret), secret) == offset);
    }
    const std::string cursor = encode_cursor(100, secret);
    CHECK_FALSE(decode_cursor(cursor, secret + 1).has_value());
    std::string forged = cursor;
    forged[7] = forged[7] == '0' ? '1' : '0';
    CHECK_FALSE(decode_cursor(forged, secret).has_value());
    CHECK_FALSE(decode_cursor("garbage", secret).has_value());
}

TEST_CASE("property ids are short and URL-encoded") {
    IdSource ids(1);
    for (int i = 0; i < 50; ++i) {
        const std::string id = ids.property_id();
        CHECK(url_encode(url_decode(id)) == id);
        CHECK(url_decode(id).size() == 4);
    }
}

TEST_CASE("query strings decode repeated keys in order") {
    const auto q =
        parse_query("filter_properties=title&filter_properties%5B%5D=%5Dxyz&page_size=5&q=a+b");
    REQUIRE(q.size() == 4);
    CHECK(q[0] == std::pair<std::string, std::string>{"filter_properties", "title"});
    CHECK(q[1] == std::pair<std::string, std::string>{"filter_properties[]", "]xyz"});
    CHECK(q[3].second == "a b");
    CHECK(url_decode("a+b") == "a+b");
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2") {
    CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("text length counts UTF-16 code units, as Notion's limits do") {
    CHECK(utf16_length("") == 0);
    CHECK(utf16_length("abc") == 3);
    CHECK(utf16_length("é€") == 2);          // two and three UTF-8 bytes: one unit each
    CHECK(utf16_length("\U0001F600") == 2);  // an emoji outside the BMP: a surrogate pair
    CHECK(utf16_length("a\U0001F600b") == 4);
}
