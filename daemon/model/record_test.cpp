#include "daemon/model/record.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <string>

#include "daemon/model/hash.hpp"
#include "daemon/model/json_text.hpp"

namespace json = boost::json;
using syncd::model::canonical_value;
using syncd::model::ChangeEvent;
using syncd::model::hash_of;
using syncd::model::is_truncated;
using syncd::model::Record;
using syncd::model::Schema;
using syncd::model::snake_case;
using syncd::model::to_record;

namespace doctest {
template <>
struct StringMaker<json::value> {
    static String convert(const json::value& v) { return json::serialize(v).c_str(); }
};
}  // namespace doctest

namespace {

json::object object_of(std::string_view text) { return json::parse(text).as_object(); }

// The canonical value of one property value as the API returns it in a page object.
json::value canonical(std::string_view property) { return canonical_value(object_of(property)); }

json::value value_of(std::string_view text) { return json::parse(text); }

// A page of the shape in notion-api.md §7.1 with the given properties.
json::object page_with(std::string_view properties, bool in_trash = false) {
    return object_of(R"({
      "object": "page",
      "id": "be633bf1-dfa0-436d-b259-571129a590e5",
      "created_time": "2022-10-24T22:54:00.000Z",
      "last_edited_time": "2023-03-08T18:25:00.000Z",
      "created_by": { "object": "user", "id": "6a3b0c1e-0000-4000-8000-000000000001" },
      "last_edited_by": { "object": "user", "id": "6a3b0c1e-0000-4000-8000-000000000002" },
      "parent": { "type": "data_source_id",
                  "data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9",
                  "database_id": "248104cd-477e-80fd-b757-e945d38000bd" },
      "in_trash": )" +
                     std::string(in_trash ? "true" : "false") +
                     R"(,
      "is_archived": false,
      "is_locked": false,
      "icon": { "type": "emoji", "emoji": "🐞" },
      "cover": null,
      "properties": )" +
                     std::string(properties) +
                     R"(,
      "url": "https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5",
      "public_url": null
    })");
}

constexpr std::string_view task_properties = R"({
  "Name": { "id": "title", "type": "title", "title": [
      { "type": "text", "text": { "content": "Bug bash", "link": null },
        "annotations": { "bold": false, "italic": false, "strikethrough": false,
                         "underline": false, "code": false, "color": "default" },
        "plain_text": "Bug bash", "href": null } ] },
  "Points": { "id": "WPj%5E", "type": "number", "number": 3.5 },
  "Stage": { "id": "Z%3ClH", "type": "status",
             "status": { "id": "539f", "name": "In progress", "color": "blue" } },
  "Done": { "id": "ZI%40W", "type": "checkbox", "checkbox": false }
})";

// The same values, listed in another order.
constexpr std::string_view task_properties_reordered = R"({
  "Done": { "id": "ZI%40W", "type": "checkbox", "checkbox": false },
  "Stage": { "id": "Z%3ClH", "type": "status",
             "status": { "id": "539f", "name": "In progress", "color": "blue" } },
  "Points": { "id": "WPj%5E", "type": "number", "number": 3.5 },
  "Name": { "id": "title", "type": "title", "title": [
      { "type": "text", "text": { "content": "Bug bash", "link": null },
        "plain_text": "Bug bash", "href": null } ] }
})";

std::string spec_files(std::string_view signed_url, std::string_view expiry) {
    return R"({ "id": "tJPS", "type": "files", "files": [
        { "name": "spec.pdf", "type": "file",
          "file": { "url": ")" +
           std::string(signed_url) + R"(", "expiry_time": ")" + std::string(expiry) + R"(" } },
        { "name": "Figma", "type": "external",
          "external": { "url": "https://figma.com/file/abc" } } ] })";
}

}  // namespace

TEST_CASE("title and rich_text become the concatenated plain text") {
    CHECK(canonical(R"({ "id": "title", "type": "title", "title": [
        { "type": "text", "text": { "content": "Fix ", "link": null },
          "annotations": { "bold": true, "italic": false, "strikethrough": false,
                           "underline": false, "code": false, "color": "default" },
          "plain_text": "Fix ", "href": null },
        { "type": "mention", "mention": { "type": "user", "user": { "object": "user", "id": "u1" } },
          "plain_text": "@Ada Lovelace", "href": null },
        { "type": "equation", "equation": { "expression": "e=mc^2" },
          "plain_text": " e=mc^2", "href": null } ] })") ==
          value_of(R"("Fix @Ada Lovelace e=mc^2")"));
    CHECK(canonical(R"({ "id": "HbZT", "type": "rich_text", "rich_text": [
        { "type": "text", "text": { "content": "see ", "link": { "url": "https://x.y" } },
          "plain_text": "see ", "href": "https://x.y" },
        { "type": "text", "text": { "content": "docs", "link": null },
          "plain_text": "docs", "href": null } ] })") == value_of(R"("see docs")"));
}

