#include "connectors/testing/conformance.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>

namespace syncd::connectors::testing {

boost::asio::io_context& io_context() {
    static boost::asio::io_context io;
    return io;
}

namespace {

namespace json = boost::json;

constexpr const char* ds = "248104cd-477e-80af-bc30-000bd28de8f9";

void run(boost::asio::awaitable<void> task) {
    auto& io = io_context();
    auto future = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
    io.restart();
    io.run();
    future.get();
}

std::string page_id(int i) {
    char id[40];
    std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", i, i);
    return id;
}

model::Schema schema(bool extra) {
    model::Schema s{.data_source_id = ds,
                    .title = "Tasks",
                    .properties = {{"title", "Name", "title"}, {"cnt", "Count", "number"}}};
    if (extra) s.properties.push_back({"xtr", "Extra", "rich_text"});
    return s;
}

model::ChangeEvent event(const std::string& kind, int page, const std::string& name, int count,
                         int minute, bool extra = false) {
    char edited[32];
    std::snprintf(edited, sizeof edited, "2026-05-04T10:%02d:00.000Z", minute);
    model::ChangeEvent e{.kind = kind,
                         .sync = "tasks",
                         .data_source_id = ds,
                         .page_id = page_id(page),
                         .last_edited_time = edited,
                         .url = "https://www.notion.so/" + page_id(page)};
    e.properties = {{"Name", name}, {"Count", count}};
    e.property_ids = {{"Name", "title"}, {"Count", "cnt"}};
    if (extra) {
        e.properties["Extra"] = "more";
        e.property_ids["Extra"] = "xtr";
    }
    e.content = json::array{};  // content-bearing targets (markdown) need it
    return e;
}

ChangeBatch batch(std::vector<model::ChangeEvent> events, bool extra = false) {
    ChangeBatch b{.target = "tasks/subject", .sync = "tasks"};
    std::int64_t seq = 1;
    for (auto& e : events) e.seq = seq++;
    b.events = std::move(events);
    b.schemas.emplace(ds, schema(extra));
    return b;
}

// The name and count a target holds for a page ("" when it does not hold it).
std::string held(const std::map<std::string, json::object>& state, int page) {
    const auto it = state.find(page_id(page));
    if (it == state.end()) return "";
    const auto* name = it->second.if_contains("Name");
    const auto* count = it->second.if_contains("Count");
    return (name ? json::serialize(*name) : std::string("?")) + " " +
           (count && count->is_number() ? std::to_string(count->to_number<int>())
                                        : std::string("?"));
}

}  // namespace

std::map<std::string, json::object> replay(const std::vector<json::object>& events) {
    std::map<std::string, json::object> out;
    for (const auto& e : events) {
        const auto* kind = e.if_contains("event");
        const auto* page = e.if_contains("page_id");
        if (!kind || !page || !page->is_string()) continue;
        const std::string id(page->get_string());
        if (*kind == "deleted" || *kind == "access_lost") {
            out.erase(id);
        } else if (const auto* properties = e.if_contains("properties");
                   properties && properties->is_object()) {
            out[id] = properties->get_object();
        }
    }
    return out;
}

void run_conformance(const Subject& subject) {
    CAPTURE(subject.name);
    SUBCASE("a batch delivered twice is the same as once") {
        subject.reset();
        auto c = subject.make();
        run(c->start());
        const auto b = batch({event("created", 1, "One", 1, 0), event("created", 2, "Two", 2, 0)});
        run(c->deliver(b));
        run(c->deliver(b));
        const auto state = subject.state();
        CHECK(state.size() == 2);
        CHECK(held(state, 1) == "\"One\" 1");
        CHECK(held(state, 2) == "\"Two\" 2");
    }
    SUBCASE("events of one page are applied in order") {
        subject.reset();
        auto c = subject.make();
        run(c->start());
        run(c->deliver(batch({event("created", 1, "a", 1, 0), event("updated", 1, "b", 2, 1),
                              event("updated", 1, "c", 3, 2)})));
        CHECK(held(subject.state(), 1) == "\"c\" 3");
        run(c->deliver(batch({event("updated", 1, "d", 4, 3)})));
        CHECK(held(subject.state(), 1) == "\"d\" 4");
    }
    SUBCASE("a deleted page goes, a restored one comes back") {
        subject.reset();
        auto c = subject.make();
        run(c->start());
        run(c->deliver(
            batch({event("created", 1, "One", 1, 0), event("created", 2, "Two", 2, 0)})));
        run(c->deliver(batch({event("deleted", 2, "Two", 2, 1)})));
        CHECK(held(subject.state(), 2).empty());
        CHECK(held(subject.state(), 1) == "\"One\" 1");
        run(c->deliver(batch({event("restored", 2, "Two again", 5, 2)})));
        CHECK(held(subject.state(), 2) == "\"Two again\" 5");
    }
    SUBCASE("a new property after a schema change is held with the pages") {
        subject.reset();
        auto c = subject.make();
        run(c->start());
        run(c->deliver(batch({event("created", 1, "One", 1, 0)})));
        auto changed = event("schema_changed", 0, "", 0, 1, true);
        changed.page_id.clear();
        changed.properties = {};
        changed.content.reset();
        run(c->deliver(batch({changed, event("updated", 1, "One", 1, 2, true)}, true)));
        const auto state = subject.state();
        REQUIRE(state.contains(page_id(1)));
        const auto* extra = state.at(page_id(1)).if_contains("Extra");
        REQUIRE(extra != nullptr);
        CHECK(*extra == "more");
    }
    SUBCASE("a batch that failed is retried whole, and lands once") {
        subject.reset();
        subject.break_target();
        auto c = subject.make();
        bool failed = false;
        const auto b = batch({event("created", 1, "One", 1, 0), event("created", 2, "Two", 2, 0)});
        try {
            run(c->start());
            run(c->deliver(b));
        } catch (const std::exception&) {
            failed = true;  // start() or deliver(): either way nothing is acknowledged
        }
        CHECK(failed);
        subject.fix_target();
        auto again = subject.make();
        run(again->start());
        run(again->deliver(b));
        const auto state = subject.state();
        CHECK(state.size() == 2);
        CHECK(held(state, 1) == "\"One\" 1");
        CHECK(held(state, 2) == "\"Two\" 2");
    }
}

}  // namespace syncd::connectors::testing
