#include "daemon/mirror/mirror.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/model/record.hpp"
#include "daemon/model/sqlite.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using syncd::mirror::Mirror;
using syncd::mirror::PageState;
using syncd::model::ChangeEvent;
using syncd::model::Record;
using syncd::model::Schema;

namespace {

// A mirror file in its own temp folder, removed afterwards.
class TempMirror {
public:
    TempMirror() {
        static int counter = 0;
        dir_ = fs::temp_directory_path() /
               ("mirror_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(dir_);
    }
    ~TempMirror() {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    TempMirror(const TempMirror&) = delete;
    TempMirror& operator=(const TempMirror&) = delete;
    std::string path() const { return (dir_ / "mirror.sqlite").string(); }

private:
    fs::path dir_;
};

constexpr const char* ds_a = "248104cd-477e-80af-bc30-000bd28de8f9";
constexpr const char* ds_b = "9a0c11f2-0000-4000-8000-0000000000b2";

// `points` is an integer, as in a canonical record (model::canonical_value).
Record record(const std::string& page_id, const std::string& data_source_id, std::int64_t points,
              bool in_trash = false) {
    Record r{.page_id = page_id,
             .data_source_id = data_source_id,
             .created_time = "2026-01-01T00:00:00.000Z",
             .last_edited_time = "2026-01-02T03:04:00.000Z",
             .url = "https://www.notion.so/" + page_id,
             .in_trash = in_trash,
             .values = {{"title", "Page " + page_id}, {"WPj%5E", points}}};
    r.hash = syncd::model::hash_of(r);
    return r;
}

ChangeEvent event(const std::string& sync, const std::string& page_id,
                  const std::string& kind = "created") {
    // Each sync reads its own data source here (tasks: ds_a), unless a test subscribes more.
    return ChangeEvent{.kind = kind,
                       .sync = sync,
                       .data_source_id = sync == "tasks" ? std::string(ds_a) : "ds-" + sync,
                       .page_id = page_id,
                       .last_edited_time = "2026-01-02T03:04:00.000Z",
                       .properties = {{"Name", "Page " + page_id}},
                       .changed = {"Name"},
                       .property_ids = {{"Name", "title"}}};
}

Schema schema(const std::string& data_source_id, const std::string& title) {
    return Schema{.data_source_id = data_source_id,
                  .title = title,
                  .properties = {{"title", "Name", "title"}, {"WPj%5E", "Points", "number"}}};
}

std::vector<std::int64_t> seqs(const std::vector<ChangeEvent>& events) {
    std::vector<std::int64_t> out;
    for (const auto& e : events) out.push_back(e.seq);
    return out;
}

std::vector<std::string> pages(const std::vector<ChangeEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.page_id);
    return out;
}

std::int64_t user_version(const std::string& path) {
    syncd::sqlite::Database db(path);
    auto s = db.prepare("PRAGMA user_version");
    s.step();
    return s.integer(0);
}

using Seqs = std::vector<std::int64_t>;
using Names = std::vector<std::string>;

// Undoes migration 4 (issue #10), as a mirror of schema 3 was.
void downgrade_to_3(syncd::sqlite::Database& db) {
    db.exec(
        "DROP TABLE pending_writes; DROP TABLE history; DROP TABLE delete_decisions; DROP TABLE "
        "names; DROP TABLE "
        "two_way_base; DROP TABLE conflicts; DROP TABLE "
        "writeback_log; "
        "DROP TABLE create_intents; DROP TABLE two_way_reverts; DROP TABLE two_way_verify; "
        "DROP TABLE job_sources; DROP TABLE target_sources; DROP TABLE jobs; DROP TABLE counters; "
        "DROP INDEX outbox_by_source; ALTER TABLE outbox DROP COLUMN data_source_id; "
        "ALTER TABLE dead_letters DROP COLUMN retry; "
        "ALTER TABLE sources DROP COLUMN schema_read_at; "
        "ALTER TABLE sources DROP COLUMN refreshed_at; PRAGMA user_version = 3");
}

}  // namespace

TEST_CASE("page states have stable names") {
    CHECK(syncd::mirror::to_string(PageState::live) == "live");
    CHECK(syncd::mirror::to_string(PageState::deleted) == "deleted");
    CHECK(syncd::mirror::to_string(PageState::access_lost) == "access_lost");
}

TEST_CASE("a fresh mirror is created in WAL mode, migrated and readable only by its owner") {
    TempMirror dir;
    {
        Mirror mirror(dir.path());
        {
            auto mode = mirror.database().prepare("PRAGMA journal_mode");
            REQUIRE(mode.step());
            CHECK(mode.text(0) == "wal");
            auto synchronous = mirror.database().prepare("PRAGMA synchronous");
            REQUIRE(synchronous.step());
            CHECK(synchronous.integer(0) >= 1);  // NORMAL or stronger
        }
        auto tables = mirror.database().prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name");
        Names names;
        while (tables.step()) names.push_back(tables.text(0));
        for (const char* table :
             {"dead_letters", "held_deletes", "outbox", "pages", "sources", "target_cursors"}) {
            CAPTURE(table);
            CHECK(std::find(names.begin(), names.end(), table) != names.end());
        }
        {
            Mirror::Batch batch(mirror);
            batch.add_event(event("tasks", "p1"));
            batch.commit();
        }
        // The WAL holds page contents too until a checkpoint.
        for (const char* suffix : {"-wal", "-shm"}) {
            CAPTURE(suffix);
            REQUIRE(fs::exists(dir.path() + suffix));
            CHECK((fs::status(dir.path() + suffix).permissions() & fs::perms::all) ==
                  (fs::perms::owner_read | fs::perms::owner_write));
        }
        CHECK(mirror.last_seq("tasks") == 1);
        CHECK(mirror.cursor("tasks/out") == 0);
        CHECK(mirror.sources("tasks").empty());
        CHECK_FALSE(mirror.page("nope").has_value());
    }
    const auto migrated = user_version(dir.path());
    CHECK(migrated >= 1);
    // The mirror holds page contents: no other user may read it.
    CHECK((fs::status(dir.path()).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
}

TEST_CASE("reopening a mirror keeps its data and its schema version") {
    TempMirror dir;
    {
        Mirror mirror(dir.path());
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 1), PageState::live);
        batch.set_watermark("tasks", ds_a, "2026-01-02T03:04:00.000Z");
        batch.add_event(event("tasks", "p1"));
        batch.commit();
        mirror.set_cursor("tasks/out", 1);
    }
    const auto version = user_version(dir.path());
    Mirror again(dir.path());
    CHECK(user_version(dir.path()) == version);
    REQUIRE(again.page("p1").has_value());
    CHECK(again.source(ds_a)->watermark == "2026-01-02T03:04:00.000Z");
    CHECK(seqs(again.events_after("tasks", 0, 10)) == Seqs{1});
    CHECK(again.cursor("tasks/out") == 1);
}

TEST_CASE("a mirror written by a newer version is refused with a clear error") {
    TempMirror dir;
    { Mirror mirror(dir.path()); }
    {
        syncd::sqlite::Database db(dir.path());
        db.exec("PRAGMA user_version = 999");
    }
    try {
        Mirror newer(dir.path());
        FAIL("opened a mirror from the future");
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        CAPTURE(what);
        CHECK(what.starts_with("the mirror " + dir.path() +
                               " was written by a newer notion-syncd (schema 999 > "));
        CHECK(what.ends_with(")"));
    }
    // Refusing changed nothing.
    CHECK(user_version(dir.path()) == 999);
}

TEST_CASE("opening a mirror of schema 2 re-hashes every page and content with the new function") {
    TempMirror dir;
    const Record p1 = record("p1", ds_a, 1);
    const auto blocks = json::parse(R"([{"type":"paragraph","paragraph":{"rich_text":[]}}])");
    {
        Mirror mirror(dir.path());
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", p1, PageState::live);
        batch.put_content("p1", p1.last_edited_time, p1.last_edited_time, "8296fb05f6171d9d",
                          blocks.as_array());
        batch.commit();
    }
    {
        // As release 0.1 left it: FNV-1a hashes, schema version 2 (migration 4 undone too).
        syncd::sqlite::Database db(dir.path());
        downgrade_to_3(db);
        db.exec("UPDATE pages SET hash = '8296fb05f6171d9d'");
        db.exec("PRAGMA user_version = 2");
    }
    Mirror upgraded(dir.path());
    CHECK(user_version(dir.path()) == 10);
    CHECK(upgraded.page_digest("p1")->hash == syncd::model::hash_of(p1));
    CHECK(upgraded.page_digest("p1")->hash != "8296fb05f6171d9d");
    CHECK(upgraded.content("p1", false)->hash == syncd::model::content_hash(blocks.as_array()));
    // Nothing else moved: no event was made by the upgrade.
    CHECK(upgraded.count_after("tasks", 0) == 0);
}

TEST_CASE("migration 4: events routed by data source, existing targets keep what they hold") {
    TempMirror dir;
    {
        Mirror mirror(dir.path());
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 1), PageState::live);
        batch.set_watermark("tasks", ds_a, "2026-01-02T03:04:00.000Z");
        batch.add_event(event("tasks", "p1"));
        batch.commit();
        mirror.set_cursor("tasks/out", 0);
    }
    {
        syncd::sqlite::Database db(dir.path());
        downgrade_to_3(db);
    }
    Mirror upgraded(dir.path());
    CHECK(user_version(dir.path()) == 10);
    CHECK(upgraded.job_sources("tasks") == Names{ds_a});
    CHECK(pages(upgraded.events_after("tasks", 0, 10)) == Names{"p1"});
    // The target that existed holds ds_a already: no snapshot, it goes on from its cursor.
    CHECK(upgraded.begin_target("tasks/out", "tasks", true) == 0);
    CHECK(upgraded.cursor("tasks/out") == 0);
    // A target added after the upgrade gets one.
    CHECK(upgraded.begin_target("tasks/new", "tasks", true) == 1);
}

