// The Mirror (DESIGN §3): the daemon's SQLite state in WAL mode. Pages as canonical records with
// their hash, data sources with schema and watermark, the outbox of change events, one cursor per
// target, dead letters and held deletes. A poll batch is one transaction (Mirror::Batch), so a
// crash at any point loses nothing.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
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
};

struct ContentState {
    std::string last_edited_time = {};  // of the page when its blocks were read
    std::string read_at = {};           // Notion's time when they were read
    std::string hash = {};
    json::array blocks = {};
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
    // The stored content of a page (blocks only when asked for).
    std::optional<ContentState> content(const std::string& page_id, bool with_blocks);
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
        void set_watermark(const std::string& sync, const std::string& data_source_id,
                           const std::string& watermark);
        void set_schema(const std::string& sync, const model::Schema& schema);
        void set_reconciled(const std::string& data_source_id, std::int64_t at_ms);
        void hold_delete(const std::string& sync, const std::string& page_id);
        void clear_held(const std::string& sync, const std::string& data_source_id);
        void commit();

    private:
        Mirror& mirror_;
        sqlite::Transaction transaction_;
    };

    // Outbox events of `sync` after `seq`, oldest first.
    std::vector<model::ChangeEvent> events_after(const std::string& sync, std::int64_t seq,
                                                 std::size_t limit);
    std::int64_t last_seq(const std::string& sync);
    // How many outbox events of `sync` come after `seq` (a target's backlog).
    std::size_t count_after(const std::string& sync, std::int64_t seq);
    std::int64_t cursor(const std::string& target);
    void set_cursor(const std::string& target, std::int64_t seq);
    // Moves one event aside with the error and advances the target past it, atomically.
    void dead_letter(const std::string& target, const model::ChangeEvent& event,
                     const std::string& error);
    std::vector<DeadLetter> dead_letters(const std::string& target = {});
    // The event a dead letter holds.
    std::optional<model::ChangeEvent> dead_letter_event(std::int64_t id);
    // Sends a dead-lettered event again: appended to the outbox with the page's current values
    // (so a retry never rolls a target back past a newer event of the same page), and the dead
    // letter removed, in one transaction. Returns the new sequence number.
    std::int64_t retry_dead_letter(std::int64_t id);
    void drop_dead_letter(std::int64_t id);
    std::size_t held_deletes(const std::string& sync);
    // Deletes outbox rows that every target of their sync has passed.
    void collect_garbage(const std::vector<std::pair<std::string, std::string>>& sync_targets);
    // Forgets the watermarks and reconciliation times of a sync (resync).
    void reset_sync(const std::string& sync);

    sqlite::Database& database() { return db_; }

private:
    void migrate();
    // Recomputes every stored record and content hash (a migration that changed the function).
    void rehash();
    sqlite::Database db_;
};

}  // namespace syncd::mirror
