#include "daemon/model/write_value.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "daemon/model/time_zone.hpp"

using namespace syncd::model;
namespace json = boost::json;

TEST_CASE("column values read back as canonical values, by the property's type") {
    CHECK(canonical_from_column(json::value(8.0), "number").value == 8);
    CHECK(canonical_from_column(json::value(8.0), "number").value.is_int64());
    CHECK(canonical_from_column(json::value(2.5), "number").value == 2.5);
    CHECK(canonical_from_column(nullptr, "number").value.is_null());
    CHECK(canonical_from_column(json::value("lots"), "number").error == "expected a number");
    CHECK(canonical_from_column(json::value(1), "checkbox").value == true);
    CHECK(canonical_from_column(json::value(0), "checkbox").value == false);
    CHECK(canonical_from_column(json::value(""), "select").value.is_null());
    CHECK(canonical_from_column(json::value("Done"), "status").value == "Done");
    CHECK(canonical_from_column(nullptr, "title").value == "");
    CHECK(canonical_from_column(json::value(R"(["a","b"])"), "multi_select").value ==
          json::array{"a", "b"});
    CHECK(canonical_from_column(json::value("a, b"), "multi_select").error ==
          "expected a JSON list, e.g. [\"a\", \"b\"]");
    CHECK(canonical_from_column(json::value("[1]"), "relation").error ==
          "expected a JSON list of strings");
    // A bare date is a date without end or time zone; an empty one is no date.
    CHECK(canonical_from_column(json::value("2026-06-01"), "date").value ==
          json::object{{"start", "2026-06-01"}, {"end", nullptr}, {"time_zone", nullptr}});
    CHECK(canonical_from_column(json::value(R"({"start":"2026-06-01T09:00:00+02:00","end":null})"),
                                "date")
              .value.at("start") == "2026-06-01T09:00:00+02:00");
    CHECK(canonical_from_column(nullptr, "date").value.is_null());
    CHECK_FALSE(canonical_from_column(json::value(3), "formula").error.empty());
}

TEST_CASE("canonical values become the API values Notion takes") {
    CHECK(notion_property(json::value(8), "number").body == json::object{{"number", 8}});
    CHECK(notion_property(json::value("High"), "select").body ==
          json::object{{"select", {{"name", "High"}}}});
    CHECK(notion_property(nullptr, "select").body == json::object{{"select", nullptr}});
    CHECK(notion_property(json::array{"a", "b"}, "multi_select").body ==
          json::parse(R"({"multi_select":[{"name":"a"},{"name":"b"}]})"));
    CHECK(notion_property(json::array{"u1"}, "people").body ==
          json::parse(R"({"people":[{"id":"u1"}]})"));
    // A date-only value stays date-only: no time, no zone added.
    CHECK(
        notion_property(
            json::object{{"start", "2026-06-01"}, {"end", nullptr}, {"time_zone", nullptr}}, "date")
            .body == json::parse(R"({"date":{"start":"2026-06-01"}})"));
    CHECK(notion_property(nullptr, "date").error.empty());
    CHECK(notion_property(
              json::array{json::object{{"name", "spec"}, {"url", "https://x.test/a.pdf"}}}, "files")
              .body == json::parse(R"({"files":[{"name":"spec","type":"external",
                                       "external":{"url":"https://x.test/a.pdf"}}]})"));
    CHECK(notion_property(json::array{json::object{{"name", "hosted"}, {"type", "file"}}}, "files")
              .error == "only external files (with a url) can be written");
    CHECK(notion_property(json::value(1), "formula").error ==
          "a formula property is read-only in Notion");
    CHECK_FALSE(is_writable("rollup"));
    CHECK(is_writable("status"));
}

