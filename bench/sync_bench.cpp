// Sync benchmarks (issue #4): the real notion-syncd against a real notion-emulator, printing one
// JSON object per scenario.
//   requests  requests per poll of an idle data source and for k changed pages, vs a full re-read
//   initial   initial sync of N pages at 180 requests / 60 s with 300 ms latency: wall vs floor
//   cpu       daemon CPU µs per page, new pages and an unchanged re-read (emulator limits off)
//   rss       peak RSS of the daemon syncing N pages
//   latency   edit -> event in jsonl with `every: 5s`, p50/p99
//   targets   idle sync-once, two jobs over one data source, a new target's snapshot: requests
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "daemon/model/json_text.hpp"
#include "daemon/model/sqlite.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::string syncd_binary;

double cpu_seconds_of_children() {
    rusage usage{};
    getrusage(RUSAGE_CHILDREN, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// The kernel's share of the above (system calls: writes, fsyncs, sockets).
double system_cpu_seconds_of_children() {
    rusage usage{};
    getrusage(RUSAGE_CHILDREN, &usage);
    return static_cast<double>(usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_stime.tv_usec) / 1e6;
}

// VmHWM (the peak resident set of this process image, reset at exec) of a running process; 0 when
// it is gone. RUSAGE_CHILDREN would charge the daemon with the benchmark's own memory at fork
// time and report the largest of all children so far (emulators included).
long vm_hwm_kb(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
    }
    return 0;
}

struct Bench {
    test::TempDir dir;
    test::Emulator emulator;
    std::string data_source;
    std::string every = "5s";
    std::string budget = "{ per_minute: 60000, burst: 200 }";
    std::string extra_connectors = {};  // YAML lines under `connectors:`
    std::string extra_targets = {};     // YAML lines under the items job's `targets:`
    std::string extra_syncs = {};       // YAML lines under `syncs:`
    std::string db_settings = {};       // YAML lines under the db target (two_way:)
    bool with_db = true;                // the sqlite target (db) beside the jsonl one (log)

    Bench() : emulator(dir) {
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
        const auto home =
            emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Bench"}}]}}})"));
        const std::string home_id(home.at("id").as_string());
        const auto db = emulator.api("POST", "/v1/databases",
                                     json::parse(R"({"parent":{"page_id":")" + home_id + R"("},
            "title":[{"text":{"content":"Items"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},"Notes":{"rich_text":{}},"Count":{"number":{}},
              "Done":{"checkbox":{}},"Stage":{"select":{}},"Tags":{"multi_select":{}},
              "Due":{"date":{}},"Link":{"url":{}},"Contact":{"email":{}}}}})"));
        data_source = std::string(db.at("data_sources").as_array()[0].at("id").as_string());
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home_id}});
    }

    // Loads `n` pages (about 3 KB each as the API returns them) in chunks.
    void load(int n, int notes_chars = 900) {
        const std::string notes(static_cast<std::size_t>(notes_chars), 'x');
        for (int start = 0; start < n; start += 2000) {
            json::array objects;
            for (int i = start; i < std::min(n, start + 2000); ++i) {
                char id[40];
                std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", i + 1, i + 1);
                char created[32];
                std::snprintf(created, sizeof created, "2026-0%d-%02dT%02d:%02d:00.000Z",
                              1 + i / 40'000, 1 + i / 1440 % 28, i / 60 % 24, i % 60);
                objects.push_back(json::object{
                    {"object", "page"},
                    {"id", id},
                    {"parent", {{"type", "data_source_id"}, {"data_source_id", data_source}}},
                    {"created_time", created},
                    {"last_edited_time", created},
                    {"properties",
                     {{"Name",
                       {{"title",
                         json::array{{{"text", {{"content", "Item " + std::to_string(i)}}}}}}}},
                      {"Notes", {{"rich_text", json::array{{{"text", {{"content", notes}}}}}}}},
                      {"Count", {{"number", i}}},
                      {"Done", {{"checkbox", i % 2 == 0}}},
                      {"Stage", {{"select", {{"name", i % 3 == 0 ? "Todo" : "Done"}}}}},
                      {"Tags", {{"multi_select", json::array{{{"name", "a"}}, {{"name", "b"}}}}}},
                      {"Due", {{"date", {{"start", "2026-06-01"}}}}},
                      {"Link", {{"url", "https://example.com/item/" + std::to_string(i)}}},
                      {"Contact", {{"email", "owner@example.com"}}}}}});
            }
            emulator.control("fixture", json::object{{"objects", objects}});
        }
    }

    fs::path path(const std::string& name) const { return dir.path() / name; }

    std::vector<std::string> argv(std::vector<std::string> args) const {
        {
            std::ofstream out(path("config.yaml"));
            out << "notion:\n  token: " << test::Emulator::connection_token
                << "\n  base_url: " << emulator.url() << "\n  budget: " << budget
                << "\nstate:\n  dir: " << path("state").string() << "\nconnectors:\n"
                << "  db:\n    type: sqlite\n    path: " << path("out.sqlite").string()
                << "\n  log:\n    type: jsonl\n    path: " << path("events.jsonl").string()
                << "\n    fsync: batch\n"
                << extra_connectors
                << "syncs:\n  - name: items\n    source: { data_source: " << data_source
                << " }\n    every: " << every << "\n    reconcile_every: never\n    targets:\n"
                << (with_db ? "      - connector: db\n" + db_settings : std::string())
                << "      - connector: log\n"
                << extra_targets << extra_syncs;
        }
        std::vector<std::string> out{syncd_binary, "-c", path("config.yaml").string()};
        out.insert(out.end(), args.begin(), args.end());
        return out;
    }

    test::Finished syncd(std::vector<std::string> args = {"sync-once"}) const {
        auto finished = test::run_command(argv(std::move(args)), path("syncd.log"), 3600s);
        if (finished.status != 0) {
            std::ifstream log(path("syncd.log"));
            std::cerr << finished.out << log.rdbuf();
            throw std::runtime_error("notion-syncd failed");
        }
        return finished;
    }

    std::map<std::string, std::size_t> requests() {
        std::map<std::string, std::size_t> out;
        const json::value all = emulator.get("requests");
        for (const auto& c : all.at("counters").as_array()) {
            const auto* connection = c.as_object().if_contains("connection");
            if (!connection || *connection != "connection-1") continue;
            out[std::string(c.at("route").as_string())] += c.at("count").to_number<std::size_t>();
            if (c.at("status").to_number<int>() == 429)
                out["429"] += c.at("count").to_number<std::size_t>();
        }
        return out;
    }
    std::size_t total(const std::map<std::string, std::size_t>& r) {
        std::size_t n = 0;
        for (const auto& [route, count] : r) {
            if (route != "429") n += count;
        }
        return n;
    }
    void edit(int i, int value) {
        char id[40];
        std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", i + 1, i + 1);
        emulator.api(
            "PATCH", std::string("/v1/pages/") + id,
            json::parse(R"({"properties":{"Count":{"number":)" + std::to_string(value) + "}}}"));
    }
};

