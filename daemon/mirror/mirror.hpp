// The Mirror (DESIGN §3): the daemon's SQLite state in WAL mode. Pages as canonical records with
// their hash, data sources with schema and watermark, the outbox of change events, one cursor per
// target, dead letters and held deletes. A poll batch is one transaction (Mirror::Batch), so a
// crash at any point loses nothing.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/model/record.hpp"
#include "daemon/model/sqlite.hpp"

namespace syncd::mirror {

namespace json = boost::json;

enum class PageState { live, deleted, access_lost };
std::string_view to_string(PageState state);

struct StoredPage {
    std::string data_source_id = {};
    std::string hash = {};
    PageState state = PageState::live;
    model::Record record = {};
};

struct SourceState {
    std::string data_source_id = {};
    std::string sync = {};
    std::optional<model::Schema> schema = {};
    std::string watermark = {};      // ISO last_edited_time, empty before the first full read
    std::int64_t reconciled_at = 0;  // Unix ms, 0 = never
    // Notion's time when the last complete incremental read began: every edit before it (less the
    // overlap) was seen, so the next read need not go back further.
    std::string read_from = {};
    std::int64_t schema_read_at = 0;  // Unix ms of the last schema read, 0 = never
    std::int64_t refreshed_at = 0;    // Unix ms of the last whole re-read of values, 0 = never
};

struct ContentState {
    std::string last_edited_time = {};  // of the page when its blocks were read
    std::string read_at = {};           // Notion's time when they were read
    std::string hash = {};
    json::array blocks = {};
};

// A job's last poll, kept so `status` shows it when no daemon runs (Unix ms; 0 = never).
struct JobOutcome {
    std::int64_t last_attempt_ms = 0;
    std::int64_t last_success_ms = 0;
    std::string failure_kind = {};  // empty when the last attempt succeeded
    std::string last_error = {};
};

// A page the delete brake holds: missing from a reconciliation, not yet deleted.
struct HeldDelete {
    std::string page_id = {};
    std::string data_source_id = {};
    std::string title = {};
    std::string detected_at = {};
};

// Both sides changed a property of a page of a two-way target to different values.
struct Conflict {
    std::int64_t id = 0;
    std::string target = {};
    std::string page_id = {};
    std::string property_id = {};
    std::string property = {};  // its name when detected
    json::value base = {};
    json::value notion = {};
    json::value external = {};
    std::string policy = {};    // notion-wins | external-wins | newest-wins | manual
    std::string decision = {};  // open | notion | external
    std::string detected_at = {};
    std::string resolved_at = {};
    json::value resolution = {};  // the value a person chose (`resolve --take value`)
    bool applied = true;          // a person's resolution the write-back has carried out
    // As `conflicts list --json`, `conflicts show` and GET /v1/conflicts show it.
    json::object to_json() const;
};

// A page the write-back is creating for a row (recorded before the POST, so a crash or an
// ambiguous answer never makes a second page).
struct CreateIntent {
    std::string target = {};
    std::string row_key = {};
    std::string data_source_id = {};
    std::string title = {};
    std::int64_t first_try_ms = 0;  // when the POST was sent (Unix ms); 0: not sent yet
    std::string page_id = {};       // once known
};

// The last full comparison of a two-way target's rows with the base (verify_every).
struct Verification {
    std::int64_t verified_at_ms = 0;  // Unix ms
    std::size_t compared = 0;         // rows compared
    std::size_t differed = 0;         // rows that differed from the base without a capture
    std::size_t gone = 0;             // pages with a base but no row
};

// One write-back: what was written where (`notion-syncd history PAGE`).
struct WriteLogEntry {
    std::string at = {};
    std::string target = {};
    std::string action = {};  // write | conflict | revert | restore
    json::object detail = {};
};

struct DeadLetter {
    std::int64_t id = 0;
    std::string target = {};
    std::int64_t seq = 0;
    std::string error = {};
    std::string failed_at = {};
};

class Mirror {
public:
    // Opens or creates the mirror at `path` and brings its schema up to date.
    explicit Mirror(const std::string& path);

