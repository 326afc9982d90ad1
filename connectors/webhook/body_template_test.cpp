#include "connectors/webhook/body_template.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace syncd;
using namespace syncd::connectors::webhook;
namespace json = boost::json;

namespace {

model::ChangeEvent sample_event() {
    model::ChangeEvent e{.seq = 7,
                         .kind = "updated",
                         .sync = "tasks",
                         .data_source_id = "ds-1",
                         .page_id = "page-1",
                         .last_edited_time = "2026-03-01T10:00:00.000Z",
                         .url = "https://www.notion.so/Ship-it-page1"};
    e.properties = {
        {"Name", "Ship \"it\"\n\\now"},
        {"Count", 3.0},
        {"Ratio", 0.25},
        {"Done", false},
        {"Tags", json::array{"red", "blue"}},
        {"Due", {{"start", "2026-06-01"}, {"end", "2026-06-03"}, {"time_zone", nullptr}}},
        {"Empty", nullptr}};
    e.changed = {"Count", "Done"};
    return e;
}

std::map<std::string, model::Schema> sample_schemas() {
    model::Schema schema{.data_source_id = "ds-1", .title = "Tasks"};
    schema.properties.push_back({"title", "Name", "title"});
    schema.properties.push_back({"abc", "Count", "number"});
    return {{"ds-1", schema}};
}

std::string render(const std::string& text) {
    return BodyTemplate::parse(text).render(
        template_context(sample_event(), sample_schemas(), "tasks/chat", "tasks/chat:7"));
}

}  // namespace

TEST_CASE("placeholders are replaced by the event's values, escaped for a JSON string") {
    const auto body = render(R"({"text": "{{title}} was {{event}} in {{data_source}}: {{url}}"})");
    CHECK(
        body ==
        R"({"text": "Ship \"it\"\n\\now was updated in Tasks: https://www.notion.so/Ship-it-page1"})");
    CHECK(json::parse(body).at("text") ==
          "Ship \"it\"\n\\now was updated in Tasks: https://www.notion.so/Ship-it-page1");
}

TEST_CASE("numbers, booleans, lists, dates and missing values read as words") {
    CHECK(render(R"({"t": "{{properties.Count}}|{{properties.Ratio}}|{{properties.Done}}"})") ==
          R"({"t": "3|0.25|false"})");
    CHECK(render(R"({"t": "{{properties.Tags}}|{{changed}}|{{changed.1}}"})") ==
          R"({"t": "red, blue|Count, Done|Done"})");
    CHECK(json::parse(render(R"({"t": "{{properties.Due}}"})")).at("t") ==
          "2026-06-01 \xE2\x86\x92 2026-06-03");
    CHECK(render(R"({"t": "[{{properties.Empty}}][{{properties.Nope}}][{{changed.9}}]"})") ==
          R"({"t": "[][][]"})");
    CHECK(render(R"({"t": "{{seq}} {{target}} {{delivery_id}} {{ sync }}"})") ==
          R"({"t": "7 tasks/chat tasks/chat:7 tasks"})");
}

TEST_CASE("json: inserts a value as JSON, null when missing") {
    const auto body = render(
        R"({"props": {{json:properties}}, "seq": {{json:seq}}, "name": {{json:title}}, "x": {{json:properties.Nope}}})");
    const auto parsed = json::parse(body);
    CHECK(parsed.at("props").at("Tags") == json::array{"red", "blue"});
    CHECK(parsed.at("seq") == 7);
    CHECK(parsed.at("name") == "Ship \"it\"\n\\now");
    CHECK(parsed.at("x").is_null());
}

TEST_CASE("control characters and quotes in any value keep the body valid JSON") {
    auto e = sample_event();
    std::string nasty = "\"}\\{{title}}\x01\x1f\t\r\b\f";
    e.properties["Name"] = nasty.c_str();
    const auto t =
        BodyTemplate::parse(R"({"a": "{{properties.Name}}", "b": {{json:properties.Name}}})");
    const auto parsed = json::parse(t.render(template_context(e, {}, "t", "d")));
    CHECK(parsed.at("a") == nasty.c_str());
    CHECK(parsed.at("b") == nasty.c_str());
}

TEST_CASE("without a schema, title and data_source are empty") {
    const auto t = BodyTemplate::parse(R"({"t": "[{{title}}][{{data_source}}]"})");
    CHECK(t.render(template_context(sample_event(), {}, "t", "d")) == R"({"t": "[][]"})");
}

TEST_CASE("a broken template is refused with what is wrong and where") {
    auto error_of = [](const std::string& text) -> std::pair<std::string, std::size_t> {
        try {
            BodyTemplate::parse(text);
        } catch (const TemplateError& e) {
            return {e.what(), e.offset};
        }
        return {"", 0};
    };
    CHECK(error_of(R"({"t": "{{title"})") == std::pair<std::string, std::size_t>{"unclosed {{", 7});
    CHECK(error_of(R"({"t": "{{ }}"})").first == "empty {{}}");
    CHECK(error_of(R"({"t": "{{properties..Name}}"})").first ==
          "empty name in {{properties..Name}}");
    CHECK(error_of(R"({"t": "{{raw:title}}"})").first ==
          "unknown prefix `raw:` in {{raw:title}} (only json: is known)");
    const auto unknown = error_of(R"({"t": "x {{page}}"})");
    CHECK(unknown.first.starts_with("unknown name `page` in {{page}} (expected one of: event, "));
    CHECK(unknown.second == 9);
    CHECK(error_of(R"({"t": {{title}}})").first.starts_with("does not render to JSON"));
    CHECK(error_of(R"(text: {{title}})").first.starts_with("does not render to JSON"));
    CHECK(error_of(R"({"t": "{{title}}"})").first == "");
}
