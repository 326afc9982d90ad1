// Pages as Markdown (issue #5): the body from the page's blocks and the whole file with its front
// matter, with no I/O — what the markdown connector writes and what a body edit is checked
// against (body.hpp).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "connectors/markdown/front_matter.hpp"
#include "daemon/model/record.hpp"

namespace syncd::connectors::markdown {

// Rich text (an array of rich text objects) as inline Markdown.
std::string inline_text(const boost::json::value& rich_text);
// Blocks (with nested "children") as Markdown.
std::string render_blocks(const boost::json::array& blocks);
// The same text cut at each top-level block (their concatenation is render_blocks when
// `after_type` is empty; else the blocks are followed by one of that type, and the text is not
// trimmed).
std::vector<std::string> render_chunks(const boost::json::array& blocks,
                                       const std::string& after_type = {});
// The whole file: front matter (front_matter.hpp; `schema` gives the properties' types) and body.
std::string render_page(const model::ChangeEvent& event, const std::string& title,
                        const model::Schema* schema = nullptr, const Names* names = nullptr);
// "Weekly sync notes" + id -> "weekly-sync-notes-1f2e3d4c.md".
std::string file_name(const std::string& title, const std::string& page_id);

}  // namespace syncd::connectors::markdown
