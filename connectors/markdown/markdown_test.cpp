#include "connectors/markdown/markdown.hpp"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <memory>

using namespace syncd::connectors::markdown;
namespace json = boost::json;

namespace {

json::array blocks(const char* text) { return json::parse(text).as_array(); }

// The document tree a GitHub-flavoured Markdown parser (cmark-gfm, with the table and task list
// extensions) reads from `markdown`, as JSON: {"type", attributes, "children"}, adjacent text
// nodes merged. The checks below are about what a reader of the file gets, not about our bytes.
json::value node_json(cmark_node* node) {
    json::object out{{"type", cmark_node_get_type_string(node)}};
    switch (cmark_node_get_type(node)) {
        case CMARK_NODE_HEADING:
            out["level"] = cmark_node_get_heading_level(node);
            break;
        case CMARK_NODE_LIST:
            out["ordered"] = cmark_node_get_list_type(node) == CMARK_ORDERED_LIST;
            break;
        case CMARK_NODE_CODE_BLOCK:
            out["info"] = cmark_node_get_fence_info(node);
            out["literal"] = cmark_node_get_literal(node);
            break;
        case CMARK_NODE_TEXT:
        case CMARK_NODE_CODE:
        case CMARK_NODE_HTML_BLOCK:
        case CMARK_NODE_HTML_INLINE:
            out["literal"] = cmark_node_get_literal(node);
            break;
        case CMARK_NODE_LINK:
        case CMARK_NODE_IMAGE:
            out["url"] = cmark_node_get_url(node);
            break;
        default:
            break;
    }
    if (std::string_view(cmark_node_get_type_string(node)) == "tasklist" &&
        cmark_gfm_extensions_get_tasklist_item_checked(node)) {
        out["checked"] = true;
    }
    json::array children;
    for (cmark_node* child = cmark_node_first_child(node); child; child = cmark_node_next(child)) {
        auto item = node_json(child);
        if (!children.empty() && item.at("type") == "text" &&
            children.back().at("type") == "text") {
            auto& last = children.back().as_object()["literal"].as_string();
            last.append(item.at("literal").as_string());
            continue;
        }
        children.push_back(std::move(item));
    }
    if (!children.empty()) out["children"] = std::move(children);
    return out;
}

json::array parse_markdown(const std::string& markdown) {
    cmark_gfm_core_extensions_ensure_registered();
    std::unique_ptr<cmark_parser, decltype(&cmark_parser_free)> parser(
        cmark_parser_new(CMARK_OPT_DEFAULT), cmark_parser_free);
    for (const char* name : {"table", "tasklist", "strikethrough"}) {
        cmark_parser_attach_syntax_extension(parser.get(), cmark_find_syntax_extension(name));
    }
    cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
    std::unique_ptr<cmark_node, decltype(&cmark_node_free)> document(
        cmark_parser_finish(parser.get()), cmark_node_free);
    const auto tree = node_json(document.get());
    return tree.as_object().contains("children") ? tree.at("children").as_array() : json::array{};
}

// One block of the expected tree, written as JSON.
json::value expect(const char* text) { return json::parse(text); }

}  // namespace

TEST_CASE("inline text: annotations and links read back as emphasis, code and links") {
    const auto text = json::parse(R"([
        {"type":"text","plain_text":"plain *stars* ","annotations":{}},
        {"type":"text","plain_text":"bold","annotations":{"bold":true}},
        {"type":"text","plain_text":" and ","annotations":{}},
        {"type":"text","plain_text":"code_x","annotations":{"code":true}},
        {"type":"text","plain_text":"site","href":"https://example.com","annotations":{"italic":true}}])");
    const auto tree = parse_markdown(inline_text(text));
    REQUIRE(tree.size() == 1);
    // Markdown's own characters in the text stay text (escaped), not emphasis.
    CHECK(tree[0] == expect(R"({"type":"paragraph","children":[
        {"type":"text","literal":"plain *stars* "},
        {"type":"strong","children":[{"type":"text","literal":"bold"}]},
        {"type":"text","literal":" and "},
        {"type":"code","literal":"code_x"},
        {"type":"link","url":"https://example.com","children":[
            {"type":"emph","children":[{"type":"text","literal":"site"}]}]}]})"));
    // A small golden of the bytes, for the escaping itself.
    CHECK(inline_text(json::parse(R"([{"plain_text":"a_b*c"}])")) == "a\\_b\\*c");
}

