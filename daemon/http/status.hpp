// Renders a sync::Snapshot: the JSON of GET /v1/status and `notion-syncd status --json`, the
// Prometheus text of GET /metrics, and the one line of systemd's STATUS=.
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "daemon/sync/snapshot.hpp"

namespace syncd::http {

boost::json::object render_status(const sync::Snapshot& snapshot);
// Each metric family's samples follow its # HELP and # TYPE lines; `extra` (the control server's
// own families) is appended.
std::string render_metrics(const sync::Snapshot& snapshot, const std::string& extra = {});
// Jobs, the oldest successful poll, backlog, dead letters, failing jobs.
std::string render_summary(const sync::Snapshot& snapshot);

}  // namespace syncd::http