    std::optional<StoredPage> page(const std::string& page_id);
    // The same without the record (cheap: for the unchanged-page check).
    struct PageDigest {
        std::string data_source_id;
        std::string hash;
        PageState state;
    };
    std::optional<PageDigest> page_digest(const std::string& page_id);
    std::vector<std::string> live_pages(const std::string& data_source_id);
    // How many pages of a data source are live, and whether any is (one indexed COUNT or
    // EXISTS, not the list: these run on every poll and every status).
    std::size_t live_page_count(const std::string& data_source_id);
    bool has_live_pages(const std::string& data_source_id);
    // The stored content of a page (blocks only when asked for).
    std::optional<ContentState> content(const std::string& page_id, bool with_blocks);
    // The console's history: one sample a minute, taken at `at_ms` (Unix ms), the last 24 h
    // kept; the samples since `since_ms`, oldest first.
    void add_history(std::int64_t at_ms, const json::object& sample);
    std::vector<json::object> history(std::int64_t since_ms);
    // A person's decision on a delete the brake holds for `sync`: "approve" (the next
    // reconciliation deletes the page past the brake) or "keep" (the targets keep it while
    // Notion does not list it; not held again). False when that delete is not held.
    bool decide_held_delete(const std::string& sync, const std::string& page_id,
                            const std::string& decision);
    std::map<std::string, std::string> delete_decisions(const std::string& sync);
    void forget_delete_decision(const std::string& sync, const std::string& page_id);
    // What these users and pages are called, for those the mirror knows (id -> name).
    std::map<std::string, std::string> names(const std::set<std::string>& ids);
    std::optional<SourceState> source(const std::string& data_source_id);
    std::vector<SourceState> sources(const std::string& sync);

    // Everything one poll batch changes, committed together.
    class Batch {
    public:
        explicit Batch(Mirror& mirror);
        void put_page(const std::string& sync, const model::Record& record, PageState state);
        // Appends to the outbox; returns the event's sequence number.
        std::int64_t add_event(model::ChangeEvent event);
        void put_content(const std::string& page_id, const std::string& last_edited_time,
                         const std::string& read_at, const std::string& hash,
                         const json::array& blocks);
        void set_read_from(const std::string& data_source_id, const std::string& iso);
        void set_schema_read(const std::string& data_source_id, std::int64_t at_ms);
        void set_refreshed(const std::string& data_source_id, std::int64_t at_ms);
        void set_watermark(const std::string& sync, const std::string& data_source_id,
                           const std::string& watermark);
        void set_schema(const std::string& sync, const model::Schema& schema);
        void set_reconciled(const std::string& data_source_id, std::int64_t at_ms);
        // `since`: when it was first held ("" = now).
        void hold_delete(const std::string& sync, const std::string& page_id,
                         const std::string& since = {});
        void clear_held(const std::string& sync, const std::string& data_source_id);
        void commit();

    private:
        // UPDATE sources SET <column> = value for one data source (a column name of ours).
        template <typename Value>
        void set_source(std::string_view column, const std::string& data_source_id,
                        const Value& value);
        Mirror& mirror_;
        sqlite::Transaction transaction_;
        std::vector<std::pair<model::ChangeEvent, std::size_t>> added_;  // with their text's size
    };

    // The data sources job `sync` reads (its subscription): events of these reach its targets,
    // whichever job's poll found them. set_job_sources replaces the set (after a resolve);
    // subscribe adds one (Batch::set_watermark and set_schema do).
    // `source` names what was resolved ("database:<id>"): a resolution of another source (the
    // configuration changed) is not reused.
    void set_job_sources(const std::string& sync, const std::vector<std::string>& ids,
                         std::int64_t resolved_at_ms = 0, const std::string& source = {});
    std::string resolved_source(const std::string& sync);

