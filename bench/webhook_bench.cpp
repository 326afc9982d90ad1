// Webhook benchmarks (issue #5), one JSON object per scenario on stdout:
//   connector  the webhook connector in-process, posting to a local receiver on another thread:
//              events/s and the delivering thread's CPU µs per event (building the JSON body,
//              HMAC, HTTP), for batches of 100 over http and https and for one templated request
//              per event
//   daemon     notion-syncd sync-once of N pages into a webhook, and the same into a jsonl file
//              for comparison: wall time and the daemon's CPU µs per event (whole process)
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <iostream>

#include "connectors/webhook/webhook.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* secret = "bench-secret";
std::string syncd_binary;

double seconds(const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

double cpu_of_this_thread() {
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double cpu_of_children() {
    rusage usage{};
    getrusage(RUSAGE_CHILDREN, &usage);
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// An event shaped like the ones sync_bench's pages give (nine properties, 200 characters of
// notes).
model::ChangeEvent event(std::int64_t seq) {
    model::ChangeEvent e{.seq = seq,
                         .kind = "updated",
                         .sync = "items",
                         .data_source_id = "2f3e4d5c-6b7a-4988-9f0e-1d2c3b4a5968",
                         .page_id = "00000001-0000-4000-8000-" + std::to_string(100'000'000 + seq),
                         .last_edited_time = "2026-03-01T10:00:00.000Z",
                         .url = "https://www.notion.so/Item-" + std::to_string(seq)};
    e.properties = {{"Name", "Item " + std::to_string(seq)},
                    {"Notes", std::string(200, 'x')},
                    {"Count", static_cast<double>(seq)},
                    {"Done", seq % 2 == 0},
                    {"Stage", "Doing"},
                    {"Tags", json::array{"a", "b"}},
                    {"Due", {{"start", "2026-06-01"}, {"end", nullptr}, {"time_zone", nullptr}}},
                    {"Link", "https://example.com/item"},
                    {"Contact", "owner@example.com"}};
    e.changed = {"Count"};
    for (const auto& [name, value] : e.properties) e.property_ids[name] = "id-" + std::string(name);
    return e;
}

struct Figures {
    double wall_s = 0;
    double cpu_s = 0;
};

// Delivers `events` events in batches of `batch` through a connector built from `yaml`.
Figures deliver(const std::string& yaml, int events, int batch) {
    std::vector<connectors::ChangeBatch> batches;
    for (int first = 1; first <= events; first += batch) {
        connectors::ChangeBatch b{.target = "items/hook", .sync = "items"};
        for (int seq = first; seq < std::min(events + 1, first + batch); ++seq)
            b.events.push_back(event(seq));
        batches.push_back(std::move(b));
    }
    return test::run([&]() -> asio::awaitable<Figures> {
        auto problems = std::make_shared<config::Problems>();
        config::SettingsReader reader(YAML::Load(yaml), "connectors.hook", problems);
        const auto executor = co_await asio::this_coro::executor;
        connectors::ConnectorContext context{.name = "hook", .executor = executor};
        auto connector = connectors::webhook::make_connector(reader, context);
        if (!problems->lines.empty()) throw std::runtime_error(problems->lines.front());
        co_await connector->start();
        const auto cpu = cpu_of_this_thread();
        const auto start = std::chrono::steady_clock::now();
        for (auto& b : batches) co_await connector->deliver(std::move(b));
        co_return Figures{
            .wall_s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
            .cpu_s = cpu_of_this_thread() - cpu};
    }());
}

void connector_scenario(int events) {
    test::TempDir dir;
    const auto base = (dir.path() / "server").string();
    test::shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout " + base + ".key -out " +
                base +
                ".pem -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1");
    const std::size_t bytes = json::serialize(event(1).to_json()).size();
    struct Variant {
        std::string name;
        bool tls;
        bool per_event;
        int events;
    };
    for (const auto& v :
         {Variant{"batch_http", false, false, events}, Variant{"batch_https", true, false, events},
          Variant{"template_http", false, true, events / 5}}) {
        test::ReceiverOptions options{.secret = secret, .keep_bodies = false};
        if (v.tls) {
            options.cert_file = base + ".pem";
            options.key_file = base + ".key";
        }
        test::WebhookReceiver receiver(options);
        std::string yaml = "url: " + receiver.url() + "\nsecret: " + secret + "\n";
        if (v.tls) yaml += "ca_file: " + base + ".pem\n";
        if (v.per_event) yaml += "template: '{\"text\": \"{{title}} was {{event}}: {{url}}\"}'\n";
        deliver(yaml, 200, 100);  // warm-up: connection, TLS session, allocator
        const auto before = receiver.events_accepted();
        const auto f = deliver(yaml, v.events, 100);
        const auto accepted = receiver.events_accepted() - before;
        if (accepted != static_cast<std::size_t>(v.events))
            throw std::runtime_error("the receiver accepted " + std::to_string(accepted));
        bool signed_ok = true;
        for (const auto& r : receiver.requests()) signed_ok = signed_ok && r.signature_ok;
        std::cout << json::serialize(
                         json::object{{"scenario", "connector"},
                                      {"variant", v.name},
                                      {"events", v.events},
                                      {"requests", v.per_event ? v.events : (v.events + 99) / 100},
                                      {"event_json_bytes", bytes},
                                      {"wall_s", f.wall_s},
                                      {"events_per_s", v.events / f.wall_s},
                                      {"cpu_us_per_event", f.cpu_s * 1e6 / v.events},
                                      {"signatures_ok", signed_ok},
                                      {"note",
                                       "CPU of the delivering thread only; the receiver runs on "
                                       "another thread"}})
                  << std::endl;
    }
}

// N pages in a data source, loaded through the emulator's fixture API (as sync_bench does).
struct Workspace {
    test::TempDir dir;
    test::Emulator emulator;
    std::string data_source;

    Workspace() : emulator(dir) {
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
        const auto home =
            emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Bench"}}]}}})"));
        const std::string home_id(home.at("id").as_string());
        const auto db = emulator.api("POST", "/v1/databases",
                                     json::parse(R"({"parent":{"page_id":")" + home_id + R"("},
            "title":[{"text":{"content":"Items"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},"Notes":{"rich_text":{}},"Count":{"number":{}},
              "Done":{"checkbox":{}},"Stage":{"select":{}},"Tags":{"multi_select":{}}}}})"));
        data_source = std::string(db.at("data_sources").as_array()[0].at("id").as_string());
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home_id}});
    }

    void load(int n) {
        const std::string notes(200, 'x');
        for (int start = 0; start < n; start += 2000) {
            json::array objects;
            for (int i = start; i < std::min(n, start + 2000); ++i) {
                char id[40];
                std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", i + 1, i + 1);
                char created[32];
                std::snprintf(created, sizeof created, "2026-0%d-%02dT%02d:%02d:00.000Z",
                              1 + i / 40'000, 1 + i / 1440 % 28, i / 60 % 24, i % 60);
                json::object page{
                    {"object", "page"},
                    {"id", id},
                    {"parent", {{"type", "data_source_id"}, {"data_source_id", data_source}}},
                    {"created_time", created},
                    {"last_edited_time", created}};
                page["properties"] = {
                    {"Name",
                     {{"title",
                       json::array{{{"text", {{"content", "Item " + std::to_string(i)}}}}}}}},
                    {"Notes", {{"rich_text", json::array{{{"text", {{"content", notes}}}}}}}},
                    {"Count", {{"number", i}}},
                    {"Done", {{"checkbox", i % 2 == 0}}},
                    {"Stage", {{"select", {{"name", i % 3 == 0 ? "Todo" : "Done"}}}}},
                    {"Tags", {{"multi_select", json::array{{{"name", "a"}}, {{"name", "b"}}}}}}};
                objects.push_back(std::move(page));
            }
            emulator.control("fixture", json::object{{"objects", objects}});
        }
    }

    // sync-once into `connector_yaml` (the block of connector `out`) with a fresh state dir.
    Figures sync_once(const std::string& name, const std::string& connector_yaml) {
        const auto config = dir.path() / (name + ".yaml");
        {
            std::ofstream out(config);
            out << "notion:\n  token: " << test::Emulator::connection_token
                << "\n  base_url: " << emulator.url()
                << "\n  budget: { per_minute: 60000, burst: 200 }\nstate:\n  dir: "
                << (dir.path() / (name + "-state")).string() << "\nconnectors:\n  out:\n"
                << connector_yaml
                << "syncs:\n  - name: items\n    source: { data_source: " << data_source
                << " }\n    reconcile_every: never\n    targets:\n      - connector: out\n";
        }
        const auto cpu = cpu_of_children();
        const auto start = std::chrono::steady_clock::now();
        const auto finished = test::run_command({syncd_binary, "-c", config.string(), "sync-once"},
                                                dir.path() / (name + ".log"), 3600s);
        const Figures f{
            .wall_s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
            .cpu_s = cpu_of_children() - cpu};
        if (finished.status != 0) {
            std::ifstream log(dir.path() / (name + ".log"));
            std::cerr << finished.out << log.rdbuf();
            throw std::runtime_error("notion-syncd failed");
        }
        return f;
    }
};

