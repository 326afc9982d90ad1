#include "daemon/mirror/mirror.hpp"

#include <chrono>
#include <filesystem>
#include <limits>
#include <map>

#include "daemon/model/json_text.hpp"

namespace syncd::mirror {
namespace {

// Each entry brings the schema from version i to i + 1 (PRAGMA user_version).
constexpr std::string_view migrations[] = {
    R"sql(
    CREATE TABLE sources (
        data_source_id TEXT PRIMARY KEY,
        sync TEXT NOT NULL,
        schema TEXT,
        watermark TEXT NOT NULL DEFAULT '',
        reconciled_at INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE pages (
        page_id TEXT PRIMARY KEY,
        sync TEXT NOT NULL,
        data_source_id TEXT NOT NULL,
        hash TEXT NOT NULL,
        state TEXT NOT NULL,
        record TEXT NOT NULL);
    CREATE INDEX pages_by_source ON pages (data_source_id, state);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sync TEXT NOT NULL,
        event TEXT NOT NULL,
        detected_at TEXT NOT NULL);
    CREATE INDEX outbox_by_sync ON outbox (sync, seq);
    CREATE TABLE target_cursors (target TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        error TEXT NOT NULL,
        failed_at TEXT NOT NULL);
    CREATE TABLE held_deletes (
        sync TEXT NOT NULL,
        page_id TEXT NOT NULL,
        detected_at TEXT NOT NULL,
        PRIMARY KEY (sync, page_id));
    )sql",
    // 2: page content (blocks) for syncs with `content: true`; the server time each data source
    // was last read completely from.
    R"sql(
    CREATE TABLE contents (
        page_id TEXT PRIMARY KEY,
        last_edited_time TEXT NOT NULL,
        read_at TEXT NOT NULL,
        hash TEXT NOT NULL,
        blocks TEXT NOT NULL);
    ALTER TABLE sources ADD COLUMN read_from TEXT NOT NULL DEFAULT '';
    )sql",
    // 3: record and content hashes are XXH3-64 (they were FNV-1a); Mirror::rehash() recomputes
    // the stored ones in the same transaction, so the upgrade emits no `updated` event.
    "",
    // 4: the mirror is one copy per data source however many jobs read it (issue #10): events
    // are dispatched by data source to every job subscribed to it (job_sources); each target
    // records which data sources it holds (target_sources), a snapshot in progress by the last
    // page sent; a dead letter is retried for its own target only.
    R"sql(
    ALTER TABLE outbox ADD COLUMN data_source_id TEXT NOT NULL DEFAULT '';
    UPDATE outbox SET data_source_id = COALESCE(json_extract(event, '$.data_source_id'), '');
    CREATE INDEX outbox_by_source ON outbox (data_source_id, seq);
    CREATE TABLE job_sources (
        sync TEXT NOT NULL,
        data_source_id TEXT NOT NULL,
        PRIMARY KEY (sync, data_source_id));
    INSERT OR IGNORE INTO job_sources (sync, data_source_id)
        SELECT sync, data_source_id FROM sources;
    CREATE TABLE target_sources (
        target TEXT NOT NULL,
        data_source_id TEXT NOT NULL,
        snapshot_after TEXT,
        PRIMARY KEY (target, data_source_id));
    INSERT OR IGNORE INTO target_sources (target, data_source_id, snapshot_after)
        SELECT c.target, s.data_source_id, NULL FROM target_cursors c JOIN sources s
        ON substr(c.target, 1, length(s.sync) + 1) = s.sync || '/';
    ALTER TABLE dead_letters ADD COLUMN retry INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sources ADD COLUMN schema_read_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sources ADD COLUMN refreshed_at INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE jobs (sync TEXT PRIMARY KEY, resolved_at INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters (name, value) VALUES ('collected_through', COALESCE(
        (SELECT MIN(seq) - 1 FROM outbox),
        (SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0));
    )sql",
    // v5: each job's last outcome, so `status` shows a failed `sync-once` (a rejected token, an
    // unshared data source) when no daemon runs.
    R"sql(
    ALTER TABLE jobs ADD COLUMN last_attempt INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN last_success INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN failure_kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN resolved_source TEXT NOT NULL DEFAULT '';
    )sql",
    // v6: two-way. The base is the last value of a property both a target and Notion agreed on;
    // conflicts keep both values; the write-back log says what was written where.
    R"sql(
    CREATE TABLE two_way_base (
        target TEXT NOT NULL,
        page_id TEXT NOT NULL,
        property_id TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (target, page_id, property_id));
    CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        page_id TEXT NOT NULL,
        property_id TEXT NOT NULL,
        property TEXT NOT NULL,
        base TEXT NOT NULL,
        notion TEXT NOT NULL,
        external TEXT NOT NULL,
        policy TEXT NOT NULL,
        decision TEXT NOT NULL,
        detected_at TEXT NOT NULL,
        resolved_at TEXT NOT NULL DEFAULT '',
        resolution TEXT NOT NULL DEFAULT 'null',
        applied INTEGER NOT NULL DEFAULT 1);
    CREATE TABLE create_intents (
        target TEXT NOT NULL,
        row_key TEXT NOT NULL,
        data_source_id TEXT NOT NULL,
        title TEXT NOT NULL,
        first_try INTEGER NOT NULL,
        page_id TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (target, row_key));
    CREATE TABLE writeback_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        target TEXT NOT NULL,
        page_id TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL);
    )sql",
    // v7: two-way. A base value delivered while an edit of that row was still captured (and had
    // not changed the property) names that capture, so its stale value is not taken for an edit;
    // pages whose row must get Notion's values again survive a restart; when each target's rows
    // were last compared with the base in full (verify_every), and what that found.
    R"sql(
    ALTER TABLE two_way_base ADD COLUMN over_capture TEXT NOT NULL DEFAULT '';
    CREATE TABLE two_way_reverts (
        target TEXT NOT NULL,
        page_id TEXT NOT NULL,
        PRIMARY KEY (target, page_id));
    CREATE TABLE two_way_verify (
        target TEXT PRIMARY KEY,
        verified_at INTEGER NOT NULL,
        compared INTEGER NOT NULL DEFAULT 0,
        differed INTEGER NOT NULL DEFAULT 0,
        gone INTEGER NOT NULL DEFAULT 0);
    )sql",
    // v8: what people and pages are called (user names from people values, page titles), so
    // files people edit can name them beside their ids. The titles of the pages already mirrored
    // are read from their records.
    R"sql(
    CREATE TABLE names (id TEXT PRIMARY KEY, name TEXT NOT NULL);
    INSERT OR REPLACE INTO names (id, name)
        SELECT page_id, json_extract(record, '$.values.title') FROM pages
        WHERE json_valid(record) AND json_type(record, '$.values.title') = 'text'
          AND json_extract(record, '$.values.title') != '';
    )sql",
    // v9: the operator console. One sample a minute of what the charts show, the last 24 h
    // kept (so a restart keeps them); a person's decision on a delete the brake held (approve:
    // delete it past the brake; keep: the targets keep the page while Notion does not list it).
    R"sql(
    CREATE TABLE history (at_ms INTEGER PRIMARY KEY, sample TEXT NOT NULL);
    CREATE TABLE delete_decisions (
        sync TEXT NOT NULL,
        page_id TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('approve', 'keep')),
        decided_at TEXT NOT NULL,
        PRIMARY KEY (sync, page_id));
    )sql",
    // v10: two-way. The values a PATCH is about to write, kept until the base holds them: a
    // process killed after Notion took them and before the base moved finds out at its next
    // cycle what landed (it reads the page), instead of taking its own write for a person's edit.
    R"sql(
    CREATE TABLE pending_writes (
        target TEXT NOT NULL,
        page_id TEXT NOT NULL,
        written TEXT NOT NULL,
        PRIMARY KEY (target, page_id));
    )sql",
};