    // Two-way: the last value of each property a target and Notion agreed on (property id ->
    // canonical value); empty when the target has none for the page yet.
    json::object base(const std::string& target, const std::string& page_id);
    // `over_capture`: the values were delivered while the capture so named (see
    // connectors::ExternalRow; the write-back's capture identity) was pending and had not changed
    // them, so that capture's values for them are stale, not edits. Empty otherwise.
    void set_base(const std::string& target, const std::string& page_id, const json::object& values,
                  const std::string& over_capture = {});
    // The properties of a page whose base was delivered over a capture: property id -> capture.
    std::map<std::string, std::string> base_over_capture(const std::string& target,
                                                         const std::string& page_id);
    // The pages a target has a base for.
    std::vector<std::string> based_pages(const std::string& target);
    void drop_base(const std::string& target, const std::string& page_id);
    // Pages whose row in `target` must get Notion's values again (a conflict Notion won, a
    // reverted read-only edit, a restored row), kept until that delivery succeeded.
    void add_reverts(const std::string& target, const std::vector<std::string>& pages);
    std::vector<std::string> reverts(const std::string& target);
    void drop_reverts(const std::string& target, const std::vector<std::string>& pages);
    // When `target`'s rows were last compared with the base in full, and what that found.
    std::optional<Verification> verification(const std::string& target);
    void set_verification(const std::string& target, const Verification& verification);
    std::int64_t add_conflict(const Conflict& conflict);
    std::vector<Conflict> conflicts(bool all);  // open ones, or all
    std::size_t open_conflicts(const std::string& target);
    bool has_open_conflict(const std::string& target, const std::string& page_id,
                           const std::string& property_id);
    // An open conflict whose sides changed again while it was parked: their latest values.
    void update_open_conflict(const std::string& target, const std::string& page_id,
                              const std::string& property_id, const json::value& notion,
                              const json::value& external);
    // A person's decision on an open conflict: notion | external | value (with `value`); false
    // if it is not open. The next write-back of its target carries it out.
    bool resolve_conflict(std::int64_t id, const std::string& decision, const json::value& value);
    std::vector<Conflict> unapplied_resolutions(const std::string& target);
    void mark_applied(std::int64_t id);
    void log_write(const std::string& target, const std::string& page_id, const std::string& action,
                   const json::object& detail);
    std::vector<WriteLogEntry> history(const std::string& page_id);
    std::optional<CreateIntent> create_intent(const std::string& target,
                                              const std::string& row_key);
    void put_create_intent(const CreateIntent& intent);
    void drop_create_intent(const std::string& target, const std::string& row_key);
    // Two-way: the values (property id -> canonical value) a PATCH of a page is about to write,
    // kept until the base holds what landed (WriteBack::recover_pending_writes after a crash).
    void put_pending_write(const std::string& target, const std::string& page_id,
                           const json::object& written);
    std::vector<std::pair<std::string, json::object>> pending_writes(const std::string& target);
    void drop_pending_write(const std::string& target, const std::string& page_id);
    void set_job_outcome(const std::string& sync, const JobOutcome& outcome);
    JobOutcome job_outcome(const std::string& sync);
    // When set_job_sources was last called for `sync` (Unix ms, 0 = never).
    std::int64_t resolved_at(const std::string& sync);
    void subscribe(const std::string& sync, const std::string& data_source_id);
    std::vector<std::string> job_sources(const std::string& sync);

    // Outbox events of the data sources of job `sync` after `seq`, oldest first.
    std::vector<model::ChangeEvent> events_after(const std::string& sync, std::int64_t seq,
                                                 std::size_t limit);
    std::int64_t last_seq(const std::string& sync);
    // The highest sequence number ever handed out (0 for an empty outbox).
    std::int64_t highest_seq();
    // How many outbox events of job `sync` come after `seq` (a target's backlog).
    std::size_t count_after(const std::string& sync, std::int64_t seq);
    // A target's position in the outbox (0 when it has none).
    std::int64_t cursor(const std::string& target);
    bool has_cursor(const std::string& target);
    void set_cursor(const std::string& target, std::int64_t seq);