TEST_CASE("a committed batch stores pages, events and watermark together") {
    TempMirror dir;
    Mirror mirror(dir.path());
    Mirror::Batch batch(mirror);
    const Record p1 = record("p1", ds_a, 1);
    batch.put_page("tasks", p1, PageState::live);
    batch.put_page("tasks", record("p2", ds_a, 2), PageState::live);
    CHECK(batch.add_event(event("tasks", "p1")) == 1);
    CHECK(batch.add_event(event("tasks", "p2")) == 2);
    batch.set_watermark("tasks", ds_a, "2026-01-02T03:04:00.000Z");
    {
        // Another connection sees nothing before the commit.
        Mirror reader(dir.path());
        CHECK_FALSE(reader.page("p1").has_value());
        CHECK(reader.events_after("tasks", 0, 10).empty());
        CHECK_FALSE(reader.source(ds_a).has_value());
    }
    batch.commit();
    Mirror reader(dir.path());
    const auto stored = reader.page("p1");
    REQUIRE(stored.has_value());
    CHECK(stored->data_source_id == ds_a);
    CHECK(stored->hash == p1.hash);
    CHECK(stored->state == PageState::live);
    CHECK(stored->record.page_id == "p1");
    CHECK(stored->record.created_time == p1.created_time);
    CHECK(stored->record.last_edited_time == p1.last_edited_time);
    CHECK(stored->record.url == p1.url);
    CHECK(json::value(stored->record.values) == json::value(p1.values));
    CHECK(stored->record.hash == p1.hash);
    CHECK(pages(reader.events_after("tasks", 0, 10)) == Names{"p1", "p2"});
    CHECK(reader.source(ds_a)->watermark == "2026-01-02T03:04:00.000Z");
    CHECK(reader.source(ds_a)->sync == "tasks");
}