// The migration after which the stored hashes are recomputed (see Mirror::rehash).
constexpr std::size_t rehash_migration = 2;

std::string now_iso() {
    const auto now = std::chrono::system_clock::now();
    const auto t = std::chrono::system_clock::to_time_t(now);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return text;
}

PageState state_of(const std::string& text) {
    if (text == "deleted") return PageState::deleted;
    if (text == "access_lost") return PageState::access_lost;
    return PageState::live;
}

json::object record_json(const model::Record& r) {
    return {{"page_id", r.page_id},
            {"data_source_id", r.data_source_id},
            {"created_time", r.created_time},
            {"last_edited_time", r.last_edited_time},
            {"url", r.url},
            {"in_trash", r.in_trash},
            {"values", r.values}};
}

model::Record record_from(const json::object& o) {
    auto str = [&](std::string_view k) {
        const auto* v = o.if_contains(k);
        return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    model::Record r{.page_id = str("page_id"),
                    .data_source_id = str("data_source_id"),
                    .created_time = str("created_time"),
                    .last_edited_time = str("last_edited_time"),
                    .url = str("url")};
    if (const auto* t = o.if_contains("in_trash"); t && t->is_bool()) r.in_trash = t->get_bool();
    if (const auto* v = o.if_contains("values"); v && v->is_object()) r.values = v->get_object();
    // Mirrors written before numbers were canonical hold 180 as 1.8E2 (a double).
    for (auto& [key, value] : r.values) {
        if (value.is_double()) value = model::canonical_number(value);
    }
    r.hash = model::hash_of(r);
    return r;
}

}  // namespace

std::string_view to_string(PageState state) {
    switch (state) {
        case PageState::live:
            return "live";
        case PageState::deleted:
            return "deleted";
        case PageState::access_lost:
            return "access_lost";
    }
    return "live";
}

Mirror::Mirror(const std::string& path) : db_(path) {
    if (path != ":memory:") {
        std::error_code ignored;
        std::filesystem::permissions(
            path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
            ignored);
    }
    db_.exec("PRAGMA journal_mode=WAL");
    // NORMAL in WAL mode: a commit survives a process crash; only a power loss can drop the last
    // transactions, and the next poll re-reads them (the watermark moves with the commit).
    db_.exec("PRAGMA synchronous=NORMAL");
    db_.exec("PRAGMA cache_size=-8192");  // 8 MB of pages: the hot pages and outbox stay cached
    // Reads of the file through a mapping, not read(2) copies (the mapping is only reserved).
    db_.exec("PRAGMA mmap_size=268435456");
    db_.exec("PRAGMA foreign_keys=ON");
    migrate();
}

void Mirror::migrate() {
    auto version_statement = db_.prepare("PRAGMA user_version");
    version_statement.step();
    auto version = static_cast<std::size_t>(version_statement.integer(0));
    const std::size_t latest = std::size(migrations);
    if (version > latest) {
        throw std::runtime_error("the mirror " + db_.path() +
                                 " was written by a newer notion-syncd (schema " +
                                 std::to_string(version) + " > " + std::to_string(latest) + ")");
    }
    for (; version < latest; ++version) {
        sqlite::Transaction t(db_);
        if (!migrations[version].empty()) db_.exec(migrations[version]);
        if (version == rehash_migration) rehash();
        db_.exec("PRAGMA user_version = " + std::to_string(version + 1));
        t.commit();
    }
}

void Mirror::rehash() {
    // Read everything first: updating rows under an open SELECT on the same table is undefined.
    std::vector<std::pair<std::string, std::string>> pages;
    for (auto read = db_.prepare("SELECT page_id, record FROM pages"); read.step();)
        pages.emplace_back(read.text(0),
                           record_from(model::parse_json(read.text(1)).as_object()).hash);
    auto write_page = db_.prepare("UPDATE pages SET hash = ? WHERE page_id = ?");
    for (const auto& [page_id, hash] : pages) {
        write_page.bind(1, hash).bind(2, page_id);
        write_page.run();
    }
    std::vector<std::pair<std::string, std::string>> contents;
    for (auto read = db_.prepare("SELECT page_id, blocks FROM contents"); read.step();) {
        const auto blocks = model::parse_json(read.text(1));
        contents.emplace_back(
            read.text(0),
            model::content_hash(blocks.is_array() ? blocks.get_array() : json::array{}));
    }
    auto write_content = db_.prepare("UPDATE contents SET hash = ? WHERE page_id = ?");
    for (const auto& [page_id, hash] : contents) {
        write_content.bind(1, hash).bind(2, page_id);
        write_content.run();
    }
}

std::optional<StoredPage> Mirror::page(const std::string& page_id) {
    auto s = db_.cached("SELECT data_source_id, hash, state, record FROM pages WHERE page_id = ?");
    s->bind(1, page_id);
    if (!s->step()) return std::nullopt;
    return StoredPage{.data_source_id = s->text(0),
                      .hash = s->text(1),
                      .state = state_of(s->text(2)),
                      .record = record_from(model::parse_json(s->text(3)).as_object())};
}

std::optional<Mirror::PageDigest> Mirror::page_digest(const std::string& page_id) {
    auto s = db_.cached("SELECT data_source_id, hash, state FROM pages WHERE page_id = ?");
    s->bind(1, page_id);
    if (!s->step()) return std::nullopt;
    return PageDigest{s->text(0), s->text(1), state_of(s->text(2))};
}

void Mirror::add_history(std::int64_t at_ms, const json::object& sample) {
    db_.cached("INSERT OR REPLACE INTO history (at_ms, sample) VALUES (?, ?)")
        ->bind(1, at_ms)
        .bind(2, model::to_json_text(sample))
        .run();
    db_.cached("DELETE FROM history WHERE at_ms < ?")
        ->bind(1, static_cast<std::int64_t>(at_ms - 24 * 3600 * 1000))
        .run();
}

