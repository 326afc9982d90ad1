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
#include "connectors/markdown/render.hpp"

namespace syncd::connectors::markdown {

struct Settings {
    std::string dir = {};
};

Settings parse_settings(config::SettingsReader& read);
void validate(config::SettingsReader& read);
std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context);

}  // namespace syncd::connectors::markdown