TEST_CASE("a batch destroyed without commit leaves nothing behind") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch first(mirror);
        first.put_page("tasks", record("p1", ds_a, 1), PageState::live);
        first.add_event(event("tasks", "p1"));
        first.set_watermark("tasks", ds_a, "2026-01-01T00:00:00.000Z");
        first.commit();
    }
    try {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 99), PageState::live);
        batch.put_page("tasks", record("p2", ds_a, 2), PageState::live);
        batch.add_event(event("tasks", "p1", "updated"));
        batch.add_event(event("tasks", "p2"));
        batch.set_watermark("tasks", ds_a, "2026-05-05T00:00:00.000Z");
        batch.set_schema("tasks", schema(ds_a, "Tasks"));
        batch.hold_delete("tasks", "p1");
        throw std::runtime_error("the poll failed midway");
    } catch (const std::runtime_error&) {
    }
    CHECK(mirror.page("p1")->hash == record("p1", ds_a, 1).hash);
    CHECK_FALSE(mirror.page("p2").has_value());
    CHECK(seqs(mirror.events_after("tasks", 0, 10)) == Seqs{1});
    CHECK(mirror.source(ds_a)->watermark == "2026-01-01T00:00:00.000Z");
    CHECK_FALSE(mirror.source(ds_a)->schema.has_value());
    CHECK(mirror.held_deletes("tasks") == 0);
    // And the mirror takes the next batch.
    Mirror::Batch next(mirror);
    next.add_event(event("tasks", "p3"));
    next.commit();
    CHECK(pages(mirror.events_after("tasks", 0, 10)) == Names{"p1", "p3"});
}

TEST_CASE("put_page updates a page's record, hash and state in place") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 1), PageState::live);
        batch.put_page("tasks", record("p2", ds_a, 2), PageState::live);
        batch.put_page("tasks", record("p3", ds_b, 3), PageState::live);
        batch.commit();
    }
    auto live = mirror.live_pages(ds_a);
    std::sort(live.begin(), live.end());
    CHECK(live == Names{"p1", "p2"});
    {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 5, true), PageState::deleted);
        batch.put_page("tasks", record("p2", ds_a, 2), PageState::access_lost);
        batch.commit();
    }
    CHECK(mirror.live_pages(ds_a).empty());
    CHECK(mirror.live_pages(ds_b) == Names{"p3"});
    const auto p1 = mirror.page("p1");
    REQUIRE(p1.has_value());
    CHECK(p1->state == PageState::deleted);
    CHECK(p1->record.in_trash);
    CHECK(p1->hash == record("p1", ds_a, 5, true).hash);
    CHECK(p1->record.hash == p1->hash);
    CHECK(mirror.page("p2")->state == PageState::access_lost);
    {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 5), PageState::live);  // restored
        batch.commit();
    }
    CHECK(mirror.live_pages(ds_a) == Names{"p1"});
}

TEST_CASE("events come back per sync in sequence order, after a sequence number, up to a limit") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.add_event(event("tasks", "t1"));
        batch.add_event(event("wiki", "w1"));
        batch.add_event(event("tasks", "t2", "updated"));
        batch.add_event(event("tasks", "t3", "deleted"));
        batch.add_event(event("wiki", "w2"));
        batch.add_event(event("tasks", "t4"));
        batch.commit();
    }
    CHECK(seqs(mirror.events_after("tasks", 0, 100)) == Seqs{1, 3, 4, 6});
    CHECK(seqs(mirror.events_after("wiki", 0, 100)) == Seqs{2, 5});
    CHECK(seqs(mirror.events_after("tasks", 0, 2)) == Seqs{1, 3});
    CHECK(seqs(mirror.events_after("tasks", 3, 2)) == Seqs{4, 6});
    CHECK(seqs(mirror.events_after("tasks", 4, 100)) == Seqs{6});
    CHECK(mirror.events_after("tasks", 6, 100).empty());
    CHECK(mirror.events_after("other", 0, 100).empty());
    CHECK(mirror.last_seq("tasks") == 6);
    CHECK(mirror.last_seq("wiki") == 5);
    CHECK(mirror.last_seq("other") == 0);
    CHECK(mirror.count_after("tasks", 0) == 4);
    CHECK(mirror.count_after("tasks", 3) == 2);
    CHECK(mirror.count_after("wiki", 5) == 0);

    const auto events = mirror.events_after("tasks", 1, 1);
    REQUIRE(events.size() == 1);
    const ChangeEvent& e = events[0];
    CHECK(e.seq == 3);
    CHECK(e.kind == "updated");
    CHECK(e.sync == "tasks");
    CHECK(e.data_source_id == ds_a);
    CHECK(e.page_id == "t2");
    CHECK(e.last_edited_time == "2026-01-02T03:04:00.000Z");
    CHECK(json::value(e.properties) == json::value(json::object{{"Name", "Page t2"}}));
    CHECK(json::value(e.changed) == json::value(json::array{"Name"}));
    CHECK(json::value(e.property_ids) == json::value(json::object{{"Name", "title"}}));
}