std::vector<json::object> Mirror::history(std::int64_t since_ms) {
    std::vector<json::object> out;
    auto s = db_.cached("SELECT sample FROM history WHERE at_ms >= ? ORDER BY at_ms");
    s->bind(1, since_ms);
    while (s->step()) {
        boost::system::error_code error;
        json::value v = model::parse_json(s->text(0), error);
        if (!error && v.is_object()) out.push_back(std::move(v.as_object()));
    }
    return out;
}

bool Mirror::decide_held_delete(const std::string& sync, const std::string& page_id,
                                const std::string& decision) {
    auto held = db_.cached("SELECT 1 FROM held_deletes WHERE sync = ? AND page_id = ?");
    held->bind(1, sync).bind(2, page_id);
    if (!held->step()) return false;
    held->reset();
    sqlite::Transaction t(db_);
    db_.cached(
           "INSERT OR REPLACE INTO delete_decisions (sync, page_id, decision, decided_at) VALUES "
           "(?, ?, ?, ?)")
        ->bind(1, sync)
        .bind(2, page_id)
        .bind(3, decision)
        .bind(4, now_iso())
        .run();
    // Decided: no longer waiting for a person (the next reconciliation carries it out).
    db_.cached("DELETE FROM held_deletes WHERE sync = ? AND page_id = ?")
        ->bind(1, sync)
        .bind(2, page_id)
        .run();
    t.commit();
    return true;
}

std::map<std::string, std::string> Mirror::delete_decisions(const std::string& sync) {
    std::map<std::string, std::string> out;
    auto s = db_.cached("SELECT page_id, decision FROM delete_decisions WHERE sync = ?");
    s->bind(1, sync);
    while (s->step()) out.emplace(s->text(0), s->text(1));
    return out;
}

void Mirror::forget_delete_decision(const std::string& sync, const std::string& page_id) {
    db_.cached("DELETE FROM delete_decisions WHERE sync = ? AND page_id = ?")
        ->bind(1, sync)
        .bind(2, page_id)
        .run();
}

std::map<std::string, std::string> Mirror::names(const std::set<std::string>& ids) {
    std::map<std::string, std::string> out;
    auto s = db_.cached("SELECT name FROM names WHERE id = ?");
    for (const auto& id : ids) {
        s->bind(1, id);
        if (s->step()) out.emplace(id, s->text(0));
        s->reset();
    }
    return out;
}

std::optional<ContentState> Mirror::content(const std::string& page_id, bool with_blocks) {
    auto s = db_.cached(
        "SELECT last_edited_time, read_at, hash, CASE WHEN ? THEN blocks ELSE '[]' END FROM "
        "contents WHERE page_id = ?");
    s->bind(1, static_cast<std::int64_t>(with_blocks)).bind(2, page_id);
    if (!s->step()) return std::nullopt;
    return ContentState{.last_edited_time = s->text(0),
                        .read_at = s->text(1),
                        .hash = s->text(2),
                        .blocks = model::parse_json(s->text(3)).as_array()};
}

void Mirror::Batch::put_content(const std::string& page_id, const std::string& last_edited_time,
                                const std::string& read_at, const std::string& hash,
                                const json::array& blocks) {
    auto s = mirror_.db_.cached(
        "INSERT INTO contents (page_id, last_edited_time, read_at, hash, blocks) VALUES (?, ?, ?, "
        "?, ?) ON CONFLICT (page_id) DO UPDATE SET last_edited_time = excluded.last_edited_time, "
        "read_at = excluded.read_at, hash = excluded.hash, blocks = excluded.blocks");
    s->bind(1, page_id).bind(2, last_edited_time).bind(3, read_at).bind(4, hash);
    s->bind(5, model::to_json_text(blocks));
    s->run();
}

std::size_t Mirror::live_page_count(const std::string& data_source_id) {
    auto s = db_.cached("SELECT COUNT(*) FROM pages WHERE data_source_id = ? AND state = 'live'");
    s->bind(1, data_source_id);
    return s->step() ? static_cast<std::size_t>(s->integer(0)) : 0;
}

bool Mirror::has_live_pages(const std::string& data_source_id) {
    auto s = db_.cached(
        "SELECT EXISTS (SELECT 1 FROM pages WHERE data_source_id = ? AND state = 'live')");
    s->bind(1, data_source_id);
    return s->step() && s->integer(0) != 0;
}

std::vector<std::string> Mirror::live_pages(const std::string& data_source_id) {
    auto s = db_.cached("SELECT page_id FROM pages WHERE data_source_id = ? AND state = 'live'");
    s->bind(1, data_source_id);
    std::vector<std::string> out;
    while (s->step()) out.push_back(s->text(0));
    return out;
}

namespace {
SourceState source_from(sqlite::Statement& s) {
    SourceState out{.data_source_id = s.text(0), .sync = s.text(1)};
    if (!s.is_null(2))
        out.schema = model::Schema::from_json(model::parse_json(s.text(2)).as_object());
    out.watermark = s.text(3);
    out.reconciled_at = s.integer(4);
    out.read_from = s.text(5);
    out.schema_read_at = s.integer(6);
    out.refreshed_at = s.integer(7);
    return out;
}
}  // namespace

std::optional<SourceState> Mirror::source(const std::string& data_source_id) {
    auto s = db_.cached(
        "SELECT data_source_id, sync, schema, watermark, reconciled_at, read_from, schema_read_at, "
        "refreshed_at "
        "FROM sources "
        "WHERE data_source_id = ?");
    s->bind(1, data_source_id);
    if (!s->step()) return std::nullopt;
    return source_from(*s);
}

std::vector<SourceState> Mirror::sources(const std::string& sync) {
    auto s = db_.cached(
        "SELECT data_source_id, sync, schema, watermark, reconciled_at, read_from, schema_read_at, "
        "refreshed_at "
        "FROM sources "
        "WHERE data_source_id IN (SELECT data_source_id FROM job_sources WHERE sync = ?)");
    s->bind(1, sync);
    std::vector<SourceState> out;
    while (s->step()) out.push_back(source_from(*s));
    return out;
}

Mirror::Batch::Batch(Mirror& mirror) : mirror_(mirror), transaction_(mirror.db_) {}

void Mirror::Batch::put_page(const std::string& sync, const model::Record& record,
                             PageState state) {
    auto s = mirror_.db_.cached(
        "INSERT INTO pages (page_id, sync, data_source_id, hash, state, record) VALUES (?, ?, ?, "
        "?, ?, ?) "
        "ON CONFLICT (page_id) DO UPDATE SET sync = excluded.sync, data_source_id = "
        "excluded.data_source_id, "
        "hash = excluded.hash, state = excluded.state, record = excluded.record");
    s->bind(1, record.page_id).bind(2, sync).bind(3, record.data_source_id).bind(4, record.hash);
    s->bind(5, to_string(state)).bind(6, model::to_json_text(record_json(record)));
    s->run();
    // What the page is called (its title property's id is always "title") and the people its
    // values name.
    auto name = mirror_.db_.cached("INSERT OR REPLACE INTO names (id, name) VALUES (?, ?)");
    if (const auto* title = record.values.if_contains("title");
        title && title->is_string() && !title->get_string().empty()) {
        name->bind(1, record.page_id).bind(2, std::string(title->get_string())).run();
    }
    for (const auto& [id, user] : record.names) name->bind(1, id).bind(2, user).run();
}