TEST_CASE("an empty title or rich_text is the empty string, not null") {
    CHECK(canonical(R"({ "id": "title", "type": "title", "title": [] })") == json::value(""));
    CHECK(canonical(R"({ "id": "HbZT", "type": "rich_text", "rich_text": [] })") ==
          json::value(""));
}

TEST_CASE("url, email and phone_number are strings, or null when empty") {
    CHECK(canonical(R"({ "id": "bB%3D%5B", "type": "url", "url": "https://example.com" })") ==
          json::value("https://example.com"));
    CHECK(canonical(R"({ "id": "y%5C%5E_", "type": "email", "email": "a@example.com" })") ==
          json::value("a@example.com"));
    CHECK(canonical(R"({ "id": "%5DKhQ", "type": "phone_number",
                         "phone_number": "+1 415 555 0100" })") == json::value("+1 415 555 0100"));
    CHECK(canonical(R"({ "id": "bB%3D%5B", "type": "url", "url": null })").is_null());
    CHECK(canonical(R"({ "id": "y%5C%5E_", "type": "email", "email": null })").is_null());
    CHECK(
        canonical(R"({ "id": "%5DKhQ", "type": "phone_number", "phone_number": null })").is_null());
}

TEST_CASE("numbers keep their value and an empty number is null") {
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": 3.5 })") == json::value(3.5));
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": 42 })") == json::value(42));
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": 0 })") == json::value(0));
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": -7.25 })") ==
          json::value(-7.25));
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": null })").is_null());
}

TEST_CASE("a number beyond a double's range is null, as it is written") {
    // Boost.JSON reads 1e400 as infinity and 0e999 as NaN: neither has JSON text.
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": 1e400 })").is_null());
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": -1e400 })").is_null());
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": 0.000e333330 })").is_null());
    CHECK(canonical(R"({ "id": "c1", "type": "formula",
                         "formula": { "type": "number", "number": 1e999 } })")
              .is_null());
}

TEST_CASE("an integral number is an integer however the API wrote it") {
    const auto number = canonical(R"({ "id": "WPj%5E", "type": "number", "number": 1.8E2 })");
    CHECK(number.is_int64());
    CHECK(number == json::value(180));
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": -0.0 })") == json::value(0));
    CHECK(canonical(R"({ "id": "WPj%5E", "type": "number", "number": 1e300 })") ==
          json::value(1e300));
    CHECK(canonical(R"({ "id": "c1", "type": "formula",
                         "formula": { "type": "number", "number": 5.6E1 } })") == json::value(56));
    CHECK(canonical(R"({ "id": "r1", "type": "rollup", "rollup": { "type": "array", "array": [
        { "type": "number", "number": 2.0 }, { "type": "number", "number": 2.5 } ],
        "function": "show_original" } })") == value_of("[2, 2.5]"));
    CHECK(canonical(R"({ "id": "u1", "type": "unique_id",
                         "unique_id": { "prefix": null, "number": 3.0 } })") == json::value(3));
}

TEST_CASE("checkboxes are booleans") {
    CHECK(canonical(R"({ "id": "ZI%40W", "type": "checkbox", "checkbox": true })") ==
          json::value(true));
    CHECK(canonical(R"({ "id": "ZI%40W", "type": "checkbox", "checkbox": false })") ==
          json::value(false));
}

TEST_CASE("select and status are the option's name, or null") {
    CHECK(canonical(R"({ "id": "Yc%3FJ", "type": "select",
                         "select": { "id": "ou@_", "name": "Backend", "color": "purple" } })") ==
          json::value("Backend"));
    CHECK(canonical(R"({ "id": "Yc%3FJ", "type": "select", "select": null })").is_null());
    CHECK(canonical(R"({ "id": "Z%3ClH", "type": "status",
                         "status": { "id": "539f", "name": "In progress", "color": "blue" } })") ==
          json::value("In progress"));
    CHECK(canonical(R"({ "id": "Z%3ClH", "type": "status", "status": null })").is_null());
}