TEST_CASE("each target has its own cursor, kept across restarts") {
    TempMirror dir;
    {
        Mirror mirror(dir.path());
        CHECK(mirror.cursor("tasks/out") == 0);
        mirror.set_cursor("tasks/out", 5);
        mirror.set_cursor("tasks/db", 2);
        mirror.set_cursor("tasks/out", 7);
        CHECK(mirror.cursor("tasks/out") == 7);
        CHECK(mirror.cursor("tasks/db") == 2);
        CHECK(mirror.cursor("wiki/out") == 0);
    }
    Mirror again(dir.path());
    CHECK(again.cursor("tasks/out") == 7);
    CHECK(again.cursor("tasks/db") == 2);
}

TEST_CASE("a dead letter keeps the event and its error and moves the target past it") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.add_event(event("tasks", "p1"));
        batch.add_event(event("tasks", "p2"));
        batch.add_event(event("tasks", "p3"));
        batch.commit();
    }
    mirror.set_cursor("tasks/out", 1);
    const auto poisoned = mirror.events_after("tasks", 1, 1).at(0);
    mirror.dead_letter("tasks/out", poisoned, "column \"points\" is of type integer");
    CHECK(mirror.cursor("tasks/out") == 2);
    CHECK(mirror.cursor("tasks/db") == 0);  // other targets are not moved
    CHECK(seqs(mirror.events_after("tasks", mirror.cursor("tasks/out"), 10)) == Seqs{3});
    mirror.dead_letter("tasks/db", mirror.events_after("tasks", 0, 1).at(0), "disk full");

    const auto all = mirror.dead_letters();
    REQUIRE(all.size() == 2);
    CHECK(all[0].target == "tasks/out");
    CHECK(all[0].seq == 2);
    CHECK(all[0].error == "column \"points\" is of type integer");
    CHECK(all[0].failed_at.size() == 20);  // 2026-01-02T03:04:05Z
    CHECK(all[0].failed_at[10] == 'T');
    CHECK(all[0].failed_at.back() == 'Z');
    CHECK(all[1].target == "tasks/db");
    CHECK(all[1].seq == 1);
    CHECK(all[0].id < all[1].id);
    const auto out = mirror.dead_letters("tasks/out");
    REQUIRE(out.size() == 1);
    CHECK(out[0].seq == 2);
    CHECK(mirror.dead_letters("wiki/out").empty());
    // The event itself is kept with the dead letter.
    auto stored = mirror.database().prepare("SELECT event FROM dead_letters WHERE seq = 2");
    REQUIRE(stored.step());
    const auto back = ChangeEvent::from_json(json::parse(stored.text(0)).as_object());
    CHECK(back.page_id == "p2");
    CHECK(back.seq == 2);
}

TEST_CASE("a dead letter that cannot move the cursor is not recorded either") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.add_event(event("tasks", "p1"));
        batch.commit();
    }
    // Make the cursor update fail after the dead letter row was written.
    mirror.database().exec(
        "CREATE TRIGGER refuse_cursor BEFORE INSERT ON target_cursors "
        "BEGIN SELECT RAISE(ABORT, 'cursor write refused'); END");
    const auto e = mirror.events_after("tasks", 0, 1).at(0);
    CHECK_THROWS(mirror.dead_letter("tasks/out", e, "boom"));
    CHECK(mirror.dead_letters().empty());
    CHECK(mirror.cursor("tasks/out") == 0);
}

TEST_CASE("garbage collection keeps every event some configured target still needs") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        for (const char* page : {"t1", "t2", "t3", "t4"}) batch.add_event(event("tasks", page));
        for (const char* page : {"w1", "w2"}) batch.add_event(event("wiki", page));
        batch.commit();
    }
    // tasks: 1-4, wiki: 5-6.
    mirror.set_cursor("tasks/fast", 4);
    mirror.set_cursor("tasks/slow", 2);
    mirror.set_cursor("wiki/out", 6);
    mirror.collect_garbage({"tasks/fast", "tasks/slow", "wiki/out"});
    CHECK(seqs(mirror.events_after("tasks", 0, 100)) == Seqs{3, 4});
    CHECK(seqs(mirror.events_after("wiki", 0, 100)) == Seqs{5, 6});
    // A configured target without a cursor yet (it starts from the newest event once it runs)
    // keeps everything for now.
    mirror.set_cursor("tasks/slow", 4);
    mirror.collect_garbage({"tasks/fast", "tasks/slow", "wiki/out", "tasks/new"});
    CHECK(seqs(mirror.events_after("tasks", 0, 100)) == Seqs{3, 4});
    mirror.collect_garbage({"tasks/fast", "tasks/slow", "wiki/out"});
    CHECK(mirror.events_after("tasks", 0, 100).empty());
    CHECK(seqs(mirror.events_after("wiki", 0, 100)) == Seqs{5, 6});
    // Sequence numbers are never reused, even once the outbox is empty.
    mirror.set_cursor("tasks/fast", 6);
    mirror.set_cursor("tasks/slow", 6);
    mirror.collect_garbage({"tasks/fast", "tasks/slow", "wiki/out"});
    CHECK(mirror.events_after("wiki", 0, 100).empty());
    CHECK(mirror.highest_seq() == 6);
    Mirror::Batch batch(mirror);
    CHECK(batch.add_event(event("tasks", "t5")) == 7);
    batch.commit();
}

