#include "daemon/sync/dispatcher.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <functional>

#include "daemon/model/sqlite.hpp"

using namespace syncd;
namespace fs = std::filesystem;
using mirror::Mirror;
using mirror::PageState;

namespace {

// One io_context for the whole test, as in the daemon: a dispatcher keeps its timer.
boost::asio::io_context& io() {
    static boost::asio::io_context context;
    return context;
}

template <typename T>
T run(boost::asio::awaitable<T> task) {
    auto future = boost::asio::co_spawn(io(), std::move(task), boost::asio::use_future);
    io().restart();
    io().run();
    return future.get();
}

// A connector that records what it was given and fails when told to.
struct FakeConnector : connectors::Connector {
    std::vector<connectors::ChangeBatch>* batches;
    std::vector<connectors::ChangeBatch>* schemas;
    std::function<void(const connectors::ChangeBatch&)>* fail;
    FakeConnector(std::vector<connectors::ChangeBatch>* b, std::vector<connectors::ChangeBatch>* s,
                  std::function<void(const connectors::ChangeBatch&)>* f)
        : batches(b), schemas(s), fail(f) {}
    boost::asio::awaitable<void> start() override { co_return; }
    boost::asio::awaitable<void> deliver(connectors::ChangeBatch batch) override {
        if (*fail) (*fail)(batch);
        batches->push_back(std::move(batch));
        co_return;
    }
    boost::asio::awaitable<void> apply_schema(connectors::ChangeBatch batch) override {
        schemas->push_back(std::move(batch));
        co_return;
    }
};

constexpr const char* ds = "248104cd-477e-80af-bc30-000bd28de8f9";

struct Fixture {
    fs::path dir = fs::temp_directory_path() / ("dispatcher_test_" + std::to_string(getpid()));
    std::unique_ptr<Mirror> mirror;
    std::vector<connectors::ChangeBatch> batches;
    std::vector<connectors::ChangeBatch> schemas;
    std::function<void(const connectors::ChangeBatch&)> fail;