TEST_CASE("multi_select is the list of option names in order") {
    CHECK(canonical(R"({ "id": "QyRn", "type": "multi_select", "multi_select": [
        { "id": "tC;=", "name": "Urgent", "color": "red" },
        { "id": "x9", "name": "Q3 roadmap", "color": "blue" } ] })") ==
          value_of(R"(["Urgent", "Q3 roadmap"])"));
    CHECK(canonical(R"({ "id": "QyRn", "type": "multi_select", "multi_select": [] })") ==
          json::value(json::array{}));
}

TEST_CASE("dates become {start, end, time_zone}, or null") {
    CHECK(canonical(R"({ "id": "M%3BBw", "type": "date", "date": {
        "start": "2026-06-01T09:00:00.000-04:00", "end": null, "time_zone": null } })") ==
          value_of(R"({"start": "2026-06-01T09:00:00.000-04:00", "end": null,
                       "time_zone": null})"));
    CHECK(canonical(R"({ "id": "x1", "type": "date", "date": {
        "start": "2026-06-01T09:00:00.000", "end": "2026-06-01T10:00:00.000",
        "time_zone": "America/New_York" } })") ==
          value_of(R"({"start": "2026-06-01T09:00:00.000", "end": "2026-06-01T10:00:00.000",
                       "time_zone": "America/New_York"})"));
    CHECK(canonical(R"({ "id": "x2", "type": "date", "date": { "start": "2026-06-01" } })") ==
          value_of(R"({"start": "2026-06-01", "end": null, "time_zone": null})"));
    CHECK(canonical(R"({ "id": "M%3BBw", "type": "date", "date": null })").is_null());
}

TEST_CASE("people and relation values are lists of ids") {
    CHECK(canonical(R"({ "id": "%7BLUX", "type": "people", "people": [
        { "object": "user", "id": "6a3b0c1e-0000-4000-8000-000000000001", "name": "Ada",
          "type": "person", "person": { "email": "ada@example.com" } },
        { "object": "group", "id": "9f1d0c1e-0000-4000-8000-00000000000a", "name": "Eng" } ] })") ==
          value_of(R"(["6a3b0c1e-0000-4000-8000-000000000001",
                       "9f1d0c1e-0000-4000-8000-00000000000a"])"));
    CHECK(canonical(R"({ "id": "%7BLUX", "type": "people", "people": [] })") ==
          json::value(json::array{}));
    CHECK(canonical(R"({ "id": "hgMz", "type": "relation", "relation": [
        { "id": "dd456007-6c66-4bba-957e-ea501dcda3a6" },
        { "id": "0c1f7cb2-8090-4f18-924e-d92965055e32" } ], "has_more": false })") ==
          value_of(R"(["dd456007-6c66-4bba-957e-ea501dcda3a6",
                       "0c1f7cb2-8090-4f18-924e-d92965055e32"])"));
}

TEST_CASE("files keep name and type, and the URL of external files only") {
    CHECK(canonical(spec_files("https://prod-files-secure.s3.us-west-2.amazonaws.com/a/spec.pdf"
                               "?X-Amz-Signature=111",
                               "2026-05-01T13:00:00.000Z")) ==
          value_of(R"([{"name": "spec.pdf", "type": "file"},
                       {"name": "Figma", "type": "external", "url": "https://figma.com/file/abc"}])"));
    CHECK(canonical(R"({ "id": "tJPS", "type": "files", "files": [] })") ==
          json::value(json::array{}));
}

TEST_CASE("two reads of a Notion-hosted file with different signed URLs hash the same") {
    const std::string first = spec_files(
        "https://prod-files-secure.s3.us-west-2.amazonaws.com/a/spec.pdf?X-Amz-Signature=111",
        "2026-05-01T13:00:00.000Z");
    const std::string second = spec_files(
        "https://prod-files-secure.s3.us-west-2.amazonaws.com/a/spec.pdf?X-Amz-Signature=222",
        "2026-05-01T14:00:00.000Z");
    CHECK(canonical(first) == canonical(second));
    const Record a = to_record(page_with("{\"Spec\": " + first + "}"));
    const Record b = to_record(page_with("{\"Spec\": " + second + "}"));
    CHECK(a.hash == b.hash);
    // A changed external URL is a real change.
    std::string moved = first;
    moved.replace(moved.find("figma.com/file/abc"), 18, "figma.com/file/xyz");
    CHECK(to_record(page_with("{\"Spec\": " + moved + "}")).hash != a.hash);
}