json::object diff(const std::map<std::string, std::size_t>& after,
                  const std::map<std::string, std::size_t>& before) {
    json::object out;
    for (const auto& [route, count] : after) {
        const auto b = before.contains(route) ? before.at(route) : 0;
        if (count > b) out[route] = count - b;
    }
    return out;
}

std::size_t sum(const json::object& o) {
    std::size_t n = 0;
    for (const auto& [k, v] : o) {
        if (k != "429") n += v.to_number<std::size_t>();
    }
    return n;
}

void requests_scenario(int pages) {
    Bench b;
    b.load(pages);
    b.syncd();
    json::object out{{"scenario", "requests"}, {"pages", pages}};
    const auto full = static_cast<std::size_t>(std::ceil(pages / 100.0));
    out["full_reread_queries"] = full;
    // The schema is kept in the mirror (read again every `schema_every`, 1 h): an idle poll is
    // one query, also in a new sync-once process.
    auto before = b.requests();
    b.syncd();
    auto idle = diff(b.requests(), before);
    out["idle_poll"] = {{"query_requests", idle["/v1/data_sources/{id}/query"]},
                        {"all_requests_incl_schema_read", sum(idle)}};
    json::array changed;
    int value = 1'000'000;
    for (const int k : {1, 10, 100, 250}) {
        for (int i = 0; i < k; ++i) b.edit((i * 7919) % pages, ++value);
        before = b.requests();
        b.syncd();
        auto d = diff(b.requests(), before);
        changed.push_back({{"k", k},
                           {"query_requests", d["/v1/data_sources/{id}/query"]},
                           {"all_requests_incl_schema_read", sum(d)},
                           {"goal_at_most", static_cast<int>(std::ceil(k / 100.0)) + 1}});
    }
    out["changed_pages"] = changed;
    std::cout << syncd::model::to_json_text(out) << std::endl;
}

