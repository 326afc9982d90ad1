// notion-syncd as a service (issue #6): the sd_notify protocol seen by a local NOTIFY_SOCKET, the
// control server, Notion webhook hints (from the emulator's webhook sender), reload on SIGHUP and
// shutdown on SIGTERM, and no secret in anything the daemon printed.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "daemon/http/notion_webhook.hpp"
#include "daemon/model/sqlite.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/net/url.hpp"
#include "tests/support/process.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;
using test::read_file;
using test::wait_until;

namespace {

// A unix datagram socket standing in for systemd's notification socket. Like systemd, it reads
// all the time (sd_notify blocks when nobody does).
class NotifySocket {
public:
    explicit NotifySocket(const fs::path& path) {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        timeval timeout{.tv_sec = 0, .tv_usec = 50'000};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        reader_ = std::thread([this] {
            while (!done_) {
                char buffer[4096];
                const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
                if (n <= 0) continue;
                std::lock_guard lock(mutex_);
                messages_.emplace_back(buffer, static_cast<std::size_t>(n));
            }
        });
    }
    ~NotifySocket() {
        done_ = true;
        reader_.join();
        close(fd_);
    }
    // Waits until a message not seen by an earlier wait contains `text`.
    bool wait_for(const std::string& text, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            {
                std::lock_guard lock(mutex_);
                for (; next_ < messages_.size(); ++next_) {
                    if (messages_[next_].find(text) != std::string::npos) {
                        ++next_;
                        return true;
                    }
                }
            }
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }
    std::vector<std::string> messages() {
        std::lock_guard lock(mutex_);
        return messages_;
    }

private:
    int fd_ = -1;
    std::atomic<bool> done_ = false;
    std::mutex mutex_;
    std::vector<std::string> messages_;
    std::size_t next_ = 0;
    std::thread reader_;
};

net::Response call(int port, const std::string& method, const std::string& target,
                   const std::string& body = {}, net::Headers headers = {}) {
    return test::run([&]() -> boost::asio::awaitable<net::Response> {
        const auto executor = co_await boost::asio::this_coro::executor;
        net::HttpClient client(executor,
                               net::Url::parse("http://127.0.0.1:" + std::to_string(port)), {});
        net::Request request{.method = method, .target = target, .headers = headers, .body = body};
        co_return co_await client.send(std::move(request));
    }());
}

// The status of GET `target` once the control server listens (10 s at most; 0 if it never did).
int status_when_listening(int port, const std::string& target) {
    int status = 0;
    wait_until(10s, [&] {
        try {
            status = call(port, "GET", target).status;
            return true;
        } catch (const std::exception&) {
            return false;  // not listening yet
        }
    });
    return status;
}

constexpr const char* webhook_secret = "secret_test_webhook_verification_token_0123456789";

struct Service {
    test::TempDir dir;
    test::Emulator emulator{dir};
    std::string home;
    std::string data_source;
    std::string page;
    int port = test::free_port();

    Service() {
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
        home =
            std::string(emulator
                            .api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})"))
                            .at("id")
                            .as_string());
        const auto db = emulator.api("POST", "/v1/databases",
                                     json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},"Count":{"number":{}}}}})"));
        data_source = std::string(db.at("data_sources").as_array()[0].at("id").as_string());
        page = std::string(
            emulator
                .api("POST", "/v1/pages",
                     json::parse(R"({"parent":{"data_source_id":")" + data_source + R"("},
            "properties":{"Name":{"title":[{"text":{"content":"One"}}]}}})"))
                .at("id")
                .as_string());
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home}});
        write_config("tasks", "60s");
    }

    void write_config(const std::string& job, const std::string& every,
                      const std::string& extra = {}) const {
        std::ofstream out(dir.path() / "config.yaml");
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << emulator.url()
            << "\nstate:\n  dir: " << (dir.path() / "state").string()
            << "\ncontrol:\n  listen: 127.0.0.1:" << port
            << "\n  webhook_secret: " << webhook_secret
            << "\nconnectors:\n  log:\n    type: jsonl\n    path: "
            << (dir.path() / "events.jsonl").string() << "\nsyncs:\n  - name: " << job
            << "\n    source: { data_source: " << data_source << " }\n    every: " << every
            << "\n    targets:\n      - connector: log\n"
            << extra;
    }

    std::size_t events_with(const std::string& text) const {
        const std::string all = read_file(dir.path() / "events.jsonl");
        std::size_t n = 0;
        for (auto at = all.find(text); at != std::string::npos; at = all.find(text, at + 1)) ++n;
        return n;
    }
};

}  // namespace

