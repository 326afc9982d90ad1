#include "connectors/markdown/body.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <random>

#include "connectors/markdown/markdown.hpp"

using namespace syncd::connectors::markdown;
using syncd::connectors::BlockOp;
using syncd::connectors::BodyEdit;
namespace json = boost::json;

namespace {

// A block as the API returns it, with plain text only.
json::object api_block(const std::string& id, const std::string& type, const std::string& text) {
    json::object payload;
    if (type != "divider") {
        payload["rich_text"] = json::array{json::object{
            {"type", "text"}, {"plain_text", text}, {"text", json::object{{"content", text}}}}};
    }
    return {{"object", "block"}, {"id", id}, {"type", type}, {type, payload}};
}

json::array page() {
    return {api_block("b1", "paragraph", "Intro"), api_block("b2", "bulleted_list_item", "one"),
            api_block("b3", "bulleted_list_item", "two"), api_block("b4", "heading_2", "Notes"),
            api_block("b5", "paragraph", "Last words")};
}

std::string text_of(const json::array& blocks) { return render_blocks(blocks); }

std::string content_of(const json::value& request_block) {
    const auto& o = request_block.as_object();
    const std::string type(o.at("type").as_string());
    std::string out;
    for (const auto& item : o.at(type).at("rich_text").as_array())
        out += std::string(item.at("text").at("content").as_string());
    return out;
}

}  // namespace

TEST_CASE("body: what the renderer writes parses back to the same blocks and text") {
    const std::string text =
        "Some **bold** and _italic_ and ~~gone~~ and `x < y` and [a link](https://e.com/a) "
        "\\*literal\\*\n\n"
        "# One\n\n## Two\n\n### Three\n\n"
        "- a\n- b\n\n1. first\n1. second\n\n- [ ] open\n- [x] done\n\n"
        "> quoted\n> twice\n\n```python\nprint(1)\n\n```\n\n---\n\nEnd\n";
    const auto blocks = parse_blocks(text);
    REQUIRE(blocks);
    CHECK(blocks->size() == 14);
    CHECK(render_blocks(*blocks) == text);
    const auto& first = blocks->at(0).at("paragraph").at("rich_text").as_array();
    CHECK(first.at(1).at("annotations").at("bold") == true);
    CHECK(first.at(3).at("annotations").at("italic") == true);
    CHECK(first.at(7).at("annotations").at("code") == true);
    CHECK(first.at(7).at("plain_text") == "x < y");
    CHECK(first.at(9).at("href") == "https://e.com/a");
    CHECK(blocks->at(9).at("to_do").at("checked") == true);
    CHECK(blocks->at(10).at("quote").at("rich_text").at(0).at("plain_text") == "quoted\ntwice");
    CHECK(blocks->at(11).at("code").at("language") == "python");
    // What cannot be read: nested lists, tables, HTML, images, a fence without a language.
    for (const char* other : {"- a\n    - nested\n", "| a |\n| --- |\n", "<details>\n", "![x](y)\n",
                              "```\ncode\n```\n", "`open\n", "[text](\n"}) {
        INFO(other);
        CHECK(!parse_blocks(other));
    }
    // Long text is cut into items of at most 2,000 characters for the API.
    const std::string long_text(4500, 'x');
    const auto request = request_block(parse_blocks(long_text + "\n")->at(0).as_object());
    CHECK(request.at("paragraph").at("rich_text").as_array().size() == 3);
    CHECK(!request.at("paragraph").at("rich_text").at(0).as_object().contains("plain_text"));
}

TEST_CASE("body: an edited paragraph is one update of that block, nothing else is touched") {
    const auto chunks = body_chunks(page());
    const std::string before = text_of(page());
    CHECK(plan_body(chunks, before).ops.empty());
    CHECK(plan_body(chunks, before + "\n\n").ops.empty());  // an editor's newlines at the end

    std::string edited = before;
    edited.replace(edited.find("Intro"), 5, "Intro, **revised**");
    const BodyEdit edit = plan_body(chunks, edited);
    REQUIRE(edit.error.empty());
    REQUIRE(edit.ops.size() == 1);
    CHECK(edit.ops[0].kind == BlockOp::Kind::update);
    CHECK(edit.ops[0].block_id == "b1");
    CHECK(content_of(edit.ops[0].blocks.at(0)) == "Intro, revised");
}

TEST_CASE("body: items added, removed and retyped become inserts after the right block") {
    const auto chunks = body_chunks(page());
    std::string edited = text_of(page());
    // A third item at the end of the list, and a paragraph at the very start.
    edited.replace(edited.find("- two\n"), 6, "- two\n- three\n");
    edited = "Preface\n\n" + edited;
    BodyEdit edit = plan_body(chunks, edited);
    REQUIRE(edit.error.empty());
    REQUIRE(edit.ops.size() == 2);
    CHECK(edit.ops[0].kind == BlockOp::Kind::insert);
    CHECK(edit.ops[0].start);  // the page's start
    CHECK(edit.ops[1].start == false);
    CHECK(content_of(edit.ops[0].blocks.at(0)) == "Preface");
    CHECK(edit.ops[1].kind == BlockOp::Kind::insert);
    CHECK(edit.ops[1].after == "b3");
    CHECK(content_of(edit.ops[1].blocks.at(0)) == "three");

    // The heading removed; the last paragraph made a quote (a new block: types do not change).
    edited = text_of(page());
    edited.replace(edited.find("## Notes\n\n"), 10, "");
    edited.replace(edited.find("Last words"), 10, "> Last words");
    edit = plan_body(chunks, edited);
    REQUIRE(edit.error.empty());
    REQUIRE(edit.ops.size() == 3);
    CHECK(edit.ops[0].kind == BlockOp::Kind::remove);
    CHECK(edit.ops[0].block_id == "b4");
    CHECK(edit.ops[1].kind == BlockOp::Kind::remove);
    CHECK(edit.ops[1].block_id == "b5");
    CHECK(edit.ops[2].kind == BlockOp::Kind::insert);
    CHECK(edit.ops[2].after == "b3");
    CHECK(edit.ops[2].blocks.at(0).at("type") == "quote");
}