TEST_CASE("two jobs subscribed to one data source both get its events, whoever polled it") {
    TempMirror dir;
    Mirror mirror(dir.path());
    mirror.set_job_sources("ideas", {ds_a});
    mirror.set_job_sources("roadmap", {ds_a, ds_b});
    {
        Mirror::Batch batch(mirror);
        batch.add_event(event("ideas", "i1"));  // ideas' own data source is ds-ideas here
        auto e = event("ideas", "i2");
        e.data_source_id = ds_a;
        batch.add_event(e);
        e = event("roadmap", "r1");
        e.data_source_id = ds_b;
        batch.add_event(e);
        batch.commit();
    }
    // i1 was found in ds-ideas by ideas: it subscribed ideas to it (add_event).
    CHECK(pages(mirror.events_after("ideas", 0, 10)) == Names{"i1", "i2"});
    CHECK(pages(mirror.events_after("roadmap", 0, 10)) == Names{"i2", "r1"});
    CHECK(mirror.count_after("roadmap", 0) == 2);
    // A resolve that drops a data source drops its events for that job.
    mirror.set_job_sources("roadmap", {ds_b});
    CHECK(pages(mirror.events_after("roadmap", 0, 10)) == Names{"r1"});
}

TEST_CASE("a new target starts at the newest event with a snapshot of what the mirror holds") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        for (const char* id : {"p3", "p1", "p2"})
            batch.put_page("tasks", record(id, ds_a, 1), PageState::live);
        batch.put_page("tasks", record("gone", ds_a, 1, true), PageState::deleted);
        batch.add_event(event("tasks", "p1"));
        batch.add_event(event("tasks", "p2"));
        batch.commit();
    }
    // While the outbox is whole (nothing collected yet: a first run), a new target reads it from
    // the start: real events, no snapshot.
    CHECK(mirror.collected_through() == 0);
    CHECK(mirror.begin_target("tasks/first", "tasks", true) == 1);
    CHECK(mirror.cursor("tasks/first") == 0);
    CHECK_FALSE(mirror.next_snapshot("tasks/first"));
    // Once events were collected, a new target starts at the newest one with a snapshot.
    mirror.set_cursor("tasks/first", 2);
    mirror.collect_garbage({"tasks/first"});
    CHECK(mirror.collected_through() == 2);
    CHECK(mirror.begin_target("tasks/new", "tasks", true) == 1);
    CHECK(mirror.cursor("tasks/new") == 2);
    CHECK(mirror.begin_target("tasks/new", "tasks", true) == 0);  // nothing new to add
    auto at = mirror.next_snapshot("tasks/new");
    REQUIRE(at);
    CHECK(at->data_source_id == ds_a);
    CHECK(at->after_page.empty());
    // Live pages only, in id order, resumable after the last one acknowledged.
    auto first = mirror.live_pages_after(ds_a, "", 2);
    REQUIRE(first.size() == 2);
    CHECK(first[0].record.page_id == "p1");
    CHECK(first[1].record.page_id == "p2");
    mirror.set_snapshot_progress("tasks/new", ds_a, "p2");
    CHECK(mirror.next_snapshot("tasks/new")->after_page == "p2");
    const auto rest = mirror.live_pages_after(ds_a, "p2", 2);
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].record.page_id == "p3");
    mirror.set_snapshot_progress("tasks/new", ds_a, std::nullopt);
    CHECK_FALSE(mirror.next_snapshot("tasks/new"));
    CHECK(mirror.snapshots_pending("tasks/new") == 0);

    // snapshot: false holds the data sources without sending anything.
    CHECK(mirror.begin_target("tasks/chat", "tasks", false) == 1);
    CHECK_FALSE(mirror.next_snapshot("tasks/chat"));
    CHECK(mirror.cursor("tasks/chat") == 2);

    // A data source joining the job later is snapshotted for a target that already runs.
    mirror.set_job_sources("tasks", {ds_a, ds_b});
    CHECK(mirror.begin_target("tasks/new", "tasks", true) == 1);
    CHECK(mirror.next_snapshot("tasks/new")->data_source_id == ds_b);

    // resync --target: forgotten, so the next begin starts over.
    mirror.reset_target("tasks/new");
    CHECK_FALSE(mirror.has_cursor("tasks/new"));
    CHECK(mirror.begin_target("tasks/new", "tasks", true) == 2);
    CHECK(mirror.snapshots_pending("tasks/new") == 2);
}

TEST_CASE("held deletes are counted per sync and cleared per data source") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("a1", ds_a, 1), PageState::live);
        batch.put_page("tasks", record("a2", ds_a, 2), PageState::live);
        batch.put_page("tasks", record("b1", ds_b, 3), PageState::live);
        batch.put_page("wiki", record("w1", "wiki-ds", 4), PageState::live);
        batch.hold_delete("tasks", "a1");
        batch.hold_delete("tasks", "a2");
        batch.hold_delete("tasks", "a2");  // held again in the next cycle: counted once
        batch.hold_delete("tasks", "b1");
        batch.hold_delete("wiki", "w1");
        batch.commit();
    }
    CHECK(mirror.held_deletes("tasks") == 3);
    CHECK(mirror.held_deletes("wiki") == 1);
    CHECK(mirror.held_deletes("other") == 0);
    {
        Mirror::Batch batch(mirror);
        batch.clear_held("tasks", ds_a);
        batch.commit();
    }
    CHECK(mirror.held_deletes("tasks") == 1);
    CHECK(mirror.held_deletes("wiki") == 1);
    // The pages themselves stay live: holding is not deleting.
    CHECK(mirror.page("a1")->state == PageState::live);
}