TEST_CASE("rich text is split at 2,000 UTF-16 units, never inside a surrogate pair") {
    // 1,999 ASCII characters, then an emoji (two UTF-16 units): it starts the second item.
    std::string text(1999, 'a');
    text += "\xF0\x9F\x98\x80";  // U+1F600
    text += "tail";
    const auto body = notion_property(json::value(text), "rich_text").body;
    const auto& items = body.at("rich_text").as_array();
    REQUIRE(items.size() == 2);
    CHECK(items[0].at("text").at("content").as_string().size() == 1999);
    CHECK(items[1].at("text").at("content") == "\xF0\x9F\x98\x80tail");
    // Exactly 2,000 units in one item; 2,001 in two.
    CHECK(notion_property(json::value(std::string(2000, 'b')), "title")
              .body.at("title")
              .as_array()
              .size() == 1);
    CHECK(notion_property(json::value(std::string(2001, 'b')), "title")
              .body.at("title")
              .as_array()
              .size() == 2);
    // Over 100 items Notion refuses: said, not sent.
    CHECK(notion_property(json::value(std::string(200'001, 'c')), "rich_text").error ==
          "the text is longer than Notion takes (100 items of 2,000 characters)");
}

TEST_CASE("more than 100 related pages is a clear error, not a truncated write") {
    json::array ids;
    for (int i = 0; i < 101; ++i) ids.emplace_back("id-" + std::to_string(i));
    CHECK(notion_property(ids, "relation").error ==
          "more than 100 related pages: Notion takes at most 100 in one write");
    ids.pop_back();
    CHECK(notion_property(ids, "relation").error.empty());
}

TEST_CASE("dates read back from typed columns keep the stored form, time zone and day") {
    const auto read = [](const char* stored, const char* reference) {
        const auto r = canonical_from_column(json::value(stored), "date",
                                             reference ? json::parse(reference) : json::value());
        REQUIRE(r.error.empty());
        return json::serialize(r.value);
    };
    // A date-only value in a date column, and in a timestamptz column (midnight UTC).
    const char* day = R"({"start":"2026-06-01","end":null,"time_zone":null})";
    CHECK(read("2026-06-01", day) == json::serialize(json::parse(day)));
    CHECK(read("2026-06-01T00:00:00+00:00", day) == json::serialize(json::parse(day)));
    CHECK(read("2026-06-03", day) == R"({"start":"2026-06-03","end":null,"time_zone":null})");
    CHECK(read("2026-06-03T00:00:00Z", day) ==
          R"({"start":"2026-06-03","end":null,"time_zone":null})");
    // An instant with an offset: the same instant in UTC is no change; a new one keeps -04:00.
    const char* offset = R"({"start":"2026-06-01T09:00:00.000-04:00","end":null,"time_zone":null})";
    CHECK(read("2026-06-01T13:00:00+00:00", offset) == json::serialize(json::parse(offset)));
    CHECK(read("2026-06-01T14:30:00+00:00", offset) ==
          R"({"start":"2026-06-01T10:30:00.000-04:00","end":null,"time_zone":null})");
    // A local time with a time zone: compared and written in that zone (summer and winter).
    const char* zoned =
        R"({"start":"2026-06-01T09:00:00.000","end":null,"time_zone":"America/New_York"})";
    CHECK(read("2026-06-01T13:00:00+00:00", zoned) == json::serialize(json::parse(zoned)));
    CHECK(read("2026-12-01T14:00:00+00:00", zoned) ==
          R"({"start":"2026-12-01T09:00:00.000","end":null,"time_zone":"America/New_York"})");
    // A text column (sqlite) holds the local time as delivered: unchanged is unchanged.
    CHECK(read("2026-06-01T09:00:00.000", zoned) == json::serialize(json::parse(zoned)));
    // No reference (a new row): as written.
    CHECK(read("2026-06-01", nullptr) == R"({"start":"2026-06-01","end":null,"time_zone":null})");
}

TEST_CASE("time zone offsets come from the system's zoneinfo") {
    // 2026-06-01T12:00:00Z and 2026-12-01T12:00:00Z.
    CHECK(utc_offset("America/New_York", 1780315200) == -4 * 3600);
    CHECK(utc_offset("America/New_York", 1796126400) == -5 * 3600);
    CHECK(utc_offset("Europe/Berlin", 1780315200) == 2 * 3600);
    CHECK_FALSE(utc_offset("Not/A_Zone", 0).has_value());
    CHECK_FALSE(utc_offset("../../etc/passwd", 0).has_value());
    // 09:00 local in New York in June is 13:00 UTC.
    CHECK(local_to_utc("America/New_York", 1780304400) == 1780304400 + 4 * 3600);
}
