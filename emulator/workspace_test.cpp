#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "emulator/api_error.hpp"
#include "emulator/model.hpp"
#include "emulator/properties.hpp"

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

namespace {

// Two data sources under `parent`: Targets (Name, Tag select) and Sources (Name, Tag select,
// Ticket unique id, To: a dual relation to Targets). Returns {targets, sources}.
std::pair<std::string, std::string> linked_sources(Fixture& f, const std::string& parent) {
    const auto targets =
        f.ws.create_database(f.as_owner, f.body(R"({"parent":{"page_id":")" + parent + R"("},
        "title":[{"text":{"content":"Targets"}}],
        "initial_data_source":{"properties":{"Name":{"title":{}},"Tag":{"select":{}}}}})"));
    const std::string targets_ds(targets.at("data_sources").as_array()[0].at("id").as_string());
    const auto sources = f.ws.create_database(
        f.as_owner, f.body(R"({"parent":{"page_id":")" + parent + R"("},
        "title":[{"text":{"content":"Sources"}}],
        "initial_data_source":{"properties":{"Name":{"title":{}},"Tag":{"select":{}},
          "Ticket":{"unique_id":{"prefix":"S"}},
          "To":{"relation":{"data_source_id":")" +
                           targets_ds + R"(","type":"dual_property","dual_property":{}}}}}})"));
    return {targets_ds, std::string(sources.at("data_sources").as_array()[0].at("id").as_string())};
}

std::string relation_ids(const json::value& property) {
    std::string out;
    for (const auto& r : property.at("relation").as_array())
        out += std::string(out.empty() ? "" : ",") + std::string(r.at("id").as_string());
    return out;
}

}  // namespace

TEST_CASE(
    "a page or database updated as a block takes only in_trash (archived before 2026-03-11)") {
    Fixture f;
    const std::string home = f.home();
    const std::string ds = f.tasks(home);
    const std::string db(
        f.ws.get_data_source(f.as_owner, ds).at("parent").at("database_id").as_string());
    Caller old = f.as_owner;
    old.version = Version::v2025_09_03;
    // 2026-03-11: `archived` is refused and nothing changes
    CHECK(f.code_of([&] { f.ws.update_block(f.as_owner, home, f.body(R"({"archived":true})")); }) ==
          "validation_error");
    CHECK(f.code_of([&] { f.ws.update_block(f.as_owner, db, f.body(R"({"archived":true})")); }) ==
          "validation_error");
    CHECK(f.ws.get_page(f.as_owner, home, {}).at("in_trash") == false);
    CHECK(f.ws.get_database(f.as_owner, db).at("in_trash") == false);
    // any other field is named in a validation_error, even next to a valid in_trash
    std::string message;
    try {
        f.ws.update_block(f.as_owner, home,
                          f.body(R"({"in_trash":true,"paragraph":{"rich_text":[]}})"));
    } catch (const ApiError& e) {
        message = e.what();
    }
    CHECK(message.find("body.paragraph") != std::string::npos);
    CHECK(f.ws.get_page(f.as_owner, home, {}).at("in_trash") == false);
    CHECK(f.code_of([&] {
        f.ws.update_block(f.as_owner, db, f.body(R"({"child_database":{"title":"x"}})"));
    }) == "validation_error");
    CHECK(f.code_of([&] {
        f.ws.update_block(old, home, f.body(R"({"child_page":{"title":"x"}})"));
    }) == "validation_error");
    // in_trash works in every version, archived as its alias before 2026-03-11
    CHECK(f.ws.update_block(f.as_owner, home, f.body(R"({"in_trash":true})")).at("in_trash") ==
          true);
    CHECK(f.ws.update_block(old, home, f.body(R"({"archived":false})")).at("in_trash") == false);
    CHECK(f.ws.get_page(f.as_owner, home, {}).at("in_trash") == false);
    CHECK(f.ws.update_block(f.as_owner, home, f.body(R"({"type":"child_page","in_trash":false})"))
              .at("type") == "child_page");
}

