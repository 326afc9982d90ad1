#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "emulator/api_error.hpp"
#include "emulator/model.hpp"

using namespace emulator;

namespace {

struct Fixture {
    Clock clock;
    Workspace ws{clock, 42};
    Connection& owner = ws.add_connection("owner-token", "owner", true, true);
    Connection& bot = ws.add_connection("bot-token", "connection-1", false, true);
    Caller as_owner{.connection = &owner};
    Caller as_bot{.connection = &bot};

    Fixture() { clock.set(*parse_time("2026-05-01T10:15:42.123Z"), true); }

    json::object body(const std::string& text) { return json::parse(text).as_object(); }

    std::string home() {
        return std::string(ws.create_page(as_owner, body(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})"),
                                          {})
                               .at("id")
                               .as_string());
    }

    // A database under `parent` with one data source; returns the data source id.
    std::string tasks(const std::string& parent) {
        const auto db =
            ws.create_database(as_owner, body(R"({"parent":{"page_id":")" + parent + R"("},
            "title":[{"text":{"content":"Tasks"}}],
            "initial_data_source":{"properties":{
              "Name":{"title":{}},"Estimate":{"number":{}},"Done":{"checkbox":{}},
              "Stage":{"status":{}},"Tags":{"multi_select":{"options":[{"name":"a"}]}},
              "Notes":{"rich_text":{}},"Link":{"url":{}},"Created":{"created_time":{}},
              "Ticket":{"unique_id":{"prefix":"T"}},"Twice":{"formula":{"expression":"prop(\"Estimate\") * 2"}}}}})"));
        return std::string(db.at("data_sources").as_array()[0].at("id").as_string());
    }

    std::string task(const std::string& ds, const std::string& properties) {
        return std::string(ws.create_page(as_owner,
                                          body(R"({"parent":{"data_source_id":")" + ds +
                                               R"("},"properties":)" + properties + "}"),
                                          {})
                               .at("id")
                               .as_string());
    }

    std::string code_of(auto&& call) {
        try {
            call();
        } catch (const ApiError& e) {
            return e.code;
        }
        return "ok";
    }
};

}  // namespace

TEST_CASE("pages round their timestamps down to the minute") {
    Fixture f;
    const auto page = f.ws.get_page(f.as_owner, f.home(), {});
    CHECK(page.at("created_time") == "2026-05-01T10:15:00.000Z");
    CHECK(page.at("last_edited_time") == "2026-05-01T10:15:00.000Z");
}

TEST_CASE("a connection sees only what is shared with it and its descendants") {
    Fixture f;
    const std::string home = f.home();
    const std::string ds = f.tasks(home);
    const std::string t = f.task(ds, R"({"Name":{"title":[{"text":{"content":"A"}}]}})");
    CHECK(f.code_of([&] { f.ws.get_page(f.as_bot, t, {}); }) == "object_not_found");
    f.ws.share(f.bot, home);
    CHECK(f.ws.get_page(f.as_bot, t, {}).at("id").as_string() == t);
    CHECK(f.ws.get_data_source(f.as_bot, ds).at("id").as_string() == ds);
    f.ws.unshare(f.bot, home);
    CHECK(f.code_of([&] { f.ws.query_data_source(f.as_bot, ds, {}, {}); }) == "object_not_found");
}

TEST_CASE("a status property created empty gets Notion's default options") {
    Fixture f;
    const auto ds = f.ws.get_data_source(f.as_owner, f.tasks(f.home()));
    const auto& options = ds.at("properties").at("Stage").at("status").at("options").as_array();
    REQUIRE(options.size() == 3);
    CHECK(options[0].at("name") == "Not started");
    CHECK(options[1].at("name") == "In progress");
    CHECK(options[2].at("name") == "Done");
}

