// What an operator meets (issue #11), each through the real binaries: a rejected token that is
// loud and stops polling, an unshared source and the wrong kind of id explained, property names
// Notion does not have, one process per state directory, exit codes, discover's tree, JSON
// status and structured logs, a control port in use, a reload that cannot be applied.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <regex>
#include <thread>

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

constexpr const char* wrong_token = "secret_FAKE-revoked-token-for-tests-0123456789";

struct Answer {
    int status = 0;
    std::string body;
};

// GET http://127.0.0.1:port/target; status 0 when nothing listens.
Answer get(int port, const std::string& target) {
    try {
        return test::run([&]() -> boost::asio::awaitable<Answer> {
            const auto executor = co_await boost::asio::this_coro::executor;
            net::HttpClient client(executor,
                                   net::Url::parse("http://127.0.0.1:" + std::to_string(port)), {});
            net::Request request{.method = "GET", .target = target};
            net::Response response = co_await client.send(std::move(request));
            co_return Answer{response.status, response.body};
        }());
    } catch (const std::exception&) {
        return {};
    }
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// A workspace: page Home holding a plain page Notes and a database Tasks (Name, Count) with three
// rows, all shared with connection-1; and a database Secret nobody shared.
struct Workspace {
    test::TempDir dir;
    test::Emulator emulator{dir};
    std::string home, notes, database, data_source, row, secret_source;
    int port = test::free_port();
    std::string token = test::Emulator::connection_token;

    Workspace() {
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
        home = id_of(emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{"workspace":true},
            "properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})")));
        notes = id_of(emulator.api("POST", "/v1/pages",
                                   json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "properties":{"title":{"title":[{"text":{"content":"Notes"}}]}}})")));
        const auto db = emulator.api("POST", "/v1/databases",
                                     json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},"Count":{"number":{}}}}})"));
        database = id_of(db);
        data_source = std::string(db.at("data_sources").as_array()[0].at("id").as_string());
        for (const char* name : {"One", "Two", "Three"}) {
            row = id_of(
                emulator.api("POST", "/v1/pages",
                             json::parse(R"({"parent":{"data_source_id":")" + data_source + R"("},
                "properties":{"Name":{"title":[{"text":{"content":")" +
                                         name + R"("}}]},
                "Count":{"number":180}}})")));
        }
        const auto hidden =
            emulator.api("POST", "/v1/databases", json::parse(R"({"parent":{"workspace":true},
            "title":[{"text":{"content":"Secret"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}}}}})"));
        secret_source = std::string(hidden.at("data_sources").as_array()[0].at("id").as_string());
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home}});
        set_token(token);
        write_config("data_source: " + data_source);
    }

    static std::string id_of(const json::value& v) { return std::string(v.at("id").as_string()); }

    fs::path path(const std::string& name) const { return dir.path() / name; }

    void set_token(const std::string& value) const {
        std::ofstream(path("token")) << value << "\n";
    }

    void write_config(const std::string& source, const std::string& target_extra = {},
                      const std::string& state = "state", const std::string& file = "config.yaml",
                      const std::string& listen = {}) const {
        std::ofstream out(path(file));
        out << "notion:\n  token_file: " << path("token").string()
            << "\n  base_url: " << emulator.url() << "\nstate:\n  dir: " << path(state).string()
            << "\ncontrol:\n  listen: "
            << (listen.empty() ? "127.0.0.1:" + std::to_string(port) : listen)
            << "\nconnectors:\n  log:\n    type: jsonl\n    path: " << path("events.jsonl").string()
            << "\nsyncs:\n  - name: tasks\n    source: { " << source
            << " }\n    every: 1s\n    targets:\n      - connector: log\n"
            << target_extra;
    }

    std::vector<std::string> argv(std::vector<std::string> args) const {
        std::vector<std::string> out{SYNCD_DAEMON_BINARY, "-c", path("config.yaml").string()};
        out.insert(out.end(), args.begin(), args.end());
        return out;
    }

    test::Finished syncd(std::vector<std::string> args = {"sync-once"}) const {
        auto finished = test::run_command(argv(std::move(args)), path("syncd.log"), 60s);
        MESSAGE(finished.out);
        MESSAGE(log());
        return finished;
    }

    std::string log() const { return read_file(path("syncd.log")); }
    std::string events() const { return read_file(path("events.jsonl")); }

    // Requests the emulator answered for a token it does not know.
    std::size_t rejected_requests() const {
        std::size_t n = 0;
        const json::value all = const_cast<test::Emulator&>(emulator).get("requests");
        for (const auto& c : all.at("counters").as_array()) {
            if (c.at("status").to_number<int>() == 401) n += c.at("count").to_number<std::size_t>();
        }
        return n;
    }

    // Requests connection-1 sent whose route starts with `route`.
    std::size_t requests(const std::string& route) const {
        std::size_t n = 0;
        const json::value all = const_cast<test::Emulator&>(emulator).get("requests");
        for (const auto& c : all.at("counters").as_array()) {
            if (c.at("connection") == "connection-1" &&
                std::string(c.at("route").as_string()).starts_with(route))
                n += c.at("count").to_number<std::size_t>();
        }
        return n;
    }
};

}  // namespace

