// `jsonl`: appends one JSON object per event to a file (issue #4):
// {"event", "sync", "data_source_id", "page_id", "last_edited_time", "properties", "changed",
// "seq"}.
#pragma once

#include "connectors/connector.hpp"

namespace syncd::connectors::jsonl {

enum class FsyncPolicy { always, batch, never };

struct Settings {
    std::string path = {};
    FsyncPolicy fsync = FsyncPolicy::batch;
};

Settings parse_settings(config::SettingsReader& read);
void validate(config::SettingsReader& read);
std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context);

}  // namespace syncd::connectors::jsonl