std::int64_t Mirror::Batch::add_event(model::ChangeEvent event) {
    auto s = mirror_.db_.cached(
        "INSERT INTO outbox (sync, data_source_id, event, detected_at) VALUES (?, ?, ?, ?)");
    s->bind(1, event.sync).bind(2, event.data_source_id);
    std::string text;
    event.append_json_text(text);
    s->bind(3, text).bind(4, now_iso());
    s->run();
    const auto seq = mirror_.db_.last_insert_rowid();
    event.seq = seq;
    // The job whose poll found it reads that data source (resolve() keeps the set exact).
    if (!event.sync.empty() && !event.data_source_id.empty())
        mirror_.subscribe(event.sync, event.data_source_id);
    added_.emplace_back(std::move(event), text.size());
    return seq;
}

void Mirror::Batch::set_watermark(const std::string& sync, const std::string& data_source_id,
                                  const std::string& watermark) {
    auto s = mirror_.db_.cached(
        "INSERT INTO sources (data_source_id, sync, watermark) VALUES (?, ?, ?) "
        "ON CONFLICT (data_source_id) DO UPDATE SET watermark = excluded.watermark, sync = "
        "excluded.sync");
    s->bind(1, data_source_id).bind(2, sync).bind(3, watermark);
    s->run();
    mirror_.subscribe(sync, data_source_id);
}

void Mirror::Batch::set_schema(const std::string& sync, const model::Schema& schema) {
    auto s = mirror_.db_.cached(
        "INSERT INTO sources (data_source_id, sync, schema) VALUES (?, ?, ?) "
        "ON CONFLICT (data_source_id) DO UPDATE SET schema = excluded.schema, sync = "
        "excluded.sync");
    s->bind(1, schema.data_source_id).bind(2, sync).bind(3, model::to_json_text(schema.to_json()));
    s->run();
    mirror_.subscribe(sync, schema.data_source_id);
}

template <typename Value>
void Mirror::Batch::set_source(std::string_view column, const std::string& data_source_id,
                               const Value& value) {
    auto s = mirror_.db_.cached("UPDATE sources SET " + std::string(column) +
                                " = ? WHERE data_source_id = ?");
    s->bind(1, value).bind(2, data_source_id);
    s->run();
}

void Mirror::Batch::set_schema_read(const std::string& data_source_id, std::int64_t at_ms) {
    set_source("schema_read_at", data_source_id, at_ms);
}

void Mirror::Batch::set_refreshed(const std::string& data_source_id, std::int64_t at_ms) {
    set_source("refreshed_at", data_source_id, at_ms);
}

void Mirror::Batch::set_read_from(const std::string& data_source_id, const std::string& iso) {
    set_source("read_from", data_source_id, std::string_view(iso));
}

void Mirror::Batch::set_reconciled(const std::string& data_source_id, std::int64_t at_ms) {
    set_source("reconciled_at", data_source_id, at_ms);
}

void Mirror::Batch::hold_delete(const std::string& sync, const std::string& page_id,
                                const std::string& since) {
    auto s = mirror_.db_.cached(
        "INSERT OR IGNORE INTO held_deletes (sync, page_id, detected_at) VALUES (?, ?, ?)");
    s->bind(1, sync).bind(2, page_id).bind(3, since.empty() ? now_iso() : since);
    s->run();
}

void Mirror::Batch::clear_held(const std::string& sync, const std::string& data_source_id) {
    auto s = mirror_.db_.cached(
        "DELETE FROM held_deletes WHERE sync = ? AND page_id IN (SELECT page_id FROM pages WHERE "
        "data_source_id = ?)");
    s->bind(1, sync).bind(2, data_source_id);
    s->run();
}

void Mirror::Batch::commit() {
    transaction_.commit();
    auto& recent = mirror_.recent_;
    auto& sizes = mirror_.recent_sizes_;
    for (auto& [event, size] : added_) {
        if (!recent.empty() && recent.back().seq >= event.seq) {
            // Not in order (another writer): from now on read from the table.
            recent.clear();
            sizes.clear();
            mirror_.recent_bytes_ = 0;
        }
        recent.push_back(std::move(event));
        sizes.push_back(size);
        mirror_.recent_bytes_ += size;
        while (mirror_.recent_bytes_ > recent_limit) {
            mirror_.recent_bytes_ -= sizes.front();
            recent.pop_front();
            sizes.pop_front();
        }
    }
    added_.clear();
}

void Mirror::subscribe(const std::string& sync, const std::string& data_source_id) {
    auto s = db_.cached("INSERT OR IGNORE INTO job_sources (sync, data_source_id) VALUES (?, ?)");
    s->bind(1, sync).bind(2, data_source_id);
    s->run();
}

void Mirror::set_job_sources(const std::string& sync, const std::vector<std::string>& ids,
                             std::int64_t resolved_at_ms, const std::string& source) {
    sqlite::Transaction t(db_);
    auto resolved = db_.cached(
        "INSERT INTO jobs (sync, resolved_at, resolved_source) VALUES (?, ?, ?) ON CONFLICT "
        "(sync) DO UPDATE SET resolved_at = excluded.resolved_at, resolved_source = "
        "excluded.resolved_source");
    resolved->bind(1, sync).bind(2, resolved_at_ms).bind(3, source);
    resolved->run();
    if (job_sources(sync) == ids) {
        t.commit();
        return;
    }
    auto clear = db_.cached("DELETE FROM job_sources WHERE sync = ?");
    clear->bind(1, sync);
    clear->run();
    auto add = db_.cached("INSERT OR IGNORE INTO job_sources (sync, data_source_id) VALUES (?, ?)");
    for (const auto& id : ids) {
        add->bind(1, sync).bind(2, id);
        add->run();
    }
    t.commit();
}

void Mirror::set_job_outcome(const std::string& sync, const JobOutcome& outcome) {
    auto s = db_.cached(
        "INSERT INTO jobs (sync, last_attempt, last_success, failure_kind, last_error) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sync) DO UPDATE SET "
        "last_attempt = excluded.last_attempt, last_success = excluded.last_success, "
        "failure_kind = excluded.failure_kind, last_error = excluded.last_error");
    s->bind(1, sync)
        .bind(2, outcome.last_attempt_ms)
        .bind(3, outcome.last_success_ms)
        .bind(4, outcome.failure_kind)
        .bind(5, outcome.last_error);
    s->run();
}

JobOutcome Mirror::job_outcome(const std::string& sync) {
    auto s = db_.cached(
        "SELECT last_attempt, last_success, failure_kind, last_error FROM jobs WHERE sync = ?");
    s->bind(1, sync);
    if (!s->step()) return {};
    return {.last_attempt_ms = s->integer(0),
            .last_success_ms = s->integer(1),
            .failure_kind = s->text(2),
            .last_error = s->text(3)};
}

