#include "daemon/mirror/mirror.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <map>

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
        pages.emplace_back(read.text(0), record_from(json::parse(read.text(1)).as_object()).hash);
    auto write_page = db_.prepare("UPDATE pages SET hash = ? WHERE page_id = ?");
    for (const auto& [page_id, hash] : pages) {
        write_page.bind(1, hash).bind(2, page_id);
        write_page.run();
    }
    std::vector<std::pair<std::string, std::string>> contents;
    for (auto read = db_.prepare("SELECT page_id, blocks FROM contents"); read.step();) {
        const auto blocks = json::parse(read.text(1));
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
                      .record = record_from(json::parse(s->text(3)).as_object())};
}

std::optional<Mirror::PageDigest> Mirror::page_digest(const std::string& page_id) {
    auto s = db_.cached("SELECT data_source_id, hash, state FROM pages WHERE page_id = ?");
    s->bind(1, page_id);
    if (!s->step()) return std::nullopt;
    return PageDigest{s->text(0), s->text(1), state_of(s->text(2))};
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
                        .blocks = json::parse(s->text(3)).as_array()};
}

void Mirror::Batch::put_content(const std::string& page_id, const std::string& last_edited_time,
                                const std::string& read_at, const std::string& hash,
                                const json::array& blocks) {
    auto s = mirror_.db_.cached(
        "INSERT INTO contents (page_id, last_edited_time, read_at, hash, blocks) VALUES (?, ?, ?, "
        "?, ?) ON CONFLICT (page_id) DO UPDATE SET last_edited_time = excluded.last_edited_time, "
        "read_at = excluded.read_at, hash = excluded.hash, blocks = excluded.blocks");
    s->bind(1, page_id).bind(2, last_edited_time).bind(3, read_at).bind(4, hash);
    s->bind(5, json::serialize(blocks));
    s->run();
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
    if (!s.is_null(2)) out.schema = model::Schema::from_json(json::parse(s.text(2)).as_object());
    out.watermark = s.text(3);
    out.reconciled_at = s.integer(4);
    out.read_from = s.text(5);
    return out;
}
}  // namespace

std::optional<SourceState> Mirror::source(const std::string& data_source_id) {
    auto s = db_.cached(
        "SELECT data_source_id, sync, schema, watermark, reconciled_at, read_from FROM sources "
        "WHERE data_source_id = ?");
    s->bind(1, data_source_id);
    if (!s->step()) return std::nullopt;
    return source_from(*s);
}

std::vector<SourceState> Mirror::sources(const std::string& sync) {
    auto s = db_.cached(
        "SELECT data_source_id, sync, schema, watermark, reconciled_at, read_from FROM sources "
        "WHERE sync = ?");
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
    s->bind(5, to_string(state)).bind(6, json::serialize(record_json(record)));
    s->run();
}

std::int64_t Mirror::Batch::add_event(model::ChangeEvent event) {
    auto s = mirror_.db_.cached("INSERT INTO outbox (sync, event, detected_at) VALUES (?, ?, ?)");
    s->bind(1, event.sync).bind(2, json::serialize(event.to_json())).bind(3, now_iso());
    s->run();
    return mirror_.db_.last_insert_rowid();
}

void Mirror::Batch::set_watermark(const std::string& sync, const std::string& data_source_id,
                                  const std::string& watermark) {
    auto s = mirror_.db_.cached(
        "INSERT INTO sources (data_source_id, sync, watermark) VALUES (?, ?, ?) "
        "ON CONFLICT (data_source_id) DO UPDATE SET watermark = excluded.watermark, sync = "
        "excluded.sync");
    s->bind(1, data_source_id).bind(2, sync).bind(3, watermark);
    s->run();
}

void Mirror::Batch::set_schema(const std::string& sync, const model::Schema& schema) {
    auto s = mirror_.db_.cached(
        "INSERT INTO sources (data_source_id, sync, schema) VALUES (?, ?, ?) "
        "ON CONFLICT (data_source_id) DO UPDATE SET schema = excluded.schema, sync = "
        "excluded.sync");
    s->bind(1, schema.data_source_id).bind(2, sync).bind(3, json::serialize(schema.to_json()));
    s->run();
}

void Mirror::Batch::set_read_from(const std::string& data_source_id, const std::string& iso) {
    auto s = mirror_.db_.cached("UPDATE sources SET read_from = ? WHERE data_source_id = ?");
    s->bind(1, iso).bind(2, data_source_id);
    s->run();
}

void Mirror::Batch::set_reconciled(const std::string& data_source_id, std::int64_t at_ms) {
    auto s = mirror_.db_.cached("UPDATE sources SET reconciled_at = ? WHERE data_source_id = ?");
    s->bind(1, at_ms).bind(2, data_source_id);
    s->run();
}

void Mirror::Batch::hold_delete(const std::string& sync, const std::string& page_id) {
    auto s = mirror_.db_.cached(
        "INSERT OR IGNORE INTO held_deletes (sync, page_id, detected_at) VALUES (?, ?, ?)");
    s->bind(1, sync).bind(2, page_id).bind(3, now_iso());
    s->run();
}

