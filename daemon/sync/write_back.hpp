// The write-back of one two-way target (DESIGN §2 two-way, issue 12): the edits people made in
// the target, captured by the connector, merged per page and property against the base (the
// last value both sides agreed on) and Notion's current value in the mirror, then written with
// one PATCH per page of only the properties that changed. Conflicts (both sides changed a
// property to different values) are decided by the policy and recorded with both values.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
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
    // rows whose earlier create's outcome is unknown and whose page is not found yet: left
    // captured, looked for again next cycle (the others go on meanwhile)
    std::size_t create_waiting = 0;
    std::size_t held = 0;  // pages held by max_write_ratio
    // verify_every: full comparisons done, rows compared, rows that differed from the base
    // without a capture, pages with a base whose row is gone.
    std::size_t verifications = 0;
    std::size_t verified_rows = 0;
    std::size_t verify_differed = 0;
    std::size_t verify_gone = 0;
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
    // The row was deleted: its page goes to the trash (delete: true, and nobody changed the page
    // in Notion since both sides last agreed: an edit beats a delete), else the row is restored.
    bool trash = false;
    bool restore = false;
    std::string held = {};  // the brake holding it (max_write_ratio, max_delete_ratio), if one
    bool create = false;    // a row inserted without a page: it becomes one (create: true)
    bool verify = false;    // found by verify_every (not captured: edited with the capture off)
    std::vector<PropertyPlan> properties = {};
    // A file's edited body (markdown body: two-way): the block changes it makes, or why none.
    std::string body = {};
};

// A captured edit not merged yet (young, held, or made while a delivery ran), as a delivery to
// its row must treat it.
struct PendingEdit {
    std::string capture = {};  // WriteBack::capture_identity
    std::chrono::system_clock::time_point captured_at = {};
    bool deleted = false;
    std::set<std::string> properties = {};  // ids the edit changed: a delivery leaves them out
};

class WriteBack {
public:
    WriteBack(std::string target, config::SyncSettings sync, config::TwoWaySettings settings,
              connectors::Connector& connector, notion::NotionClient& client, Poller& poller,
              mirror::Mirror& mirror);

    // One pass over the captured edits old enough (settle). With `wait` (sync-once) it first
    // waits for younger ones to settle, at most `settle`. When verify_every has passed since the
    // last full comparison (kept in the mirror), every row of the target is compared with the
    // base too, and what differs without a capture is merged as if captured (in `run` after a
    // poll that began once it was due). Throws on a retryable failure (the captures stay and are
    // tried again; the comparison is done again).
    boost::asio::awaitable<WriteBackStats> run(bool wait);
    // What the next pass would do with the edits captured now (and a comparison if due), doing
    // nothing (`plan`).
    boost::asio::awaitable<std::vector<RowPlan>> plan();
    // Pages whose row in this target must get Notion's values again (a reverted read-only edit,
    // a conflict Notion won, a restored row): the dispatcher delivers them to this target only,
    // then calls reverted(). Kept in the mirror, so a restart between the acknowledgement of the
    // edit and that delivery loses none.
    std::vector<std::string> take_reverts();
    void reverted(const std::vector<std::string>& pages);
    // The captured edits by page id (rows with a page): what a delivery to this target must not
    // overwrite, and whose base it must not move.
    boost::asio::awaitable<std::map<std::string, PendingEdit>> pending_edits();
    // `run` (not sync-once): Notion's side of a merge is the mirror as of the last poll, so an edit
    // first seen after the last successful poll began (`polled_at`) waits for the next one, which
    // `request_poll` asks for. Without this, every captured edit is merged.
    void set_freshness(std::function<std::chrono::system_clock::time_point()> polled_at,
                       std::function<void()> request_poll) {
        polled_at_ = std::move(polled_at);
        request_poll_ = std::move(request_poll);
    }
    // What names one capture of a row (its generation and time): a base delivered over it says so.
    static std::string capture_identity(const connectors::ExternalRow& row);
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
    // A row inserted without a page, as plan() shows it: the properties its page gets.
    RowPlan planned_create(const connectors::ExternalRow& row) const;
    // Whether a full comparison is due (verify_every since the last one).
    bool verify_due() const;
    // The full comparison: rows that differ from the base and have no capture among `captured`
    // (as captured rows), and pages with a base whose row is gone (as deleted rows); counts in
    // `stats`.
    boost::asio::awaitable<std::vector<connectors::ExternalRow>> verify(
        const std::vector<connectors::ExternalRow>& captured, WriteBackStats& stats);
    // Which brake holds each of `rows` (max_delete_ratio for deletes when they trash,
    // max_write_ratio for all; "" for none), unless released; with `stats` (a run, not a plan)
    // each hold is logged and counted.
    std::vector<std::string> held_by_brakes(const std::vector<connectors::ExternalRow>& rows,
                                            WriteBackStats* stats) const;
    // A row inserted without a page_id: a page in the table's data source (create: true), made
    // once whatever happens (the intent is recorded before the POST).
    // What became of it goes into row.outcome.
    boost::asio::awaitable<void> create(connectors::ExternalRow& row, WriteBackStats& stats);
    // decide() carried out: writes, conflicts recorded, reverts queued, bases advanced; what
    // became of each property in row.outcome.
    boost::asio::awaitable<void> merge(connectors::ExternalRow& row, WriteBackStats& stats);
    // A file's edited body (markdown `body: two-way`): its block changes made in Notion, unless
    // the edit cannot be expressed as blocks or Notion's blocks changed since the file was
    // written (a conflict, nothing written); the page is read again so its content follows.
    boost::asio::awaitable<void> write_body(connectors::ExternalRow& row, WriteBackStats& stats);
    // Conflicts a person resolved (`conflicts resolve`, POST /v1/conflicts/ID/resolve): the
    // chosen value written to Notion, or Notion's value back into the target.
    boost::asio::awaitable<void> apply_resolutions(WriteBackStats& stats);
    // PATCHes an earlier process recorded and did not see through (killed between Notion taking
    // them and the base moving): the page is read again, and what landed becomes the base.
    boost::asio::awaitable<void> recover_pending_writes();
    // What Notion holds now (the mirror) of the values `written` to `page_id` becomes the base;
    // how many properties landed.
    std::size_t agree_on_landed(const std::string& page_id, const boost::json::object& written);
    // PATCHes `properties` (name -> API value) of a page and runs the answer through the differ.
    // After an unknown outcome, the page is read again and what of `written` (property id ->
    // canonical value) Notion holds becomes the base.
    boost::asio::awaitable<void> write(const std::string& page_id, boost::json::object properties,
                                       boost::json::object written);

    std::string target_;
    config::SyncSettings sync_;
    config::TwoWaySettings settings_;
    connectors::Connector& connector_;
    notion::NotionClient& client_;
    Poller& poller_;
    mirror::Mirror& mirror_;
    bool brake_released_ = false;
    std::function<std::chrono::system_clock::time_point()> polled_at_;
    std::function<void()> request_poll_;
    // `run`: when this process first saw each capture (by seen_key).
    static std::string seen_key(const connectors::ExternalRow& row);
    std::map<std::string, std::chrono::system_clock::time_point> first_seen_;
    // `run`: when a due comparison was first put off for a fresh poll.
    std::optional<std::chrono::system_clock::time_point> verify_due_since_;
    WriteBackStats totals_;
};

}  // namespace syncd::sync