TEST_CASE("a rejected token: sync-once exits 77 and says where to replace it, status keeps it") {
    Workspace w;
    w.set_token(wrong_token);
    const auto once = w.syncd();
    CHECK(once.status == 77);
    const std::string said = once.out + w.log();
    CHECK(said.find("Notion rejected the token (401 unauthorized)") != std::string::npos);
    CHECK(said.find("replace it in " + w.path("token").string()) != std::string::npos);
    CHECK(said.find(wrong_token) == std::string::npos);
    CHECK(w.events().empty());

    // No daemon runs: status reads the failure from the mirror.
    const auto status = w.syncd({"status"});
    CHECK(status.status == 0);
    CHECK(status.out.find("FAILING (auth_rejected)") != std::string::npos);
    CHECK(status.out.find("Notion rejected the token") != std::string::npos);
    const auto as_json = w.syncd({"status", "--json"});
    const json::value parsed = json::parse(as_json.out);
    CHECK(parsed.at("source") == "mirror");
    CHECK(parsed.at("jobs").as_array()[0].at("failure") == "auth_rejected");

    // The right token: the next cycle succeeds and the failure is gone.
    w.set_token(w.token);
    CHECK(w.syncd().status == 0);
    CHECK(count_of(w.events(), "\"created\"") == 3);
    CHECK(w.syncd({"status"}).out.find("FAILING") == std::string::npos);
}

TEST_CASE("a token revoked while running: readyz 503, auth_failed 1, no polling, a reload fixes") {
    Workspace w;
    test::Process daemon(w.argv({"run"}), w.path("syncd.log"));
    REQUIRE(wait_until(20s, [&] { return count_of(w.events(), "\"created\"") == 3; }));
    const std::string before = w.events();

    w.set_token(wrong_token);
    kill(daemon.pid(), SIGHUP);
    // Right after the reload /readyz can be 503 for another reason (the first poll is not done):
    // it must come to say that Notion rejected the token.
    Answer ready;
    CHECK(wait_until(20s, [&] {
        ready = get(w.port, "/readyz");
        return ready.status == 503 &&
               ready.body.find("Notion rejected the token") != std::string::npos;
    }));
    INFO(ready.body);
    CHECK(ready.status == 503);
    const std::string metrics = get(w.port, "/metrics").body;
    CHECK(test::metric_value(metrics, "notion_syncd_auth_failed") == 1.0);
    const json::value status = json::parse(get(w.port, "/v1/status").body);
    CHECK(status.at("auth").at("rejected") == true);
    CHECK(status.at("ready") == false);

    // Polling stops (every: 1s, yet no request for 3 s): one probe per 5 minutes.
    const auto rejected = w.rejected_requests();
    std::this_thread::sleep_for(3s);
    CHECK(w.rejected_requests() == rejected);
    CHECK(count_of(w.log(), "Notion rejected the token") == 1);  // once per state change
    CHECK(w.events() == before);                                 // nothing deleted or lost

    w.set_token(w.token);
    kill(daemon.pid(), SIGHUP);
    REQUIRE(wait_until(20s, [&] { return get(w.port, "/readyz").status == 200; }));
    CHECK(test::metric_value(get(w.port, "/metrics").body, "notion_syncd_auth_failed") == 0.0);
    std::this_thread::sleep_for(2s);  // two more polls
    CHECK(w.events() == before);      // no spurious events
    kill(daemon.pid(), SIGTERM);
    CHECK(daemon.wait_exit(30s).has_value());
}