TEST_CASE("webhook events name the entity's actual parent") {
    Fixture f;
    const std::string home = f.home();
    const std::string child(
        f.ws.create_page(f.as_owner, f.body(R"({"parent":{"page_id":")" + home + R"("}})"), {})
            .at("id")
            .as_string());
    const std::string ds = f.tasks(home);
    const std::string db(
        f.ws.get_data_source(f.as_owner, ds).at("parent").at("database_id").as_string());
    const std::string row = f.task(ds, "{}");
    const std::string block(f.ws.append_children(f.as_owner, child, f.body(R"({"children":[
        {"paragraph":{"rich_text":[]}}]})"))
                                .at("results")
                                .as_array()[0]
                                .at("id")
                                .as_string());
    const std::string space = f.ws.workspace_id();
    CHECK(f.ws.webhook_parent(home) == json::object{{"id", space}, {"type", "space"}});
    CHECK(f.ws.webhook_parent(child) == json::object{{"id", home}, {"type", "page"}});
    CHECK(f.ws.webhook_parent(db) == json::object{{"id", home}, {"type", "page"}});
    CHECK(f.ws.webhook_parent(ds) == json::object{{"id", db}, {"type", "database"}});
    CHECK(f.ws.webhook_parent(row) ==
          json::object{{"id", db}, {"type", "database"}, {"data_source_id", ds}});
    CHECK(f.ws.webhook_parent(block) == json::object{{"id", child}, {"type", "page"}});
    CHECK(f.ws.webhook_parent("11111111-2222-4333-8444-555555555555") ==
          json::object{{"id", space}, {"type", "space"}});
}

TEST_CASE("a refused page create or append leaves no trace") {
    Fixture f;
    const std::string home = f.home();
    const auto [targets, sources] = linked_sources(f, home);
    const std::string target = f.task(targets, "{}");
    const auto schema_before = f.ws.get_data_source(f.as_owner, sources);
    const std::string bad_child =
        R"(,"children":[{"paragraph":{"rich_text":[]}},{"not_a_block":{}}]})";
    const std::string bad_grandchild =
        R"(,"children":[{"toggle":{"rich_text":[],"children":[{"paragraph":{"rich_text":[]}},
           {"paragraph":{"rich_text":"not an array"}}]}}]})";
    for (const auto& tail : {bad_child, bad_grandchild}) {
        CHECK(f.code_of([&] {
            f.ws.create_page(f.as_owner,
                             f.body(R"({"parent":{"data_source_id":")" + sources +
                                    R"("},"properties":{"To":{"relation":[{"id":")" + target +
                                    R"("}]},"Tag":{"select":{"name":"brand new"}}})" + tail),
                             {});
        }) == "validation_error");
    }
    // no back-link, no page, no new select option
    const auto back = f.ws.get_page(f.as_owner, target, {}).at("properties").at("Sources");
    CHECK(back.at("relation").as_array().empty());
    CHECK(f.ws.query_data_source(f.as_owner, sources, {}, {})
              .to_json()
              .at("results")
              .as_array()
              .empty());
    CHECK(f.ws.get_data_source(f.as_owner, sources).at("properties") ==
          schema_before.at("properties"));
    // the unique id counter was not used up either
    const std::string ok = f.task(sources, "{}");
    CHECK(f.ws.get_page(f.as_owner, ok, {})
              .at("properties")
              .at("Ticket")
              .at("unique_id")
              .at("number") == 1);
    // a bad grandchild in an append appends nothing, not even the valid first level
    CHECK(f.code_of([&] {
        f.ws.append_children(f.as_owner, home, f.body(R"({"children":[{"toggle":{"rich_text":[],
            "children":[{"paragraph":{"rich_text":7}}]}}]})"));
    }) == "validation_error");
    // (the Targets and Sources databases are home's only children)
    CHECK(f.ws.list_children(f.as_owner, home, std::nullopt, 100).at("results").as_array().size() ==
          2);
    // a failed update does not add select options either
    CHECK(f.code_of([&] {
        f.ws.update_page(f.as_owner, ok, f.body(R"({"properties":{"Tag":{"select":{"name":"other"}},
                                    "Name":{"title":"bad"}}})"),
                         {});
    }) == "validation_error");
    CHECK(f.ws.get_data_source(f.as_owner, sources).at("properties") ==
          schema_before.at("properties"));
}