TEST_CASE("run: sd_notify, control server, webhook hints, reload and stop") {
    Service s;
    NotifySocket notify(s.dir.path() / "notify.sock");
    setenv("NOTIFY_SOCKET", (s.dir.path() / "notify.sock").c_str(), 1);
    setenv("WATCHDOG_USEC", "400000", 1);
    unsetenv("WATCHDOG_PID");
    auto daemon = std::make_unique<test::Process>(
        std::vector<std::string>{SYNCD_DAEMON_BINARY, "-c", (s.dir.path() / "config.yaml").string(),
                                 "run"},
        s.dir.path() / "run.log");
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");

    REQUIRE(notify.wait_for("READY=1", 10s));
    CHECK(notify.wait_for("WATCHDOG=1", 3s));
    REQUIRE(wait_until(5s, [&] { return s.events_with("\"created\"") >= 1; }));
    REQUIRE(s.events_with("\"created\"") == 1);

    CHECK(call(s.port, "GET", "/healthz").status == 200);
    CHECK(call(s.port, "GET", "/readyz").status == 200);
    const auto metrics = call(s.port, "GET", "/metrics").body;
    for (const char* family :
         {"notion_syncd_requests_total{route=\"POST /v1/data_sources/{id}/query\",status=\"200\"}",
          "notion_syncd_rate_limited_total", "notion_syncd_budget_used",
          "notion_syncd_budget_queue_depth{priority=\"poll\"}",
          "notion_syncd_poll_lag_seconds{sync=\"tasks\"}",
          "notion_syncd_held_deletes{sync=\"tasks\"}",
          "notion_syncd_last_success_timestamp_seconds{sync=\"tasks\"}",
          "notion_syncd_webhooks_total"}) {
        CAPTURE(family);
        CHECK(metrics.find(family) != std::string::npos);
    }
    CHECK(test::metric_value(metrics, "notion_syncd_events_pending{target=\"tasks/log\"}") == 0);
    CHECK(test::metric_value(metrics,
                             "notion_syncd_events_delivered_total{target=\"tasks/log\"}") == 1);
    CHECK(test::metric_value(metrics, "notion_syncd_dead_letters{target=\"tasks/log\"}") == 0);
    const auto status = json::parse(call(s.port, "GET", "/v1/status").body).as_object();
    CHECK(status.at("jobs").as_array()[0].at("name") == "tasks");
    CHECK(status.at("jobs").as_array()[0].at("targets").as_array()[0].at("pending") == 0);
    // `notion-syncd status` reads the running daemon.
    const auto cli = test::run_command(
        {SYNCD_DAEMON_BINARY, "-c", (s.dir.path() / "config.yaml").string(), "status"},
        s.dir.path() / "status.log", 20s);
    CHECK(cli.status == 0);
    CHECK(cli.out.find("from the running daemon") != std::string::npos);

    // "Sync now".
    CHECK(call(s.port, "POST", "/v1/jobs/tasks/sync").status == 202);
    CHECK(call(s.port, "POST", "/v1/jobs/nope/sync").status == 404);

    // Webhooks: the emulator sends the handshake, then signed events for changes; each event
    // becomes a poll of the job, so the change arrives long before `every: 60s`.
    s.emulator.control(
        "webhooks", {{"url", "http://127.0.0.1:" + std::to_string(s.port) + "/v1/webhooks/notion"},
                     {"verification_token", webhook_secret},
                     {"connection", "connection-1"},
                     {"aggregation_delay_ms", 0}});
    std::vector<double> latencies;
    for (int i = 0; i < 10; ++i) {
        const auto start = std::chrono::steady_clock::now();
        s.emulator.api(
            "PATCH", "/v1/pages/" + s.page,
            json::parse(R"({"properties":{"Count":{"number":)" + std::to_string(100 + i) + "}}}"));
        // The value followed by what ends it in JSON: "Count":10 is not "Count":100.
        const std::string needle = "\"Count\":" + std::to_string(100 + i);
        const auto events = [&] {
            return s.events_with(needle + ",") + s.events_with(needle + "}");
        };
        wait_until(10s, [&] { return events() > 0; });
        latencies.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        CHECK(events() == 1);
    }
    std::sort(latencies.begin(), latencies.end());
    MESSAGE("edit -> webhook -> event latency p50 " << latencies[5] << " s, max " << latencies[9]
                                                    << " s");
    CHECK(latencies[9] < 2.0);
    // Forged and malformed requests.
    const std::string forged =
        R"({"id":"x","type":"page.created","entity":{"id":")" + s.page + R"(","type":"page"}})";
    CHECK(call(s.port, "POST", "/v1/webhooks/notion", forged,
               {{"X-Notion-Signature", http::sign(forged, "wrong")}})
              .status == 401);
    CHECK(call(s.port, "POST", "/v1/webhooks/notion", forged).status == 401);
    CHECK(call(s.port, "POST", "/v1/webhooks/notion", "{not json",
               {{"X-Notion-Signature", http::sign("{not json", webhook_secret)}})
              .status == 400);
    const auto counted = call(s.port, "GET", "/metrics").body;
    CHECK(test::metric_value(counted, "notion_syncd_webhooks_total{outcome=\"bad_signature\"}") ==
          2);
    CHECK(test::metric_value(counted, "notion_syncd_webhooks_total{outcome=\"verification\"}") ==
          1);

    // A bad configuration on SIGHUP is refused and the service goes on; a good one is applied.
    { std::ofstream(s.dir.path() / "config.yaml", std::ios::app) << "bogus: 1\n"; }
    kill(daemon->pid(), SIGHUP);
    REQUIRE(notify.wait_for("RELOADING=1", 5s));
    REQUIRE(notify.wait_for("reload refused", 5s));
    CHECK(call(s.port, "GET", "/healthz").status == 200);
    s.write_config("renamed", "60s");
    kill(daemon->pid(), SIGHUP);
    REQUIRE(notify.wait_for("READY=1", 10s));
    const auto job_name = [&]() -> std::string {
        try {
            const auto answer = json::parse(call(s.port, "GET", "/v1/status").body);
            return std::string(answer.at("jobs").as_array()[0].at("name").as_string());
        } catch (const std::exception&) {
            return "";  // the control server is being replaced
        }
    };
    CHECK(wait_until(10s, [&] { return job_name() == "renamed"; }));

    // SIGTERM: STOPPING, then exit 0.
    kill(daemon->pid(), SIGTERM);
    CHECK(notify.wait_for("STOPPING=1", 5s));
    const auto exited = daemon->wait_exit(10s);
    REQUIRE_MESSAGE(exited.has_value(), "the daemon was still running 10 s after SIGTERM");
    CHECK(WIFEXITED(*exited));
    CHECK(WEXITSTATUS(*exited) == 0);

    // Secrets never appear in what the daemon printed or told systemd.
    std::string printed =
        read_file(s.dir.path() / "run.log") + read_file(s.dir.path() / "status.log") + cli.out;
    for (const auto& m : notify.messages()) printed += m;
    CHECK(printed.find(test::Emulator::connection_token) == std::string::npos);
    CHECK(printed.find(webhook_secret) == std::string::npos);
    CHECK(metrics.find(webhook_secret) == std::string::npos);
}

