// PostgreSQL benchmarks (issue #5), one JSON object per scenario, against a throwaway cluster
// with PostgreSQL's default durability (fsync and synchronous commit on):
//   rows    the postgres connector driven directly with synthetic ChangeBatches of --batch
//           events (100 and 1000 by default): rows/s for N new pages, then for N updates; the
//           connector's CPU (this process: SQL building, parameters, libpq) and the server's CPU
//           per event. Goal: >= 20,000 rows/s for 100,000 pages.
//   daemon  the real notion-syncd: sync-once of N pages from notion-emulator into PostgreSQL
//           (the only target): wall time and the daemon's CPU per event, polling included.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "connectors/connector.hpp"
#include "tests/support/postgres.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

double seconds(const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

double tenths(double x) { return std::round(x * 10) / 10; }

double cpu_of(int who) {
    rusage usage{};
    getrusage(who, &usage);
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU seconds of the cluster: the postmaster (first line of postmaster.pid), its live children
// and the children it has reaped.
double server_cpu(const test::PostgresCluster& pg) {
    const std::string pid_text =
        pg.scalar("SELECT pg_read_file('postmaster.pid', 0, 16)");  // the data dir's
    const int postmaster = std::atoi(pid_text.c_str());
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    double total = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        std::ifstream in(entry.path() / "stat");
        std::string stat;
        std::getline(in, stat);
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 2));
        std::string state;
        long ppid = 0;
        fields >> state >> ppid;
        const int pid = std::atoi(name.c_str());
        if (pid != postmaster && ppid != postmaster) continue;
        std::string skip;
        for (int i = 0; i < 9; ++i) fields >> skip;  // pgrp … cmajflt
        double utime = 0, stime = 0, cutime = 0, cstime = 0;
        fields >> utime >> stime >> cutime >> cstime;
        total += (utime + stime) / ticks;
        // Backends that ended (the daemon's, when it exits) count in the postmaster's children.
        if (pid == postmaster) total += (cutime + cstime) / ticks;
    }
    return total;
}

std::string page_id(int i) {
    char id[40];
    std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", i + 1, i + 1);
    return id;
}

model::Schema schema() {
    return {.data_source_id = "bench-ds",
            .title = "Items",
            .properties = {{"title", "Name", "title"},
                           {"n1", "Notes", "rich_text"},
                           {"n2", "Count", "number"},
                           {"n3", "Done", "checkbox"},
                           {"n4", "Stage", "select"},
                           {"n5", "Tags", "multi_select"},
                           {"n6", "Due", "date"},
                           {"n7", "Link", "url"},
                           {"n8", "Contact", "email"}}};
}

// A page as the poller would send it: the whole row, every property.
model::ChangeEvent event(int i, const std::string& kind, int round, const std::string& notes) {
    char edited[48];
    std::snprintf(edited, sizeof edited, "2026-05-%02dT%02d:%02d:00.000Z", 1 + round, i / 60 % 24,
                  i % 60);
    model::ChangeEvent e{.seq = i,
                         .kind = kind,
                         .sync = "bench",
                         .data_source_id = "bench-ds",
                         .page_id = page_id(i),
                         .last_edited_time = edited,
                         .url = "https://www.notion.so/" + page_id(i)};
    e.properties = {{"Name", "Item " + std::to_string(i)},
                    {"Notes", notes},
                    {"Count", i + round},
                    {"Done", i % 2 == 0},
                    {"Stage", i % 3 == 0 ? "Todo" : "Done"},
                    {"Tags", json::array{"a", "b"}},
                    {"Due", json::object{{"start", "2026-06-01"}, {"end", nullptr}}},
                    {"Link", "https://example.com/item/" + std::to_string(i)},
                    {"Contact", "owner@example.com"}};
    e.property_ids = {{"Name", "title"}, {"Notes", "n1"}, {"Count", "n2"},
                      {"Done", "n3"},    {"Stage", "n4"}, {"Tags", "n5"},
                      {"Due", "n6"},     {"Link", "n7"},  {"Contact", "n8"}};
    return e;
}

