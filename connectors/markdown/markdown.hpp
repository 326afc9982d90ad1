// `markdown`: one Markdown file per page in `dir:` (issue #5), YAML front matter with the
// canonical properties, the body converted from the page's blocks. Needs `content: true` on the
// sync. File names are stable (slug of the title + short id); a renamed page's file moves; a
// deleted page's file moves to `dir/.trash/`. Every write is atomic (temp file, fsync, rename).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>

#include "connectors/connector.hpp"

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
// The whole file: front matter (front_matter.hpp; `schema` gives the properties' types) and body.
std::string render_page(const model::ChangeEvent& event, const std::string& title,
                        const model::Schema* schema = nullptr);
// "Weekly sync notes" + id -> "weekly-sync-notes-1f2e3d4c.md".
std::string file_name(const std::string& title, const std::string& page_id);

}  // namespace syncd::connectors::markdown