TEST_CASE("formulas are their computed value") {
    CHECK(canonical(R"({ "id": "CSoE", "type": "formula",
                         "formula": { "type": "number", "number": 56 } })") == json::value(56));
    CHECK(canonical(R"({ "id": "c2", "type": "formula",
                         "formula": { "type": "string", "string": "x" } })") == json::value("x"));
    CHECK(canonical(R"({ "id": "c2", "type": "formula",
                         "formula": { "type": "string", "string": null } })")
              .is_null());
    CHECK(canonical(R"({ "id": "c3", "type": "formula",
                         "formula": { "type": "boolean", "boolean": true } })") ==
          json::value(true));
    CHECK(canonical(R"({ "id": "c4", "type": "formula", "formula": { "type": "date",
        "date": { "start": "2026-01-01", "end": null, "time_zone": null } } })") ==
          value_of(R"({"start": "2026-01-01", "end": null, "time_zone": null})"));
    CHECK(canonical(R"({ "id": "c4", "type": "formula", "formula": { "type": "date",
                         "date": null } })")
              .is_null());
    CHECK(canonical(R"({ "id": "c5", "type": "formula", "formula": { "type": "unsupported",
                         "unsupported": {} } })")
              .is_null());
}

TEST_CASE("rollups are their computed value and rollup arrays are arrays of canonical values") {
    CHECK(canonical(R"({ "id": "r1", "type": "rollup",
                         "rollup": { "type": "number", "number": 2, "function": "count" } })") ==
          json::value(2));
    CHECK(canonical(R"({ "id": "r2", "type": "rollup",
                         "rollup": { "type": "date", "date": null, "function": "latest_date" } })")
              .is_null());
    CHECK(canonical(R"({ "id": "r2", "type": "rollup", "rollup": { "type": "date",
        "date": { "start": "2026-02-01", "end": "2026-03-01", "time_zone": null },
        "function": "date_range" } })") ==
          value_of(R"({"start": "2026-02-01", "end": "2026-03-01", "time_zone": null})"));
    CHECK(canonical(R"({ "id": "r3", "type": "rollup", "rollup": { "type": "array", "array": [
        { "type": "number", "number": 1 }, { "type": "number", "number": 2.5 },
        { "type": "number", "number": null } ], "function": "show_original" } })") ==
          value_of("[1, 2.5, null]"));
    CHECK(canonical(R"({ "id": "r4", "type": "rollup", "rollup": { "type": "array", "array": [
        { "type": "title", "title": [ { "type": "text", "text": { "content": "Alpha" },
                                         "plain_text": "Alpha", "href": null } ] },
        { "type": "rich_text", "rich_text": [] },
        { "type": "select", "select": { "id": "s", "name": "Ops", "color": "red" } },
        { "type": "people", "people": [ { "object": "user", "id": "u1" } ] },
        { "type": "date", "date": { "start": "2026-01-01", "end": null, "time_zone": null } },
        { "type": "files", "files": [ { "name": "a.png", "type": "file",
            "file": { "url": "https://s3/a.png?sig=1", "expiry_time": "2026-01-01T00:00:00Z" } } ] }
      ], "function": "show_original" } })") == value_of(R"(["Alpha", "", "Ops", ["u1"],
                       {"start": "2026-01-01", "end": null, "time_zone": null},
                       [{"name": "a.png", "type": "file"}]])"));
    CHECK(canonical(R"({ "id": "r5", "type": "rollup",
                         "rollup": { "type": "array", "array": [], "function": "show_original" } })") ==
          json::value(json::array{}));
    CHECK(canonical(R"({ "id": "r6", "type": "rollup", "rollup": { "type": "unsupported",
                         "unsupported": {}, "function": "count_per_group" } })")
              .is_null());
    CHECK(canonical(R"({ "id": "r7", "type": "rollup", "rollup": { "type": "incomplete",
                         "incomplete": {}, "function": "sum" } })")
              .is_null());
}