TEST_CASE("relation values must be pages of the related data source that the writer can see") {
    Fixture f;
    const std::string shared = f.home();
    const std::string secret = f.home();
    f.ws.share(f.bot, shared);
    const auto [targets, sources] = linked_sources(f, shared);
    const auto [secret_targets, secret_sources] = linked_sources(f, secret);
    const std::string visible = f.task(targets, "{}");
    const std::string hidden = f.task(secret_targets, "{}");
    const std::string elsewhere = f.task(sources, "{}");  // visible, but not in Targets
    auto create = [&](const Caller& caller, const std::string& id) {
        return f.code_of([&] {
            f.ws.create_page(
                caller,
                f.body(R"({"parent":{"data_source_id":")" + sources +
                       R"("},"properties":{"To":{"relation":[{"id":")" + id + R"("}]}}})"),
                {});
        });
    };
    CHECK(create(f.as_bot, visible) == "ok");
    CHECK(create(f.as_bot, hidden) == "object_not_found");
    CHECK(create(f.as_bot, "11111111-2222-4333-8444-555555555555") == "object_not_found");
    CHECK(create(f.as_bot, elsewhere) == "validation_error");
    CHECK(create(f.as_owner, elsewhere) == "validation_error");
    CHECK(f.code_of([&] {
        f.ws.update_page(
            f.as_bot, elsewhere,
            f.body(R"({"properties":{"To":{"relation":[{"id":")" + hidden + R"("}]}}})"), {});
    }) == "object_not_found");
    // the owner sees everything; and the hidden page was not linked
    const std::string hidden_page(f.ws.get_page(f.as_owner, hidden, {}).at("id").as_string());
    CHECK(hidden_page == hidden);
    CHECK(f.ws.get_page(f.as_owner, hidden, {})
              .at("properties")
              .at("Sources")
              .at("relation")
              .as_array()
              .empty());
}

TEST_CASE("relation values the reader cannot see are left out everywhere, and kept by its writes") {
    Fixture f;
    const std::string shared = f.home();
    const std::string secret = f.home();
    f.ws.share(f.bot, shared);
    // Links (shared) relates to Hidden (under the secret page), with a count rollup over it.
    const auto hidden_db =
        f.ws.create_database(f.as_owner, f.body(R"({"parent":{"page_id":")" + secret + R"("},
        "initial_data_source":{"properties":{"Name":{"title":{}}}}})"));
    const std::string hidden_ds(hidden_db.at("data_sources").as_array()[0].at("id").as_string());
    const auto links_db = f.ws.create_database(
        f.as_owner, f.body(R"({"parent":{"page_id":")" + shared + R"("},
        "initial_data_source":{"properties":{"Name":{"title":{}},
          "Secret":{"relation":{"data_source_id":")" +
                           hidden_ds +
                           R"(","type":"single_property","single_property":{}}},
          "Count":{"rollup":{"relation_property_name":"Secret","rollup_property_name":"Name","function":"count"}}}}})"));
    const std::string links(links_db.at("data_sources").as_array()[0].at("id").as_string());
    std::vector<std::string> rows;
    std::string all;
    for (int i = 0; i < 30; ++i) {
        rows.push_back(f.task(hidden_ds, "{}"));
        all += std::string(i ? "," : "") + R"({"id":")" + rows.back() + R"("})";
    }
    const std::string row = f.task(links, R"({"Secret":{"relation":[)" + all + "]}}");
    const std::string secret_id(
        f.ws.get_data_source(f.as_owner, links).at("properties").at("Secret").at("id").as_string());

    // the owner: 25 of 30 with has_more, a count of 25 (page objects) / 30 (property items)
    const auto owner_view = f.ws.get_page(f.as_owner, row, {}).at("properties");
    CHECK(owner_view.at("Secret").at("relation").as_array().size() == 25);
    CHECK(owner_view.at("Secret").at("has_more") == true);
    CHECK(owner_view.at("Count").at("rollup").at("number") == 25.0);

    // the connection: nothing, in page objects, queries, filters, property items and rollups
    auto check_bot_sees = [&](std::size_t n) {
        const auto page = f.ws.get_page(f.as_bot, row, {}).at("properties");
        CHECK(page.at("Secret").at("relation").as_array().size() == n);
        CHECK(page.at("Secret").at("has_more") == false);
        CHECK(page.at("Count").at("rollup").at("number") == static_cast<double>(n));
        const auto query = f.ws.query_data_source(f.as_bot, links, {}, {}).to_json();
        CHECK(query.at("results").as_array()[0].at("properties").at("Secret") == page.at("Secret"));
        const auto items = f.ws.get_page_property(f.as_bot, row, secret_id, std::nullopt, 100);
        CHECK(items.at("results").as_array().size() == n);
        CHECK(items.at("has_more") == false);
        const auto empty = f.ws.query_data_source(
            f.as_bot, links,
            f.body(R"({"filter":{"property":"Secret","relation":{"is_empty":true}}})"), {});
        CHECK(empty.results.size() == (n == 0 ? 1U : 0U));
        const auto contains = f.ws.query_data_source(
            f.as_bot, links,
            f.body(R"({"filter":{"property":"Secret","relation":{"contains":")" + rows[29] +
                   R"("}}})"),
            {});
        CHECK(contains.results.empty());
    };
    check_bot_sees(0);
    CHECK_FALSE(
        f.ws.get_data_source(f.as_bot, links).at("properties").as_object().contains("Secret"));

    // two rows shared one by one become visible (and only they), in stored order
    f.ws.share(f.bot, rows[3]);
    f.ws.share(f.bot, rows[27]);
    check_bot_sees(2);
    CHECK(relation_ids(f.ws.get_page(f.as_bot, row, {}).at("properties").at("Secret")) ==
          rows[3] + "," + rows[27]);

    // a write by the connection replaces only what it sees; the owner keeps the hidden links
    f.ws.update_page(
        f.as_bot, row,
        f.body(R"({"properties":{"Secret":{"relation":[{"id":")" + rows[27] + R"("}]}}})"), {});
    CHECK(relation_ids(f.ws.get_page(f.as_bot, row, {}).at("properties").at("Secret")) == rows[27]);
    const auto items = f.ws.get_page_property(f.as_owner, row, secret_id, std::nullopt, 100);
    CHECK(items.at("results").as_array().size() == 29);
    f.ws.unshare(f.bot, rows[27]);
    f.ws.unshare(f.bot, rows[3]);
    check_bot_sees(0);
}