TEST_CASE("an unshared data source: exit 69 with the hint to share it, not retried every second") {
    Workspace w;
    w.write_config("data_source: " + w.secret_source);
    const auto once = w.syncd();
    CHECK(once.status == 69);
    CHECK(once.out.find("Notion does not show this data source to the connection") !=
          std::string::npos);
    CHECK(once.out.find("Share it with the connection") != std::string::npos);
    CHECK(w.syncd({"status"}).out.find("FAILING (not_found)") != std::string::npos);

    test::Process daemon(w.argv({"run"}), w.path("syncd.log"));
    REQUIRE(wait_until(10s, [&] { return w.requests("/v1/data_sources") > 0; }));
    std::this_thread::sleep_for(1s);
    const auto first = w.requests("/v1/data_sources");
    std::this_thread::sleep_for(4s);  // every: 1s, but a 404 waits 5 minutes
    CHECK(w.requests("/v1/data_sources") == first);
    const json::value status = json::parse(get(w.port, "/v1/status").body);
    CHECK(status.at("jobs").as_array()[0].at("failure") == "not_found");
}

TEST_CASE("the wrong kind of id says what the id is and which key to use") {
    Workspace w;
    w.write_config("data_source: " + w.database);
    auto once = w.syncd();
    CHECK(once.status == 78);
    CHECK(once.out.find("this id is a database, not a data source; write `database: " + w.database +
                        "`") != std::string::npos);
    CHECK(once.out.find("`data_source:` with one of: " + w.data_source) != std::string::npos);

    w.write_config("database: " + w.data_source);
    once = w.syncd();
    CHECK(once.status == 78);
    CHECK(once.out.find("this id is a data source; write `data_source: " + w.data_source + "`") !=
          std::string::npos);

    w.write_config("page: " + w.row);
    once = w.syncd();
    CHECK(once.status == 78);
    CHECK(once.out.find("this id is a row of a database (data source " + w.data_source + ")") !=
          std::string::npos);

    w.write_config("data_source: " + w.notes);
    once = w.syncd();
    CHECK(once.status == 78);
    CHECK(once.out.find("this id is a page; write `page: " + w.notes + "`") != std::string::npos);
    CHECK(w.events().empty());
}

TEST_CASE("property names Notion does not have: the closest name, exit 78, nothing synced") {
    Workspace w;
    w.write_config("data_source: " + w.data_source,
                   "        mapping: { Nmae: title }\n      - connector: other\n"
                   "        include: [Cuont]\n");
    // A second connector, for the include target.
    std::string config = read_file(w.path("config.yaml"));
    config.replace(
        config.find("syncs:"), 6,
        "  other:\n    type: jsonl\n    path: " + w.path("other.jsonl").string() + "\nsyncs:");
    std::ofstream(w.path("config.yaml")) << config;

    CHECK(w.syncd({"check-config"}).status == 0);  // offline: names cannot be known
    const auto online = w.syncd({"check-config", "--online"});
    CHECK(online.status == 78);
    CHECK(online.out.find("mapping names the property `Nmae`") != std::string::npos);
    CHECK(online.out.find("did you mean `Name`?") != std::string::npos);
    CHECK(online.out.find("include names the property `Cuont`") != std::string::npos);
    CHECK(online.out.find("did you mean `Count`?") != std::string::npos);

    const auto once = w.syncd();
    CHECK(once.status == 78);
    CHECK(once.out.find("did you mean `Name`?") != std::string::npos);
    CHECK(w.events().empty());
    CHECK(read_file(w.path("other.jsonl")).empty());

    config = read_file(w.path("config.yaml"));
    config.replace(config.find("Nmae"), 4, "Name");
    config.replace(config.find("Cuont"), 5, "Count");
    std::ofstream(w.path("config.yaml")) << config;
    CHECK(w.syncd({"check-config", "--online"}).status == 0);
    CHECK(w.syncd().status == 0);
    CHECK(count_of(w.events(), "\"created\"") == 3);
}