TEST_CASE("created and last edited times are ISO strings, created_by and last_edited_by ids") {
    CHECK(canonical(R"({ "id": "eB_%7D", "type": "created_time",
                         "created_time": "2022-10-24T22:54:00.000Z" })") ==
          json::value("2022-10-24T22:54:00.000Z"));
    CHECK(canonical(R"({ "id": "%3Defk", "type": "last_edited_time",
                         "last_edited_time": "2023-02-24T21:06:00.000Z" })") ==
          json::value("2023-02-24T21:06:00.000Z"));
    CHECK(canonical(R"({ "id": "cb", "type": "created_by", "created_by": { "object": "user",
                         "id": "6a3b0c1e-0000-4000-8000-000000000001" } })") ==
          json::value("6a3b0c1e-0000-4000-8000-000000000001"));
    CHECK(canonical(R"({ "id": "uGNN", "type": "last_edited_by", "last_edited_by": {
                         "object": "user", "id": "b07c0c1e-0000-4000-8000-0000000000b0",
                         "type": "bot", "bot": {} } })") ==
          json::value("b07c0c1e-0000-4000-8000-0000000000b0"));
}

TEST_CASE("unique_id is PREFIX-N with a prefix and the number without") {
    CHECK(canonical(R"({ "id": "tqqd", "type": "unique_id",
                         "unique_id": { "prefix": "RL", "number": 3 } })") == json::value("RL-3"));
    CHECK(canonical(R"({ "id": "tqqd", "type": "unique_id",
                         "unique_id": { "prefix": null, "number": 1042 } })") == json::value(1042));
    CHECK(canonical(R"({ "id": "tqqd", "type": "unique_id",
                         "unique_id": { "prefix": "", "number": 7 } })") == json::value(7));
    CHECK(canonical(R"({ "id": "tqqd", "type": "unique_id",
                         "unique_id": { "prefix": "RL", "number": null } })")
              .is_null());
}

TEST_CASE("verification is its state, buttons have no value, unknown types keep theirs") {
    CHECK(canonical(R"({ "id": "fpVq", "type": "verification", "verification": {
        "state": "verified", "verified_by": { "object": "user", "id": "u1" },
        "date": { "start": "2023-08-01T04:00:00.000Z", "end": "2023-10-30T04:00:00.000Z",
                  "time_zone": null } } })") == json::value("verified"));
    CHECK(canonical(R"({ "id": "fpVq", "type": "verification", "verification": null })").is_null());
    CHECK(canonical(R"({ "id": "btn", "type": "button", "button": {} })").is_null());
    CHECK(canonical(R"({ "id": "pl", "type": "place", "place": { "lat": 52.52, "lon": 13.4,
                         "name": "Office" } })") ==
          value_of(R"({"lat": 52.52, "lon": 13.4, "name": "Office"})"));
    CHECK(canonical(R"({ "id": "pl", "type": "place", "place": null })").is_null());
}

TEST_CASE("values cut at 25 items or flagged has_more are truncated") {
    auto items = [](std::string_view type, int n) {
        std::string list;
        for (int i = 0; i < n; ++i) {
            if (!list.empty()) list += ",";
            list += type == "people"
                        ? R"({"object": "user", "id": "u)" + std::to_string(i) + "\"}"
                        : R"({"type": "mention", "plain_text": "@p)" + std::to_string(i) + "\"}";
        }
        return object_of(R"({"id": "x", "type": ")" + std::string(type) + R"(", ")" +
                         std::string(type) + R"(": [)" + list + "]}");
    };
    for (const char* type : {"title", "rich_text", "people"}) {
        CAPTURE(type);
        CHECK(is_truncated(items(type, 25)));
        CHECK_FALSE(is_truncated(items(type, 24)));
        CHECK_FALSE(is_truncated(items(type, 0)));
    }
    CHECK(is_truncated(object_of(
        R"({ "id": "hgMz", "type": "relation", "relation": [ { "id": "a" } ], "has_more": true })")));
    CHECK_FALSE(is_truncated(object_of(
        R"({ "id": "hgMz", "type": "relation", "relation": [ { "id": "a" } ], "has_more": false })")));
    CHECK_FALSE(is_truncated(object_of(R"({ "id": "hgMz", "type": "relation", "relation": [] })")));
    CHECK_FALSE(is_truncated(object_of(R"({ "id": "WPj", "type": "number", "number": 25 })")));
}