TEST_CASE("body: what does not map to blocks is refused with the reason, not half written") {
    json::array blocks = page();
    // A toggle with children sits between the edits: untouched, it does not stop them.
    json::object toggle = api_block("t1", "toggle", "More");
    toggle["has_children"] = true;
    toggle["children"] = json::array{api_block("t2", "paragraph", "inside")};
    blocks.insert(blocks.begin() + 3, toggle);
    const auto chunks = body_chunks(blocks);
    CHECK(!chunks[3].editable);
    const std::string before = text_of(blocks);
    std::string edited = before;
    edited.replace(edited.find("Last words"), 10, "Final words");
    BodyEdit edit = plan_body(chunks, edited);
    REQUIRE(edit.error.empty());
    REQUIRE(edit.ops.size() == 1);
    CHECK(edit.ops[0].block_id == "b5");
    // Changing the toggle's text is refused: a file cannot say what becomes of its children.
    edited = before;
    edited.replace(edited.find("inside"), 6, "changed");
    edit = plan_body(chunks, edited);
    CHECK(edit.ops.empty());
    CHECK(edit.error.starts_with("body not round-trippable: its toggle block changed"));
    // Markdown the renderer would write differently: an unescaped `*`, a nested list.
    for (const char* line : {"a *b* c\n\n", "- x\n    - y\n\n"}) {
        edited = before;
        edited.insert(0, line);
        edit = plan_body(chunks, edited);
        INFO(line);
        CHECK(edit.ops.empty());
        CHECK(edit.error.starts_with("body not round-trippable"));
    }
}

TEST_CASE("body: an edited block keeps its id beside a new one of its type, found by likeness") {
    const json::array blocks{api_block("b1", "paragraph", "Hello"),
                             api_block("b2", "bulleted_list_item", "one")};
    const BodyEdit edit = plan_body(body_chunks(blocks), "First\n\nHello world\n\n- one\n");
    REQUIRE(edit.error.empty());
    REQUIRE(edit.ops.size() == 2);
    CHECK(edit.ops[0].kind == BlockOp::Kind::insert);
    CHECK(edit.ops[0].start);
    CHECK(content_of(edit.ops[0].blocks.at(0)) == "First");
    CHECK(edit.ops[1].kind == BlockOp::Kind::update);
    CHECK(edit.ops[1].block_id == "b1");
    CHECK(content_of(edit.ops[1].blocks.at(0)) == "Hello world");
    // A page without blocks: appended at the end, which is its start.
    const BodyEdit first = plan_body({}, "New text\n");
    REQUIRE(first.ops.size() == 1);
    CHECK(!first.ops[0].start);
    CHECK(first.ops[0].after.empty());
}

TEST_CASE("body: random edits of random pages, carried out, give exactly the edited text") {
    std::mt19937 random(13);
    const std::vector<std::string> lines = {
        "Plain text", "**bold** and _it_", "# Heading",         "## Sub", "- item", "- [ ] to do",
        "- [x] done", "1. first",          "> a quote",         "---",    "",       "",
        "",           "a `code` span",     "[l](https://e.com)"};
    const auto pick = [&] { return lines[random() % lines.size()]; };
    int planned = 0;
    int refused = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string base_text;
        for (int i = 0, n = static_cast<int>(random() % 8); i < n; ++i) base_text += pick() + "\n";
        auto base = parse_blocks(base_text);
        if (!base) continue;
        for (std::size_t i = 0; i < base->size(); ++i)
            base->at(i).as_object()["id"] = "b" + std::to_string(i);
        // The text as written, then lines inserted, removed or replaced.
        std::string text = render_blocks(*base);
        std::vector<std::string> edited;
        for (std::size_t at = 0; at < text.size();) {
            const std::size_t end = text.find('\n', at);
            edited.push_back(text.substr(at, end - at));
            at = end == std::string::npos ? text.size() : end + 1;
        }
        for (int e = 0, n = 1 + static_cast<int>(random() % 3); e < n; ++e) {
            const std::size_t at = edited.empty() ? 0 : random() % (edited.size() + 1);
            switch (random() % 3) {
                case 0:
                    edited.insert(edited.begin() + static_cast<std::ptrdiff_t>(at), pick());
                    break;
                case 1:
                    if (at < edited.size())
                        edited.erase(edited.begin() + static_cast<std::ptrdiff_t>(at));
                    break;
                default:
                    if (at < edited.size()) edited[at] = pick();
            }
        }
        std::string edited_text;
        for (const auto& l : edited) edited_text += l + "\n";
        const BodyEdit edit = plan_body(body_chunks(*base), edited_text);
        if (!edit.error.empty()) {
            ++refused;
            continue;
        }
        ++planned;
        std::string want = edited_text;
        while (want.ends_with('\n')) want.pop_back();
        std::string got = render_blocks(apply_body_edit(*base, edit));
        while (got.ends_with('\n')) got.pop_back();
        INFO(base_text);
        INFO(edited_text);
        REQUIRE(got == want);
    }
    MESSAGE("planned " << planned << ", refused " << refused);
    CHECK(planned > 1000);
}
