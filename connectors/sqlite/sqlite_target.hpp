// `sqlite` (the embedded default): a typed table per data source in an external SQLite file,
// upserts by page id; columns are bound to property ids so a rename keeps its column (issue #4).
#pragma once

#include "connectors/connector.hpp"

namespace syncd::connectors::sqlite_target {

struct Settings {
    std::string path = {};
};

Settings parse_settings(config::SettingsReader& read);
void validate(config::SettingsReader& read);
std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context);

}  // namespace syncd::connectors::sqlite_target