TEST_CASE("a page becomes a record keyed by property id") {
    const Record r = to_record(page_with(task_properties));
    CHECK(r.page_id == "be633bf1-dfa0-436d-b259-571129a590e5");
    CHECK(r.data_source_id == "248104cd-477e-80af-bc30-000bd28de8f9");
    CHECK(r.created_time == "2022-10-24T22:54:00.000Z");
    CHECK(r.last_edited_time == "2023-03-08T18:25:00.000Z");
    CHECK(r.url == "https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5");
    CHECK_FALSE(r.in_trash);
    CHECK(json::value(r.values) == value_of(R"({"title": "Bug bash", "WPj%5E": 3.5,
                                                "Z%3ClH": "In progress", "ZI%40W": false})"));
    CHECK(r.hash.size() == 16);
    CHECK(r.hash.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(r.hash == hash_of(r));
    CHECK(to_record(page_with(task_properties, true)).in_trash);
}

TEST_CASE("a property without an id is keyed by its name") {
    const Record r = to_record(page_with(R"({ "Name": { "type": "title", "title": [] } })"));
    CHECK(json::value(r.values) == value_of(R"({"Name": ""})"));
}

TEST_CASE("the record hash is XXH3-64 of the canonical encoding, stable across builds") {
    // Mirrors store this hash. The bytes are written out here from hash.hpp's encoding: 'R', 'F'
    // (not in trash), then the values as an object of 4 members in id order: WPj%5E 3.5,
    // Z%3ClH "In progress", ZI%40W false, title "Bug bash". Hasher::bytes is checked against
    // xxHash's published vectors in hash_test.cpp.
    using namespace std::string_view_literals;
    const auto expected_bytes =
        "RF{\x04\x00\x00\x00"
        "s\x06\x00\x00\x00WPj%5E"
        "d\x00\x00\x00\x00\x00\x00\x0c\x40"
        "s\x06\x00\x00\x00Z%3ClH"
        "s\x0b\x00\x00\x00In progress"
        "s\x06\x00\x00\x00ZI%40W"
        "f"
        "s\x05\x00\x00\x00title"
        "s\x08\x00\x00\x00"
        "Bug bash"sv;
    syncd::model::Hasher oracle;
    oracle.bytes(expected_bytes);
    CHECK(to_record(page_with(task_properties)).hash == oracle.hex());
    CHECK(to_record(page_with(task_properties)).hash == "19c3017628427776");
}

TEST_CASE("the record hash changes with any value and with in_trash, and only with those") {
    const Record base = to_record(page_with(task_properties));
    auto with = [&](std::string_view from, std::string_view to) {
        std::string text(task_properties);
        const auto at = text.find(from);
        REQUIRE(at != std::string::npos);
        text.replace(at, from.size(), to);
        return to_record(page_with(text)).hash;
    };
    CHECK(with(R"("number": 3.5)", R"("number": 4)") != base.hash);
    CHECK(with(R"("number": 3.5)", R"("number": null)") != base.hash);
    CHECK(with(R"("name": "In progress")", R"("name": "Done")") != base.hash);
    CHECK(with(R"("checkbox": false)", R"("checkbox": true)") != base.hash);
    CHECK(with(R"("plain_text": "Bug bash")", R"("plain_text": "Bug bash!")") != base.hash);
    CHECK(to_record(page_with(task_properties, true)).hash != base.hash);
    // Formatting that is not part of the value changes nothing.
    CHECK(with(R"("bold": false)", R"("bold": true)") == base.hash);
    CHECK(with(R"("color": "blue")", R"("color": "red")") == base.hash);
    // Nor does metadata: the hash dedupes re-reads of an unchanged page.
    json::object touched = page_with(task_properties);
    touched["last_edited_time"] = "2024-01-01T00:00:00.000Z";
    touched["url"] = "https://app.notion.com/p/be633bf1dfa0436db259571129a590e5";
    CHECK(to_record(touched).hash == base.hash);
}

TEST_CASE("the record hash does not depend on the order of properties") {
    CHECK(to_record(page_with(task_properties)).hash ==
          to_record(page_with(task_properties_reordered)).hash);
    Record a;
    a.values = {{"a", 1}, {"b", 2}};
    Record b;
    b.values = {{"b", 2}, {"a", 1}};
    CHECK(hash_of(a) == hash_of(b));
    // The ids are part of the hash, not only the values.
    Record swapped;
    swapped.values = {{"a", 2}, {"b", 1}};
    CHECK(hash_of(swapped) != hash_of(a));
}

constexpr std::string_view data_source = R"({
  "object": "data_source", "id": "248104cd-477e-80af-bc30-000bd28de8f9",
  "title": [ { "type": "text", "text": { "content": "Tasks " }, "plain_text": "Tasks " },
             { "type": "text", "text": { "content": "2026" }, "plain_text": "2026" } ],
  "description": [],
  "parent": { "type": "database_id", "database_id": "248104cd-477e-80fd-b757-e945d38000bd" },
  "is_inline": false, "in_trash": false,
  "created_time": "2026-01-01T00:00:00.000Z", "last_edited_time": "2026-01-02T00:00:00.000Z",
  "properties": {
    "Name": { "id": "title", "name": "Name", "description": null, "type": "title", "title": {} },
    "Done": { "id": "fk%5EY", "name": "Done", "description": null, "type": "checkbox",
              "checkbox": {} },
    "Stage": { "id": "Z%3ClH", "name": "Stage", "type": "status", "status": {
      "options": [ { "id": "o1", "name": "Not started", "color": "default" } ],
      "groups": [ { "id": "g1", "name": "To-do", "color": "gray", "option_ids": [ "o1" ] } ] } },
    "Ticket": { "id": "tqqd", "name": "Ticket", "type": "unique_id",
                "unique_id": { "prefix": "RL" } }
  }
})";