// Issue #10's figures: two jobs over one data source cost the requests of one; an idle sync-once
// costs one request per data source; a new target's snapshot costs no Notion request.
void targets_scenario(int pages) {
    Bench b;
    b.load(pages, 200);
    b.syncd();
    json::object out{{"scenario", "targets"}, {"pages", pages}};
    auto before = b.requests();
    b.syncd();
    out["idle_sync_once_requests"] = sum(diff(b.requests(), before));
    // A second job over the same data source, with its own target.
    b.extra_connectors =
        "  second:\n    type: jsonl\n    path: " + b.path("second.jsonl").string() + "\n";
    b.extra_syncs = "  - name: again\n    source: { data_source: " + b.data_source +
                    " }\n    reconcile_every: never\n    targets:\n      - connector: second\n";
    before = b.requests();
    b.syncd();
    out["two_jobs_one_data_source_sync_once_requests"] = sum(diff(b.requests(), before));
    // A new target on the first job: a snapshot of every page from the mirror.
    b.extra_connectors +=
        "  late:\n    type: sqlite\n    path: " + b.path("late.sqlite").string() + "\n";
    b.extra_targets = "      - connector: late\n        table: late\n";
    before = b.requests();
    const auto start = std::chrono::steady_clock::now();
    b.syncd();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out["snapshot_sync_once_requests"] = sum(diff(b.requests(), before));
    out["snapshot_sync_once_wall_s"] = wall;
    std::size_t lines = 0;
    {
        std::ifstream second(b.path("second.jsonl"));
        for (std::string line; std::getline(second, line);) ++lines;
    }
    out["second_job_events"] = lines;
    std::cout << syncd::model::to_json_text(out) << std::endl;
}