TEST_CASE("sources keep schema, watermark and reconciliation time side by side") {
    TempMirror dir;
    Mirror mirror(dir.path());
    CHECK_FALSE(mirror.source(ds_a).has_value());
    {
        Mirror::Batch batch(mirror);
        batch.set_schema("tasks", schema(ds_a, "Tasks"));
        batch.set_watermark("tasks", ds_a, "2026-01-02T03:04:00.000Z");
        batch.set_reconciled(ds_a, 1'767'225'600'000);
        batch.set_watermark("tasks", ds_b, "2026-01-01T00:00:00.000Z");
        batch.set_schema("wiki", schema("wiki-ds", "Wiki"));
        batch.commit();
    }
    const auto a = mirror.source(ds_a);
    REQUIRE(a.has_value());
    CHECK(a->data_source_id == ds_a);
    CHECK(a->sync == "tasks");
    CHECK(a->watermark == "2026-01-02T03:04:00.000Z");
    CHECK(a->reconciled_at == 1'767'225'600'000);
    REQUIRE(a->schema.has_value());
    CHECK(a->schema->title == "Tasks");
    REQUIRE(a->schema->properties.size() == 2);
    CHECK(a->schema->properties[1].id == "WPj%5E");
    CHECK(a->schema->properties[1].name == "Points");
    CHECK(a->schema->properties[1].type == "number");

    const auto b = mirror.source(ds_b);
    REQUIRE(b.has_value());
    CHECK_FALSE(b->schema.has_value());
    CHECK(b->reconciled_at == 0);

    const auto wiki = mirror.source("wiki-ds");
    REQUIRE(wiki.has_value());
    CHECK(wiki->watermark.empty());

    Names tasks_sources;
    for (const auto& s : mirror.sources("tasks")) tasks_sources.push_back(s.data_source_id);
    std::sort(tasks_sources.begin(), tasks_sources.end());
    CHECK(tasks_sources == Names{ds_a, ds_b});
    CHECK(mirror.sources("wiki").size() == 1);
    CHECK(mirror.sources("nope").empty());

    // A schema refresh keeps the watermark, and a watermark update keeps the schema.
    {
        Mirror::Batch batch(mirror);
        Schema renamed = schema(ds_a, "Tasks");
        renamed.properties[1].name = "Story points";
        batch.set_schema("tasks", renamed);
        batch.set_watermark("tasks", ds_a, "2026-02-02T00:00:00.000Z");
        batch.commit();
    }
    const auto after = mirror.source(ds_a);
    CHECK(after->watermark == "2026-02-02T00:00:00.000Z");
    CHECK(after->schema->properties[1].name == "Story points");
    CHECK(after->reconciled_at == 1'767'225'600'000);
}

TEST_CASE("reset_sync forgets the watermarks and reconciliation times of that sync only") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.set_schema("tasks", schema(ds_a, "Tasks"));
        batch.set_watermark("tasks", ds_a, "2026-01-02T03:04:00.000Z");
        batch.set_reconciled(ds_a, 1000);
        batch.set_watermark("tasks", ds_b, "2026-01-03T00:00:00.000Z");
        batch.set_watermark("wiki", "wiki-ds", "2026-01-04T00:00:00.000Z");
        batch.set_reconciled("wiki-ds", 2000);
        batch.put_page("tasks", record("p1", ds_a, 1), PageState::live);
        batch.add_event(event("tasks", "p1"));
        batch.commit();
    }
    mirror.set_cursor("tasks/out", 1);
    mirror.reset_sync("tasks");
    CHECK(mirror.source(ds_a)->watermark.empty());
    CHECK(mirror.source(ds_a)->reconciled_at == 0);
    CHECK(mirror.source(ds_b)->watermark.empty());
    CHECK(mirror.source(ds_a)->schema.has_value());  // the schema is still known
    CHECK(mirror.source("wiki-ds")->watermark == "2026-01-04T00:00:00.000Z");
    CHECK(mirror.source("wiki-ds")->reconciled_at == 2000);
    // Pages, events and cursors stay: the re-read dedupes against them.
    CHECK(mirror.page("p1").has_value());
    CHECK(mirror.cursor("tasks/out") == 1);
    CHECK(mirror.last_seq("tasks") == 1);
}

TEST_CASE("page content and the read position are stored with the batch") {
    TempMirror dir;
    Mirror mirror(dir.path());
    CHECK(!mirror.content("p1", true));
    {
        Mirror::Batch batch(mirror);
        batch.set_watermark("tasks", ds_a, "2026-01-02T03:04:00.000Z");
        batch.put_content("p1", "2026-01-02T03:04:00.000Z", "2026-01-02T03:06:00.000Z", "abc",
                          json::parse(R"([{"type":"paragraph"}])").as_array());
        batch.set_read_from(ds_a, "2026-01-02T03:05:00.000Z");
        batch.commit();
    }
    const auto without = mirror.content("p1", false);
    REQUIRE(without);
    CHECK(without->hash == "abc");
    CHECK(without->read_at == "2026-01-02T03:06:00.000Z");
    CHECK(without->blocks.empty());
    const auto with = mirror.content("p1", true);
    REQUIRE(with);
    CHECK(with->blocks.size() == 1);
    CHECK(mirror.source(ds_a)->read_from == "2026-01-02T03:05:00.000Z");
    mirror.reset_sync("tasks");
    CHECK(mirror.source(ds_a)->read_from.empty());
    CHECK(mirror.count_after("tasks", 0) == 0);
}

