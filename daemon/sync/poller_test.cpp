#include "daemon/sync/poller.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "tests/support/process.hpp"

using namespace syncd;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

using test::run;

constexpr const char* ds = "248104cd-477e-80af-bc30-000bd28de8f9";

// Notion as the Poller reads it: one data source of pages, queries filtered on last_edited_time
// (and created_time) and sorted as asked, in pages of 100, cut at `cap` results.
struct FakeNotion : notion::NotionReads {
    std::vector<json::object> pages;
    std::size_t cap = 10'000;
    std::vector<json::object> queries;  // the bodies, as sent
    std::size_t page_reads = 0;

    void add(int i, const std::string& edited, const std::string& created = "",
             bool trash = false) {
        char id[40];
        std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", i, i);
        pages.push_back(json::object{
            {"object", "page"},
            {"id", id},
            {"created_time", created.empty() ? edited : created},
            {"last_edited_time", edited},
            {"in_trash", trash},
            {"parent", {{"type", "data_source_id"}, {"data_source_id", ds}}},
            {"properties",
             {{"Name",
               {{"id", "title"},
                {"type", "title"},
                {"title", json::array{{{"plain_text", "Page " + std::to_string(i)}}}}}}}}});
    }

    static bool matches(const json::object& page, const json::value& filter) {
        if (!filter.is_object()) return true;
        const auto& f = filter.get_object();
        if (const auto* all = f.if_contains("and")) {
            for (const auto& c : all->as_array())
                if (!matches(page, c)) return false;
            return true;
        }
        const std::string key(f.at("timestamp").as_string());
        const std::string from(f.at(key).at("on_or_after").as_string());
        return std::string(page.at(key).as_string()) >= from;
    }

    notion::Pager query_all(std::string, json::object body, std::vector<std::string>,
                            notion::RequestContext) override {
        queries.push_back(body);
        std::vector<json::object> hits;
        for (const auto& p : pages) {
            if (!p.at("in_trash").as_bool() &&
                matches(p, body.contains("filter") ? body.at("filter") : json::value()))
                hits.push_back(p);
        }
        std::string key = "last_edited_time";
        if (const auto* sorts = body.if_contains("sorts"))
            key = std::string(sorts->at(0).at("timestamp").as_string());
        std::stable_sort(hits.begin(), hits.end(), [&](const auto& a, const auto& b) {
            return a.at(key).as_string() < b.at(key).as_string();
        });
        const bool incomplete = hits.size() > cap;
        if (incomplete) hits.resize(cap);
        return notion::Pager([hits, incomplete](std::optional<std::string> cursor)
                                 -> boost::asio::awaitable<notion::ListPage> {
            const std::size_t from = cursor ? std::stoul(*cursor) : 0;
            notion::ListPage page;
            for (std::size_t i = from; i < std::min(hits.size(), from + 100); ++i)
                page.results.push_back(hits[i]);
            page.has_more = from + 100 < hits.size();
            if (page.has_more) page.next_cursor = std::to_string(from + 100);
            page.incomplete = incomplete;
            co_return page;
        });
    }
    boost::asio::awaitable<json::object> retrieve_data_source(std::string,
                                                              notion::RequestContext) override {
        co_return json::object{{"id", ds},
                               {"title", json::array{{{"plain_text", "Tasks"}}}},
                               {"properties", {{"Name", {{"id", "title"}, {"type", "title"}}}}}};
    }
    boost::asio::awaitable<json::object> retrieve_page(std::string id, std::vector<std::string>,
                                                       notion::RequestContext) override {
        ++page_reads;
        for (const auto& p : pages)
            if (p.at("id") == id.c_str()) co_return p;
        notion::NotionError missing(notion::ErrorKind::permanent, "404 object_not_found");
        missing.status = 404;
        throw missing;
    }
    notion::Pager search_all(json::object, notion::RequestContext) override { throw unused(); }
    boost::asio::awaitable<json::object> retrieve_database(std::string,
                                                           notion::RequestContext) override {
        throw unused();
    }
    notion::Pager page_property_all(std::string, std::string, notion::RequestContext) override {
        throw unused();
    }
    notion::Pager block_children_all(std::string, notion::RequestContext) override {
        throw unused();
    }
    std::optional<std::chrono::system_clock::time_point> server_now() const override {
        return std::nullopt;
    }
    static std::logic_error unused() { return std::logic_error("not used by these tests"); }
};

