// `markdown`: one Markdown file per page in `dir:` (issue #5), YAML front matter with the
// canonical properties, the body converted from the page's blocks. Needs `content: true` on the
// sync. File names are stable (slug of the title + short id); a renamed page's file moves; a
// deleted page's file moves to `dir/.trash/`. Every write is atomic (temp file, fsync, rename).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "connectors/markdown/front_matter.hpp"

namespace syncd::connectors::markdown {

struct Settings {
    std::string dir = {};
};

Settings parse_settings(config::SettingsReader& read);
void validate(config::SettingsReader& read);
std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context);

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
