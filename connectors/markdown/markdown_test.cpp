#include "connectors/markdown/markdown.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace syncd::connectors::markdown;
namespace json = boost::json;

namespace {
json::array blocks(const char* text) { return json::parse(text).as_array(); }
const char* rich(const char* plain) { return plain; }
}  // namespace

TEST_CASE("inline text: annotations, links, escaping") {
    const auto text = json::parse(R"([
        {"type":"text","plain_text":"plain *stars* ","annotations":{}},
        {"type":"text","plain_text":"bold","annotations":{"bold":true}},
        {"type":"text","plain_text":" and ","annotations":{}},
        {"type":"text","plain_text":"code_x","annotations":{"code":true}},
        {"type":"text","plain_text":"site","href":"https://example.com","annotations":{"italic":true}}])");
    CHECK(inline_text(text) ==
          "plain \\*stars\\* **bold** and `code_x`[_site_](https://example.com)");
    (void)rich;
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
    CHECK(md ==
          "# Title\n\n"
          "### Small\n\n"
          "Text.\n\n"
          "- one\n    - inner\n\n- two\n\n"
          "1. first\n\n"
          "- [x] done\n- [ ] open\n\n"
          "> Said.\n\n"
          "> 💡 Note\n\n"
          "```c++\nint x = 1;\n```\n\n"
          "$$\ne=mc^2\n$$\n\n"
          "---\n\n"
          "<details>\n<summary>More</summary>\n\nhidden\n\n</details>\n\n"
          "| a | b |\n| --- | --- |\n| 1 | 2 |\n\n"
          "![image](https://img/x.png)\n\n"
          "[f.pdf](https://s3/f.pdf)\n\n"
          "[Sub](https://www.notion.so/1f2e3d4c5b6a79881f2e3d4c5b6a7988)\n\n"
          "<!-- notion block: synced_block -->\n");
}

TEST_CASE("file names are stable slugs with a short id; front matter is YAML") {
    CHECK(file_name("Weekly sync: notes!", "1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988") ==
          "weekly-sync-notes-1f2e3d4c.md");
    CHECK(file_name("", "1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988") == "untitled-1f2e3d4c.md");
    CHECK(file_name("Ünïcode Straße", "ab") == "Ünïcode-straße-ab.md");  // non-ASCII kept as is
    syncd::model::ChangeEvent event{.kind = "created",
                                    .page_id = "p-1",
                                    .last_edited_time = "2026-01-01T00:00:00.000Z",
                                    .url = "https://www.notion.so/p1"};
    event.properties = {
        {"Name", "A \"quoted\" name"}, {"Tags", json::array{"x", "y"}}, {"Due", nullptr}};
    event.content =
        blocks(R"([{"type":"paragraph","paragraph":{"rich_text":[{"plain_text":"Hi"}]}}])");
    CHECK(render_page(event, "A \"quoted\" name") ==
          "---\nnotion_id: \"p-1\"\nnotion_url: \"https://www.notion.so/p1\"\n"
          "last_edited_time: \"2026-01-01T00:00:00.000Z\"\n"
          "\"Name\": \"A \\\"quoted\\\" name\"\n\"Tags\": [\"x\",\"y\"]\n\"Due\": null\n---\n\n"
          "# A \"quoted\" name\n\nHi\n");
}