void initial_scenario(int pages, int latency_ms) {
    Bench b;
    b.load(pages);
    b.budget = "{ per_minute: 180, burst: 5 }";
    b.emulator.control("rate_limit", {{"requests", 180}, {"window_ms", 60'000}});
    b.emulator.control("latency", {{"fixed_ms", latency_ms}, {"jitter_ms", 0}});
    const auto before = b.requests();
    const auto start = std::chrono::steady_clock::now();
    b.syncd();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto d = diff(b.requests(), before);
    const auto used = sum(d);
    // The floor comes from the pages, not from what the daemon used (so wasted requests show):
    // ceil(N/100) queries and one schema read, at 3 per second after the burst of 5.
    const auto needed = static_cast<std::size_t>(std::ceil(pages / 100.0)) + 1;
    const double floor = std::max(0.0, static_cast<double>(needed) - 5) / 3.0;
    std::cout << syncd::model::to_json_text(json::object{
                     {"scenario", "initial"},
                     {"pages", pages},
                     {"latency_ms", latency_ms},
                     {"requests_needed", needed},
                     {"requests_used", used},
                     {"rate_limited_429", d.contains("429") ? d.at("429") : json::value(0)},
                     {"wall_s", wall},
                     {"budget_floor_s", floor},
                     {"wall_over_floor", wall / floor},
                     {"routes", d}})
              << std::endl;
}

// The daemon's CPU per page over a whole `sync-once` process (user + sys), less the CPU of an idle
// `sync-once` (start-up, schema read, one empty poll): new pages, changed pages (every page edited)
// and an unchanged full re-read, once with the jsonl target alone and once with sqlite + jsonl.
void cpu_scenario(int pages) {
    for (const bool with_db : {false, true}) {
        Bench b;
        b.with_db = with_db;
        b.load(pages);
        // Bytes per page as the API returns it.
        const auto sample =
            b.emulator.api("POST", "/v1/data_sources/" + b.data_source + "/query",
                           json::object{{"page_size", 100}}, test::Emulator::connection_token);
        const double bytes_per_page =
            static_cast<double>(json::serialize(sample.at("results")).size()) / 100.0;
        double system = 0;  // of the last measure()
        const auto measure = [&](std::vector<std::string> args = {"sync-once"}) {
            const double before = cpu_seconds_of_children();
            const double system_before = system_cpu_seconds_of_children();
            b.syncd(std::move(args));
            system = system_cpu_seconds_of_children() - system_before;
            return cpu_seconds_of_children() - before;
        };
        const double fresh = measure();
        const double fresh_system = system;
        // Idle: nothing changed since the last poll (the median of three, start-up dominates).
        std::vector<double> idles{measure(), measure(), measure()};
        std::sort(idles.begin(), idles.end());
        const double idle = idles[1];
        b.syncd({"resync", "--job", "items"});
        const double unchanged = measure();
        for (int i = 0; i < pages; ++i) b.edit(i, 1'000'000 + i);
        const double changed = measure();
        const auto per_page = [&](double cpu) { return std::max(0.0, cpu - idle) * 1e6 / pages; };
        std::cout << syncd::model::to_json_text(json::object{
                         {"scenario", "cpu"},
                         {"targets", with_db ? "sqlite+jsonl" : "jsonl"},
                         {"pages", pages},
                         {"bytes_per_page", bytes_per_page},
                         {"idle_sync_once_cpu_ms", idle * 1e3},
                         {"new_page_cpu_us", per_page(fresh)},
                         {"new_page_system_cpu_us", fresh_system * 1e6 / pages},
                         {"changed_page_cpu_us", per_page(changed)},
                         {"unchanged_reread_cpu_us", per_page(unchanged)},
                         {"goal_us",
                          with_db ? json::object{{"new", 45}, {"unchanged", 15}}
                                  : json::object{{"new", 30}, {"changed", 30}, {"unchanged", 15}}},
                         {"note", "whole sync-once process (user+sys) less an idle sync-once"}})
                  << std::endl;
    }
}

void rss_scenario(int pages) {
    Bench b;
    b.load(pages, 200);
    // The daemon's own high-water mark, sampled every 2 ms until it exits (a high-water mark: only
    // growth in its last 2 ms could be missed).
    long peak_kb = 0;
    int samples = 0;
    const auto start = std::chrono::steady_clock::now();
    test::Process daemon(b.argv({"sync-once"}), b.path("syncd.log"));
    std::optional<int> status;
    while (!status) {
        peak_kb = std::max(peak_kb, vm_hwm_kb(daemon.pid()));
        ++samples;
        status = daemon.wait_exit(0ms);
        if (!status) std::this_thread::sleep_for(2ms);
    }
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error("notion-syncd failed in the rss scenario");
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << syncd::model::to_json_text(
                     json::object{{"scenario", "rss"},
                                  {"pages", pages},
                                  {"daemon_peak_rss_mb", peak_kb / 1024.0},
                                  {"measured", "VmHWM of the daemon process"},
                                  {"samples", samples},
                                  {"wall_s", wall}})
              << std::endl;
}

void latency_scenario(int edits) {
    Bench b;
    b.load(500);
    b.every = "5s";
    b.syncd();
    test::Process daemon(b.argv({"run"}), b.path("run.log"));
    std::this_thread::sleep_for(1s);
    std::vector<double> latencies;
    std::mt19937 random(7);
    for (int e = 0; e < edits; ++e) {
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % 3000));
        const int value = 5'000'000 + e;
        const auto start = std::chrono::steady_clock::now();
        b.edit(static_cast<int>(random() % 500), value);
        const std::string needle = "\"Count\":" + std::to_string(value);
        for (;;) {
            std::ifstream in(b.path("events.jsonl"));
            std::stringstream text;
            text << in.rdbuf();
            if (text.str().find(needle) != std::string::npos) break;
            if (std::chrono::steady_clock::now() - start > 60s)
                throw std::runtime_error("an edit did not arrive within 60 s");
            std::this_thread::sleep_for(20ms);
        }
        latencies.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(latencies.begin(), latencies.end());
    auto at = [&](double q) {
        return latencies[std::min(
            latencies.size() - 1,
            static_cast<std::size_t>(q * static_cast<double>(latencies.size())))];
    };
    std::cout << syncd::model::to_json_text(json::object{{"scenario", "latency"},
                                                         {"every_s", 5},
                                                         {"edits", edits},
                                                         {"p50_s", at(0.5)},
                                                         {"p99_s", at(0.99)},
                                                         {"max_s", latencies.back()}})
              << std::endl;
}

// Adaptive polling against notion-emulator in real time (issue 15): `sources` data sources with
// edits in sessions whose frequency is Zipf-skewed over the sources (source i: 1/(i+1) of the
// busiest's sessions; the busiest has one every 2 min; a session is 6 edits 10-30 s apart), two
// daemons side by side on two emulators receiving the same edits at the same moments, both at a
// budget of `per_minute` (emulator limit the same): fixed intervals (min_every = every = the
// round-robin interval the polling budget allows) and adaptive (min_every 5s, every 1.2x that).
// Staleness: from an edit to its event in the jsonl file.
void adaptive_scenario(int minutes, int sources, double per_minute) {
    struct Side {
        Bench bench;
        std::vector<std::string> data_sources;
        std::vector<std::string> pages;
        // Edits not seen yet: value -> (source, when). A poll that finds a page edited twice
        // since the last one sees only the later value: the earlier edit is seen then too.
        std::map<int, std::pair<int, std::chrono::steady_clock::time_point>> pending;
        std::vector<double> staleness;
        std::size_t read_offset = 0;
    };
    const double polling_budget = per_minute / 60.0 * 0.8;  // the daemon's polling share
    const double round_robin_s = std::ceil(sources / polling_budget);
    std::array<Side, 2> sides;  // 0: fixed, 1: adaptive
    for (int k = 0; k < 2; ++k) {
        auto& side = sides[k];
        auto& e = side.bench.emulator;
        const auto home = e.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Adaptive"}}]}}})"));
        const std::string home_id(home.at("id").as_string());
        for (int i = 0; i < sources; ++i) {
            const auto db =
                e.api("POST", "/v1/databases",
                      json::parse(R"({"parent":{"page_id":")" + home_id +
                                  R"("},"title":[{"text":{"content":"S)" + std::to_string(i) +
                                  R"("}}],"initial_data_source":{"properties":{"Name":{"title":{}},
                            "Count":{"number":{}}}}})"));
            side.data_sources.emplace_back(
                db.at("data_sources").as_array()[0].at("id").as_string());
            const auto page = e.api(
                "POST", "/v1/pages",
                json::parse(R"({"parent":{"data_source_id":")" + side.data_sources.back() +
                            R"("},"properties":{"Name":{"title":[{"text":{"content":"P"}}]}}})"));
            side.pages.emplace_back(page.at("id").as_string());
        }
        e.control("share", {{"token", "connection-1"}, {"object_id", home_id}});
        e.control("rate_limit",
                  {{"requests", static_cast<int>(per_minute)}, {"window_ms", 60'000}});
        std::ofstream out(side.bench.path("config.yaml"));
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << e.url() << "\n  budget: { per_minute: " << per_minute
            << " }\nstate:\n  dir: " << side.bench.path("state").string()
            << "\ncontrol:\n  listen: 127.0.0.1:" << test::free_port()
            << "\nconnectors:\n  log:\n    type: jsonl\n    path: "
            << side.bench.path("events.jsonl").string() << "\nsyncs:\n";
        const auto every =
            static_cast<int>(k == 0 ? round_robin_s : std::ceil(1.2 * round_robin_s));
        const int min_every = k == 0 ? every : 5;
        for (int i = 0; i < sources; ++i) {
            out << "  - name: s" << i << "\n    source: { data_source: " << side.data_sources[i]
                << " }\n    every: " << every << "s\n    min_every: " << min_every
                << "s\n    reconcile_every: never\n    targets:\n      - connector: log\n";
        }
    }
    std::vector<std::unique_ptr<test::Process>> daemons;
    for (auto& side : sides) {
        daemons.push_back(std::make_unique<test::Process>(
            std::vector<std::string>{syncd_binary, "-c", side.bench.path("config.yaml").string(),
                                     "run"},
            side.bench.path("run.log")));
    }
    // The edits, planned up front (seeded): sessions per source, Zipf over the sources.
    std::mt19937_64 random(15);
    const double horizon = minutes * 60.0;
    const double busiest_sessions_per_s = 1.0 / 120;  // the busiest source: a session every 2 min
    std::vector<std::pair<double, int>> edits;        // (seconds from start, source)
    for (int i = 0; i < sources; ++i) {
        std::exponential_distribution<double> gap(busiest_sessions_per_s / (i + 1));
        for (double t = 20 + gap(random); t < horizon - 60; t += gap(random)) {
            double at = t;
            for (int n = 0; n < 6 && at < horizon - 60; ++n) {
                edits.emplace_back(at, i);
                at += std::uniform_real_distribution<double>(10, 30)(random);
            }
        }
    }
    std::sort(edits.begin(), edits.end());
    const auto start = std::chrono::steady_clock::now();
    const auto collect = [&] {
        for (auto& side : sides) {
            std::ifstream in(side.bench.path("events.jsonl"));
            in.seekg(static_cast<std::streamoff>(side.read_offset));
            std::string line;
            while (std::getline(in, line)) {
                if (in.eof()) break;  // a line still being written
                side.read_offset += line.size() + 1;
                // The value of `"Count":N` in the line (every event of this scenario has one).
                const auto at = line.find("\"Count\":");
                if (at == std::string::npos) continue;
                const int seen = std::atoi(line.c_str() + at + 8);
                const auto edit = side.pending.find(seen);
                if (edit == side.pending.end()) continue;
                const int source = edit->second.first;
                for (auto it = side.pending.begin();
                     it != side.pending.end() && it->first <= seen;) {
                    if (it->second.first != source) {
                        ++it;
                        continue;
                    }
                    side.staleness.push_back(
                        std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                      it->second.second)
                            .count());
                    it = side.pending.erase(it);
                }
            }
        }
    };
    int value = 0;
    for (const auto& [at, i] : edits) {
        while (std::chrono::steady_clock::now() - start < std::chrono::duration<double>(at)) {
            collect();
            std::this_thread::sleep_for(50ms);
        }
        ++value;
        for (auto& side : sides) {
            side.bench.emulator.api("PATCH", "/v1/pages/" + side.pages[i],
                                    json::parse(R"({"properties":{"Count":{"number":)" +
                                                std::to_string(value) + "}}}"));
            side.pending[value] = {i, std::chrono::steady_clock::now()};
        }
    }
    while (std::chrono::steady_clock::now() - start < std::chrono::duration<double>(horizon)) {
        collect();
        std::this_thread::sleep_for(50ms);
    }
    collect();
    const char* names[] = {"fixed", "adaptive"};
    json::object out{{"scenario", "adaptive"}, {"minutes", minutes},
                     {"sources", sources},     {"per_minute", per_minute},
                     {"edits", edits.size()},  {"round_robin_interval_s", round_robin_s}};
    for (int k = 0; k < 2; ++k) {
        auto& side = sides[k];
        std::sort(side.staleness.begin(), side.staleness.end());
        const auto at = [&](double q) {
            if (side.staleness.empty()) return 0.0;
            return side.staleness[std::min(
                side.staleness.size() - 1,
                static_cast<std::size_t>(q * static_cast<double>(side.staleness.size())))];
        };
        double sum = 0;
        for (double v : side.staleness) sum += v;
        const auto requests = side.bench.requests();
        out[names[k]] = json::object{
            {"mean_staleness_s", side.staleness.empty() ? 0.0 : sum / side.staleness.size()},
            {"p99_staleness_s", at(0.99)},
            {"edits_seen", side.staleness.size()},
            {"edits_not_seen", side.pending.size()},
            {"requests", side.bench.total(requests)},
            {"rate_limited_429", requests.contains("429") ? requests.at("429") : 0}};
    }
    out["mean_ratio"] = out["adaptive"].at("mean_staleness_s").to_number<double>() /
                        std::max(1e-9, out["fixed"].at("mean_staleness_s").to_number<double>());
    std::cout << syncd::model::to_json_text(out) << std::endl;
}

}  // namespace