void Mirror::Batch::clear_held(const std::string& sync, const std::string& data_source_id) {
    auto s = mirror_.db_.cached(
        "DELETE FROM held_deletes WHERE sync = ? AND page_id IN (SELECT page_id FROM pages WHERE "
        "data_source_id = ?)");
    s->bind(1, sync).bind(2, data_source_id);
    s->run();
}

void Mirror::Batch::commit() { transaction_.commit(); }

std::vector<model::ChangeEvent> Mirror::events_after(const std::string& sync, std::int64_t seq,
                                                     std::size_t limit) {
    auto s =
        db_.cached("SELECT seq, event FROM outbox WHERE sync = ? AND seq > ? ORDER BY seq LIMIT ?");
    s->bind(1, sync).bind(2, seq).bind(3, static_cast<std::int64_t>(limit));
    std::vector<model::ChangeEvent> out;
    while (s->step()) {
        auto e = model::ChangeEvent::from_json(json::parse(s->text(1)).as_object());
        e.seq = s->integer(0);
        out.push_back(std::move(e));
    }
    return out;
}

std::int64_t Mirror::last_seq(const std::string& sync) {
    auto s = db_.cached("SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE sync = ?");
    s->bind(1, sync);
    s->step();
    const auto in_outbox = s->integer(0);
    // Collected rows leave gaps; the sqlite_sequence keeps the highest seq ever handed out.
    return in_outbox;
}

std::size_t Mirror::count_after(const std::string& sync, std::int64_t seq) {
    auto s = db_.cached("SELECT COUNT(*) FROM outbox WHERE sync = ? AND seq > ?");
    s->bind(1, sync).bind(2, seq);
    s->step();
    return static_cast<std::size_t>(s->integer(0));
}

std::int64_t Mirror::cursor(const std::string& target) {
    auto s = db_.cached("SELECT seq FROM target_cursors WHERE target = ?");
    s->bind(1, target);
    return s->step() ? s->integer(0) : 0;
}

void Mirror::set_cursor(const std::string& target, std::int64_t seq) {
    auto s = db_.cached(
        "INSERT INTO target_cursors (target, seq) VALUES (?, ?) ON CONFLICT (target) DO UPDATE SET "
        "seq = excluded.seq");
    s->bind(1, target).bind(2, seq);
    s->run();
}

void Mirror::dead_letter(const std::string& target, const model::ChangeEvent& event,
                         const std::string& error) {
    sqlite::Transaction t(db_);
    auto s = db_.cached(
        "INSERT INTO dead_letters (target, seq, event, error, failed_at) VALUES (?, ?, ?, ?, ?)");
    s->bind(1, target)
        .bind(2, event.seq)
        .bind(3, json::serialize(event.to_json()))
        .bind(4, error)
        .bind(5, now_iso());
    s->run();
    set_cursor(target, event.seq);
    t.commit();
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
    auto event = model::ChangeEvent::from_json(json::parse(s->text(0)).as_object());
    event.seq = s->integer(1);
    return event;
}

std::int64_t Mirror::retry_dead_letter(std::int64_t id) {
    auto event = dead_letter_event(id);
    if (!event) throw std::runtime_error("no dead letter with id " + std::to_string(id));
    if (!event->page_id.empty()) {
        if (const auto stored = page(event->page_id)) {
            for (const auto& [name, property_id] : event->property_ids) {
                if (!property_id.is_string()) continue;
                const auto* value = stored->record.values.if_contains(property_id.get_string());
                event->properties[name] = value ? *value : json::value();
            }
            event->last_edited_time = stored->record.last_edited_time;
            if (stored->state != PageState::live) {
                event->kind = std::string(to_string(stored->state));
                if (event->kind == "deleted" || event->kind == "access_lost")
                    event->content.reset();
            } else if (event->kind == "deleted" || event->kind == "access_lost") {
                event->kind = "restored";
            }
        }
    }
    Batch batch(*this);
    const auto seq = batch.add_event(*event);
    drop_dead_letter(id);
    batch.commit();
    return seq;
}

void Mirror::drop_dead_letter(std::int64_t id) {
    auto s = db_.cached("DELETE FROM dead_letters WHERE id = ?");
    s->bind(1, id);
    s->run();
}

std::size_t Mirror::held_deletes(const std::string& sync) {
    auto s = db_.cached("SELECT COUNT(*) FROM held_deletes WHERE sync = ?");
    s->bind(1, sync);
    s->step();
    return static_cast<std::size_t>(s->integer(0));
}

void Mirror::collect_garbage(const std::vector<std::pair<std::string, std::string>>& sync_targets) {
    std::map<std::string, std::int64_t> lowest;
    for (const auto& [sync, target] : sync_targets) {
        const auto c = cursor(target);
        auto [it, inserted] = lowest.emplace(sync, c);
        if (!inserted) it->second = std::min(it->second, c);
    }
    for (const auto& [sync, seq] : lowest) {
        auto s = db_.cached("DELETE FROM outbox WHERE sync = ? AND seq <= ?");
        s->bind(1, sync).bind(2, seq);
        s->run();
    }
}

void Mirror::reset_sync(const std::string& sync) {
    auto s = db_.cached(
        "UPDATE sources SET watermark = '', reconciled_at = 0, read_from = '' WHERE sync = ?");
    s->bind(1, sync);
    s->run();
}

}  // namespace syncd::mirror