TEST_CASE("a control server off loopback needs a token, and then checks it") {
    Service s;
    std::ofstream(s.dir.path() / "auth") << "control-secret\n";
    const auto write = [&](const std::string& auth) {
        std::ofstream(s.dir.path() / "config.yaml", std::ios::trunc)
            << "notion:\n  token: x\n  base_url: " << s.emulator.url()
            << "\nstate:\n  dir: " << (s.dir.path() / "state").string()
            << "\ncontrol:\n  listen: 0.0.0.0:" << s.port << "\n"
            << auth << "connectors:\n  log:\n    type: jsonl\n    path: "
            << (s.dir.path() / "x.jsonl").string() << "\nsyncs: []\n";
    };
    write("");
    const auto refused = test::run_command(
        {SYNCD_DAEMON_BINARY, "-c", (s.dir.path() / "config.yaml").string(), "check-config"},
        s.dir.path() / "check.log", 20s);
    CHECK(refused.status == 78);
    CHECK(read_file(s.dir.path() / "check.log").find("needs auth_token_file") != std::string::npos);

    // With the token file it runs, listening on every address, and checks the token.
    write("  auth_token_file: " + (s.dir.path() / "auth").string() + "\n");
    test::Process daemon(
        {SYNCD_DAEMON_BINARY, "-c", (s.dir.path() / "config.yaml").string(), "run"},
        s.dir.path() / "run.log");
    CHECK(status_when_listening(s.port, "/v1/status") == 401);
    CHECK(call(s.port, "GET", "/v1/status", {}, {{"Authorization", "Bearer control-secret"}})
              .status == 200);
    CHECK(call(s.port, "GET", "/metrics", {}, {{"Authorization", "Bearer control-secre"}}).status ==
          401);
}