void daemon_scenario(int pages) {
    Workspace w;
    w.load(pages);
    test::WebhookReceiver receiver({.secret = secret, .keep_bodies = false});
    const auto hook = w.sync_once("webhook", "    type: webhook\n    url: " + receiver.url() +
                                                 "\n    secret: " + secret + "\n");
    if (receiver.events_accepted() != static_cast<std::size_t>(pages))
        throw std::runtime_error("the receiver got " + std::to_string(receiver.events_accepted()));
    const auto jsonl = w.sync_once(
        "jsonl", "    type: jsonl\n    path: " + (w.dir.path() / "events.jsonl").string() +
                     "\n    fsync: never\n");
    std::cout << json::serialize(
                     json::object{{"scenario", "daemon"},
                                  {"pages", pages},
                                  {"webhook",
                                   {{"wall_s", hook.wall_s},
                                    {"events_per_s", pages / hook.wall_s},
                                    {"cpu_us_per_event", hook.cpu_s * 1e6 / pages},
                                    {"requests", receiver.request_count()}}},
                                  {"jsonl_for_comparison",
                                   {{"wall_s", jsonl.wall_s},
                                    {"events_per_s", pages / jsonl.wall_s},
                                    {"cpu_us_per_event", jsonl.cpu_s * 1e6 / pages}}},
                                  {"webhook_minus_jsonl_cpu_us_per_event",
                                   (hook.cpu_s - jsonl.cpu_s) * 1e6 / pages},
                                  {"note",
                                   "whole sync-once process: start-up, reading the pages from the "
                                   "emulator, mirror, outbox and delivery"}})
              << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"notion-syncd webhook benchmarks (JSON lines on stdout)"};
    std::string scenario = "all";
    int events = 20'000;
    int pages = 10'000;
    app.add_option("--syncd", syncd_binary, "notion-syncd binary (for `daemon`)");
    app.add_option("--scenario", scenario, "connector|daemon|all");
    app.add_option("--events", events, "events for `connector`");
    app.add_option("--pages", pages, "pages for `daemon`");
    CLI11_PARSE(app, argc, argv);
    try {
        const bool all = scenario == "all";
        if (all || scenario == "connector") connector_scenario(events);
        if (all || scenario == "daemon") {
            if (syncd_binary.empty()) throw std::runtime_error("--syncd is needed for `daemon`");
            daemon_scenario(pages);
        }
    } catch (const std::exception& e) {
        std::cerr << "webhook_bench: " << e.what() << '\n';
        return 1;
    }
}
