// NotionClient + RateBudget figures (issue #3), printed as one JSON object:
//  1. budget use: 8 jobs against the emulator's per-minute limit with 300 ms latency, over a
//     window (default 60 s): requests per second achieved vs. the budget, and 429s received;
//  2. client cost with rate limits off: CPU per request and per parsed page of 100-page queries.
//
//   notion_client_budget --emulator PATH [--seconds 60] [--budget 180] [--jobs 8]
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <iostream>

#include "daemon/notion/notion_client.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace syncd::notion;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

std::size_t rejected(test::Emulator& emulator) {
    const json::value requests = emulator.get("requests");
    std::size_t n = 0;
    for (const auto& c : requests.at("counters").as_array()) {
        if (c.at("connection") == "connection-1" && c.at("status").to_number<int>() == 429) {
            n += c.at("count").to_number<std::size_t>();
        }
    }
    return n;
}

std::string make_workspace(test::Emulator& emulator, int pages) {
    const auto home = emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
        "properties":{"title":{"title":[{"text":{"content":"Bench"}}]}}})"));
    const std::string home_id(home.at("id").as_string());
    const auto db = emulator.api("POST", "/v1/databases",
                                 json::parse(R"({"parent":{"page_id":")" + home_id + R"("},
        "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{"Name":{"title":{}},
        "Estimate":{"number":{}},"Done":{"checkbox":{}},"Notes":{"rich_text":{}}}}})"));
    const std::string ds(db.at("data_sources").as_array()[0].at("id").as_string());
    json::array objects;
    for (int i = 0; i < pages; ++i) {
        objects.push_back(json::object{
            {"object", "page"},
            {"id", "00000000-0000-4000-8000-" + std::string(12 - std::to_string(i).size(), '0') +
                       std::to_string(i)},
            {"parent", json::object{{"type", "data_source_id"}, {"data_source_id", ds}}},
            {"properties",
             json::parse(R"({"Name":{"title":[{"text":{"content":"Task"}}]},"Estimate":{"number":3},
                "Done":{"checkbox":true},"Notes":{"rich_text":[{"text":{"content":"Some notes"}}]}})")}});
    }
    if (pages > 0) emulator.control("fixture", json::object{{"objects", objects}});
    emulator.control("share", {{"token", "connection-1"}, {"object_id", home_id}});
    return ds;
}

}  // namespace

int main(int argc, char** argv) try {
    CLI::App app{"NotionClient budget use and client CPU"};
    std::string emulator_path = "build/release/emulator/notion-emulator";
    double seconds = 60;
    double budget = 180;
    int jobs = 8;
    app.add_option("--emulator", emulator_path)->capture_default_str();
    app.add_option("--seconds", seconds, "Length of the budget phase")->capture_default_str();
    app.add_option("--budget", budget, "Requests per minute, the emulator's and ours")
        ->capture_default_str();
    app.add_option("--jobs", jobs)->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    setenv("NOTION_EMULATOR", emulator_path.c_str(), 1);
    json::object out{{"benchmark", "notion_client_budget"}};

    {  // 1. budget use: every job asks as fast as it can; the budget decides.
        test::TempDir dir;
        test::Emulator emulator(dir, {"--rate-limit", std::to_string(static_cast<int>(budget)),
                                      "--rate-window-ms", "60000", "--latency-ms", "300"});
        const std::string ds = make_workspace(emulator, 10);
        std::size_t completed = 0;
        std::size_t failed = 0;
        const double elapsed = test::run([&]() -> asio::awaitable<double> {
            const auto executor = co_await asio::this_coro::executor;
            auto rate = std::make_shared<RateBudget>(executor, BudgetOptions{.per_minute = budget});
            ClientConfig config{.base_url = emulator.url(),
                                .token = test::Emulator::connection_token};
            config.http.max_connections = static_cast<std::size_t>(jobs);
            NotionClient client(executor, config, rate);
            const auto start = std::chrono::steady_clock::now();
            const auto deadline = start + std::chrono::duration<double>(seconds);
            std::vector<std::string> names;
            for (int j = 0; j < jobs; ++j) names.push_back("job" + std::to_string(j));
            int running = jobs;
            auto job = [&](std::size_t j) -> asio::awaitable<void> {
                while (std::chrono::steady_clock::now() < deadline) {
                    json::object body{{"page_size", 10}};
                    RequestContext context(Priority::poll, names[j]);
                    try {
                        co_await client.query_data_source(ds, std::move(body), {},
                                                          std::move(context));
                        ++completed;
                    } catch (const NotionError&) {
                        ++failed;
                    }
                }
                --running;
            };
            for (std::size_t j = 0; j < names.size(); ++j)
                asio::co_spawn(executor, job(j), asio::detached);
            asio::steady_timer poll(executor);
            while (running > 0) {
                poll.expires_after(50ms);
                co_await poll.async_wait(asio::use_awaitable);
            }
            co_return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                .count();
        }());
        const double achieved = static_cast<double>(completed) / elapsed;
        out["budget_phase"] = json::object{{"jobs", jobs},
                                           {"emulator_latency_ms", 300},
                                           {"budget_per_minute", budget},
                                           {"seconds", elapsed},
                                           {"requests_completed", completed},
                                           {"requests_failed", failed},
                                           {"requests_per_second", achieved},
                                           {"budget_per_second", budget / 60.0},
                                           {"share_of_budget", achieved / (budget / 60.0)},
                                           {"rejected_429", rejected(emulator)}};
    }
    {  // 2. client CPU with rate limits off: 100-page queries of a 1,000-page data source.
        test::TempDir dir;
        test::Emulator emulator(dir, {"--rate-limit", "0"});
        const std::string ds = make_workspace(emulator, 1000);
        std::size_t requests = 0;
        std::size_t pages = 0;
        const double before = cpu_seconds();
        const auto start = std::chrono::steady_clock::now();
        test::run([&]() -> asio::awaitable<void> {
            const auto executor = co_await asio::this_coro::executor;
            auto rate = std::make_shared<RateBudget>(
                executor, BudgetOptions{.per_minute = 1e9, .burst = 1e6});
            ClientConfig config{.base_url = emulator.url(),
                                .token = test::Emulator::connection_token};
            NotionClient client(executor, config, rate);
            for (int round = 0; round < 30; ++round) {
                Pager pager = client.query_all(ds, json::object{}, {},
                                               RequestContext(Priority::poll, "bench"));
                for (;;) {
                    std::optional<ListPage> page = co_await pager.next();
                    if (!page) break;
                    ++requests;
                    for (const auto& result : page->results)
                        pages += !PageView{result.as_object()}.id().empty();
                }
            }
        }());
        const double cpu = cpu_seconds() - before;
        const double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        out["client_cost_phase"] =
            json::object{{"requests", requests},
                         {"pages_parsed", pages},
                         {"wall_seconds", wall},
                         {"client_cpu_seconds", cpu},
                         {"client_cpu_us_per_request", cpu * 1e6 / static_cast<double>(requests)},
                         {"client_cpu_us_per_page", cpu * 1e6 / static_cast<double>(pages)}};
    }
    std::cout << json::serialize(out) << std::endl;
    return 0;
} catch (const std::exception& e) {
    std::cerr << "notion_client_budget: " << e.what() << '\n';
    return 1;
}
