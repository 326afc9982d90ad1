// /metrics of a running notion-syncd as Prometheus reads it (issue 11, item 11): promtool's parser
// and linter accept it without a word, and every family's samples follow its HELP and TYPE lines,
// together. Two jobs with two targets each, so the per-job and per-target families have several
// samples. Without promtool (Debian package prometheus) the test is skipped (exit 77), or fails
// under CI=true.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "daemon/net/http_client.hpp"
#include "daemon/net/url.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::string id_of(const json::value& v) { return std::string(v.at("id").as_string()); }

boost::asio::awaitable<net::Response> fetch(int port, std::string target) {
    // Each co_await a statement of its own, and no braced temporaries around one: g++ 12
    // mis-destroys temporaries of a full expression holding a co_await.
    const auto executor = co_await boost::asio::this_coro::executor;
    net::HttpClient client(executor, net::Url::parse("http://127.0.0.1:" + std::to_string(port)),
                           {});
    net::Request request{.method = "GET", .target = std::move(target)};
    co_return co_await client.send(std::move(request));
}

// GET `target` from the control server; nullopt while it does not listen yet.
std::optional<net::Response> get(int port, const std::string& target) {
    try {
        return test::run(fetch(port, target));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// promtool's path, or "" when it is not installed.
std::string promtool_path() {
    const auto found =
        test::run_command({"/bin/sh", "-c", "command -v promtool"}, "/dev/null", 10s);
    std::string path = found.out.substr(0, found.out.find('\n'));
    return found.status == 0 ? path : "";
}

// A data source in its own database under `parent`, with one page.
std::string data_source_with_a_page(test::Emulator& emulator, const std::string& parent,
                                    const std::string& title) {
    const auto db =
        emulator.api("POST",
                     "/v1/databases", json::parse(R"({"parent":{"page_id":")" + parent + R"("},
        "title":[{"text":{"content":")" + title + R"("}}],
        "initial_data_source":{"properties":{"Name":{"title":{}},"Count":{"number":{}}}}})"));
    const std::string ds = id_of(db.at("data_sources").as_array()[0]);
    emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"data_source_id":")" + ds + R"("},
        "properties":{"Name":{"title":[{"text":{"content":"First"}}]},
                      "Count":{"number":1234.5}}})"));
    return ds;
}

// The text format's rule, checked on its own: a family's HELP and TYPE come once, before its
// samples, and its samples follow them together. Returns the problems, one per line, and counts
// each family's samples in `samples`.
std::string family_problems(const std::string& text, std::map<std::string, int>& samples) {
    std::istringstream in(text);
    std::string problems;
    std::string current;
    std::set<std::string> announced;
    std::map<std::string, std::string> types;
    int number = 0;
    for (std::string line; std::getline(in, line);) {
        ++number;
        const std::string at = "line " + std::to_string(number) + " `" + line + "`: ";
        if (line.empty()) continue;
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            const auto end = line.find(' ', 7);
            const std::string name = line.substr(7, end == std::string::npos ? end : end - 7);
            if (name != current) {
                if (announced.contains(name)) problems += at + "family announced twice\n";
                announced.insert(name);
                current = name;
            }
            if (line.starts_with("# TYPE ")) {
                if (types.contains(name)) problems += at + "second TYPE\n";
                types[name] = end == std::string::npos ? "" : line.substr(end + 1);
            }
            continue;
        }
        if (line.starts_with("#")) continue;
        const std::string name = line.substr(0, line.find_first_of("{ "));
        if (name != current) {
            problems += at + (announced.contains(name) ? "sample apart from its family\n"
                                                       : "sample without HELP and TYPE\n");
        } else if (!types.contains(name)) {
            problems += at + "sample before its TYPE\n";
        }
        ++samples[name];
    }
    return problems;
}

}  // namespace