TEST_CASE("with control.auth_token the control server wants the bearer token, webhooks do not") {
    Service s;
    {
        std::ofstream(s.dir.path() / "auth") << "control-secret-token\n";
        std::ofstream out(s.dir.path() / "config.yaml", std::ios::app);
    }
    // The same config, with an auth token file for the control server.
    std::string text = read_file(s.dir.path() / "config.yaml");
    const std::string listen = "  listen: 127.0.0.1:" + std::to_string(s.port) + "\n";
    text.replace(text.find(listen), listen.size(),
                 listen + "  auth_token_file: " + (s.dir.path() / "auth").string() + "\n");
    std::ofstream(s.dir.path() / "config.yaml", std::ios::trunc) << text;
    test::Process daemon(
        {SYNCD_DAEMON_BINARY, "-c", (s.dir.path() / "config.yaml").string(), "run"},
        s.dir.path() / "run.log");
    CHECK(status_when_listening(s.port, "/healthz") == 401);
    CHECK(call(s.port, "GET", "/v1/status", {}, {{"Authorization", "Bearer wrong"}}).status == 401);
    CHECK(call(s.port, "GET", "/v1/status", {}, {{"Authorization", "Bearer control-secret-token"}})
              .status == 200);
    // The Notion webhook route is authenticated by its signature instead.
    const std::string body = R"({"verification_token":"secret_from_notion_0123456789"})";
    CHECK(call(s.port, "POST", "/v1/webhooks/notion", body).status == 200);
    CHECK(read_file(s.dir.path() / "run.log").find("control-secret-token") == std::string::npos);
}

TEST_CASE(
    "a target blocked for 10 s holds up neither polling, nor the other targets, nor the "
    "control server") {
    Service s;
    {
        std::ofstream out(s.dir.path() / "config.yaml");
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << s.emulator.url()
            << "\nstate:\n  dir: " << (s.dir.path() / "state").string()
            << "\ncontrol:\n  listen: 127.0.0.1:" << s.port
            << "\nconnectors:\n  log:\n    type: jsonl\n    path: "
            << (s.dir.path() / "events.jsonl").string()
            << "\n  db:\n    type: sqlite\n    path: " << (s.dir.path() / "out.sqlite").string()
            << "\nsyncs:\n  - name: tasks\n    source: { data_source: " << s.data_source
            << " }\n    every: 1s\n    targets:\n      - connector: log\n      - connector: db\n";
    }
    test::Process daemon(
        {SYNCD_DAEMON_BINARY, "-c", (s.dir.path() / "config.yaml").string(), "run"},
        s.dir.path() / "run.log");
    REQUIRE(wait_until(10s, [&] { return s.events_with("\"created\"") == 1; }));
    sqlite::Database db((s.dir.path() / "out.sqlite").string());
    const auto count = [&] {  // -2: no row (or no table) yet, -1: Count empty
        try {
            auto q = db.prepare("SELECT count FROM tasks WHERE page_id = ?");
            q.bind(1, s.page);
            if (!q.step()) return -2.0;
            return q.is_null(0) ? -1.0 : q.real(0);
        } catch (const std::exception&) {
            return -2.0;
        }
    };
    REQUIRE(wait_until(10s, [&] { return count() == -1.0; }));  // the row is there, Count empty

    // Another program holds the target's write lock for 10 s: the target's deliveries wait for
    // it (5 s busy timeout, then again).
    db.exec("BEGIN IMMEDIATE");
    const auto locked_at = std::chrono::steady_clock::now();
    s.emulator.api("PATCH", "/v1/pages/" + s.page,
                   json::parse(R"({"properties":{"Count":{"number":7}}})"));
    // Meanwhile the job polls and the jsonl target delivers the edit, and the control server
    // answers at once, every time.
    bool logged = false;
    std::chrono::steady_clock::duration slowest{};
    int answers = 0;
    while (std::chrono::steady_clock::now() - locked_at < 10s) {
        const auto before = std::chrono::steady_clock::now();
        const auto status = call(s.port, "GET", "/v1/status");
        slowest = std::max(slowest, std::chrono::steady_clock::now() - before);
        answers += status.status == 200 ? 1 : 0;
        if (!logged && s.events_with("\"Count\":7") == 1) {
            logged = true;
            CHECK(std::chrono::steady_clock::now() - locked_at < 6s);
        }
        std::this_thread::sleep_for(200ms);
    }
    CHECK(logged);
    CHECK(answers >= 20);
    CHECK(slowest < 1s);
    CHECK(count() == -1.0);  // the blocked target really did not write
    db.exec("ROLLBACK");
    // It had failed on the lock (so it was blocked, not idle), and now catches up.
    REQUIRE(wait_until(20s, [&] { return count() == 7.0; }));
    CHECK(read_file(s.dir.path() / "run.log").find("database is locked") != std::string::npos);
}