namespace {

// A data source with every property type, and one it relates to; returns {all, projects}.
std::pair<std::string, std::string> every_type(Fixture& f, const std::string& parent) {
    const auto projects_db =
        f.ws.create_database(f.as_owner, f.body(R"({"parent":{"page_id":")" + parent + R"("},
            "title":[{"text":{"content":"Projects"}}],
            "initial_data_source":{"properties":{"Name":{"title":{}},"Hours":{"number":{}}}}})"));
    const std::string projects(projects_db.at("data_sources").as_array()[0].at("id").as_string());
    const auto db =
        f.ws.create_database(f.as_owner, f.body(R"({"parent":{"page_id":")" + parent + R"("},
            "title":[{"text":{"content":"All"}}],
            "initial_data_source":{"properties":{
              "Name":{"title":{}},"Notes":{"rich_text":{}},"Estimate":{"number":{}},
              "Done":{"checkbox":{}},"Area":{"select":{"options":[{"name":"Backend"}]}},
              "Tags":{"multi_select":{"options":[{"name":"A"},{"name":"B"}]}},
              "Stage":{"status":{}},"Due":{"date":{}},"Site":{"url":{}},"Mail":{"email":{}},
              "Phone":{"phone_number":{}},"Owner":{"people":{}},"Spec":{"files":{}},
              "Project":{"relation":{"data_source_id":")" +
                                                projects + R"(","single_property":{}}},
              "Total":{"rollup":{"relation_property_name":"Project",
                                 "rollup_property_name":"Hours","function":"sum"}},
              "Calc":{"formula":{"expression":"prop(\"Estimate\") * 2"}},
              "Created":{"created_time":{}},"Creator":{"created_by":{}},
              "Edited":{"last_edited_time":{}},"Editor":{"last_edited_by":{}},
              "Ticket":{"unique_id":{"prefix":"T"}},"Go":{"button":{}}}}})"));
    return {std::string(db.at("data_sources").as_array()[0].at("id").as_string()), projects};
}

std::string repeat(std::string_view piece, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i) out += piece;
    return out;
}

// {"text":{"content":…}} items, `count` of them, as a JSON array.
std::string text_items(std::size_t count, const std::string& content = "x") {
    std::string out = "[";
    for (std::size_t i = 0; i < count; ++i)
        out += std::string(i ? "," : "") + R"({"text":{"content":")" + content + R"("}})";
    return out + "]";
}

std::string id_items(const std::vector<std::string>& ids) {
    std::string out = "[";
    for (std::size_t i = 0; i < ids.size(); ++i)
        out += std::string(i ? "," : "") + R"({"id":")" + ids[i] + R"("})";
    return out + "]";
}

}  // namespace