TEST_CASE("property values are validated like Notion's") {
    Fixture f;
    const std::string ds = f.tasks(f.home());
    auto create = [&](const std::string& properties) {
        return f.code_of([&] { f.task(ds, properties); });
    };
    CHECK(create(R"({"Nope":{"number":1}})") == "validation_error");
    CHECK(create(R"({"Estimate":{"number":"seven"}})") == "validation_error");
    CHECK(create(R"({"Estimate":{"rich_text":[]}})") == "validation_error");
    CHECK(create(R"({"Created":{"created_time":"2026-01-01T00:00:00Z"}})") == "validation_error");
    CHECK(create(R"({"Twice":{"formula":{}}})") == "validation_error");
    CHECK(create(R"({"Link":{"url":""}})") == "validation_error");
    CHECK(create(R"({"Stage":{"status":{"name":"Nonexistent"}}})") == "validation_error");
    CHECK(create(R"({"Notes":{"rich_text":[{"text":{"content":")" + std::string(2001, 'x') +
                 R"("}}]}})") == "validation_error");
    CHECK(create(R"({"Notes":{"rich_text":[{"text":{"content":")" + std::string(2000, 'x') +
                 R"("}}]}})") == "ok");
    std::string many = "[";
    for (int i = 0; i < 101; ++i) many += std::string(i ? "," : "") + R"({"text":{"content":"x"}})";
    CHECK(create(R"({"Notes":{"rich_text":)" + many + "]}}") == "validation_error");
    CHECK(create(R"({"Tags":{"multi_select":[{"name":"new option"}]}})") == "ok");
}

TEST_CASE(
    "computed properties: unique ids count up, formulas evaluate, read-only values refuse writes") {
    Fixture f;
    const std::string ds = f.tasks(f.home());
    const std::string a = f.task(ds, R"({"Estimate":{"number":4}})");
    const std::string b = f.task(ds, R"({})");
    const auto pa = f.ws.get_page(f.as_owner, a, {});
    CHECK(pa.at("properties").at("Ticket").at("unique_id").at("number") == 1);
    CHECK(pa.at("properties").at("Ticket").at("unique_id").at("prefix") == "T");
    CHECK(f.ws.get_page(f.as_owner, b, {})
              .at("properties")
              .at("Ticket")
              .at("unique_id")
              .at("number") == 2);
    CHECK(pa.at("properties").at("Twice").at("formula").at("number") == 8);
    CHECK(f.code_of([&] {
        f.ws.update_page(f.as_owner, a,
                         f.body(R"({"properties":{"Ticket":{"unique_id":{"number":9}}}})"), {});
    }) == "validation_error");
}

TEST_CASE("a failed update changes nothing") {
    Fixture f;
    const std::string ds = f.tasks(f.home());
    const std::string a = f.task(ds, R"({"Estimate":{"number":4}})");
    CHECK(f.code_of([&] {
        f.ws.update_page(
            f.as_owner, a,
            f.body(R"({"properties":{"Estimate":{"number":5},"Done":{"checkbox":"yes"}}})"), {});
    }) == "validation_error");
    CHECK(f.ws.get_page(f.as_owner, a, {}).at("properties").at("Estimate").at("number") == 4);
}

TEST_CASE("rich text over 25 items is truncated in pages and complete through property items") {
    Fixture f;
    const std::string ds = f.tasks(f.home());
    std::string items = "[";
    for (int i = 0; i < 30; ++i)
        items +=
            std::string(i ? "," : "") + R"({"text":{"content":"s)" + std::to_string(i) + R"("}})";
    const std::string a = f.task(ds, R"({"Notes":{"rich_text":)" + items + "]}}");
    const auto page = f.ws.get_page(f.as_owner, a, {});
    CHECK(page.at("properties").at("Notes").at("rich_text").as_array().size() == 25);
    const std::string id(page.at("properties").at("Notes").at("id").as_string());
    const auto first = f.ws.get_page_property(f.as_owner, a, id, std::nullopt, 20);
    CHECK(first.at("results").as_array().size() == 20);
    CHECK(first.at("has_more") == true);
    CHECK(first.at("property_item").at("next_url").is_string());
    const auto second = f.ws.get_page_property(
        f.as_owner, a, id, std::string(first.at("next_cursor").as_string()), 20);
    CHECK(second.at("results").as_array().size() == 10);
    CHECK(second.at("has_more") == false);
    CHECK(second.at("results").as_array()[9].at("rich_text").at("plain_text") == "s29");
}