TEST_CASE("blocks: every kind the issue names, nested children, unknown blocks") {
    const auto md = render_blocks(blocks(R"([
      {"type":"heading_1","heading_1":{"rich_text":[{"plain_text":"Title"}]}},
      {"type":"heading_3","heading_3":{"rich_text":[{"plain_text":"Small"}]}},
      {"type":"paragraph","paragraph":{"rich_text":[{"plain_text":"Text."}]}},
      {"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[{"plain_text":"one"}]},
       "children":[{"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[{"plain_text":"inner"}]}}]},
      {"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[{"plain_text":"two"}]}},
      {"type":"numbered_list_item","numbered_list_item":{"rich_text":[{"plain_text":"first"}]}},
      {"type":"to_do","to_do":{"rich_text":[{"plain_text":"done"}],"checked":true}},
      {"type":"to_do","to_do":{"rich_text":[{"plain_text":"open"}],"checked":false}},
      {"type":"quote","quote":{"rich_text":[{"plain_text":"Said."}]}},
      {"type":"callout","callout":{"rich_text":[{"plain_text":"Note"}],"icon":{"type":"emoji","emoji":"💡"}}},
      {"type":"code","code":{"rich_text":[{"plain_text":"int x = 1;"}],"language":"c++"}},
      {"type":"equation","equation":{"expression":"e=mc^2"}},
      {"type":"divider","divider":{}},
      {"type":"toggle","toggle":{"rich_text":[{"plain_text":"More"}]},
       "children":[{"type":"paragraph","paragraph":{"rich_text":[{"plain_text":"hidden"}]}}]},
      {"type":"table","table":{"table_width":2},"children":[
        {"type":"table_row","table_row":{"cells":[[{"plain_text":"a"}],[{"plain_text":"b"}]]}},
        {"type":"table_row","table_row":{"cells":[[{"plain_text":"1"}],[{"plain_text":"2"}]]}}]},
      {"type":"image","image":{"type":"external","external":{"url":"https://img/x.png"},"caption":[]}},
      {"type":"file","file":{"type":"file","file":{"url":"https://s3/f.pdf","expiry_time":"x"},"name":"f.pdf"}},
      {"type":"child_page","id":"1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988","child_page":{"title":"Sub"}},
      {"type":"synced_block","synced_block":{}}])"));
    const auto tree = parse_markdown(md);
    INFO(md);
    CAPTURE(json::serialize(tree));
    const json::value expected[] = {
        expect(R"({"type":"heading","level":1,"children":[{"type":"text","literal":"Title"}]})"),
        expect(R"({"type":"heading","level":3,"children":[{"type":"text","literal":"Small"}]})"),
        expect(R"({"type":"paragraph","children":[{"type":"text","literal":"Text."}]})"),
        // One bulleted list: "one" holding a nested list with "inner", then "two".
        expect(R"({"type":"list","ordered":false,"children":[
            {"type":"item","children":[
                {"type":"paragraph","children":[{"type":"text","literal":"one"}]},
                {"type":"list","ordered":false,"children":[{"type":"item","children":[
                    {"type":"paragraph","children":[{"type":"text","literal":"inner"}]}]}]}]},
            {"type":"item","children":[
                {"type":"paragraph","children":[{"type":"text","literal":"two"}]}]}]})"),
        expect(R"({"type":"list","ordered":true,"children":[{"type":"item","children":[
            {"type":"paragraph","children":[{"type":"text","literal":"first"}]}]}]})"),
        // Task list items: checked and unchecked.
        expect(R"({"type":"list","ordered":false,"children":[
            {"type":"tasklist","checked":true,"children":[
                {"type":"paragraph","children":[{"type":"text","literal":"done"}]}]},
            {"type":"tasklist","children":[
                {"type":"paragraph","children":[{"type":"text","literal":"open"}]}]}]})"),
        expect(R"({"type":"block_quote","children":[
            {"type":"paragraph","children":[{"type":"text","literal":"Said."}]}]})"),
        expect(R"({"type":"block_quote","children":[
            {"type":"paragraph","children":[{"type":"text","literal":"💡 Note"}]}]})"),
        expect(R"({"type":"code_block","info":"c++","literal":"int x = 1;\n"})"),
        expect(R"({"type":"paragraph","children":[{"type":"text","literal":"$$"},
            {"type":"softbreak"},{"type":"text","literal":"e=mc^2"},{"type":"softbreak"},
            {"type":"text","literal":"$$"}]})"),
        expect(R"({"type":"thematic_break"})"),
    };
    REQUIRE(tree.size() >= std::size(expected));
    for (std::size_t i = 0; i < std::size(expected); ++i) {
        CAPTURE(i);
        CHECK(tree[i] == expected[i]);
    }
    // The toggle: an HTML <details> block around the parsed child paragraph.
    std::size_t at = std::size(expected);
    REQUIRE(tree.size() == at + 8);
    CHECK(tree[at].at("type") == "html_block");
    CHECK(tree[at].at("literal").as_string().starts_with("<details>\n<summary>More</summary>"));
    CHECK(tree[at + 1] == expect(R"({"type":"paragraph","children":[
        {"type":"text","literal":"hidden"}]})"));
    CHECK(tree[at + 2] == expect(R"({"type":"html_block","literal":"</details>\n"})"));
    // The table: a header row and one body row, two cells each.
    CHECK(tree[at + 3] == expect(R"({"type":"table","children":[
        {"type":"table_header","children":[
            {"type":"table_cell","children":[{"type":"text","literal":"a"}]},
            {"type":"table_cell","children":[{"type":"text","literal":"b"}]}]},
        {"type":"table_row","children":[
            {"type":"table_cell","children":[{"type":"text","literal":"1"}]},
            {"type":"table_cell","children":[{"type":"text","literal":"2"}]}]}]})"));
    CHECK(tree[at + 4] == expect(R"({"type":"paragraph","children":[{"type":"image",
        "url":"https://img/x.png","children":[{"type":"text","literal":"image"}]}]})"));
    CHECK(tree[at + 5] == expect(R"({"type":"paragraph","children":[{"type":"link",
        "url":"https://s3/f.pdf","children":[{"type":"text","literal":"f.pdf"}]}]})"));
    // A child page links to its Notion page.
    CHECK(tree[at + 6] == expect(R"({"type":"paragraph","children":[{"type":"link",
        "url":"https://www.notion.so/1f2e3d4c5b6a79881f2e3d4c5b6a7988",
        "children":[{"type":"text","literal":"Sub"}]}]})"));
    // An unknown block is a comment a reader does not see, naming the block type.
    CHECK(tree[at + 7] == expect(R"({"type":"html_block",
        "literal":"<!-- notion block: synced_block -->\n"})"));
}