TEST_CASE(
    "every writable type reads back as written: a date stays a date, a time keeps its offset") {
    Fixture f;
    const std::string home = f.home();
    f.ws.share(f.bot, home);
    const auto [all, projects] = every_type(f, home);
    const std::string project = f.task(projects, R"({"Hours":{"number":3}})");
    const std::string page = f.task(all, "{}");
    const std::string owner_id(f.ws.users_me(f.as_owner).at("id").as_string());
    const std::string long_text = repeat("0123456789", 450);
    const auto written = f.ws.update_page(f.as_bot, page,
                                          f.body(R"({"properties":{
        "Name":{"title":[{"text":{"content":"Renamed"}}]},
        "Notes":{"rich_text":[{"text":{"content":")" +
                                                 long_text.substr(0, 2000) + R"("}},
                              {"text":{"content":")" +
                                                 long_text.substr(2000, 2000) + R"("}},
                              {"text":{"content":")" +
                                                 long_text.substr(4000) + R"("}}]},
        "Estimate":{"number":3.5},"Done":{"checkbox":true},"Area":{"select":{"name":"Backend"}},
        "Tags":{"multi_select":[{"name":"B"},{"name":"A"}]},"Stage":{"status":{"name":"Done"}},
        "Due":{"date":{"start":"2026-06-01T09:00:00.000-04:00"}},
        "Site":{"url":"https://example.com/a"},"Mail":{"email":"a@example.com"},
        "Phone":{"phone_number":"+1 415 555 0100"},"Owner":{"people":[{"id":")" +
                                                 owner_id + R"("}]},
        "Spec":{"files":[{"name":"spec","external":{"url":"https://example.com/spec.pdf"}}]},
        "Project":{"relation":[{"id":")" + project +
                                                 R"("}]}}})"),
                                          {});
    const auto read = f.ws.get_page(f.as_bot, page, {});
    CHECK(written.at("properties") == read.at("properties"));
    const auto& p = read.at("properties");
    CHECK(plain_text(p.at("Name").at("title").as_array()) == "Renamed");
    CHECK(p.at("Notes").at("rich_text").as_array().size() == 3);
    CHECK(plain_text(p.at("Notes").at("rich_text").as_array()) == long_text);
    CHECK(p.at("Estimate").at("number") == 3.5);
    CHECK(p.at("Done").at("checkbox") == true);
    CHECK(p.at("Area").at("select").at("name") == "Backend");
    CHECK(p.at("Tags").at("multi_select").as_array()[0].at("name") == "B");
    CHECK(p.at("Tags").at("multi_select").as_array()[1].at("name") == "A");
    CHECK(p.at("Stage").at("status").at("name") == "Done");
    CHECK(p.at("Due").at("date") == json::parse(R"({"start":"2026-06-01T09:00:00.000-04:00",
                                                     "end":null,"time_zone":null})"));
    CHECK(p.at("Site").at("url") == "https://example.com/a");
    CHECK(p.at("Mail").at("email") == "a@example.com");
    CHECK(p.at("Phone").at("phone_number") == "+1 415 555 0100");
    CHECK(p.at("Owner").at("people").as_array()[0].at("id").as_string() == owner_id);
    CHECK(p.at("Spec").at("files") == json::parse(R"([{"name":"spec","type":"external",
                                            "external":{"url":"https://example.com/spec.pdf"}}])"));
    CHECK(p.at("Project").at("relation") == json::parse(R"([{"id":")" + project + R"("}])"));
    CHECK(p.at("Total").at("rollup").at("number") == 3.0);
    CHECK(p.at("Calc").at("formula").at("number") == 7);

    auto date_after = [&](const std::string& date) {
        f.ws.update_page(f.as_bot, page, f.body(R"({"properties":{"Due":{"date":)" + date + "}}}"),
                         {});
        return f.ws.get_page(f.as_bot, page, {}).at("properties").at("Due").at("date");
    };
    CHECK(date_after(R"({"start":"2026-06-01"})") ==
          json::parse(R"({"start":"2026-06-01","end":null,"time_zone":null})"));
    CHECK(date_after(R"({"start":"2026-06-01","end":"2026-06-03"})") ==
          json::parse(R"({"start":"2026-06-01","end":"2026-06-03","time_zone":null})"));
    const auto zoned = json::parse(R"({"start":"2026-06-01T09:00:00.000",
        "end":"2026-06-01T10:00:00.000","time_zone":"America/New_York"})");
    CHECK(date_after(json::serialize(zoned)) == zoned);
    CHECK(date_after("null").is_null());

    // null clears what may be empty
    f.ws.update_page(f.as_bot, page, f.body(R"({"properties":{"Estimate":{"number":null},
        "Area":{"select":null},"Stage":{"status":null},"Site":{"url":null},"Mail":{"email":null},
        "Phone":{"phone_number":null},"Tags":{"multi_select":[]},"Project":{"relation":[]}}})"),
                     {});
    const auto cleared = f.ws.get_page(f.as_bot, page, {}).at("properties");
    for (const char* name : {"Estimate", "Area", "Stage", "Site", "Mail", "Phone"}) {
        CAPTURE(name);
        const auto& v = cleared.at(name).as_object();
        CHECK(v.at(v.at("type").as_string()).is_null());
    }
    CHECK(cleared.at("Tags").at("multi_select").as_array().empty());
    CHECK(cleared.at("Project").at("relation").as_array().empty());
}