TEST_CASE("a data source's schema lists its properties by id, name and type") {
    const Schema s = Schema::from_data_source(object_of(data_source));
    CHECK(s.data_source_id == "248104cd-477e-80af-bc30-000bd28de8f9");
    CHECK(s.title == "Tasks 2026");
    REQUIRE(s.properties.size() == 4);
    CHECK(s.properties[0].id == "title");
    CHECK(s.properties[0].name == "Name");
    CHECK(s.properties[0].type == "title");
    CHECK(s.properties[2].id == "Z%3ClH");
    CHECK(s.properties[2].name == "Stage");
    CHECK(s.properties[2].type == "status");
    REQUIRE(s.by_id("tqqd") != nullptr);
    CHECK(s.by_id("tqqd")->name == "Ticket");
    CHECK(s.by_id("Ticket") == nullptr);  // ids, not names
    CHECK(s.by_id("nope") == nullptr);
}

TEST_CASE("a schema survives a JSON round trip") {
    const Schema s = Schema::from_data_source(object_of(data_source));
    const json::object stored = s.to_json();
    CHECK(json::value(stored) == value_of(R"({
      "data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9", "title": "Tasks 2026",
      "properties": [ {"id": "title", "name": "Name", "type": "title"},
                      {"id": "fk%5EY", "name": "Done", "type": "checkbox"},
                      {"id": "Z%3ClH", "name": "Stage", "type": "status",
                       "options": ["Not started"]},
                      {"id": "tqqd", "name": "Ticket", "type": "unique_id"} ]})"));
    const Schema back = Schema::from_json(json::parse(json::serialize(stored)).as_object());
    CHECK(back.data_source_id == s.data_source_id);
    CHECK(back.title == s.title);
    REQUIRE(back.properties.size() == s.properties.size());
    CHECK(back.by_id("Z%3ClH")->options == std::vector<std::string>{"Not started"});
    for (std::size_t i = 0; i < s.properties.size(); ++i) {
        CHECK(back.properties[i].id == s.properties[i].id);
        CHECK(back.properties[i].name == s.properties[i].name);
        CHECK(back.properties[i].type == s.properties[i].type);
    }
    const Schema empty = Schema::from_json(json::object{});
    CHECK(empty.data_source_id.empty());
    CHECK(empty.properties.empty());
}

TEST_CASE("a change event survives a JSON round trip") {
    ChangeEvent e{.seq = 42,
                  .kind = "updated",
                  .sync = "tasks",
                  .data_source_id = "248104cd-477e-80af-bc30-000bd28de8f9",
                  .page_id = "be633bf1-dfa0-436d-b259-571129a590e5",
                  .last_edited_time = "2023-03-08T18:25:00.000Z",
                  .url = "https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5",
                  .properties = {{"Name", "Bug bash"}, {"Points", 3.5}, {"Done", true}},
                  .changed = {"Points"},
                  .property_ids = {{"Name", "title"}, {"Points", "WPj%5E"}, {"Done", "ZI%40W"}}};
    e.properties["Due"] = value_of(R"({"start": "2026-06-01", "end": null, "time_zone": null})");
    const json::object wire = e.to_json();
    CHECK(json::value(wire) == value_of(R"({
      "event": "updated", "seq": 42, "sync": "tasks",
      "data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9",
      "page_id": "be633bf1-dfa0-436d-b259-571129a590e5",
      "last_edited_time": "2023-03-08T18:25:00.000Z",
      "url": "https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5",
      "properties": {"Name": "Bug bash", "Points": 3.5, "Done": true,
                     "Due": {"start": "2026-06-01", "end": null, "time_zone": null}},
      "changed": ["Points"],
      "property_ids": {"Name": "title", "Points": "WPj%5E", "Done": "ZI%40W"}})"));
    const ChangeEvent back = ChangeEvent::from_json(json::parse(json::serialize(wire)).as_object());
    CHECK(back.seq == 42);
    CHECK(back.kind == "updated");
    CHECK(back.sync == "tasks");
    CHECK(back.data_source_id == e.data_source_id);
    CHECK(back.page_id == e.page_id);
    CHECK(back.last_edited_time == e.last_edited_time);
    CHECK(back.url == e.url);
    CHECK(json::value(back.properties) == json::value(e.properties));
    CHECK(json::value(back.changed) == json::value(e.changed));
    CHECK(json::value(back.property_ids) == json::value(e.property_ids));
}