TEST_CASE("one process per state directory: a second one exits 75 naming the PID") {
    Workspace w;
    test::Process daemon(w.argv({"run"}), w.path("daemon.log"));
    REQUIRE(wait_until(20s, [&] { return get(w.port, "/readyz").status == 200; }));
    const std::string pid = std::to_string(daemon.pid());
    for (const auto& args : {std::vector<std::string>{"run"}, std::vector<std::string>{"sync-once"},
                             std::vector<std::string>{"resync", "--job", "tasks"},
                             std::vector<std::string>{"dead-letters", "drop", "--all"},
                             std::vector<std::string>{"dead-letters", "retry"}}) {
        const auto start = std::chrono::steady_clock::now();
        const auto refused = w.syncd(args);
        CHECK(refused.status == 75);
        CHECK(std::chrono::steady_clock::now() - start < 5s);
        CHECK(w.log().find("another notion-syncd (PID " + pid + ") is using the state directory") !=
              std::string::npos);
    }
    // Read-only commands run beside it.
    CHECK(w.syncd({"status"}).status == 0);
    CHECK(w.syncd({"dead-letters", "list"}).status == 0);
    CHECK(w.syncd({"discover"}).status == 0);
    CHECK(w.syncd({"check-config"}).status == 0);
    kill(daemon.pid(), SIGTERM);
    REQUIRE(daemon.wait_exit(30s).has_value());
    CHECK(w.syncd().status == 0);  // the lock went with the process
}

TEST_CASE("usage errors exit 64, --version names the API version, drop needs --all") {
    Workspace w;
    auto r = w.syncd({"sync-once", "--job", "nope"});
    CHECK(r.status == 64);
    CHECK(w.log().find("no sync job named `nope`") != std::string::npos);
    CHECK(w.log().find("(its jobs: tasks)") != std::string::npos);
    CHECK(w.syncd({"sync-once", "--no-such-flag"}).status == 64);
    CHECK(w.syncd({"no-such-command"}).status == 64);
    CHECK(w.syncd({"resync"}).status == 64);
    r = w.syncd({"--version"});
    CHECK(r.status == 0);
    CHECK(r.out.find("notion-syncd 0.1.0") != std::string::npos);
    CHECK(r.out.find("Notion API version 2026-03-11") != std::string::npos);
    r = w.syncd({"dead-letters", "drop"});
    CHECK(r.status == 64);
    CHECK(w.log().find("--all") != std::string::npos);
    CHECK(w.syncd({"dead-letters", "drop", "--all"}).status == 0);
}

TEST_CASE("discover prints the tree and --json for scripts, status --json too") {
    Workspace w;
    const auto tree = w.syncd({"discover"});
    CHECK(tree.status == 0);
    CHECK(tree.out.find("page  Home  " + w.home) != std::string::npos);
    CHECK(tree.out.find("├─ page  Notes  " + w.notes) != std::string::npos);
    CHECK(tree.out.find("└─ database  Tasks  " + w.database) != std::string::npos);
    CHECK(tree.out.find("   └─ data source  Tasks  " + w.data_source + "  (3 rows)") !=
          std::string::npos);
    CHECK(tree.out.find("Secret") == std::string::npos);  // not shared

    const json::value parsed = json::parse(w.syncd({"discover", "--json"}).out);
    const auto& roots = parsed.at("objects").as_array();
    REQUIRE(roots.size() == 1);
    CHECK(roots[0].at("object") == "page");
    CHECK(roots[0].at("title") == "Home");
    const auto& children = roots[0].at("children").as_array();
    REQUIRE(children.size() == 2);
    CHECK(children[1].at("object") == "database");
    const auto& sources = children[1].at("children").as_array();
    REQUIRE(sources.size() == 1);
    CHECK(sources[0].at("id").as_string() == w.data_source.c_str());
    CHECK(sources[0].at("rows") == 3);

    REQUIRE(w.syncd().status == 0);
    const json::value status = json::parse(w.syncd({"status", "--json"}).out);
    CHECK(status.at("source") == "mirror");
    CHECK(status.at("jobs").as_array()[0].at("name") == "tasks");
    CHECK(status.at("jobs").as_array()[0].at("data_sources").as_array()[0].at("pages") == 3);
}

