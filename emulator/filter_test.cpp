#include "emulator/filter.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "emulator/api_error.hpp"

using namespace emulator;

namespace {

std::vector<PropertyDef> schema() {
    auto options = [](std::initializer_list<const char*> names) {
        json::array out;
        int i = 0;
        for (const char* n : names) {
            out.push_back(
                json::object{{"id", "o" + std::to_string(i++)}, {"name", n}, {"color", "default"}});
        }
        return json::object{{"options", out}};
    };
    return {
        {.id = "title", .name = "Name", .type = "title"},
        {.id = "n%5E1", .name = "Estimate", .type = "number", .config = {{"format", "number"}}},
        {.id = "c1", .name = "Done", .type = "checkbox"},
        {.id = "s1", .name = "Priority", .type = "select", .config = options({"Low", "High"})},
        {.id = "st", .name = "Stage", .type = "status", .config = options({"Not started", "Done"})},
        {.id = "m1", .name = "Tags", .type = "multi_select", .config = options({"a", "b"})},
        {.id = "d1", .name = "Due", .type = "date"},
        {.id = "p1", .name = "Owner", .type = "people"},
        {.id = "r1", .name = "Project", .type = "relation"},
        {.id = "t1", .name = "Notes", .type = "rich_text"},
        {.id = "f1", .name = "Calc", .type = "formula", .config = {{"expression", "1"}}},
    };
}

json::value parse(const char* text) { return json::parse(text); }

json::array rich(const char* text) {
    return json::array{json::object{{"type", "text"}, {"plain_text", text}}};
}

struct Page {
    json::object values;
    Row row() const { return Row{.created = 0, .edited = 60'000, .properties = &values}; }
};

Page make(const char* name, double estimate, bool done, const char* priority,
          std::initializer_list<const char*> tags, const char* due) {
    Page p;
    p.values["title"] = json::object{{"type", "title"}, {"title", rich(name)}};
    p.values["n%5E1"] = json::object{{"type", "number"}, {"number", estimate}};
    p.values["c1"] = json::object{{"type", "checkbox"}, {"checkbox", done}};
    p.values["s1"] = json::object{
        {"type", "select"},
        {"select",
         priority ? json::value(json::object{{"id", std::string(priority) == "Low" ? "o0" : "o1"},
                                             {"name", priority}})
                  : json::value(nullptr)}};
    p.values["st"] = json::object{{"type", "status"},
                                  {"status", json::object{{"id", "o0"}, {"name", "Not started"}}}};
    json::array t;
    for (const char* tag : tags) t.push_back(json::object{{"name", tag}});
    p.values["m1"] = json::object{{"type", "multi_select"}, {"multi_select", t}};
    p.values["d1"] =
        json::object{{"type", "date"},
                     {"date", due ? json::value(json::object{{"start", due}, {"end", nullptr}})
                                  : json::value(nullptr)}};
    p.values["p1"] = json::object{
        {"type", "people"},
        {"people", json::array{json::object{{"id", "11111111-1111-4111-8111-111111111111"}}}}};
    p.values["r1"] = json::object{{"type", "relation"}, {"relation", json::array{}}};
    p.values["t1"] = json::object{{"type", "rich_text"}, {"rich_text", rich("Some Notes")}};
    p.values["f1"] =
        json::object{{"type", "formula"},
                     {"formula", json::object{{"type", "number"}, {"number", estimate * 2}}}};
    return p;
}

bool check(const char* filter, const Page& page) {
    const auto f = parse(filter);
    validate_filter(f, schema());
    return matches(f, page.row(), schema(), *parse_time("2026-05-10T12:00:00Z"));
}

}  // namespace

TEST_CASE("text filters compare plain text") {
    const auto p = make("Fix sync bug", 3, false, "High", {"a"}, "2026-05-01");
    CHECK(check(R"({"property":"Name","title":{"equals":"Fix sync bug"}})", p));
    CHECK_FALSE(check(R"({"property":"Name","title":{"equals":"fix sync bug"}})", p));
    CHECK(check(R"({"property":"Name","title":{"contains":"SYNC"}})", p));
    CHECK(check(R"({"property":"Name","title":{"starts_with":"Fix"}})", p));
    CHECK(check(R"({"property":"Name","title":{"ends_with":"bug"}})", p));
    CHECK(check(R"({"property":"Name","title":{"does_not_contain":"zzz"}})", p));
    CHECK(check(R"({"property":"Notes","rich_text":{"is_not_empty":true}})", p));
    CHECK_FALSE(check(R"({"property":"Notes","rich_text":{"is_empty":true}})", p));
}

TEST_CASE("number, checkbox and formula filters") {
    const auto p = make("x", 3, true, nullptr, {}, nullptr);
    CHECK(check(R"({"property":"Estimate","number":{"greater_than":2}})", p));
    CHECK_FALSE(check(R"({"property":"Estimate","number":{"less_than":3}})", p));
    CHECK(check(R"({"property":"Estimate","number":{"less_than_or_equal_to":3}})", p));
    CHECK(check(R"({"property":"Done","checkbox":{"equals":true}})", p));
    CHECK(check(R"({"property":"Done","checkbox":{"does_not_equal":false}})", p));
    CHECK(check(R"({"property":"Calc","formula":{"number":{"equals":6}}})", p));
}

TEST_CASE("select, status and multi_select filters take a name or a list of names") {
    const auto p = make("x", 1, false, "High", {"a", "b"}, nullptr);
    CHECK(check(R"({"property":"Priority","select":{"equals":"High"}})", p));
    CHECK(check(R"({"property":"Priority","select":{"equals":["Low","High"]}})", p));
    CHECK(check(R"({"property":"Priority","select":{"does_not_equal":"Low"}})", p));
    CHECK(check(R"({"property":"Stage","status":{"equals":"Not started"}})", p));
    CHECK(check(R"({"property":"Tags","multi_select":{"contains":"b"}})", p));
    CHECK_FALSE(check(R"({"property":"Tags","multi_select":{"does_not_contain":"a"}})", p));
    const auto empty = make("x", 1, false, nullptr, {}, nullptr);
    CHECK(check(R"({"property":"Priority","select":{"is_empty":true}})", empty));
    CHECK(check(R"({"property":"Tags","multi_select":{"is_empty":true}})", empty));
}

TEST_CASE("date filters treat a date-only value as the whole day") {
    const auto p = make("x", 1, false, nullptr, {}, "2026-05-01T09:30:00Z");
    CHECK(check(R"({"property":"Due","date":{"equals":"2026-05-01"}})", p));
    CHECK(check(R"({"property":"Due","date":{"on_or_after":"2026-05-01T09:30:00Z"}})", p));
    CHECK_FALSE(check(R"({"property":"Due","date":{"after":"2026-05-01T09:30:00Z"}})", p));
    CHECK(check(R"({"property":"Due","date":{"before":"2026-05-02"}})", p));
    CHECK_FALSE(check(R"({"property":"Due","date":{"after":"2026-05-01"}})", p));
    CHECK(check(R"({"property":"Due","date":{"past_month":{}}})", p));
    CHECK_FALSE(check(R"({"property":"Due","date":{"next_week":{}}})", p));
    CHECK(check(R"({"property":"Due","date":{"is_not_empty":true}})", p));
}

TEST_CASE("people and relation filters match ids") {
    const auto p = make("x", 1, false, nullptr, {}, nullptr);
    CHECK(check(R"({"property":"Owner","people":{"contains":"11111111111141118111111111111111"}})",
                p));
    CHECK(check(R"({"property":"Project","relation":{"is_empty":true}})", p));
    CHECK(check(
        R"({"property":"Project","relation":{"does_not_contain":"22222222-2222-4222-8222-222222222222"}})",
        p));
}

TEST_CASE("timestamp filters compare minute-rounded times to the millisecond") {
    const auto p = make("x", 1, false, nullptr, {}, nullptr);  // edited at 00:01:00.000
    CHECK(check(
        R"({"timestamp":"last_edited_time","last_edited_time":{"on_or_after":"1970-01-01T00:01:00.000Z"}})",
        p));
    CHECK_FALSE(check(
        R"({"timestamp":"last_edited_time","last_edited_time":{"after":"1970-01-01T00:01:00.000Z"}})",
        p));
    CHECK(check(
        R"({"timestamp":"created_time","created_time":{"before":"1970-01-01T00:00:00.001Z"}})", p));
}

TEST_CASE("and/or compounds nest two levels") {
    const auto p = make("x", 5, true, "High", {"a"}, nullptr);
    CHECK(check(R"({"and":[{"property":"Done","checkbox":{"equals":true}},
                          {"or":[{"property":"Estimate","number":{"equals":1}},
                                 {"property":"Priority","select":{"equals":"High"}}]}]})",
                p));
    CHECK_FALSE(check(R"({"or":[{"property":"Done","checkbox":{"equals":false}},
                               {"property":"Estimate","number":{"equals":1}}]})",
                      p));
    CHECK_THROWS_AS(
        check(R"({"and":[{"or":[{"and":[{"property":"Done","checkbox":{"equals":true}}]}]}]})", p),
        ApiError);
}