TEST_CASE("a schema_changed event has null page fields on the wire and empty ones back") {
    const ChangeEvent e{.seq = 7,
                        .kind = "schema_changed",
                        .sync = "tasks",
                        .data_source_id = "248104cd-477e-80af-bc30-000bd28de8f9",
                        .changed = {"Stage"}};
    const json::object wire = e.to_json();
    CHECK(wire.at("page_id").is_null());
    CHECK(wire.at("last_edited_time").is_null());
    CHECK(wire.at("url").is_null());
    const ChangeEvent back = ChangeEvent::from_json(wire);
    CHECK(back.kind == "schema_changed");
    CHECK(back.page_id.empty());
    CHECK(back.last_edited_time.empty());
    CHECK(back.url.empty());
    CHECK(back.properties.empty());
    CHECK(json::value(back.changed) == value_of(R"(["Stage"])"));
}

TEST_CASE("names become snake_case column and table names") {
    CHECK(snake_case("Due date") == "due_date");
    CHECK(snake_case("Ticket #") == "ticket");
    CHECK(snake_case("Name") == "name");
    CHECK(snake_case("  Spaced   out  ") == "spaced_out");
    CHECK(snake_case("Name (EN)") == "name_en");
    CHECK(snake_case("e-mail/phone") == "e_mail_phone");
    CHECK(snake_case("already_snake") == "already_snake");
    CHECK(snake_case("__x__") == "x");
    CHECK(snake_case("Größe") == "größe");
    CHECK(snake_case("2026 goals") == "p_2026_goals");
    CHECK(snake_case("") == "p_");
    CHECK(snake_case("#!") == "p_");
}

TEST_CASE("content_hash ignores signed file URLs and sees every other change") {
    const auto blocks = [](const std::string& url, const std::string& text) {
        return json::parse(R"([{"type":"image","image":{"type":"file","file":{"url":")" + url +
                           R"(","expiry_time":"2026-01-01T01:00:00.000Z"}}},
            {"type":"paragraph","paragraph":{"rich_text":[{"plain_text":")" +
                           text +
                           R"("}]},"children":[{"type":"to_do","to_do":{"checked":false}}]}])")
            .as_array();
    };
    const auto a = syncd::model::content_hash(blocks("https://s3/x?sig=1", "hello"));
    CHECK(a == syncd::model::content_hash(blocks("https://s3/x?sig=2", "hello")));
    CHECK(a != syncd::model::content_hash(blocks("https://s3/x?sig=1", "hello!")));
    CHECK(a.size() == 16);
    auto nested = blocks("u", "hello");
    const auto before = syncd::model::content_hash(nested);
    nested[1].as_object()["children"].as_array()[0].as_object()["to_do"].as_object()["checked"] =
        true;
    CHECK(before != syncd::model::content_hash(nested));
}

TEST_CASE("a change event's JSON text is the text of its JSON object, byte for byte") {
    ChangeEvent e{.seq = 9,
                  .kind = "updated",
                  .sync = "tasks \"q\"",
                  .data_source_id = "248104cd-477e-80af-bc30-000bd28de8f9",
                  .page_id = "be633bf1-dfa0-436d-b259-571129a590e5",
                  .properties = {{"Name", "Tab\there\nné"}, {"Points", 1e21}, {"Done", nullptr}},
                  .changed = {"Points"},
                  .property_ids = {{"Name", "title"}}};
    for (int variant = 0; variant < 3; ++variant) {
        if (variant == 1) {
            e.content = value_of(R"([{"type":"paragraph","text":"\u0001"}])").as_array();
            e.content_changed = true;
        }
        if (variant == 2) e.snapshot = true;
        std::string text = "prefix";
        e.append_json_text(text);
        CHECK(text == "prefix" + syncd::model::to_json_text(e.to_json()));
    }
}