TEST_CASE("a retried dead letter goes to its own target only, with the page's current values") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 1), PageState::live);
        auto e = event("tasks", "p1", "updated");
        e.property_ids = {{"Points", "WPj%5E"}};
        e.properties = {{"Points", 1}};
        batch.add_event(e);
        batch.commit();
    }
    const auto first = mirror.events_after("tasks", 0, 10);
    REQUIRE(first.size() == 1);
    mirror.dead_letter("tasks/out", first[0], "400 Bad Request");
    mirror.set_cursor("tasks/db", first[0].seq);  // the other target took it
    // The page moved on since.
    {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 7), PageState::live);
        batch.commit();
    }
    const auto letters = mirror.dead_letters("tasks/out");
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].error == "400 Bad Request");
    CHECK(mirror.dead_letter_event(letters[0].id)->properties.at("Points") == 1);
    CHECK(mirror.retries("tasks/out").empty());
    mirror.mark_retry(letters[0].id);
    CHECK_THROWS(mirror.mark_retry(letters[0].id + 100));
    // Nothing new in the outbox: no other target sees it again.
    CHECK(mirror.events_after("tasks", first[0].seq, 10).empty());
    CHECK(mirror.retries("tasks/db").empty());
    auto retries = mirror.retries("tasks/out");
    REQUIRE(retries.size() == 1);
    CHECK(retries[0].first == letters[0].id);
    CHECK(retries[0].second.properties.at("Points").to_number<double>() == 7);  // current
    CHECK(retries[0].second.kind == "updated");
    // Refused again: it stays, unmarked, with the new error.
    mirror.dead_letter_failed_again(letters[0].id, "still 400");
    CHECK(mirror.retries("tasks/out").empty());
    CHECK(mirror.dead_letters("tasks/out").at(0).error == "still 400");

    // A page deleted since is retried as a delete; drop removes a letter without sending it.
    {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 7, true), PageState::deleted);
        batch.commit();
    }
    mirror.mark_retry(letters[0].id);
    CHECK(mirror.retries("tasks/out").at(0).second.kind == "deleted");
    mirror.drop_dead_letter(letters[0].id);
    CHECK(mirror.dead_letters().empty());
    CHECK(mirror.retries("tasks/out").empty());
}

TEST_CASE("a number an older version stored as 1.8E2 reads back as the integer 180") {
    TempMirror dir;
    {
        Mirror mirror(dir.path());
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 180), PageState::live);
        batch.commit();
    }
    {
        // What json::serialize wrote before numbers were canonical.
        syncd::sqlite::Database db(dir.path());
        db.exec("UPDATE pages SET record = replace(record, ':180', ':1.8E2')");
        auto changed = db.prepare("SELECT COUNT(*) FROM pages WHERE record LIKE '%:1.8E2%'");
        REQUIRE(changed.step());
        REQUIRE(changed.integer(0) == 1);
    }
    Mirror mirror(dir.path());
    const auto p1 = mirror.page("p1");
    REQUIRE(p1.has_value());
    const auto& points = p1->record.values.at("WPj%5E");
    CHECK(points.is_int64());
    CHECK(points == record("p1", ds_a, 180).values.at("WPj%5E"));
}

TEST_CASE("two-way: a base delivered over a capture names it, reverts and verifications persist") {
    TempMirror dir;
    {
        Mirror mirror(dir.path());
        mirror.set_base("tasks/db", "p1", {{"a", 1}, {"b", "x"}});
        mirror.set_base("tasks/db", "p1", {{"b", "y"}}, "3@1700000000000");
        mirror.set_base("tasks/db", "p2", {{"a", 2}});
        mirror.add_reverts("tasks/db", {"p1", "p2"});
        mirror.add_reverts("tasks/db", {"p1"});  // once is enough
        mirror.set_verification("tasks/db",
                                {.verified_at_ms = 42, .compared = 5, .differed = 1, .gone = 2});
    }
    Mirror mirror(dir.path());
    CHECK(mirror.base("tasks/db", "p1") == json::object{{"a", 1}, {"b", "y"}});
    const auto over = mirror.base_over_capture("tasks/db", "p1");
    REQUIRE(over.size() == 1);
    CHECK(over.at("b") == "3@1700000000000");
    // A later base without a capture clears the name.
    mirror.set_base("tasks/db", "p1", {{"b", "z"}});
    CHECK(mirror.base_over_capture("tasks/db", "p1").empty());
    CHECK(mirror.based_pages("tasks/db") == Names{"p1", "p2"});
    CHECK(mirror.based_pages("other/db").empty());
    CHECK(mirror.reverts("tasks/db") == Names{"p1", "p2"});
    mirror.drop_reverts("tasks/db", {"p1"});
    CHECK(mirror.reverts("tasks/db") == Names{"p2"});
    const auto verified = mirror.verification("tasks/db");
    REQUIRE(verified.has_value());
    CHECK(verified->verified_at_ms == 42);
    CHECK(verified->compared == 5);
    CHECK(verified->differed == 1);
    CHECK(verified->gone == 2);
    CHECK_FALSE(mirror.verification("other/db").has_value());
}

TEST_CASE("two-way: an open conflict shows each side's latest value until it is decided") {
    Mirror mirror(":memory:");
    const auto id = mirror.add_conflict({.target = "tasks/db",
                                         .page_id = "p1",
                                         .property_id = "a",
                                         .property = "Estimate",
                                         .base = 1,
                                         .notion = 30,
                                         .external = 50,
                                         .policy = "manual",
                                         .decision = "open"});
    mirror.update_open_conflict("tasks/db", "p1", "a", 30, 60);
    auto open = mirror.conflicts(false);
    REQUIRE(open.size() == 1);
    CHECK(open[0].external == 60);
    CHECK(open[0].base == 1);
    REQUIRE(mirror.resolve_conflict(id, "external", nullptr));
    mirror.update_open_conflict("tasks/db", "p1", "a", 30, 70);  // decided: stays as it was
    CHECK(mirror.conflicts(true).at(0).external == 60);
}