    // Snapshots (issue #10). A target without a cursor starts at the newest event, and every
    // data source of its job it does not hold yet is queued for a snapshot (all its live pages,
    // from the mirror) or, with `snapshot` false, only marked as held; but while the outbox still
    // holds every event ever made (nothing collected: a first run), it starts at 0 and reads
    // them. Returns the data sources added. Call before each drain: a data source can join a
    // job later.
    std::size_t begin_target(const std::string& target, const std::string& sync, bool snapshot);
    struct SnapshotPosition {
        std::string data_source_id = {};
        std::string after_page = {};  // the last page sent ("" = none yet)
    };
    // The next data source whose snapshot `target` still needs, and how far it got.
    std::optional<SnapshotPosition> next_snapshot(const std::string& target);
    // Live pages of a data source after `after_page`, in page id order.
    std::vector<StoredPage> live_pages_after(const std::string& data_source_id,
                                             const std::string& after_page, std::size_t limit);
    // Records what the target acknowledged; nullopt: that snapshot is complete.
    void set_snapshot_progress(const std::string& target, const std::string& data_source_id,
                               const std::optional<std::string>& after_page);
    std::size_t snapshots_pending(const std::string& target);
    // Forgets a target's cursor and data sources: it starts again with a snapshot
    // (`resync --target`).
    void reset_target(const std::string& target);

    // Moves one event aside with the error and (for an outbox event) advances the target past
    // it, atomically.
    void dead_letter(const std::string& target, const model::ChangeEvent& event,
                     const std::string& error, bool move_cursor = true);
    std::vector<DeadLetter> dead_letters(const std::string& target = {});
    std::size_t dead_letter_count(const std::string& target);
    // The event a dead letter holds.
    std::optional<model::ChangeEvent> dead_letter_event(std::int64_t id);
    // Asks for a dead letter to be sent again, to its own target only: that target's dispatcher
    // delivers it before its next outbox batch and removes it once acknowledged.
    void mark_retry(std::int64_t id);
    // The dead letters of `target` marked for retry, oldest first, each with the page's current
    // values (so a retry never rolls a target back past a newer event of the same page).
    std::vector<std::pair<std::int64_t, model::ChangeEvent>> retries(const std::string& target);
    // `event` with the page's current values and state from the mirror.
    model::ChangeEvent current_event(model::ChangeEvent event);
    // A retried dead letter refused again: it stays, with the new error, unmarked.
    void dead_letter_failed_again(std::int64_t id, const std::string& error);
    void drop_dead_letter(std::int64_t id);
    std::size_t held_deletes(const std::string& sync);
    std::vector<HeldDelete> held_delete_pages(const std::string& sync);
    // Deletes outbox rows that every one of `targets` (all configured targets) has passed.
    void collect_garbage(const std::vector<std::string>& targets);
    // The highest sequence number garbage collection ever removed (0: the outbox is whole).
    std::int64_t collected_through();
    // Forgets the watermarks and reconciliation times of a job's data sources (resync).
    void reset_sync(const std::string& sync);

    sqlite::Database& database() { return db_; }

private:
    void migrate();
    // Recomputes every stored record and content hash (a migration that changed the function).
    void rehash();
    // events_after from recent_, when it holds every outbox event after `seq` (checked against
    // the outbox's count, so another writer or a rolled-back outer transaction only costs a
    // read from the table).
    std::optional<std::vector<model::ChangeEvent>> recent_events_after(const std::string& sync,
                                                                       std::int64_t seq,
                                                                       std::size_t limit);
    sqlite::Database db_;
    // The events this process committed lately (at most recent_limit bytes of their text), so a
    // target delivering right after a poll does not read back and parse what was just written.
    std::deque<model::ChangeEvent> recent_;
    std::deque<std::size_t> recent_sizes_;
    std::size_t recent_bytes_ = 0;
    static constexpr std::size_t recent_limit = 16 << 20;
};

}  // namespace syncd::mirror