TEST_CASE("writes are refused as Notion refuses them: limits, options, dates, read-only types") {
    Fixture f;
    const std::string home = f.home();
    f.ws.share(f.bot, home);
    const auto [all, projects] = every_type(f, home);
    const std::string page = f.task(all, R"({"Estimate":{"number":1}})");
    const auto before = f.ws.get_page(f.as_owner, page, {}).at("properties");
    auto update = [&](const std::string& properties) {
        return f.code_of([&] {
            f.ws.update_page(f.as_bot, page, f.body(R"({"properties":)" + properties + "}"), {});
        });
    };
    auto message = [&](const std::string& properties) {
        try {
            f.ws.update_page(f.as_bot, page, f.body(R"({"properties":)" + properties + "}"), {});
        } catch (const ApiError& e) {
            return std::string(e.what());
        }
        return std::string("ok");
    };

    SUBCASE("rich text: 2,000 UTF-16 code units per item, 100 items") {
        CHECK(update(R"({"Notes":{"rich_text":)" + text_items(1, std::string(2001, 'x')) + "}}") ==
              "validation_error");
        CHECK(message(R"({"Notes":{"rich_text":)" + text_items(1, std::string(2001, 'x')) + "}}") ==
              "body failed validation: body.properties.Notes.rich_text[0].text.content.length "
              "should be ≤ `2000`, instead was `2001`.");
        // an emoji is two UTF-16 code units: 1,000 fit, 1,001 do not
        CHECK(update(R"({"Notes":{"rich_text":)" + text_items(1, repeat("\U0001F600", 1000)) +
                     "}}") == "ok");
        CHECK(
            message(R"({"Notes":{"rich_text":)" + text_items(1, repeat("\U0001F600", 1001)) + "}}")
                .ends_with("should be ≤ `2000`, instead was `2002`."));
        CHECK(update(R"({"Notes":{"rich_text":)" + text_items(100) + "}}") == "ok");
        CHECK(update(R"({"Notes":{"rich_text":)" + text_items(101) + "}}") == "validation_error");
        CHECK(update(R"({"Name":{"title":)" + text_items(101) + "}}") == "validation_error");
        CHECK(update(R"({"Notes":{"rich_text":[{"text":{"content":"x","link":{"url":")" +
                     std::string(2001, 'u') + R"("}}}]}})") == "validation_error");
    }
    SUBCASE("scalars: types, empty strings, URL 2,000 and email/phone 200 characters") {
        CHECK(update(R"({"Estimate":{"number":"7"}})") == "validation_error");
        CHECK(update(R"({"Done":{"checkbox":"true"}})") == "validation_error");
        CHECK(update(R"({"Done":{"checkbox":null}})") == "validation_error");
        CHECK(update(R"({"Site":{"url":"https://x/)" + std::string(1990, 'a') + R"("}})") == "ok");
        CHECK(update(R"({"Site":{"url":"https://x/)" + std::string(1991, 'a') + R"("}})") ==
              "validation_error");
        CHECK(update(R"({"Site":{"url":""}})") == "validation_error");
        CHECK(update(R"({"Mail":{"email":")" + std::string(188, 'a') + R"(@example.com"}})") ==
              "ok");
        CHECK(update(R"({"Mail":{"email":")" + std::string(189, 'a') + R"(@example.com"}})") ==
              "validation_error");
        CHECK(update(R"({"Phone":{"phone_number":")" + std::string(201, '1') + R"("}})") ==
              "validation_error");
        CHECK(update(R"({"Estimate":{"rich_text":[]}})") == "validation_error");
        CHECK(message(R"({"Estimate":{"rich_text":[]}})") == "Estimate is expected to be number.");
        CHECK(update(R"({"Nope":{"number":1}})") == "validation_error");
    }
    SUBCASE("select, multi-select and status options") {
        CHECK(update(R"({"Area":{"select":{"name":"a,b"}}})") == "validation_error");
        CHECK(update(R"({"Tags":{"multi_select":[{"name":"a,b"}]}})") == "validation_error");
        CHECK(update(R"({"Area":{"select":{"name":")" + std::string(101, 'n') + R"("}}})") ==
              "validation_error");
        CHECK(update(R"({"Area":{"select":{"name":"New","color":"chartreuse"}}})") ==
              "validation_error");
        CHECK(update(R"({"Area":{"select":{"id":"nope"}}})") == "validation_error");
        CHECK(update(R"({"Stage":{"status":{"name":"Blocked"}}})") == "validation_error");
        CHECK(message(R"({"Stage":{"status":{"name":"Blocked"}}})").find("Blocked") !=
              std::string::npos);
        std::string many = "[";
        for (int i = 0; i < 101; ++i)
            many += std::string(i ? "," : "") + R"({"name":"o)" + std::to_string(i) + R"("})";
        CHECK(update(R"({"Tags":{"multi_select":)" + many + "]}}") == "validation_error");
        // refused writes added no option
        const auto schema = f.ws.get_data_source(f.as_owner, all).at("properties");
        CHECK(schema.at("Area").at("select").at("options").as_array().size() == 1);
        CHECK(schema.at("Tags").at("multi_select").at("options").as_array().size() == 2);
        // an unknown select name becomes an option (notion-api.md §7.2)
        CHECK(update(R"({"Area":{"select":{"name":"Frontend","color":"blue"}}})") == "ok");
        const auto grown = f.ws.get_data_source(f.as_owner, all).at("properties");
        CHECK(grown.at("Area").at("select").at("options").as_array()[1].at("color") == "blue");
    }
    SUBCASE("dates: ISO 8601, and local times with a time zone") {
        CHECK(update(R"({"Due":{"date":{"start":"June 1st"}}})") == "validation_error");
        CHECK(update(R"({"Due":{"date":{"end":"2026-06-01"}}})") == "validation_error");
        CHECK(update(R"({"Due":{"date":{"start":"2026-06-01","end":"soon"}}})") ==
              "validation_error");
        CHECK(update(R"({"Due":{"date":{"start":"2026-06-01T09:00:00.000-04:00",
                         "time_zone":"America/New_York"}}})") == "validation_error");
        CHECK(update(R"({"Due":{"date":{"start":"2026-06-01","time_zone":"Europe/Berlin"}}})") ==
              "validation_error");
        CHECK(
            update(R"({"Due":{"date":{"start":"2026-06-01T09:00","time_zone":"Berlin time"}}})") ==
            "validation_error");
        CHECK(update(R"({"Due":{"date":{"start":"2026-06-01T09:00","time_zone":"Etc/GMT+5"}}})") ==
              "ok");
        // an end before its start is taken as sent (Notion's answer is UNCONFIRMED)
        CHECK(update(R"({"Due":{"date":{"start":"2026-06-03","end":"2026-06-01"}}})") == "ok");
    }
    SUBCASE("people, relations and files") {
        CHECK(update(R"({"Owner":{"people":[{"id":"11111111-2222-4333-8444-555555555555"}]}})") ==
              "validation_error");
        CHECK(update(R"({"Owner":{"people":[{"id":"not-a-uuid"}]}})") == "validation_error");
        std::vector<std::string> targets;
        for (int i = 0; i < 101; ++i) targets.push_back(f.task(projects, "{}"));
        CHECK(update(R"({"Project":{"relation":)" + id_items(targets) + "}}") ==
              "validation_error");
        targets.pop_back();
        CHECK(update(R"({"Project":{"relation":)" + id_items(targets) + "}}") == "ok");
        const auto linked = f.ws.get_page(f.as_bot, page, {}).at("properties").at("Project");
        CHECK(linked.at("relation").as_array().size() == 25);  // 25 in page objects
        CHECK(linked.at("has_more") == true);
        CHECK(update(R"({"Spec":{"files":[{"external":{"url":"https://x.y/a"}}]}})") ==
              "validation_error");
        CHECK(update(R"({"Spec":{"files":[{"name":"a","external":{"url":"https://x.y/)" +
                     std::string(1995, 'a') + R"("}}]}})") == "validation_error");
        CHECK(update(R"({"Spec":{"files":[{"name":"a","file":{"url":"https://x.y/a"}}]}})") ==
              "validation_error");  // Notion-hosted files cannot be written
    }
    SUBCASE("read-only types") {
        for (const char* property :
             {R"({"Calc":{"formula":{"number":1}}})", R"({"Total":{"rollup":{"number":1}}})",
              R"({"Created":{"created_time":"2026-01-01T00:00:00.000Z"}})",
              R"({"Creator":{"created_by":{"id":"11111111-2222-4333-8444-555555555555"}}})",
              R"({"Edited":{"last_edited_time":"2026-01-01T00:00:00.000Z"}})",
              R"({"Editor":{"last_edited_by":{"id":"11111111-2222-4333-8444-555555555555"}}})",
              R"({"Ticket":{"unique_id":{"number":9}}})", R"({"Go":{"button":{}}})"}) {
            CAPTURE(property);
            CHECK(update(property) == "validation_error");
            CHECK(message(property).find("read-only") != std::string::npos);
        }
    }
    // nothing refused changed the page
    CHECK(f.ws.get_page(f.as_owner, page, {}).at("properties").at("Estimate") ==
          before.at("Estimate"));
    CHECK(f.ws.get_page(f.as_owner, page, {}).at("properties").at("Stage") == before.at("Stage"));
}