json::object Mirror::base(const std::string& target, const std::string& page_id) {
    auto s =
        db_.cached("SELECT property_id, value FROM two_way_base WHERE target = ? AND page_id = ?");
    s->bind(1, target).bind(2, page_id);
    json::object out;
    while (s->step()) out[s->text(0)] = model::parse_json(s->text(1));
    return out;
}

void Mirror::set_base(const std::string& target, const std::string& page_id,
                      const json::object& values, const std::string& over_capture) {
    auto s = db_.cached(
        "INSERT INTO two_way_base (target, page_id, property_id, value, over_capture) VALUES (?, "
        "?, ?, ?, ?) ON CONFLICT (target, page_id, property_id) DO UPDATE SET value = "
        "excluded.value, over_capture = excluded.over_capture");
    for (const auto& [id, value] : values) {
        s->bind(1, target)
            .bind(2, page_id)
            .bind(3, std::string_view(id))
            .bind(4, model::to_json_text(value))
            .bind(5, over_capture);
        s->run();
    }
}

std::map<std::string, std::string> Mirror::base_over_capture(const std::string& target,
                                                             const std::string& page_id) {
    auto s = db_.cached(
        "SELECT property_id, over_capture FROM two_way_base WHERE target = ? AND page_id = ? AND "
        "over_capture != ''");
    s->bind(1, target).bind(2, page_id);
    std::map<std::string, std::string> out;
    while (s->step()) out[s->text(0)] = s->text(1);
    return out;
}

std::vector<std::string> Mirror::based_pages(const std::string& target) {
    auto s =
        db_.cached("SELECT DISTINCT page_id FROM two_way_base WHERE target = ? ORDER BY page_id");
    s->bind(1, target);
    std::vector<std::string> out;
    while (s->step()) out.push_back(s->text(0));
    return out;
}

void Mirror::add_reverts(const std::string& target, const std::vector<std::string>& pages) {
    sqlite::Transaction transaction(db_);
    auto s = db_.cached("INSERT OR IGNORE INTO two_way_reverts (target, page_id) VALUES (?, ?)");
    for (const auto& page : pages) {
        s->bind(1, target).bind(2, page);
        s->run();
    }
    transaction.commit();
}

std::vector<std::string> Mirror::reverts(const std::string& target) {
    auto s = db_.cached("SELECT page_id FROM two_way_reverts WHERE target = ? ORDER BY rowid");
    s->bind(1, target);
    std::vector<std::string> out;
    while (s->step()) out.push_back(s->text(0));
    return out;
}

void Mirror::drop_reverts(const std::string& target, const std::vector<std::string>& pages) {
    sqlite::Transaction transaction(db_);
    auto s = db_.cached("DELETE FROM two_way_reverts WHERE target = ? AND page_id = ?");
    for (const auto& page : pages) {
        s->bind(1, target).bind(2, page);
        s->run();
    }
    transaction.commit();
}

std::optional<Verification> Mirror::verification(const std::string& target) {
    auto s = db_.cached(
        "SELECT verified_at, compared, differed, gone FROM two_way_verify WHERE target = ?");
    s->bind(1, target);
    if (!s->step()) return std::nullopt;
    return Verification{.verified_at_ms = s->integer(0),
                        .compared = static_cast<std::size_t>(s->integer(1)),
                        .differed = static_cast<std::size_t>(s->integer(2)),
                        .gone = static_cast<std::size_t>(s->integer(3))};
}

void Mirror::set_verification(const std::string& target, const Verification& v) {
    auto s = db_.cached(
        "INSERT INTO two_way_verify (target, verified_at, compared, differed, gone) VALUES (?, ?, "
        "?, ?, ?) ON CONFLICT (target) DO UPDATE SET verified_at = excluded.verified_at, "
        "compared = excluded.compared, differed = excluded.differed, gone = excluded.gone");
    s->bind(1, target)
        .bind(2, v.verified_at_ms)
        .bind(3, static_cast<std::int64_t>(v.compared))
        .bind(4, static_cast<std::int64_t>(v.differed))
        .bind(5, static_cast<std::int64_t>(v.gone));
    s->run();
}

void Mirror::drop_base(const std::string& target, const std::string& page_id) {
    auto s = db_.cached("DELETE FROM two_way_base WHERE target = ? AND page_id = ?");
    s->bind(1, target).bind(2, page_id);
    s->run();
}