TEST_CASE("metrics: promtool check metrics accepts /metrics of two jobs with two targets each") {
    const std::string promtool = promtool_path();
    if (promtool.empty()) {
        const char* ci = std::getenv("CI");
        REQUIRE_MESSAGE((ci == nullptr || std::string(ci) != "true"),
                        "promtool is not installed (scripts/install-deps installs prometheus)");
        std::puts("skipped: promtool is not installed (Debian package prometheus)");
        std::fflush(stdout);
        std::exit(77);  // SKIP_RETURN_CODE in tests/CMakeLists.txt
    }

    test::TempDir dir;
    test::Emulator emulator(dir);
    emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
    const std::string home =
        id_of(emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})")));
    const std::string tasks = data_source_with_a_page(emulator, home, "Tasks");
    const std::string notes = data_source_with_a_page(emulator, home, "Notes");
    emulator.control("share", {{"token", "connection-1"}, {"object_id", home}});

    const int port = test::free_port();
    {
        std::ofstream out(dir.path() / "config.yaml");
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << emulator.url()
            << "\nstate:\n  dir: " << (dir.path() / "state").string()
            << "\ncontrol:\n  listen: 127.0.0.1:" << port << "\nconnectors:\n";
        for (const char* name : {"log", "audit"}) {
            out << "  " << name << ":\n    type: jsonl\n    path: "
                << (dir.path() / (std::string(name) + ".jsonl")).string() << "\n";
        }
        out << "syncs:\n";
        for (const auto& [job, ds] : {std::pair{"tasks", tasks}, std::pair{"notes", notes}}) {
            out << "  - name: " << job << "\n    source: { data_source: " << ds
                << " }\n    every: 60s\n    targets:\n      - connector: log\n"
                << "      - connector: audit\n";
        }
    }
    test::Process daemon({SYNCD_DAEMON_BINARY, "-c", (dir.path() / "config.yaml").string(), "run"},
                         dir.path() / "run.log");

    // Both pages delivered to all four targets: every family has its samples.
    std::string metrics;
    const bool delivered = test::wait_until(20s, [&] {
        const auto response = get(port, "/metrics");
        if (!response || response->status != 200) return false;
        metrics = response->body;
        for (const char* target : {"tasks/log", "tasks/audit", "notes/log", "notes/audit"}) {
            const auto n =
                test::metric_value(metrics, "notion_syncd_events_delivered_total{target=\"" +
                                                std::string(target) + "\"}");
            if (n.value_or(0) < 1) return false;
        }
        return true;
    });
    INFO(metrics);
    REQUIRE(delivered);

    std::ofstream(dir.path() / "metrics.txt") << metrics;
    const auto checked = test::run_command({"/bin/sh", "-c", "\"$0\" check metrics < \"$1\" 2>&1",
                                            promtool, (dir.path() / "metrics.txt").string()},
                                           dir.path() / "promtool.log", 30s);
    INFO("promtool check metrics: " << checked.out);
    CHECK(checked.status == 0);
    CHECK(checked.out.empty());

    std::map<std::string, int> samples;
    CHECK(family_problems(metrics, samples).empty());
    for (const char* per_job :
         {"notion_syncd_poll_lag_seconds", "notion_syncd_last_success_timestamp_seconds",
          "notion_syncd_poll_failures_total", "notion_syncd_held_deletes"}) {
        CAPTURE(per_job);
        CHECK(samples[per_job] == 2);
    }
    for (const char* per_target :
         {"notion_syncd_events_pending", "notion_syncd_events_delivered_total",
          "notion_syncd_dead_letters"}) {
        CAPTURE(per_target);
        CHECK(samples[per_target] == 4);
    }
    CHECK(samples["notion_syncd_requests_total"] >= 2);
    CHECK(samples["notion_syncd_webhooks_total"] == 6);
    // Per job the label is `sync`: `job` is Prometheus' own target label.
    CHECK(metrics.find("notion_syncd_poll_lag_seconds{sync=\"tasks\"}") != std::string::npos);
    CHECK(metrics.find("{job=") == std::string::npos);

    // The alert rules and the Grafana dashboard (packaging/monitoring) use only families this
    // daemon exports; promtool checks the rules and runs their unit tests.
    const fs::path monitoring = fs::path(SYNCD_SOURCE_DIR) / "packaging" / "monitoring";
    for (const char* file : {"notion-syncd.rules.yml", "grafana-dashboard.json"}) {
        std::ifstream in(monitoring / file);
        std::stringstream text;
        text << in.rdbuf();
        const std::string body = text.str();
        REQUIRE(!body.empty());
        std::set<std::string> used;
        for (std::size_t at = body.find("notion_syncd_"); at != std::string::npos;
             at = body.find("notion_syncd_", at + 1)) {
            std::size_t end = at;
            while (end < body.size() &&
                   (std::isalnum(static_cast<unsigned char>(body[end])) || body[end] == '_'))
                ++end;
            used.insert(body.substr(at, end - at));
        }
        CHECK(used.size() >= 5);
        for (const auto& name : used) {
            INFO(file << " uses " << name);
            CHECK(samples.contains(name));
        }
    }
    for (const std::string command :
         {"check rules notion-syncd.rules.yml", "test rules notion-syncd.rules.test.yml"}) {
        const auto ran =
            test::run_command({"/bin/sh", "-c", "cd \"$1\" && \"$0\" " + command + " 2>&1",
                               promtool, monitoring.string()},
                              dir.path() / "promtool-rules.log", 60s);
        INFO("promtool " << command << ": " << ran.out);
        CHECK(ran.status == 0);
        CHECK(ran.out.find("SUCCESS") != std::string::npos);
    }
}

TEST_CASE("metrics: the family check finds samples apart from their family") {
    std::map<std::string, int> samples;
    CHECK(
        family_problems("# HELP a_total x\n# TYPE a_total counter\na_total 1\n", samples).empty());
    const std::string split =
        "# HELP a_total x\n# TYPE a_total counter\na_total{j=\"1\"} 1\n"
        "# HELP b y\n# TYPE b gauge\nb 2\na_total{j=\"2\"} 1\n";
    CHECK(family_problems(split, samples).find("sample apart from its family") !=
          std::string::npos);
    CHECK(family_problems("c 1\n", samples).find("sample without HELP and TYPE") !=
          std::string::npos);
    CHECK(family_problems("# HELP d x\nd 1\n# TYPE d gauge\n", samples)
              .find("sample before its TYPE") != std::string::npos);
}