// Two-way: `edits` rows changed in the sqlite target, written back at 180 requests a minute.
// Requests per written page (goal 1.05 or less: one PATCH each, plus the cycle's poll) and wall
// time against the budget's floor (goal 1.10 or less), CPU per written page.
void two_way_scenario(int pages, int edits) {
    Bench b;
    b.load(pages);
    b.db_settings = "        two_way: { settle: 0s, max_write_ratio: 1 }\n";
    b.syncd();  // the table, at the unlimited budget
    b.budget = "{ per_minute: 180, burst: 5 }";
    b.emulator.control("rate_limit", {{"requests", 180}, {"window_ms", 60'000}});
    {
        syncd::sqlite::Database db(b.path("out.sqlite").string());
        db.exec("UPDATE items SET count = count + 100000 WHERE rowid <= " + std::to_string(edits));
    }
    const auto before = b.requests();
    const double cpu = cpu_seconds_of_children();
    const auto start = std::chrono::steady_clock::now();
    const auto once = b.syncd();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double used_cpu = cpu_seconds_of_children() - cpu;
    const auto d = diff(b.requests(), before);
    const auto used = sum(d);
    const std::size_t needed = static_cast<std::size_t>(edits) + 1;  // a PATCH each, one poll
    const double floor = std::max(0.0, static_cast<double>(needed) - 5) / 3.0;
    std::cout << syncd::model::to_json_text(json::object{
                     {"scenario", "two-way"},
                     {"pages", pages},
                     {"edits", edits},
                     {"requests_used", used},
                     {"requests_per_written_page", static_cast<double>(used) / edits},
                     {"rate_limited_429", d.contains("429") ? d.at("429") : json::value(0)},
                     {"wall_s", wall},
                     {"budget_floor_s", floor},
                     {"wall_over_floor", wall / floor},
                     {"cpu_us_per_written_page", used_cpu * 1e6 / edits},
                     {"routes", d}})
              << std::endl;
}

int main(int argc, char** argv) {
    umask(077);  // the configurations written hold a (test) token
    CLI::App app{"notion-syncd sync benchmarks (JSON lines on stdout)"};
    std::string scenario = "all";
    int pages = 0;
    int latency_ms = 300;
    int edits = 30;
    app.add_option("--syncd", syncd_binary, "notion-syncd binary")->required();
    app.add_option(
        "--scenario", scenario,
        "requests|initial|cpu|rss|latency|targets|two-way|adaptive|all (adaptive: not in all)");
    app.add_option("--pages", pages, "pages (default per scenario)");
    app.add_option("--latency-ms", latency_ms, "emulator latency for `initial`");
    app.add_option("--edits", edits, "edits for `latency` (default 30) and `two-way` (1000)");
    int minutes = 10;
    app.add_option("--minutes", minutes, "real minutes of `adaptive` (default 10)");
    CLI11_PARSE(app, argc, argv);
    try {
        const bool all = scenario == "all";
        if (all || scenario == "requests") requests_scenario(pages ? pages : 1000);
        if (all || scenario == "cpu") cpu_scenario(pages ? pages : 5000);
        if (scenario == "adaptive") adaptive_scenario(minutes, 10, 30);
        if (all || scenario == "rss") rss_scenario(pages ? pages : 100'000);
        if (all || scenario == "latency") latency_scenario(edits);
        if (all || scenario == "targets") targets_scenario(pages ? pages : 20'000);
        if (all || scenario == "initial") initial_scenario(pages ? pages : 20'000, latency_ms);
        if (all || scenario == "two-way") {
            two_way_scenario(pages ? pages : 2000, app.count("--edits") ? edits : 1000);
        }
    } catch (const std::exception& e) {
        std::cerr << "sync_bench: " << e.what() << '\n';
        return 1;
    }
}