std::int64_t Mirror::add_conflict(const Conflict& c) {
    auto s = db_.cached(
        "INSERT INTO conflicts (target, page_id, property_id, property, base, notion, external, "
        "policy, decision, detected_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s->bind(1, c.target)
        .bind(2, c.page_id)
        .bind(3, c.property_id)
        .bind(4, c.property)
        .bind(5, model::to_json_text(c.base))
        .bind(6, model::to_json_text(c.notion))
        .bind(7, model::to_json_text(c.external))
        .bind(8, c.policy)
        .bind(9, c.decision)
        .bind(10, now_iso())
        .bind(11, c.decision == "open" ? std::string() : now_iso());
    s->run();
    return db_.last_insert_rowid();
}

json::object Conflict::to_json() const {
    return {{"id", id},
            {"target", target},
            {"page_id", page_id},
            {"property", property},
            {"base", base},
            {"notion", notion},
            {"external", external},
            {"policy", policy},
            {"decision", decision},
            {"detected_at", detected_at},
            {"resolved_at", resolved_at}};
}

std::vector<Conflict> Mirror::conflicts(bool all) {
    auto s = db_.cached(
        std::string(
            "SELECT id, target, page_id, property_id, property, base, notion, external, "
            "policy, decision, detected_at, resolved_at, resolution, applied FROM conflicts") +
        (all ? "" : " WHERE decision = 'open'") + " ORDER BY id");
    std::vector<Conflict> out;
    while (s->step()) {
        out.push_back({.id = s->integer(0),
                       .target = s->text(1),
                       .page_id = s->text(2),
                       .property_id = s->text(3),
                       .property = s->text(4),
                       .base = model::parse_json(s->text(5)),
                       .notion = model::parse_json(s->text(6)),
                       .external = model::parse_json(s->text(7)),
                       .policy = s->text(8),
                       .decision = s->text(9),
                       .detected_at = s->text(10),
                       .resolved_at = s->text(11),
                       .resolution = model::parse_json(s->text(12)),
                       .applied = s->integer(13) != 0});
    }
    return out;
}

std::size_t Mirror::open_conflicts(const std::string& target) {
    auto s = db_.cached("SELECT COUNT(*) FROM conflicts WHERE target = ? AND decision = 'open'");
    s->bind(1, target);
    s->step();
    return static_cast<std::size_t>(s->integer(0));
}

bool Mirror::has_open_conflict(const std::string& target, const std::string& page_id,
                               const std::string& property_id) {
    auto s = db_.cached(
        "SELECT 1 FROM conflicts WHERE target = ? AND page_id = ? AND property_id = ? AND "
        "decision = 'open'");
    s->bind(1, target).bind(2, page_id).bind(3, property_id);
    return s->step();
}

void Mirror::update_open_conflict(const std::string& target, const std::string& page_id,
                                  const std::string& property_id, const json::value& notion,
                                  const json::value& external) {
    auto s = db_.cached(
        "UPDATE conflicts SET notion = ?, external = ? WHERE target = ? AND page_id = ? AND "
        "property_id = ? AND decision = 'open'");
    s->bind(1, model::to_json_text(notion))
        .bind(2, model::to_json_text(external))
        .bind(3, target)
        .bind(4, page_id)
        .bind(5, property_id);
    s->run();
}

bool Mirror::resolve_conflict(std::int64_t id, const std::string& decision,
                              const json::value& value) {
    auto s = db_.cached(
        "UPDATE conflicts SET decision = ?, resolved_at = ?, resolution = ?, applied = 0 WHERE "
        "id = ? AND decision = 'open'");
    s->bind(1, decision).bind(2, now_iso()).bind(3, model::to_json_text(value)).bind(4, id);
    s->run();
    return db_.changes() > 0;
}

std::vector<Conflict> Mirror::unapplied_resolutions(const std::string& target) {
    std::vector<Conflict> out;
    for (auto& c : conflicts(true)) {
        if (c.target == target && !c.applied) out.push_back(std::move(c));
    }
    return out;
}

void Mirror::mark_applied(std::int64_t id) {
    auto s = db_.cached("UPDATE conflicts SET applied = 1 WHERE id = ?");
    s->bind(1, id);
    s->run();
}

void Mirror::log_write(const std::string& target, const std::string& page_id,
                       const std::string& action, const json::object& detail) {
    auto s = db_.cached(
        "INSERT INTO writeback_log (at, target, page_id, action, detail) VALUES (?, ?, ?, ?, ?)");
    s->bind(1, now_iso())
        .bind(2, target)
        .bind(3, page_id)
        .bind(4, action)
        .bind(5, model::to_json_text(detail));
    s->run();
}

std::vector<WriteLogEntry> Mirror::history(const std::string& page_id) {
    auto s = db_.cached(
        "SELECT at, target, action, detail FROM writeback_log WHERE page_id = ? ORDER BY id");
    s->bind(1, page_id);
    std::vector<WriteLogEntry> out;
    while (s->step()) {
        out.push_back({.at = s->text(0),
                       .target = s->text(1),
                       .action = s->text(2),
                       .detail = model::parse_json(s->text(3)).as_object()});
    }
    return out;
}

std::optional<CreateIntent> Mirror::create_intent(const std::string& target,
                                                  const std::string& row_key) {
    auto s = db_.cached(
        "SELECT data_source_id, title, first_try, page_id FROM create_intents WHERE target = ? "
        "AND row_key = ?");
    s->bind(1, target).bind(2, row_key);
    if (!s->step()) return std::nullopt;
    return CreateIntent{.target = target,
                        .row_key = row_key,
                        .data_source_id = s->text(0),
                        .title = s->text(1),
                        .first_try_ms = s->integer(2),
                        .page_id = s->text(3)};
}

void Mirror::put_create_intent(const CreateIntent& intent) {
    auto s = db_.cached(
        "INSERT INTO create_intents (target, row_key, data_source_id, title, first_try, page_id) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target, row_key) DO UPDATE SET title = "
        "excluded.title, first_try = excluded.first_try, page_id = excluded.page_id");
    s->bind(1, intent.target)
        .bind(2, intent.row_key)
        .bind(3, intent.data_source_id)
        .bind(4, intent.title)
        .bind(5, intent.first_try_ms)
        .bind(6, intent.page_id);
    s->run();
}

void Mirror::put_pending_write(const std::string& target, const std::string& page_id,
                               const json::object& written) {
    auto s = db_.cached(
        "INSERT OR REPLACE INTO pending_writes (target, page_id, written) VALUES (?, ?, ?)");
    s->bind(1, target).bind(2, page_id).bind(3, model::to_json_text(written));
    s->run();
}

std::vector<std::pair<std::string, json::object>> Mirror::pending_writes(
    const std::string& target) {
    std::vector<std::pair<std::string, json::object>> out;
    auto s = db_.cached("SELECT page_id, written FROM pending_writes WHERE target = ?");
    s->bind(1, target);
    while (s->step()) out.emplace_back(s->text(0), model::parse_json(s->text(1)).as_object());
    return out;
}

void Mirror::drop_pending_write(const std::string& target, const std::string& page_id) {
    auto s = db_.cached("DELETE FROM pending_writes WHERE target = ? AND page_id = ?");
    s->bind(1, target).bind(2, page_id);
    s->run();
}

void Mirror::drop_create_intent(const std::string& target, const std::string& row_key) {
    auto s = db_.cached("DELETE FROM create_intents WHERE target = ? AND row_key = ?");
    s->bind(1, target).bind(2, row_key);
    s->run();
}

std::string Mirror::resolved_source(const std::string& sync) {
    auto s = db_.cached("SELECT resolved_source FROM jobs WHERE sync = ?");
    s->bind(1, sync);
    return s->step() ? s->text(0) : std::string();
}

std::int64_t Mirror::resolved_at(const std::string& sync) {
    auto s = db_.cached("SELECT resolved_at FROM jobs WHERE sync = ?");
    s->bind(1, sync);
    return s->step() ? s->integer(0) : 0;
}

std::vector<std::string> Mirror::job_sources(const std::string& sync) {
    auto s = db_.cached("SELECT data_source_id FROM job_sources WHERE sync = ? ORDER BY rowid");
    s->bind(1, sync);
    std::vector<std::string> out;
    while (s->step()) out.push_back(s->text(0));
    return out;
}

std::optional<std::vector<model::ChangeEvent>> Mirror::recent_events_after(const std::string& sync,
                                                                           std::int64_t seq,
                                                                           std::size_t limit) {
    // recent_ covers (recent_.front().seq - 1, newest]: seq must not be older than that.
    if (recent_.empty() || seq < recent_.front().seq - 1) return std::nullopt;
    std::set<std::string> sources;
    for (auto& id : job_sources(sync)) sources.insert(std::move(id));
    std::vector<model::ChangeEvent> out;
    std::size_t examined = 0;  // events of recent_ after seq, up to `through`
    std::int64_t through = seq;
    bool to_end = true;
    for (auto it = std::upper_bound(
             recent_.begin(), recent_.end(), seq,
             [](std::int64_t after, const model::ChangeEvent&e) { return after < e.seq; });
         it != recent_.end(); ++it) {
        if (sources.contains(it->data_source_id)) {
            if (out.size() == limit) {
                to_end = false;
                break;
            }
            out.push_back(*it);
        }
        ++examined;
        through = it->seq;
    }
    // The outbox must hold exactly these rows in (seq, through] (and none after when recent_ was
    // read to its end), or the table is read instead.
    auto count = to_end ? db_.cached("SELECT COUNT(*) FROM outbox WHERE seq > ?")
                        : db_.cached("SELECT COUNT(*) FROM outbox WHERE seq > ? AND seq <= ?");
    count->bind(1, seq);
    if (!to_end) count->bind(2, through);
    count->step();
    if (static_cast<std::size_t>(count->integer(0)) != examined) {
        recent_.clear();
        recent_sizes_.clear();
        recent_bytes_ = 0;
        return std::nullopt;
    }
    return out;
}

std::vector<model::ChangeEvent> Mirror::events_after(const std::string& sync, std::int64_t seq,
                                                     std::size_t limit) {
    if (auto recent = recent_events_after(sync, seq, limit)) return std::move(*recent);
    auto s = db_.cached(
        "SELECT seq, event FROM outbox WHERE seq > ? AND data_source_id IN (SELECT data_source_id "
        "FROM job_sources WHERE sync = ?) ORDER BY seq LIMIT ?");
    s->bind(1, seq).bind(2, sync).bind(3, static_cast<std::int64_t>(limit));
    std::vector<model::ChangeEvent> out;
    while (s->step()) {
        auto e = model::ChangeEvent::from_json(model::parse_json(s->text(1)).as_object());
        e.seq = s->integer(0);
        out.push_back(std::move(e));
    }
    return out;
}

std::int64_t Mirror::last_seq(const std::string& sync) {
    auto s = db_.cached(
        "SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE data_source_id IN (SELECT data_source_id "
        "FROM job_sources WHERE sync = ?)");
    s->bind(1, sync);
    s->step();
    return s->integer(0);
}

std::int64_t Mirror::highest_seq() {
    // Collected rows leave gaps: sqlite_sequence keeps the highest seq ever handed out.
    auto s = db_.cached(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0), "
        "COALESCE((SELECT MAX(seq) FROM outbox), 0))");
    s->step();
    return s->integer(0);
}

