// The sample workspace (emulator/fixtures/sample.json) as the demo's connection sees it.
#include <doctest/doctest.h>

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

#include "daemon/notion/notion_client.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace syncd::notion;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* tasks = "ea3dca32-7fff-5a7f-88a7-16d84e6c87e6";
constexpr const char* private_notes = "2daf5103-ae49-5f09-b8f7-672f6d3f311e";
constexpr const char* thirty_notes = "9cab25da-0c2f-54e6-92e2-121825b4dc0b";

template <typename F>
void as_connection(test::Emulator& emulator, F f) {
    test::run([&]() -> asio::awaitable<void> {
        const auto executor = co_await asio::this_coro::executor;
        auto budget = std::make_shared<RateBudget>(
            executor, BudgetOptions{.per_minute = 60'000, .burst = 100});
        ClientConfig config{.base_url = emulator.url(), .token = test::Emulator::connection_token};
        NotionClient client(executor, config, budget);
        co_await f(client);
    }());
}

}  // namespace

TEST_CASE("the sample workspace loads and the connection sees only what is shared") {
    test::TempDir dir;
    test::Emulator emulator(dir, {"--fixture", SYNCD_SAMPLE_FIXTURE});
    as_connection(emulator, [&](NotionClient& client) -> asio::awaitable<void> {
        json::object filter =
            json::parse(R"({"filter":{"property":"object","value":"data_source"}})").as_object();
        const ListPage sources = co_await client.search(std::move(filter));
        CHECK(sources.results.size() == 4);
        std::size_t rows = 0;
        Pager pager = client.query_all(tasks, json::object{});
        for (;;) {
            std::optional<ListPage> page = co_await pager.next();
            if (!page) break;
            rows += page->results.size();
        }
        CHECK(rows == 156);  // 160 tasks, 4 in the trash
        try {
            co_await client.retrieve_page(private_notes);
            FAIL("the unshared page was visible");
        } catch (const NotionError& e) {
            CHECK(e.code == "object_not_found");
        }
        const json::object page = co_await client.retrieve_page(thirty_notes);
        CHECK(page.at("properties").at("Notes").at("rich_text").as_array().size() == 25);
    });
}

TEST_CASE("Notion-hosted files in the sample get a new signed URL on every read") {
    test::TempDir dir;
    test::Emulator emulator(dir, {"--fixture", SYNCD_SAMPLE_FIXTURE});
    as_connection(emulator, [&](NotionClient& client) -> asio::awaitable<void> {
        json::object body =
            json::parse(R"({"filter":{"property":"Attachments","files":{"is_not_empty":true}}})")
                .as_object();
        const ListPage first = co_await client.query_data_source(tasks, body);
        const ListPage second = co_await client.query_data_source(tasks, std::move(body));
        std::size_t hosted = 0;
        for (std::size_t i = 0; i < first.results.size(); ++i) {
            const auto& a =
                first.results[i].at("properties").at("Attachments").at("files").as_array();
            const auto& b =
                second.results[i].at("properties").at("Attachments").at("files").as_array();
            for (std::size_t f = 0; f < a.size(); ++f) {
                if (a[f].at("type") != "file") continue;
                ++hosted;
                CHECK(a[f].at("file").at("url") != b[f].at("file").at("url"));
                CHECK(a[f].at("file").at("expiry_time").is_string());
            }
        }
        CHECK(hosted > 0);
    });
}