TEST_CASE("logs: timestamps in the human format, structured fields in JSON") {
    Workspace w;
    REQUIRE(w.syncd().status == 0);
    const std::regex stamped(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (info|warning|error) )");
    std::istringstream human(w.log());
    std::size_t lines = 0;
    for (std::string line; std::getline(human, line);) {
        ++lines;
        CHECK_MESSAGE(std::regex_search(line, stamped), line);
    }
    CHECK(lines > 0);

    // A change, so the JSON run has a poll and a delivery to tell.
    w.emulator.api("PATCH", "/v1/pages/" + w.row,
                   json::parse(R"({"properties":{"Count":{"number":7}}})"));
    const auto human_size = w.log().size();  // the log file is appended to
    REQUIRE(w.syncd({"--log-format", "json", "--log-level", "debug", "sync-once"}).status == 0);
    bool poll = false, delivery = false, request = false;
    std::istringstream structured(w.log().substr(human_size));
    for (std::string line; std::getline(structured, line);) {
        const json::object o = json::parse(line).as_object();  // every line is JSON
        CHECK(o.contains("time"));
        CHECK(o.contains("message"));
        if (o.contains("job") && o.contains("events") && o.contains("pages_read")) {
            poll = true;
            CHECK(o.at("events") == 1);
            CHECK(o.at("duration_ms").is_int64());
        }
        if (o.contains("target") && o.contains("events")) {
            delivery = true;
            CHECK(o.at("target") == "tasks/log");
        }
        if (o.contains("route") && o.contains("status")) {
            request = true;
            CHECK(o.at("status").is_int64());
        }
    }
    CHECK(poll);
    CHECK(delivery);
    CHECK(request);
}

TEST_CASE("a control port in use: a clear error, no Boost source paths") {
    Workspace w;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(w.port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(fd, 1) == 0);
    const auto run = w.syncd({"run"});
    close(fd);
    CHECK(run.status == 69);
    CHECK(w.log().find("cannot listen on 127.0.0.1:" + std::to_string(w.port) +
                       ": Address already in use") != std::string::npos);
    CHECK(w.log().find("/usr/include") == std::string::npos);
    CHECK(w.log().find("[system:") == std::string::npos);
}

TEST_CASE("a reload that cannot be applied keeps the running daemon") {
    Workspace w;
    test::Process daemon(w.argv({"run"}), w.path("daemon.log"));
    REQUIRE(wait_until(20s, [&] { return count_of(w.events(), "\"created\"") == 3; }));
    // Another process holds the state directory the new configuration names.
    w.write_config("data_source: " + w.data_source, {}, "state2", "other.yaml", "off");
    test::Process other({SYNCD_DAEMON_BINARY, "-c", w.path("other.yaml").string(), "run"},
                        w.path("other.log"));
    w.write_config("data_source: " + w.data_source, {}, "state2");
    REQUIRE(wait_until(10s, [&] { return fs::exists(w.path("state2") / "lock"); }));
    std::this_thread::sleep_for(500ms);
    kill(daemon.pid(), SIGHUP);
    REQUIRE(wait_until(10s, [&] {
        return read_file(w.path("daemon.log")).find("reload refused") != std::string::npos;
    }));
    CHECK(read_file(w.path("daemon.log")).find("another notion-syncd") != std::string::npos);
    // Still running, still syncing.
    CHECK(get(w.port, "/healthz").status == 200);
    w.emulator.api("PATCH", "/v1/pages/" + w.row,
                   json::parse(R"({"properties":{"Count":{"number":8}}})"));
    CHECK(wait_until(20s, [&] { return count_of(w.events(), "\"updated\"") >= 1; }));
    kill(other.pid(), SIGTERM);
    kill(daemon.pid(), SIGTERM);
    CHECK(daemon.wait_exit(30s).has_value());
}
