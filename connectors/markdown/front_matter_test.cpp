#include "connectors/markdown/front_matter.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <random>

using namespace syncd::connectors::markdown;
namespace json = boost::json;
using syncd::model::ChangeEvent;
using syncd::model::Schema;

namespace {

Schema tasks_schema() {
    Schema schema{.data_source_id = "ds-1", .title = "Tasks"};
    schema.properties = {{"title", "Name", "title"},
                         {"st", "Status", "select", {"Todo", "In progress", "Done"}},
                         {"es", "Estimate", "number"},
                         {"dn", "Done", "checkbox"},
                         {"tg", "Tags", "multi_select", {"a", "b: c", "yes"}},
                         {"du", "Due", "date"},
                         {"ow", "Owner", "people"},
                         {"nt", "Notes", "rich_text"},
                         {"fx", "Double", "formula"},
                         {"tt", "title", "rich_text"}};  // a property named like a key
    return schema;
}

ChangeEvent task_event() {
    ChangeEvent event{.kind = "updated",
                      .data_source_id = "ds-1",
                      .page_id = "1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988",
                      .last_edited_time = "2026-06-01T10:00:00.000Z",
                      .url = "https://www.notion.so/1f2e3d4c5b6a79881f2e3d4c5b6a7988"};
    event.properties = {
        {"Name", "Release: plan #2"},
        {"Status", "In progress"},
        {"Estimate", 8},
        {"Done", false},
        {"Tags", json::array{"a", "b: c", "yes"}},
        {"Due", json::object{{"start", "2026-06-01"}, {"end", nullptr}, {"time_zone", nullptr}}},
        {"Owner", json::array{"5c6a1d2e-0000-4000-8000-000000000001"}},
        {"Notes", "8"},
        {"Double", 16},
        {"title", "shadowed"}};
    for (const auto& p : tasks_schema().properties) event.property_ids[p.name] = p.id;
    return event;
}

FrontMatter read(const std::string& yaml_lines) {
    return read_front_matter("---\n" + yaml_lines + "---\nbody\n");
}

}  // namespace