struct Fixture {
    fs::path dir = fs::temp_directory_path() / ("poller_test_" + std::to_string(getpid()));
    std::unique_ptr<mirror::Mirror> mirror;
    FakeNotion notion;
    sync::ReadLedger ledger;
    config::SyncSettings settings{.name = "tasks"};

    Fixture() {
        fs::remove_all(dir);
        fs::create_directories(dir);
        mirror = std::make_unique<mirror::Mirror>((dir / "mirror.sqlite3").string());
        settings.source = {.kind = "data_source", .id = ds};
        settings.reconcile_every.reset();
        settings.refresh_every.reset();
    }
    ~Fixture() {
        mirror.reset();
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }
    sync::PollStats poll(bool reconcile = false) {
        sync::Poller poller(settings, notion, *mirror, ledger);
        return run(poller.poll_once(reconcile));
    }
    std::string from_of(const json::object& query) const {
        const auto* f = query.if_contains("filter");
        if (f == nullptr) return "";
        if (const auto* all = f->as_object().if_contains("and"))
            return std::string(all->at(0).at("last_edited_time").at("on_or_after").as_string());
        return std::string(f->at("last_edited_time").at("on_or_after").as_string());
    }
};

}  // namespace

TEST_CASE("poller: an incremental read starts one overlap before the watermark") {
    Fixture f;
    f.notion.add(1, "2026-05-04T10:00:00.000Z");
    f.notion.add(2, "2026-05-04T10:05:00.000Z");
    CHECK(f.poll().events == 2);
    CHECK(f.from_of(f.notion.queries.at(0)).empty());  // the first read reads everything
    CHECK(f.mirror->source(ds)->watermark == "2026-05-04T10:05:00.000Z");
    // Timestamps are minute-rounded: an edit later in the watermark's minute must be read.
    f.notion.add(3, "2026-05-04T10:05:00.000Z");
    CHECK(f.poll().events == 1);
    CHECK(f.from_of(f.notion.queries.back()) == "2026-05-04T10:03:00.000Z");
}

TEST_CASE("poller: a read cut at the cap goes on from the highest minute it saw") {
    Fixture f;
    f.notion.cap = 250;
    for (int i = 0; i < 600; ++i) {
        char t[32];
        std::snprintf(t, sizeof t, "2026-05-04T%02d:%02d:00.000Z", 1 + i / 60, i % 60);
        f.notion.add(i, t);
    }
    CHECK(f.poll().events == 600);
    CHECK(f.mirror->live_pages(ds).size() == 600);
    REQUIRE(f.notion.queries.size() >= 3);
    CHECK(f.from_of(f.notion.queries[1]) > f.from_of(f.notion.queries[0]));
}

TEST_CASE("poller: more pages than the cap in one minute are read by created_time windows") {
    Fixture f;
    f.notion.cap = 100;
    for (int i = 0; i < 250; ++i) {
        char created[32];
        std::snprintf(created, sizeof created, "2026-05-0%dT%02d:%02d:00.000Z", 1 + i / 100,
                      i / 60 % 24, i % 60);
        f.notion.add(i, "2026-05-04T10:00:00.000Z", created);
    }
    CHECK(f.poll().events == 250);
    CHECK(f.mirror->live_pages(ds).size() == 250);
    const bool windowed =
        std::any_of(f.notion.queries.begin(), f.notion.queries.end(), [](const json::object& q) {
            return q.at("sorts").at(0).at("timestamp") == "created_time";
        });
    CHECK(windowed);
}

TEST_CASE("poller: the delete brake holds a cycle's deletes past max_delete_ratio") {
    Fixture f;
    for (int i = 0; i < 10; ++i) f.notion.add(i, "2026-05-04T10:00:00.000Z");
    f.poll();
    // Three pages trashed: 30% of the data source, over the default 20%.
    for (int i = 0; i < 3; ++i) f.notion.pages[static_cast<std::size_t>(i)]["in_trash"] = true;
    const auto held = f.poll(true);
    CHECK(held.held_deletes == 3);
    CHECK(held.events == 0);
    CHECK(f.mirror->live_pages(ds).size() == 10);
    // Released: they go, as deletes.
    sync::Poller poller(f.settings, f.notion, *f.mirror, f.ledger);
    poller.release_delete_brake();
    const auto applied = run(poller.poll_once(true));
    CHECK(applied.events == 3);
    CHECK(f.mirror->live_pages(ds).size() == 7);
    // Under the ratio nothing is held: one more trashed page is deleted at once.
    f.notion.pages[3]["in_trash"] = true;
    CHECK(f.poll(true).events == 1);
}