TEST_CASE("file names are stable slugs with a short id, front matter is YAML") {
    CHECK(file_name("Weekly sync: notes!", "1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988") ==
          "weekly-sync-notes-1f2e3d4c.md");
    CHECK(file_name("", "1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988") == "untitled-1f2e3d4c.md");
    CHECK(file_name("Ünïcode Straße", "ab") == "Ünïcode-straße-ab.md");  // non-ASCII kept as is
    syncd::model::ChangeEvent event{.kind = "created",
                                    .page_id = "p-1",
                                    .last_edited_time = "2026-01-01T00:00:00.000Z",
                                    .url = "https://www.notion.so/p1"};
    event.properties = {{"Name", "A \"quoted\" name"},
                        {"Tags", json::array{"x", "y"}},
                        {"Due", nullptr},
                        {"Count", 3.5},
                        {"Total", 1.8e2},
                        {"Tiny", 1e-7},
                        {"Done", true}};
    event.content =
        blocks(R"([{"type":"paragraph","paragraph":{"rich_text":[{"plain_text":"Hi"}]}}])");
    const std::string page = render_page(event, "A \"quoted\" name");
    INFO(page);
    // Front matter: a YAML document between --- lines, read back by a YAML parser.
    REQUIRE(page.starts_with("---\n"));
    const auto end = page.find("\n---\n", 4);
    REQUIRE(end != std::string::npos);
    const YAML::Node front = YAML::Load(page.substr(4, end - 4));
    CHECK(front["notion_id"].as<std::string>() == "p-1");
    CHECK(front["notion"]["url"].as<std::string>() == "https://www.notion.so/p1");
    CHECK(front["notion"]["last_edited_time"].as<std::string>() == "2026-01-01T00:00:00.000Z");
    CHECK(front["Name"].as<std::string>() == "A \"quoted\" name");
    REQUIRE(front["Tags"].IsSequence());
    CHECK(front["Tags"].size() == 2);
    CHECK(front["Tags"][1].as<std::string>() == "y");
    CHECK(front["Due"].IsNull());
    CHECK(front["Count"].as<double>() == 3.5);
    // Numbers as a person writes them (Boost.JSON alone writes 1.8E2).
    CHECK(page.find("\nTotal: 180\n") != std::string::npos);
    CHECK(front["Total"].as<int>() == 180);
    CHECK(page.find("\nTiny: 1e-7\n") != std::string::npos);
    CHECK(front["Tiny"].as<double>() == 1e-7);
    CHECK(front["Done"].as<bool>());
    // The body: the title as a heading, then the blocks.
    const auto tree = parse_markdown(page.substr(end + 5));
    CHECK(json::value(tree) == expect(R"([
        {"type":"heading","level":1,"children":[{"type":"text","literal":"A \"quoted\" name"}]},
        {"type":"paragraph","children":[{"type":"text","literal":"Hi"}]}])"));
}