TEST_CASE("front matter: plain keys and values a person can edit, read back as the same values") {
    const Schema schema = tasks_schema();
    const ChangeEvent event = task_event();
    const std::string text = render_front_matter(event, &schema);
    INFO(text);
    CHECK(text.starts_with("---\nnotion_id: 1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988\n"));
    CHECK(text.find("\ntitle: \"Release: plan #2\"\n") != std::string::npos);
    CHECK(text.find("\nStatus: In progress\n") != std::string::npos);
    CHECK(text.find("\nEstimate: 8\n") != std::string::npos);
    CHECK(text.find("\nDone: false\n") != std::string::npos);
    CHECK(text.find("\nTags: [a, \"b: c\", \"yes\"]\n") != std::string::npos);
    CHECK(text.find("\nDue: 2026-06-01\n") != std::string::npos);
    CHECK(text.find("\nOwner: [5c6a1d2e-0000-4000-8000-000000000001]\n") != std::string::npos);
    CHECK(text.find("\nNotes: \"8\"\n") != std::string::npos);
    // Read-only properties and names that are keys of the file's own go under `notion:`.
    CHECK(text.find("\nnotion:\n  url: \"https://www.notion.so/1f2e3d4c5b6a79881f2e3d4c5b6a7988\"\n"
                    "  data_source: ds-1\n  last_edited_time: 2026-06-01T10:00:00.000Z\n"
                    "  Double: 16\n  title: \"shadowed\"\n---\n") != std::string::npos);

    const FrontMatter front = read_front_matter(text + "\n# body\n");
    REQUIRE(front.error.empty());
    CHECK(front.notion_id == event.page_id);
    CHECK(front.data_source_id == "ds-1");
    CHECK(!front.conflict_copy);
    CHECK(front.body == "\n# body\n");
    const FileValues values = values_of(front, schema);
    CHECK(values.errors.empty());
    CHECK(json::serialize(values.values) ==
          json::serialize(json::parse(R"({"title":"Release: plan #2","st":"In progress","es":8,
            "dn":false,"tg":["a","b: c","yes"],"du":"2026-06-01",
            "ow":["5c6a1d2e-0000-4000-8000-000000000001"],"nt":"8"})")));
}

TEST_CASE("front matter: people and relations by name with their ids, read back as the ids") {
    Schema schema = tasks_schema();
    schema.properties.push_back({"rl", "Blocked by", "relation"});
    ChangeEvent event = task_event();
    event.properties["Owner"] =
        json::array{"5c6a1d2e-0000-4000-8000-000000000001", "5c6a1d2e-0000-4000-8000-000000000002",
                    "5c6a1d2e-0000-4000-8000-000000000003"};
    event.properties["Blocked by"] = json::array{"9a8b7c6d-0000-4000-8000-00000000000a"};
    event.property_ids["Blocked by"] = "rl";
    const Names names{{"5c6a1d2e-0000-4000-8000-000000000001", "Ada Lovelace"},
                      {"5c6a1d2e-0000-4000-8000-000000000002", "O'Brien: ops"},
                      {"9a8b7c6d-0000-4000-8000-00000000000a", "Ship v2 (beta)"}};
    const std::string text = render_front_matter(event, &schema, false, &names);
    INFO(text);
    // Plain where YAML allows, quoted where it does not; an id nobody named stays bare.
    CHECK(text.find("\nOwner: [Ada Lovelace <5c6a1d2e-0000-4000-8000-000000000001>, "
                    "\"O'Brien: ops <5c6a1d2e-0000-4000-8000-000000000002>\", "
                    "5c6a1d2e-0000-4000-8000-000000000003]\n") != std::string::npos);
    CHECK(text.find("\nBlocked by: [Ship v2 (beta) <9a8b7c6d-0000-4000-8000-00000000000a>]\n") !=
          std::string::npos);
    const FileValues values = values_of(read_front_matter(text), schema);
    CHECK(values.errors.empty());
    CHECK(values.values.at("ow") == event.properties["Owner"]);
    CHECK(values.values.at("rl") == event.properties["Blocked by"]);
    // A person removing one and adding another by id.
    const FileValues edited =
        values_of(read("Owner: [Ada Lovelace <5c6a1d2e-0000-4000-8000-000000000001>, "
                       "5c6a1d2e-0000-4000-8000-000000000009]\n"),
                  schema);
    CHECK(edited.errors.empty());
    CHECK(edited.values.at("ow") == json::array{"5c6a1d2e-0000-4000-8000-000000000001",
                                                "5c6a1d2e-0000-4000-8000-000000000009"});
}

TEST_CASE("front matter: dates with times, ends and time zones, empty values, files") {
    Schema schema{.data_source_id = "ds"};
    schema.properties = {{"d1", "Start", "date"},        {"d2", "Span", "date"},
                         {"d3", "Zoned", "date"},        {"st", "Status", "select"},
                         {"tg", "Tags", "multi_select"}, {"nt", "Notes", "rich_text"}};
    ChangeEvent event{.page_id = "p"};
    event.properties = {
        {"Start",
         json::object{
             {"start", "2026-06-01T10:00:00.000+02:00"}, {"end", nullptr}, {"time_zone", nullptr}}},
        {"Span",
         json::object{{"start", "2026-06-01"}, {"end", "2026-06-03"}, {"time_zone", nullptr}}},
        {"Zoned", json::object{{"start", "2026-06-01T10:00:00.000"},
                               {"end", nullptr},
                               {"time_zone", "Europe/Berlin"}}},
        {"Status", nullptr},
        {"Tags", json::array{}},
        {"Notes", ""}};
    for (const auto& p : schema.properties) event.property_ids[p.name] = p.id;
    const std::string text = render_front_matter(event, &schema);
    INFO(text);
    CHECK(text.find("\nStart: 2026-06-01T10:00:00.000+02:00\n") != std::string::npos);
    CHECK(text.find("\nSpan: {start: 2026-06-01, end: 2026-06-03}\n") != std::string::npos);
    CHECK(text.find("\nZoned: {start: 2026-06-01T10:00:00.000, time_zone: Europe/Berlin}\n") !=
          std::string::npos);
    CHECK(text.find("\nStatus:\n") != std::string::npos);
    CHECK(text.find("\nTags: []\n") != std::string::npos);
    CHECK(text.find("\nNotes: \"\"\n") != std::string::npos);
    const FileValues values = values_of(read_front_matter(text), schema);
    CHECK(values.errors.empty());
    // A person's value kept in the file by a delivery (read form: the text) is written as is.
    ChangeEvent kept = event;
    kept.properties["Start"] = values.values.at("d1");
    kept.properties["Span"] = "next week";
    const std::string rewritten = render_front_matter(kept, &schema);
    CHECK(rewritten.find("\nStart: 2026-06-01T10:00:00.000+02:00\n") != std::string::npos);
    CHECK(rewritten.find("\nSpan: next week\n") != std::string::npos);
    CHECK(values_of(read_front_matter(rewritten), schema).values.at("d2") == "next week");
    CHECK(values.values.at("d1") == "2026-06-01T10:00:00.000+02:00");
    CHECK(values.values.at("d2").at("end") == "2026-06-03");
    CHECK(values.values.at("d3").at("time_zone") == "Europe/Berlin");
    CHECK(values.values.at("st").is_null());
    CHECK(values.values.at("tg") == json::array{});
    CHECK(values.values.at("nt") == "");
}

TEST_CASE("front matter: a value of the wrong type is an error naming the key, never a guess") {
    const Schema schema = tasks_schema();
    const auto errors_of = [&](const std::string& lines) {
        const FrontMatter front = read(lines);
        REQUIRE(front.error.empty());
        return values_of(front, schema).errors;
    };
    auto e = errors_of("Estimate: \"8\"\n");
    REQUIRE(e.contains("es"));
    CHECK(e.at("es") ==
          "`Estimate`: \"8\" is quoted, so it is text; write the number without quotes");
    CHECK(errors_of("Estimate: eight\n").at("es") ==
          "`Estimate`: expected a number, not \"eight\"");
    CHECK(errors_of("Done: maybe\n").at("dn") == "`Done`: expected true or false (unquoted)");
    CHECK(errors_of("Done: \"true\"\n").contains("dn"));
    CHECK(errors_of("Status: [Done]\n").at("st") == "`Status`: expected text, not a list or a map");
    CHECK(errors_of("Tags: a\n").at("tg") == "`Tags`: expected a list, e.g. [a, b]");
    CHECK(errors_of("Owner: [Ada]\n").at("ow") ==
          "`Owner`: expected `Name <id>` or an id, not \"Ada\" (a name alone is not looked up: "
          "copy the id from the page's Notion URL or from another file)");
    CHECK(errors_of("Due: [2026]\n").contains("du"));
    // What is fine: numbers as a person types them, names with ids, yes for a checkbox, text
    // that looks like a number in a text property, a key left out (not changed).
    const FrontMatter front = read(
        "Estimate: 8.50\nDone: yes\nOwner: [Ada Lovelace <5c6a1d2e-0000-4000-8000-000000000001>]\n"
        "Notes: 8\nStatus: Done\n");
    const FileValues values = values_of(front, schema);
    CHECK(values.errors.empty());
    CHECK(values.values.at("es") == 8.5);
    CHECK(values.values.at("dn") == true);
    CHECK(values.values.at("ow") == json::array{"5c6a1d2e-0000-4000-8000-000000000001"});
    CHECK(values.values.at("nt") == "8");
    CHECK(!values.values.contains("tg"));
    CHECK(!values.values.contains("fx"));  // read-only: never read back
}

TEST_CASE("front matter: a broken file says what and where, a file without one is all body") {
    CHECK(read_front_matter("---\ntitle: x\nno end\n").error ==
          "the front matter has no closing --- line");
    const FrontMatter broken = read("title: x\nTags: [a, b\n");
    CHECK(broken.error.starts_with("front matter line "));
    CHECK(read("- a\n- b\n").error == "the front matter is not a map of keys and values");
    CHECK(read("title: caf\xe9\n").error ==
          "the front matter is not valid UTF-8; save the file as UTF-8");  // Latin-1
    CHECK(read("title: caf\xc3\xa9\n").error.empty());
    CHECK(read(std::string("title: a\0b\n", 11)).error ==
          "the front matter holds a control character (U+0000); remove it");
    const FrontMatter plain = read_front_matter("# Just text\n");
    CHECK(!plain.present);
    CHECK(plain.body == "# Just text\n");
    // Windows line ends and a YAML document end marker.
    const FrontMatter crlf = read_front_matter("---\r\nnotion_id: abc\r\n...\r\nbody");
    CHECK(crlf.error.empty());
    CHECK(crlf.notion_id == "abc");
    CHECK(crlf.body == "body");
}

TEST_CASE("front matter: an escape yaml-cpp reads as invalid UTF-8 is an error, not a value") {
    // `\_` is YAML's escape for U+00A0; yaml-cpp decodes it to a byte that is not UTF-8.
    const FrontMatter front = read("title: \"a\\_b\"\nNotes: ok\n");
    CHECK(front.error ==
          "front matter line 2: a quoted value's escape sequence reads as invalid text; write "
          "the character itself instead of the escape");
    // Written out, the character is fine.
    CHECK(read("title: \"a\u00a0b\"\n").error.empty());
    CHECK(read("title: a\xc2\xa0"
               "b\n")
              .error.empty());
}

TEST_CASE("front matter: a conflict copy is marked and read as one") {
    const std::string copy = mark_conflict_copy("---\nnotion_id: abc\ntitle: x\n---\nbody\n");
    CHECK(copy == "---\nnotion_conflict_copy: true\nnotion_id: abc\ntitle: x\n---\nbody\n");
    CHECK(read_front_matter(copy).conflict_copy);
    CHECK(read_front_matter(mark_conflict_copy("no front matter\n")).conflict_copy);
}

TEST_CASE("yaml_string: any text comes back from a YAML parser as the same string") {
    for (const char* plain :
         {"In progress", "Ünïcode Straße", "a-b", "Q3 plan (draft)", "v1.2/x_y"})
        CHECK(yaml_string(plain) == plain);
    for (const char* quoted : {"",          "8",
                               "-1",        "2026-06-01",
                               "yes",       "No",
                               "null",      "~",
                               "a: b",      "a #b",
                               "[x]",       "x,y",
                               "end:",      " lead",
                               "trail ",    "*ref",
                               "&a",        "!tag",
                               "%x",        "@x",
                               "`x",        "|",
                               ">",         "'q'",
                               "\"q\"",     "line\nbreak",
                               "tab\there", "10:30",
                               ".5",        "+1",
                               "?x",        "{a}",
                               "b:?c",      "https://a.b/c",
                               "b;?c",      "x\"y",
                               "a?b=c"}) {
        INFO(quoted);
        CHECK(yaml_string(quoted).starts_with('"'));
    }
    // Random strings over the characters YAML treats specially, through yaml-cpp.
    std::mt19937 random(7);
    const std::string alphabet =
        "ab 09:;<-#,[]{}\"'\\!&*?|>%@`~\t\n.+()/=yesnoltru\x7f\x01\xc3\xa9";
    for (int i = 0; i < 3000; ++i) {
        std::string text;
        const int length = static_cast<int>(random() % 12);
        for (int j = 0; j < length; ++j) {
            const char c = alphabet[random() % alphabet.size()];
            if (static_cast<unsigned char>(c) == 0xc3) {
                text += "\xc3\xa9";
            } else if (static_cast<unsigned char>(c) != 0xa9) {
                text += c;
            }
        }
        const std::string yaml = "k: " + yaml_string(text) + "\n";
        INFO(yaml);
        const YAML::Node node = YAML::Load(yaml);
        REQUIRE(node["k"].IsScalar());
        CHECK(node["k"].Scalar() == text);
        // Inside a flow list too (multi-select options, people, relations).
        const YAML::Node list = YAML::Load("k: [a, " + yaml_string(text) + ", b]\n");
        REQUIRE(list["k"].IsSequence());
        REQUIRE(list["k"].size() == 3);
        CHECK(list["k"][1].Scalar() == text);
        // And through our reader, as text of a text property.
        const FrontMatter front = read(yaml);
        REQUIRE(front.error.empty());
        const ReadValue value = read_value(front.keys.at("k"), "rich_text");
        CHECK(value.value == json::value(text));
    }
    // YAML's other line breaks (NEL, U+2028, U+2029) come back too: written as \u escapes,
    // since yaml-cpp reads \N, \L and \P as bytes that are not UTF-8.
    for (const char* breaks : {"a\xc2\x85"
                               "b",
                               "\xe2\x80\xa8", "x\xe2\x80\xa9y", "\xc2\x85"}) {
        const std::string text = breaks;
        const std::string yaml = "k: [a, " + yaml_string(text) + "]\n";
        INFO(yaml);
        const FrontMatter front = read(yaml);
        REQUIRE(front.error.empty());
        const ReadValue value = read_value(front.keys.at("k"), "multi_select");
        CHECK(value.value == json::array{"a", json::string(text)});
    }
}