TEST_CASE("migration 8: page titles and people's names, back-filled from the mirrored pages") {
    TempMirror dir;
    Record p1 = record("p1", ds_a, 1);
    p1.values["title"] = "Ship it";
    p1.names = {{"u1", "Ada Lovelace"}};
    {
        Mirror mirror(dir.path());
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", p1, PageState::live);
        batch.commit();
        CHECK(mirror.names({"p1", "u1", "u2"}) ==
              std::map<std::string, std::string>{{"p1", "Ship it"}, {"u1", "Ada Lovelace"}});
    }
    {
        syncd::sqlite::Database db(dir.path());
        db.exec(
            "DROP TABLE pending_writes; DROP TABLE history; DROP TABLE delete_decisions; DROP "
            "TABLE names; PRAGMA "
            "user_version = 7");
    }
    Mirror upgraded(dir.path());
    CHECK(user_version(dir.path()) == 10);
    // Titles come back from the records; people's names with the pages' next reads.
    CHECK(upgraded.names({"p1", "u1"}) == std::map<std::string, std::string>{{"p1", "Ship it"}});
}

TEST_CASE("history keeps 24 hours of samples, oldest first") {
    TempMirror dir;
    Mirror mirror(dir.path());
    const std::int64_t day = 24 * 3600 * 1000LL;
    mirror.add_history(1'000, {{"n", 1}});
    mirror.add_history(2'000, {{"n", 2}});
    CHECK(mirror.history(0).size() == 2);
    CHECK(mirror.history(1'500).size() == 1);
    // A sample a day later drops those older than 24 h before it.
    mirror.add_history(1'500 + day, {{"n", 3}});
    const auto kept = mirror.history(0);
    REQUIRE(kept.size() == 2);
    CHECK(kept[0].at("n") == 2);
    CHECK(kept[1].at("n") == 3);
}

TEST_CASE("a decision on a held delete is taken only for a delete that is held") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.put_page("tasks", record("p1", ds_a, 1), PageState::live);
        batch.hold_delete("tasks", "p1");
        batch.commit();
    }
    CHECK(!mirror.decide_held_delete("tasks", "p2", "approve"));  // not held
    CHECK(!mirror.decide_held_delete("other", "p1", "approve"));  // held for another job
    CHECK(mirror.decide_held_delete("tasks", "p1", "keep"));
    CHECK(mirror.held_deletes("tasks") == 0);  // decided: not waiting any more
    CHECK(mirror.delete_decisions("tasks") == std::map<std::string, std::string>{{"p1", "keep"}});
    mirror.forget_delete_decision("tasks", "p1");
    CHECK(mirror.delete_decisions("tasks").empty());
    CHECK_THROWS(mirror.database().exec(
        "INSERT INTO delete_decisions VALUES ('tasks', 'p9', 'maybe', '')"));  // CHECK constraint
}

TEST_CASE("events kept in memory after a commit are the events the table holds") {
    TempMirror dir;
    Mirror mirror(dir.path());
    {
        Mirror::Batch batch(mirror);
        batch.add_event(event("tasks", "t1"));
        batch.add_event(event("wiki", "w1"));
        batch.add_event(event("tasks", "t2", "updated"));
        batch.commit();
    }
    {
        Mirror::Batch rolled_back(mirror);  // never committed: not kept either
        rolled_back.add_event(event("tasks", "gone"));
    }
    Mirror table(dir.path());  // a second connection has nothing in memory: reads the table
    for (const auto& [after, limit] : std::vector<std::pair<int, std::size_t>>{
             {0, 100}, {0, 1}, {1, 1}, {1, 100}, {3, 100}, {7, 100}}) {
        INFO("after " << after << " limit " << limit);
        const auto from_memory = mirror.events_after("tasks", after, limit);
        const auto from_table = table.events_after("tasks", after, limit);
        REQUIRE(from_memory.size() == from_table.size());
        for (std::size_t i = 0; i < from_memory.size(); ++i) {
            CHECK(json::value(from_memory[i].to_json()) == json::value(from_table[i].to_json()));
        }
    }
    CHECK(seqs(mirror.events_after("tasks", 0, 100)) == Seqs{1, 3});
}

TEST_CASE("an event another writer added between ours is not missed") {
    TempMirror dir;
    Mirror ours(dir.path());
    Mirror other(dir.path());
    const auto add = [](Mirror& m, const std::string& page) {
        Mirror::Batch batch(m);
        batch.add_event(event("tasks", page));
        batch.commit();
    };
    add(ours, "t1");
    CHECK(seqs(ours.events_after("tasks", 0, 100)) == Seqs{1});
    add(other, "t2");
    add(ours, "t3");
    CHECK(pages(ours.events_after("tasks", 0, 100)) == Names{"t1", "t2", "t3"});
    CHECK(pages(ours.events_after("tasks", 1, 1)) == Names{"t2"});
    add(ours, "t4");
    CHECK(pages(ours.events_after("tasks", 3, 100)) == Names{"t4"});
    add(other, "t5");
    CHECK(pages(ours.events_after("tasks", 3, 100)) == Names{"t4", "t5"});
}
