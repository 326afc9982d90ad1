// A person's edit of a synced file's body, as block changes (issue 13, `body: two-way`). Only
// what maps to blocks without loss is written: the changed span of the text is parsed into
// blocks and must render back to exactly the same text, and only blocks whose text changed are
// touched (updated in place when the type stays, so ids and comments survive; removed and
// inserted otherwise). Never a whole page deleted and appended again.
#pragma once

#include <boost/json/array.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/connector.hpp"

namespace syncd::connectors::markdown {

// A top-level block of the page as the file shows it.
struct BodyChunk {
    std::string id = {};
    std::string type = {};
    bool editable = false;  // a type the body parser reads back (and without children)
    std::string text = {};  // what render_chunks gave it
};

// The chunks of a page's blocks (as the API returned them) and whether a type is editable.
std::vector<BodyChunk> body_chunks(const boost::json::array& blocks);
boost::json::array chunks_json(const std::vector<BodyChunk>& chunks);
std::vector<BodyChunk> chunks_from_json(const boost::json::value& v);

// Markdown of the subset the renderer writes for paragraphs, headings, lists, to-dos, quotes,
// code and dividers (inline bold, italic, strikethrough, code, links) as blocks in the API's
// response shape; nullopt for anything else (nested lists, tables, raw HTML …).
std::optional<boost::json::array> parse_blocks(std::string_view text);

// The blocks of the request that creates or updates `block` (rich text without plain_text and
// href, long text split at 2,000 characters).
boost::json::object request_block(const boost::json::object& block);

// The block changes that turn `base` (the text rendered from them) into `edited` (the file's
// text below its title heading), or an error saying why the edit is not round-trippable.
BodyEdit plan_body(const std::vector<BodyChunk>& base, std::string_view edited);

// The top-level blocks a page holds after `edit` is carried out on `blocks` (the API's response
// shape), as Notion applies the operations; inserted blocks get ids "new-1", "new-2", … The
// model the tests and the fuzzer check plan_body against: rendered, the result is the edited
// text.
boost::json::array apply_body_edit(boost::json::array blocks, const BodyEdit& edit);

}  // namespace syncd::connectors::markdown