std::unique_ptr<connectors::Connector> make_connector(const test::PostgresCluster& pg,
                                                      const std::string& table) {
    auto problems = std::make_shared<config::Problems>();
    config::SettingsReader reader(YAML::Load("type: postgres\ndsn: \"" + pg.dsn() + "\"\n"),
                                  "connectors.pg", problems);
    reader.string_or("type", "");
    connectors::Registry registry;
    connectors::add_builtin_connectors(registry);
    connectors::ConnectorContext context{.name = "bench",
                                         .target = {.sync = "bench", .table = table}};
    auto connector = registry.create("postgres", reader, context);
    reader.finish();
    problems->throw_if_any();
    return connector;
}

// Delivers every batch in order on one io_context; returns the wall seconds.
double deliver_all(connectors::Connector& connector,
                   const std::vector<connectors::ChangeBatch>& batches) {
    boost::asio::io_context io;
    auto task = [&]() -> boost::asio::awaitable<void> {
        for (const auto& batch : batches) {
            connectors::ChangeBatch copy = batch;
            co_await connector.deliver(std::move(copy));
        }
    };
    const auto start = std::chrono::steady_clock::now();
    auto future = boost::asio::co_spawn(io, task(), boost::asio::use_future);
    io.run();
    future.get();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<connectors::ChangeBatch> batches(int pages, int size, const std::string& kind,
                                             int round, const std::string& notes) {
    std::vector<connectors::ChangeBatch> out;
    for (int start = 0; start < pages; start += size) {
        connectors::ChangeBatch b{.target = "bench/pg", .sync = "bench"};
        for (int i = start; i < std::min(pages, start + size); ++i)
            b.events.push_back(event(i, kind, round, notes));
        b.schemas.emplace("bench-ds", schema());
        out.push_back(std::move(b));
    }
    return out;
}

void rows_scenario(test::PostgresCluster& pg, int pages, int batch, int notes_chars) {
    const std::string notes(static_cast<std::size_t>(notes_chars), 'x');
    const std::string table = "bench_" + std::to_string(batch);
    auto connector = make_connector(pg, table);
    {
        boost::asio::io_context io;
        auto future = boost::asio::co_spawn(io, connector->start(), boost::asio::use_future);
        io.run();
        future.get();
    }
    json::object out{{"scenario", "rows"},
                     {"pages", pages},
                     {"batch", batch},
                     {"notes_chars", notes_chars},
                     {"goal_rows_per_s", 20'000}};
    for (const auto& [pass, kind, round] :
         {std::tuple{"insert", "created", 0}, std::tuple{"update", "updated", 1}}) {
        // ChangeEvents are made before the clock starts: the daemon has them already.
        const auto work = batches(pages, batch, kind, round, notes);
        const double client_before = cpu_of(RUSAGE_SELF);
        const double server_before = server_cpu(pg);
        const double wall = deliver_all(*connector, work);
        const double client = cpu_of(RUSAGE_SELF) - client_before;
        const double server = server_cpu(pg) - server_before;
        out[std::string(pass) + "_rows_per_s"] = std::llround(pages / wall);
        out[std::string(pass) + "_wall_s"] = tenths(wall * 100) / 100;
        out[std::string(pass) + "_connector_cpu_us_per_event"] = tenths(client / pages * 1e6);
        out[std::string(pass) + "_server_cpu_us_per_event"] = tenths(server / pages * 1e6);
    }
    const std::string count = pg.scalar("SELECT COUNT(*) FROM " + table);
    if (count != std::to_string(pages))
        throw std::runtime_error(table + " holds " + count + " rows, not " + std::to_string(pages));
    out["rows_in_table"] = pages;
    std::cout << json::serialize(out) << std::endl;
}

// The whole daemon: emulator -> notion-syncd -> PostgreSQL.
void daemon_scenario(test::PostgresCluster& pg, const std::string& syncd, int pages,
                     int notes_chars) {
    test::TempDir dir;
    test::Emulator emulator(dir);
    emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
    const auto home = emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
        "properties":{"title":{"title":[{"text":{"content":"Bench"}}]}}})"));
    const std::string home_id(home.at("id").as_string());
    const auto db = emulator.api("POST", "/v1/databases",
                                 json::parse(R"({"parent":{"page_id":")" + home_id + R"("},
        "title":[{"text":{"content":"Items"}}],"initial_data_source":{"properties":{
          "Name":{"title":{}},"Notes":{"rich_text":{}},"Count":{"number":{}},
          "Done":{"checkbox":{}},"Stage":{"select":{}},"Tags":{"multi_select":{}},
          "Due":{"date":{}},"Link":{"url":{}},"Contact":{"email":{}}}}})"));
    const std::string ds(db.at("data_sources").as_array()[0].at("id").as_string());
    emulator.control("share", {{"token", "connection-1"}, {"object_id", home_id}});
    const std::string notes(static_cast<std::size_t>(notes_chars), 'x');
    for (int start = 0; start < pages; start += 2000) {
        json::array objects;
        for (int i = start; i < std::min(pages, start + 2000); ++i) {
            char created[32];
            std::snprintf(created, sizeof created, "2026-0%d-%02dT%02d:%02d:00.000Z",
                          1 + i / 40'000, 1 + i / 1440 % 28, i / 60 % 24, i % 60);
            objects.push_back(json::object{
                {"object", "page"},
                {"id", page_id(i)},
                {"parent", {{"type", "data_source_id"}, {"data_source_id", ds}}},
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
    {
        std::ofstream config(dir.path() / "config.yaml");
        config << "notion:\n  token: " << test::Emulator::connection_token
               << "\n  base_url: " << emulator.url()
               << "\n  budget: { per_minute: 60000, burst: 200 }\nstate:\n  dir: "
               << (dir.path() / "state").string()
               << "\nconnectors:\n  pg:\n    type: postgres\n    dsn: \"" << pg.dsn()
               << "\"\nsyncs:\n  - name: items\n    source: { data_source: " << ds
               << " }\n    reconcile_every: never\n    targets:\n      - connector: pg\n        "
                  "table: items\n";
    }
    // It holds a literal token: readable by its owner only.
    fs::permissions(dir.path() / "config.yaml", fs::perms::owner_read | fs::perms::owner_write);
    const double before = cpu_of(RUSAGE_CHILDREN);
    const double server_before = server_cpu(pg);
    const auto start = std::chrono::steady_clock::now();
    const auto finished =
        test::run_command({syncd, "-c", (dir.path() / "config.yaml").string(), "sync-once"},
                          dir.path() / "syncd.log", 3600s);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = cpu_of(RUSAGE_CHILDREN) - before;
    const double server = server_cpu(pg) - server_before;
    if (finished.status != 0) {
        std::ifstream log(dir.path() / "syncd.log");
        std::cerr << finished.out << log.rdbuf();
        throw std::runtime_error("notion-syncd failed");
    }
    const std::string count = pg.scalar("SELECT COUNT(*) FROM items");
    if (count != std::to_string(pages))
        throw std::runtime_error("items holds " + count + " rows, not " + std::to_string(pages));
    std::cout << json::serialize(
                     json::object{{"scenario", "daemon"},
                                  {"pages", pages},
                                  {"notes_chars", notes_chars},
                                  {"wall_s", tenths(wall * 100) / 100},
                                  {"pages_per_s", std::llround(pages / wall)},
                                  {"daemon_cpu_us_per_event", tenths(cpu / pages * 1e6)},
                                  {"server_cpu_us_per_event", tenths(server / pages * 1e6)}})
              << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"notion-syncd PostgreSQL benchmarks (JSON lines on stdout)"};
    std::string scenario = "all";
    int pages = 100'000;
    int daemon_pages = 20'000;
    std::vector<int> sizes = {100, 1000};
    int notes_chars = 200;
    std::string syncd = SYNCD_DAEMON_BINARY;
    app.add_option("--scenario", scenario, "rows|daemon|all");
    app.add_option("--pages", pages, "pages for `rows`");
    app.add_option("--daemon-pages", daemon_pages, "pages for `daemon`");
    app.add_option("--batch", sizes, "events per ChangeBatch for `rows` (repeatable)");
    app.add_option("--notes-chars", notes_chars, "characters of the rich text property");
    app.add_option("--syncd", syncd, "notion-syncd binary")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    try {
        test::PostgresCluster pg(test::PostgresOptions{.durable = true});
        const bool all = scenario == "all";
        if (all || scenario == "rows") {
            for (const int size : sizes) rows_scenario(pg, pages, size, notes_chars);
        }
        if (all || scenario == "daemon") daemon_scenario(pg, syncd, daemon_pages, notes_chars);
    } catch (const std::exception& e) {
        std::cerr << "postgres_bench: " << e.what() << '\n';
        return 1;
    }
}