TEST_CASE("malformed filters are validation errors naming the problem") {
    const auto p = make("x", 1, false, nullptr, {}, nullptr);
    auto message = [&](const char* filter) {
        try {
            check(filter, p);
        } catch (const ApiError& e) {
            CHECK(e.code == "validation_error");
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(message(R"({"property":"Nope","title":{"equals":"x"}})").find("Nope") !=
          std::string::npos);
    CHECK(message(R"({"property":"Estimate","title":{"equals":"x"}})").find("number") !=
          std::string::npos);
    CHECK(message(R"({"property":"Estimate","number":{"equals":"x"}})").find("number") !=
          std::string::npos);
    CHECK(message(R"({"property":"Done","checkbox":{"contains":true}})").find("contains") !=
          std::string::npos);
    CHECK(message(R"({"property":"Due","date":{"equals":"soon"}})").find("ISO 8601") !=
          std::string::npos);
    CHECK(
        message(
            R"({"timestamp":"last_edited_time","property":"Name","last_edited_time":{"after":"2026-01-01"}})") !=
        "no error");
}

TEST_CASE("property ids are found raw or URL-decoded") {
    const auto s = schema();
    CHECK(find_property(s, "n%5E1")->name == "Estimate");
    CHECK(find_property(s, "n^1")->name == "Estimate");
    CHECK(find_property(s, "Estimate")->id == "n%5E1");
    CHECK(find_property(s, "missing") == nullptr);
}

TEST_CASE("sorts order by property then timestamp, empty values last") {
    const auto s = schema();
    const auto a = make("b", 2, false, "High", {}, nullptr);
    const auto b = make("a", 1, false, "Low", {}, nullptr);
    const auto c = make("c", 1, false, nullptr, {}, nullptr);
    const auto by_estimate = parse(R"([{"property":"Estimate","direction":"ascending"},
                                       {"property":"Name","direction":"descending"}])");
    validate_sorts(by_estimate, s);
    CHECK(compare_rows(by_estimate.as_array(), b.row(), a.row(), s) < 0);
    CHECK(compare_rows(by_estimate.as_array(), c.row(), b.row(), s) < 0);  // "c" > "a", descending
    const auto by_priority = parse(R"([{"property":"Priority","direction":"descending"}])");
    CHECK(compare_rows(by_priority.as_array(), a.row(), b.row(), s) <
          0);  // option order: Low, High
    CHECK(compare_rows(by_priority.as_array(), b.row(), c.row(), s) < 0);  // empty last
    CHECK_THROWS_AS(validate_sorts(parse(R"([{"property":"Nope","direction":"ascending"}])"), s),
                    ApiError);
    CHECK_THROWS_AS(validate_sorts(parse(R"([{"timestamp":"created_time","direction":"up"}])"), s),
                    ApiError);
}
