// Crash points for tests (issue #9): places where a kill -9 must lose nothing. In a build with
// SYNCD_CRASH_POINTS (the dev and asan presets), NOTION_SYNCD_CRASH_AT=NAME[:N] in the environment
// makes the Nth arrival (default the first) at crash_point(NAME) print "crash point NAME reached"
// on stderr and SIGKILL the process. Other builds compile every crash point to nothing.
//
// The points: poll.after_mirror_commit (a page of results committed to the mirror),
// target.after_write (a connector committed a batch; its cursor has not moved),
// deliver.before_cursor (the dispatcher got the ack and is about to move the cursor),
// deliver.before_snapshot_progress (a snapshot batch acknowledged, its progress not recorded),
// reconcile.after_delete (a reconciliation committed one delete event; others may follow).
#pragma once

#include <string_view>

namespace syncd::model {

#ifdef SYNCD_CRASH_POINTS
void crash_point(std::string_view name);
#else
inline void crash_point(std::string_view) {}
#endif

}  // namespace syncd::model
