// The write-back of one two-way target (DESIGN §2 two-way, issue 12): the edits people made in
// the target, captured by the connector, merged per page and property against the base (the
// last value both sides agreed on) and Notion's current value in the mirror, then written with
// one PATCH per page of only the properties that changed. Conflicts (both sides changed a
// property to different values) are decided by the policy and recorded with both values.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "connectors/connector.hpp"
#include "daemon/mirror/mirror.hpp"
#include "daemon/notion/notion_client.hpp"
#include "daemon/sync/poller.hpp"

namespace syncd::sync {

struct WriteBackStats {
    std::size_t pages_written = 0;
    std::size_t properties_written = 0;
    std::size_t converged = 0;    // both sides made the same change
    std::size_t conflicts = 0;    // decided or parked
    std::size_t reverted = 0;     // read-only or unwritable edits set back in the target
    std::size_t restored = 0;     // rows deleted in the target, restored from Notion
    std::size_t trashed = 0;      // rows deleted in the target whose page went to the trash
    std::size_t created = 0;      // rows inserted in the target that became pages
    std::size_t not_created = 0;  // rows inserted without a page_id while create is off
    std::size_t held = 0;         // pages held by max_write_ratio
};

// What the write-back decides for one property of a captured row.
struct PropertyPlan {
    std::string id = {};
    std::string name = {};
    std::string type = {};
    boost::json::value base = {};      // the last value both sides agreed on
    boost::json::value notion = {};    // Notion's value now (the mirror)
    boost::json::value external = {};  // the target's value (canonical when readable)
    std::string action = {};           // write | converged | conflict | revert
    std::string policy = {};           // conflicts: the policy that decided
    std::string decision = {};         // conflicts: notion | external | open
    std::string reason = {};           // reverts: why
    boost::json::value payload = {};   // writes: the API value
};

struct RowPlan {
    std::string page_id = {};
    std::string data_source_id = {};
    bool restore = false;  // the row was deleted: it is restored from Notion
    bool held = false;     // over max_write_ratio: nothing is done until applied
    std::vector<PropertyPlan> properties = {};
};

class WriteBack {
public:
    WriteBack(std::string target, config::SyncSettings sync, config::TwoWaySettings settings,
              connectors::Connector& connector, notion::NotionClient& client, Poller& poller,
              mirror::Mirror& mirror);

    // One pass over the captured edits old enough (settle). With `wait` (sync-once) it first
    // waits for younger ones to settle, at most `settle`. Throws on a retryable failure (the
    // captures stay and are tried again).
    boost::asio::awaitable<WriteBackStats> run(bool wait);
    // What the next pass would do with the edits captured now, doing nothing (`plan`).
    boost::asio::awaitable<std::vector<RowPlan>> plan();
    // Pages whose row in this target must get Notion's values again (a reverted read-only edit,
    // a conflict Notion won, a restored row): the dispatcher delivers them to this target only.
    std::vector<std::string> take_reverts();
    // The next pass writes even past max_write_ratio (`sync-once --apply-held-writes`).
    void release_write_brake() { brake_released_ = true; }
    const WriteBackStats& totals() const { return totals_; }
    // `delete: true`: a deleted row trashes its page (else the row is restored).
    bool trashes() const { return settings_.trash; }
    const std::string& target() const { return target_; }

private:
    // The policy for a property (fields: by name or id, else the target's).
    std::string policy_for(const std::string& name, const std::string& id) const;
    // Why a select, multi-select or status value cannot be written (not an option), if so.
    std::optional<std::string> unknown_option(const model::PropertyInfo& info,
                                              const boost::json::value& value) const;
    // The merge of one captured row, deciding only (reads the mirror).
    RowPlan decide(const connectors::ExternalRow& row) const;
    // A row inserted without a page_id: a page in the table's data source (create: true), made
    // once whatever happens (the intent is recorded before the POST).
    boost::asio::awaitable<void> create(const connectors::ExternalRow& row, WriteBackStats& stats);
    // decide() carried out: writes, conflicts recorded, reverts queued, bases advanced.
    boost::asio::awaitable<void> merge(const connectors::ExternalRow& row, WriteBackStats& stats);
    // Conflicts a person resolved (`conflicts resolve`, POST /v1/conflicts/ID/resolve): the
    // chosen value written to Notion, or Notion's value back into the target.
    boost::asio::awaitable<void> apply_resolutions(WriteBackStats& stats);
    // PATCHes `properties` (name -> API value) of a page and runs the answer through the differ.
    boost::asio::awaitable<void> write(const std::string& page_id, boost::json::object properties);

    std::string target_;
    config::SyncSettings sync_;
    config::TwoWaySettings settings_;
    connectors::Connector& connector_;
    notion::NotionClient& client_;
    Poller& poller_;
    mirror::Mirror& mirror_;
    std::vector<std::string> reverts_;
    bool brake_released_ = false;
    WriteBackStats totals_;
};

}  // namespace syncd::sync