TEST_CASE(
    "adaptive polling: a data source that keeps changing is polled more often than a quiet "
    "one, and its changes arrive long before every") {
    Service s;  // data source `Tasks` (busy here) with the page `One`
    const auto quiet_db = s.emulator.api("POST", "/v1/databases",
                                         json::parse(R"({"parent":{"page_id":")" + s.home + R"("},
            "title":[{"text":{"content":"Quiet"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}}}}})"));
    const std::string quiet(quiet_db.at("data_sources").as_array()[0].at("id").as_string());
    {
        std::ofstream out(s.dir.path() / "config.yaml");
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << s.emulator.url()
            << "\n  budget: { per_minute: 120 }\nstate:\n  dir: "
            << (s.dir.path() / "state").string() << "\ncontrol:\n  listen: 127.0.0.1:" << s.port
            << "\nconnectors:\n  log:\n    type: jsonl\n    path: "
            << (s.dir.path() / "events.jsonl").string()
            << "\nsyncs:\n  - name: busy\n    source: { data_source: " << s.data_source
            << " }\n    every: 30s\n    min_every: 1s\n    targets:\n      - connector: log\n"
            << "  - name: quiet\n    source: { data_source: " << quiet
            << " }\n    every: 30s\n    min_every: 1s\n    targets:\n      - connector: log\n";
    }
    test::Process daemon(
        {SYNCD_DAEMON_BINARY, "-c", (s.dir.path() / "config.yaml").string(), "run"},
        s.dir.path() / "run.log");
    REQUIRE(wait_until(10s, [&] { return s.events_with("\"created\"") == 1; }));
    // An edit every second for 20 s: the busy source's rate is learned, its interval shrinks.
    std::vector<double> latencies;
    for (int i = 1; i <= 20; ++i) {
        const auto start = std::chrono::steady_clock::now();
        s.emulator.api(
            "PATCH", "/v1/pages/" + s.page,
            json::parse(R"({"properties":{"Count":{"number":)" + std::to_string(i) + "}}}"));
        std::this_thread::sleep_for(1s);
        if (i > 10) {
            // The later edits (the rate learned): each arrives within a few seconds.
            const std::string text = "\"Count\":" + std::to_string(i) + "}";
            REQUIRE(wait_until(29s, [&] { return s.events_with(text) == 1; }));
            latencies.push_back(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
    }
    std::sort(latencies.begin(), latencies.end());
    INFO("median edit-to-event latency " << latencies[latencies.size() / 2] << " s");
    CHECK(latencies[latencies.size() / 2] < 6);  // a fixed `every: 30s` would give ~15 s
    const auto status = json::parse(call(s.port, "GET", "/v1/status").body).as_object();
    const auto source_of = [&](const char* job) {
        for (const auto& j : status.at("jobs").as_array()) {
            if (j.at("name") == job) {
                return std::pair{j.at("data_sources").as_array()[0].as_object(),
                                 j.at("forecast").as_object()};
            }
        }
        FAIL("no job " << job);
        return std::pair<json::object, json::object>{};
    };
    const auto [busy, busy_forecast] = source_of("busy");
    const auto [calm, calm_forecast] = source_of("quiet");
    const double busy_interval = busy.at("poll_interval_s").to_number<double>();
    const double calm_interval = calm.at("poll_interval_s").to_number<double>();
    INFO("busy every " << busy_interval << " s, quiet every " << calm_interval << " s");
    CHECK(busy.at("changes_per_hour").to_number<double>() > 100);
    CHECK(calm.at("changes_per_hour").to_number<double>() == 0);
    // The budget (120/min, 80 % for polls) is ample for two sources: the quiet one is read about
    // as often as an equal share allows (at most 1.15x that), the busy one at min_every.
    CHECK(busy_interval <= 1.5);
    CHECK(calm_interval > busy_interval);
    CHECK(calm_interval <= 30);
    CHECK(busy_forecast.at("expected_staleness_s").to_number<double>() <
          calm_forecast.at("expected_staleness_s").to_number<double>());
    const auto metrics = call(s.port, "GET", "/metrics").body;
    CHECK(test::metric_value(metrics, "notion_syncd_expected_staleness_seconds{sync=\"busy\"}")
              .has_value());
    CHECK(test::metric_value(metrics, "notion_syncd_backlog_requests{sync=\"quiet\"}").has_value());
    CHECK(test::metric_value(metrics, "notion_syncd_time_to_converge_seconds{sync=\"busy\"}")
              .has_value());
    CHECK(test::metric_value(metrics, "notion_syncd_rate_limited_total") == 0);
}