std::size_t Mirror::count_after(const std::string& sync, std::int64_t seq) {
    auto s = db_.cached(
        "SELECT COUNT(*) FROM outbox WHERE seq > ? AND data_source_id IN (SELECT data_source_id "
        "FROM job_sources WHERE sync = ?)");
    s->bind(1, seq).bind(2, sync);
    s->step();
    return static_cast<std::size_t>(s->integer(0));
}

std::int64_t Mirror::cursor(const std::string& target) {
    auto s = db_.cached("SELECT seq FROM target_cursors WHERE target = ?");
    s->bind(1, target);
    return s->step() ? s->integer(0) : 0;
}

bool Mirror::has_cursor(const std::string& target) {
    auto s = db_.cached("SELECT 1 FROM target_cursors WHERE target = ?");
    s->bind(1, target);
    return s->step();
}

void Mirror::set_cursor(const std::string& target, std::int64_t seq) {
    auto s = db_.cached(
        "INSERT INTO target_cursors (target, seq) VALUES (?, ?) ON CONFLICT (target) DO UPDATE SET "
        "seq = excluded.seq");
    s->bind(1, target).bind(2, seq);
    s->run();
}

std::size_t Mirror::begin_target(const std::string& target, const std::string& sync,
                                 bool snapshot) {
    {
        // The usual case, read only (no write lock on every drain): nothing to add.
        auto missing = db_.cached(
            "SELECT COUNT(*) FROM job_sources j WHERE j.sync = ? AND NOT EXISTS (SELECT 1 FROM "
            "target_sources t WHERE t.target = ? AND t.data_source_id = j.data_source_id)");
        missing->bind(1, sync).bind(2, target);
        missing->step();
        if (missing->integer(0) == 0 && has_cursor(target)) return 0;
    }
    sqlite::Transaction t(db_);
    if (!has_cursor(target)) {
        if (collected_through() == 0) {
            // The outbox still holds every event ever made (a first run): the target reads it
            // from the start, as real events, and holds its data sources already.
            set_cursor(target, 0);
            snapshot = false;
        } else {
            // It follows the outbox from now on; what is already in the mirror reaches it as a
            // snapshot (below), taken after this point, so nothing falls between.
            set_cursor(target, highest_seq());
        }
    }
    std::size_t added = 0;
    auto add = db_.cached(
        "INSERT OR IGNORE INTO target_sources (target, data_source_id, snapshot_after) VALUES (?, "
        "?, ?)");
    for (const auto& ds : job_sources(sync)) {
        add->bind(1, target).bind(2, ds);
        if (snapshot) {
            add->bind(3, std::string_view(""));  // not a null pointer: that binds NULL
        } else {
            add->bind_null(3);
        }
        add->run();
        added += static_cast<std::size_t>(db_.changes());
    }
    t.commit();
    return added;
}

std::optional<Mirror::SnapshotPosition> Mirror::next_snapshot(const std::string& target) {
    auto s = db_.cached(
        "SELECT data_source_id, snapshot_after FROM target_sources WHERE target = ? AND "
        "snapshot_after IS NOT NULL ORDER BY data_source_id LIMIT 1");
    s->bind(1, target);
    if (!s->step()) return std::nullopt;
    return SnapshotPosition{.data_source_id = s->text(0), .after_page = s->text(1)};
}

std::vector<StoredPage> Mirror::live_pages_after(const std::string& data_source_id,
                                                 const std::string& after_page, std::size_t limit) {
    auto s = db_.cached(
        "SELECT data_source_id, hash, state, record FROM pages WHERE data_source_id = ? AND "
        "state = 'live' AND page_id > ? ORDER BY page_id LIMIT ?");
    s->bind(1, data_source_id).bind(2, after_page).bind(3, static_cast<std::int64_t>(limit));
    std::vector<StoredPage> out;
    while (s->step()) {
        out.push_back(StoredPage{.data_source_id = s->text(0),
                                 .hash = s->text(1),
                                 .state = state_of(s->text(2)),
                                 .record = record_from(model::parse_json(s->text(3)).as_object())});
    }
    return out;
}

void Mirror::set_snapshot_progress(const std::string& target, const std::string& data_source_id,
                                   const std::optional<std::string>& after_page) {
    auto s = db_.cached(
        "UPDATE target_sources SET snapshot_after = ? WHERE target = ? AND data_source_id = ?");
    if (after_page) {
        s->bind(1, *after_page);
    } else {
        s->bind_null(1);
    }
    s->bind(2, target).bind(3, data_source_id);
    s->run();
}

std::size_t Mirror::snapshots_pending(const std::string& target) {
    auto s = db_.cached(
        "SELECT COUNT(*) FROM target_sources WHERE target = ? AND snapshot_after IS NOT NULL");
    s->bind(1, target);
    s->step();
    return static_cast<std::size_t>(s->integer(0));
}

void Mirror::reset_target(const std::string& target) {
    sqlite::Transaction t(db_);
    for (const char* sql : {"DELETE FROM target_cursors WHERE target = ?",
                            "DELETE FROM target_sources WHERE target = ?"}) {
        auto s = db_.cached(sql);
        s->bind(1, target);
        s->run();
    }
    t.commit();
}