    Fixture() {
        fs::remove_all(dir);
        fs::create_directories(dir);
        mirror = std::make_unique<Mirror>((dir / "mirror.sqlite3").string());
        Mirror::Batch batch(*mirror);
        batch.set_schema("tasks", model::Schema{.data_source_id = ds,
                                                .title = "Tasks",
                                                .properties = {{"title", "Name", "title"}}});
        batch.commit();
    }
    ~Fixture() {
        mirror.reset();
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }
    sync::Dispatcher dispatcher(const std::string& target, sync::DispatchOptions options = {}) {
        options.backoff_base = std::chrono::milliseconds(1);
        options.backoff_cap = std::chrono::milliseconds(5);
        return sync::Dispatcher(target, "tasks",
                                std::make_unique<FakeConnector>(&batches, &schemas, &fail), *mirror,
                                options);
    }
    // A page and its created event, committed together as a poll does.
    void page(const std::string& id) {
        model::Record r{.page_id = id, .data_source_id = ds, .values = {{"title", "Page " + id}}};
        r.hash = model::hash_of(r);
        Mirror::Batch batch(*mirror);
        batch.put_page("tasks", r, PageState::live);
        batch.add_event(model::ChangeEvent{.kind = "created",
                                           .sync = "tasks",
                                           .data_source_id = ds,
                                           .page_id = id,
                                           .properties = {{"Name", "Page " + id}},
                                           .property_ids = {{"Name", "title"}}});
        batch.commit();
    }
    std::vector<std::string> delivered_pages() const {
        std::vector<std::string> out;
        for (const auto& b : batches) {
            for (const auto& e : b.events)
                out.push_back(e.page_id + (e.snapshot ? " (snapshot)" : ""));
        }
        return out;
    }
};

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE(
    "the first target reads the whole outbox, one added later gets a snapshot, then follows") {
    Fixture f;
    f.page("p1");
    f.page("p2");
    auto first = f.dispatcher("tasks/first");
    CHECK(run(first.drain()));
    CHECK(f.delivered_pages() == Names{"p1", "p2"});
    // The table comes before any page: the schema went to the connector first, once.
    REQUIRE(f.schemas.size() == 1);
    CHECK(f.schemas[0].events.at(0).kind == "schema_changed");
    f.mirror->collect_garbage({"tasks/first"});  // the outbox is no longer whole

    f.batches.clear();
    f.page("p3");
    auto later = f.dispatcher("tasks/later");
    CHECK(run(later.drain()));
    // Every live page from the mirror (p1..p3), then nothing again from the outbox: p3's event
    // is older than the snapshot's position.
    CHECK(f.delivered_pages() == Names{"p1 (snapshot)", "p2 (snapshot)", "p3 (snapshot)"});
    CHECK(f.batches[0].events[0].seq == 3);  // the position the snapshot reflects
    f.batches.clear();
    f.page("p4");
    CHECK(run(later.drain()));
    CHECK(f.delivered_pages() == Names{"p4"});
}

TEST_CASE("snapshot: false starts from now") {
    Fixture f;
    f.page("p1");
    f.mirror->set_cursor("tasks/other", 1);
    f.mirror->collect_garbage({"tasks/other"});
    sync::DispatchOptions options;
    options.snapshot = false;
    auto chat = f.dispatcher("tasks/chat", options);
    CHECK(run(chat.drain()));
    CHECK(f.delivered_pages().empty());
    f.page("p2");
    CHECK(run(chat.drain()));
    CHECK(f.delivered_pages() == Names{"p2"});
}

TEST_CASE("a failing target keeps its events pending and its cursor, the next drain delivers") {
    Fixture f;
    f.page("p1");
    auto target = f.dispatcher("tasks/flaky");
    int failures = 0;
    f.fail = [&](const connectors::ChangeBatch&) {
        ++failures;
        throw connectors::DeliveryError("down", true);
    };
    CHECK_FALSE(run(target.drain()));
    CHECK(failures == 5);  // max_attempts
    CHECK(f.mirror->cursor("tasks/flaky") == 0);
    CHECK(target.pending() == 1);
    CHECK(target.last_error() == "down");
    CHECK(f.mirror->dead_letters().empty());
    f.fail = nullptr;
    CHECK(run(target.drain()));
    CHECK(f.delivered_pages() == Names{"p1"});
    CHECK(f.mirror->cursor("tasks/flaky") == 1);
    CHECK(target.last_error().empty());
}

TEST_CASE("a locked mirror ends a drain without losing the target (it goes on afterwards)") {
    Fixture f;
    f.page("p1");
    auto target = f.dispatcher("tasks/db");
    CHECK(run(target.drain()));
    f.page("p2");
    {
        // Another process holds the write lock (dead-letters retry, say): the cursor cannot move.
        sqlite::Database other((f.dir / "mirror.sqlite3").string());
        other.exec("PRAGMA busy_timeout = 0");
        sqlite::Transaction lock(other);
        f.mirror->database().exec("PRAGMA busy_timeout = 0");
        CHECK_FALSE(run(target.drain()));  // delivered, but the cursor could not be recorded
    }
    CHECK(f.mirror->cursor("tasks/db") == 1);
    CHECK(run(target.drain()));  // the batch again (at least once), and the cursor moves
    CHECK(f.mirror->cursor("tasks/db") == 2);
    CHECK(f.delivered_pages() == Names{"p1", "p2", "p2"});
}

TEST_CASE("a dead letter retried goes to its own target, with the page's current values") {
    Fixture f;
    f.page("p1");
    f.fail = [](const connectors::ChangeBatch&) { throw connectors::DeliveryError("no", false); };
    auto target = f.dispatcher("tasks/hook");
    CHECK(run(target.drain()));  // refused for good: set aside, delivery goes on
    REQUIRE(f.mirror->dead_letters("tasks/hook").size() == 1);
    f.fail = nullptr;
    f.mirror->mark_retry(f.mirror->dead_letters("tasks/hook")[0].id);
    CHECK(run(target.drain()));
    CHECK(f.delivered_pages() == Names{"p1"});
    CHECK(f.mirror->dead_letters().empty());
}