TEST_CASE("a query stops at 10,000 results and says it is incomplete") {
    Fixture f;
    const std::string ds = f.tasks(f.home());
    const auto create = f.body(R"({"parent":{"data_source_id":")" + ds + R"("},"properties":{}})");
    for (int i = 0; i < 10'050; ++i) f.ws.create_page(f.as_owner, create, {});
    std::optional<std::string> cursor;
    std::size_t seen = 0;
    json::object last;
    for (;;) {
        json::object query = f.body(R"({"page_size":100})");
        if (cursor) query["start_cursor"] = *cursor;
        last = f.ws.query_data_source(f.as_owner, ds, query, {"title"}).to_json();
        seen += last.at("results").as_array().size();
        CHECK(last.at("request_status").at("type") == "incomplete");
        if (last.at("has_more") == false) break;
        cursor = std::string(last.at("next_cursor").as_string());
    }
    CHECK(seen == 10'000);
    CHECK(last.at("next_cursor").is_null());
    CHECK(last.at("request_status").at("incomplete_reason") == "query_result_limit_reached");
}

TEST_CASE("trashed pages leave queries but can still be retrieved") {
    Fixture f;
    const std::string ds = f.tasks(f.home());
    const std::string a = f.task(ds, R"({})");
    f.task(ds, R"({})");
    f.ws.update_page(f.as_owner, a, f.body(R"({"in_trash":true})"), {});
    CHECK(
        f.ws.query_data_source(f.as_owner, ds, {}, {}).to_json().at("results").as_array().size() ==
        1);
    CHECK(f.ws.get_page(f.as_owner, a, {}).at("in_trash") == true);
    CHECK(f.code_of([&] {
        f.ws.update_page(f.as_owner, a, f.body(R"({"properties":{"Estimate":{"number":1}}})"), {});
    }) == "validation_error");
}

TEST_CASE("versions: archived only before 2026-03-11, after vs position") {
    Fixture f;
    const std::string home = f.home();
    Caller old = f.as_owner;
    old.version = Version::v2025_09_03;
    CHECK(f.ws.get_page(old, home, {}).at("archived") == false);
    CHECK_FALSE(f.ws.get_page(f.as_owner, home, {}).contains("archived"));
    CHECK(f.code_of([&] {
        f.ws.update_page(f.as_owner, home, f.body(R"({"archived":true})"), {});
    }) == "validation_error");
    const auto first = f.ws.append_children(f.as_owner, home, f.body(R"({"children":[
        {"paragraph":{"rich_text":[{"text":{"content":"one"}}]}},
        {"paragraph":{"rich_text":[{"text":{"content":"three"}}]}}]})"));
    const std::string one(first.at("results").as_array()[0].at("id").as_string());
    CHECK(f.code_of([&] {
        f.ws.append_children(f.as_owner, home,
                             f.body(R"({"after":")" + one + R"(","children":[]})"));
    }) == "validation_error");
    f.ws.append_children(
        f.as_owner, home,
        f.body(R"({"position":{"type":"after_block","after_block":{"id":")" + one +
               R"("}},"children":[{"paragraph":{"rich_text":[{"text":{"content":"two"}}]}}]})"));
    f.ws.append_children(
        old, home,
        f.body(R"({"after":")" + one +
               R"(","children":[{"paragraph":{"rich_text":[{"text":{"content":"1.5"}}]}}]})"));
    const auto list = f.ws.list_children(f.as_owner, home, std::nullopt, 100);
    std::vector<std::string> texts;
    for (const auto& b : list.at("results").as_array()) {
        texts.emplace_back(
            b.at("paragraph").at("rich_text").as_array()[0].at("plain_text").as_string());
    }
    CHECK(texts == std::vector<std::string>{"one", "1.5", "two", "three"});
}

TEST_CASE("renaming a property keeps its id and its values") {
    Fixture f;
    const std::string ds = f.tasks(f.home());
    const std::string a = f.task(ds, R"({"Estimate":{"number":4}})");
    const auto before = f.ws.get_data_source(f.as_owner, ds);
    const std::string id(before.at("properties").at("Estimate").at("id").as_string());
    f.ws.update_data_source(f.as_owner, ds,
                            f.body(R"({"properties":{"Estimate":{"name":"Points"}}})"));
    const auto after = f.ws.get_data_source(f.as_owner, ds);
    CHECK(after.at("properties").at("Points").at("id").as_string() == id);
    CHECK_FALSE(after.at("properties").as_object().contains("Estimate"));
    CHECK(f.ws.get_page(f.as_owner, a, {}).at("properties").at("Points").at("number") == 4);
}

TEST_CASE("bad cursors and bad ids are validation errors") {
    Fixture f;
    const std::string ds = f.tasks(f.home());
    CHECK(f.code_of([&] {
        f.ws.query_data_source(f.as_owner, ds, f.body(R"({"start_cursor":"nope"})"), {});
    }) == "validation_error");
    CHECK(f.code_of([&] { f.ws.get_page(f.as_owner, "not-a-uuid", {}); }) == "validation_error");
    CHECK(f.code_of([&] {
        f.ws.query_data_source(f.as_owner, ds, f.body(R"({"page_size":101})"), {});
    }) == "validation_error");
}