void Mirror::dead_letter(const std::string& target, const model::ChangeEvent& event,
                         const std::string& error, bool move_cursor) {
    sqlite::Transaction t(db_);
    auto s = db_.cached(
        "INSERT INTO dead_letters (target, seq, event, error, failed_at) VALUES (?, ?, ?, ?, ?)");
    s->bind(1, target)
        .bind(2, event.seq)
        .bind(3, model::to_json_text(event.to_json()))
        .bind(4, error)
        .bind(5, now_iso());
    s->run();
    if (move_cursor) set_cursor(target, event.seq);
    t.commit();
}

std::size_t Mirror::dead_letter_count(const std::string& target) {
    auto s = db_.cached("SELECT COUNT(*) FROM dead_letters WHERE target = ?");
    s->bind(1, target);
    return s->step() ? static_cast<std::size_t>(s->integer(0)) : 0;
}

std::vector<DeadLetter> Mirror::dead_letters(const std::string& target) {
    auto s = db_.cached(
        "SELECT id, target, seq, error, failed_at FROM dead_letters WHERE ? = '' OR target = ? "
        "ORDER BY id");
    s->bind(1, target).bind(2, target);
    std::vector<DeadLetter> out;
    while (s->step())
        out.push_back({s->integer(0), s->text(1), s->integer(2), s->text(3), s->text(4)});
    return out;
}

std::optional<model::ChangeEvent> Mirror::dead_letter_event(std::int64_t id) {
    auto s = db_.cached("SELECT event, seq FROM dead_letters WHERE id = ?");
    s->bind(1, id);
    if (!s->step()) return std::nullopt;
    auto event = model::ChangeEvent::from_json(model::parse_json(s->text(0)).as_object());
    event.seq = s->integer(1);
    return event;
}

model::ChangeEvent Mirror::current_event(model::ChangeEvent event) {
    if (event.page_id.empty()) return event;
    const auto stored = page(event.page_id);
    if (!stored) return event;
    for (const auto& [name, property_id] : event.property_ids) {
        if (!property_id.is_string()) continue;
        const auto* value = stored->record.values.if_contains(property_id.get_string());
        event.properties[name] = value ? *value : json::value();
    }
    event.last_edited_time = stored->record.last_edited_time;
    if (stored->state != PageState::live) {
        event.kind = std::string(to_string(stored->state));
        if (event.kind == "deleted" || event.kind == "access_lost") event.content.reset();
    } else if (event.kind == "deleted" || event.kind == "access_lost") {
        event.kind = "restored";
    }
    return event;
}

void Mirror::mark_retry(std::int64_t id) {
    auto s = db_.cached("UPDATE dead_letters SET retry = 1 WHERE id = ?");
    s->bind(1, id);
    s->run();
    if (db_.changes() == 0)
        throw std::runtime_error("no dead letter with id " + std::to_string(id));
}

std::vector<std::pair<std::int64_t, model::ChangeEvent>> Mirror::retries(
    const std::string& target) {
    auto s = db_.cached(
        "SELECT id, event, seq FROM dead_letters WHERE target = ? AND retry = 1 ORDER BY seq, id");
    s->bind(1, target);
    std::vector<std::pair<std::int64_t, model::ChangeEvent>> out;
    while (s->step()) {
        auto event = model::ChangeEvent::from_json(model::parse_json(s->text(1)).as_object());
        event.seq = s->integer(2);
        out.emplace_back(s->integer(0), std::move(event));
    }
    for (auto& [id, event] : out) event = current_event(std::move(event));
    return out;
}

void Mirror::dead_letter_failed_again(std::int64_t id, const std::string& error) {
    auto s = db_.cached("UPDATE dead_letters SET retry = 0, error = ?, failed_at = ? WHERE id = ?");
    s->bind(1, error).bind(2, now_iso()).bind(3, id);
    s->run();
}

void Mirror::drop_dead_letter(std::int64_t id) {
    auto s = db_.cached("DELETE FROM dead_letters WHERE id = ?");
    s->bind(1, id);
    s->run();
}

std::vector<HeldDelete> Mirror::held_delete_pages(const std::string& sync) {
    auto s = db_.cached(
        "SELECT h.page_id, COALESCE(p.data_source_id, ''), COALESCE(p.record, '{}'), "
        "h.detected_at FROM held_deletes h LEFT JOIN pages p ON p.page_id = h.page_id "
        "WHERE h.sync = ? ORDER BY h.page_id");
    s->bind(1, sync);
    std::vector<HeldDelete> out;
    while (s->step()) {
        HeldDelete held{.page_id = s->text(0), .data_source_id = s->text(1)};
        // The title property's id is always "title" (notion-api.md).
        const json::value record = model::parse_json(s->text(2));
        if (const auto* values = record.as_object().if_contains("values");
            values && values->is_object()) {
            if (const auto* title = values->as_object().if_contains("title");
                title && title->is_string()) {
                held.title = title->get_string();
            }
        }
        held.detected_at = s->text(3);
        out.push_back(std::move(held));
    }
    return out;
}

std::size_t Mirror::held_deletes(const std::string& sync) {
    auto s = db_.cached("SELECT COUNT(*) FROM held_deletes WHERE sync = ?");
    s->bind(1, sync);
    s->step();
    return static_cast<std::size_t>(s->integer(0));
}

void Mirror::collect_garbage(const std::vector<std::string>& targets) {
    // Events are shared by every target of every job subscribed to their data source: a row goes
    // once the slowest configured target has passed it.
    if (targets.empty()) return;
    std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
    for (const auto& target : targets) {
        if (!has_cursor(target)) return;  // it will start from the newest event, but not yet
        lowest = std::min(lowest, cursor(target));
    }
    sqlite::Transaction t(db_);
    auto s = db_.cached("DELETE FROM outbox WHERE seq <= ?");
    s->bind(1, lowest);
    s->run();
    if (db_.changes() > 0) {
        // A target added from now on cannot read the outbox from the start: it gets a snapshot.
        auto mark = db_.cached(
            "UPDATE counters SET value = MAX(value, ?) WHERE name = 'collected_through'");
        mark->bind(1, lowest);
        mark->run();
    }
    t.commit();
}

std::int64_t Mirror::collected_through() {
    auto s = db_.cached("SELECT value FROM counters WHERE name = 'collected_through'");
    return s->step() ? s->integer(0) : 0;
}

void Mirror::reset_sync(const std::string& sync) {
    auto s = db_.cached(
        "UPDATE sources SET watermark = '', reconciled_at = 0, read_from = '' WHERE sync = ? OR "
        "data_source_id IN (SELECT data_source_id FROM job_sources WHERE sync = ?)");
    s->bind(2, sync);
    s->bind(1, sync);
    s->run();
    // And its list of data sources is read again too.
    auto resolved = db_.cached("UPDATE jobs SET resolved_at = 0 WHERE sync = ?");
    resolved->bind(1, sync);
    resolved->run();
}

}  // namespace syncd::mirror
