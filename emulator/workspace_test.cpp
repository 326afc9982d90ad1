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