TEST_CASE("a connection's writes carry its bot user, and last_edited_time moves by the minute") {
    Fixture f;
    const std::string home = f.home();
    f.ws.share(f.bot, home);
    const std::string ds = f.tasks(home);
    const std::string owner_id(f.ws.users_me(f.as_owner).at("id").as_string());
    const std::string bot_id(f.ws.users_me(f.as_bot).at("id").as_string());
    REQUIRE(owner_id != bot_id);
    CHECK(f.ws.users_me(f.as_bot).at("type") == "bot");
    const std::string page = f.task(ds, R"({"Estimate":{"number":1}})");  // owner, 10:15:42
    auto stamps = [&] {
        const auto p = f.ws.get_page(f.as_owner, page, {});
        return std::tuple{std::string(p.at("created_by").at("id").as_string()),
                          std::string(p.at("last_edited_by").at("id").as_string()),
                          std::string(p.at("last_edited_time").as_string())};
    };
    CHECK(stamps() == std::tuple{owner_id, owner_id, std::string("2026-05-01T10:15:00.000Z")});

    f.clock.set(*parse_time("2026-05-01T10:17:59.999Z"), true);
    f.ws.update_page(f.as_bot, page, f.body(R"({"properties":{"Estimate":{"number":2}}})"), {});
    CHECK(stamps() == std::tuple{owner_id, bot_id, std::string("2026-05-01T10:17:00.000Z")});

    f.clock.set(*parse_time("2026-05-01T10:18:00.000Z"), true);
    f.ws.update_page(f.as_owner, page, f.body(R"({"properties":{"Done":{"checkbox":true}}})"), {});
    CHECK(stamps() == std::tuple{owner_id, owner_id, std::string("2026-05-01T10:18:00.000Z")});

    f.clock.set(*parse_time("2026-05-01T10:19:30.000Z"), true);
    f.ws.update_page(f.as_bot, page, f.body(R"({"in_trash":true})"), {});
    CHECK(stamps() == std::tuple{owner_id, bot_id, std::string("2026-05-01T10:19:00.000Z")});
    f.clock.set(*parse_time("2026-05-01T10:20:01.000Z"), true);
    f.ws.update_page(f.as_owner, page, f.body(R"({"in_trash":false})"), {});
    CHECK(stamps() == std::tuple{owner_id, owner_id, std::string("2026-05-01T10:20:00.000Z")});
    f.clock.set(*parse_time("2026-05-01T10:21:01.000Z"), true);
    f.ws.delete_block(f.as_bot, page);  // trashing a page as a block
    CHECK(stamps() == std::tuple{owner_id, bot_id, std::string("2026-05-01T10:21:00.000Z")});

    // a create by the connection: it is the creator and the last editor, as are the
    // created_by / last_edited_by properties
    const auto [all, projects] = every_type(f, home);
    const auto created = f.ws.create_page(
        f.as_bot, f.body(R"({"parent":{"data_source_id":")" + all + R"("},"properties":{}})"), {});
    CHECK(created.at("created_by").at("id").as_string() == bot_id);
    CHECK(created.at("last_edited_by").at("id").as_string() == bot_id);
    CHECK(created.at("created_time") == "2026-05-01T10:21:00.000Z");
    CHECK(created.at("properties").at("Creator").at("created_by").at("id").as_string() == bot_id);
    CHECK(created.at("properties").at("Editor").at("last_edited_by").at("id").as_string() ==
          bot_id);
    CHECK(created.at("properties").at("Edited").at("last_edited_time") ==
          "2026-05-01T10:21:00.000Z");
}
