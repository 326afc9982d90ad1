// The webhook and exec connectors (issue #5): in-process against a real local HTTP(S) receiver,
// and end to end, notion-emulator -> notion-syncd -> a receiver that checks signatures and fails
// on demand, or the example programs of connectors/exec/examples. No event may be lost.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "connectors/exec/exec.hpp"
#include "connectors/webhook/webhook.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using test::read_file;
using test::wait_until;

namespace {

constexpr const char* secret = "receiver-test-secret";
const std::string examples = SYNCD_EXEC_EXAMPLES;

std::string id_of(const json::value& v) { return std::string(v.at("id").as_string()); }

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// A Tasks data source shared with connection-1, and notion-syncd configured with `connectors`
// (YAML under connectors:) and one target per name in `targets`.
struct Harness {
    // Its own control port: tests run side by side, and `status` asks the daemon listening there.
    int control_port = test::free_port();
    test::TempDir dir;
    test::Emulator emulator;
    std::string tasks_ds;
    std::string connectors = {};
    std::vector<std::string> targets = {};
    std::vector<std::pair<std::string, std::string>> environment = {};  // of every run

    Harness() : emulator(dir) {
        const auto home = id_of(emulator.api("POST", "/v1/pages", json::parse(R"({"parent":{
            "workspace":true},"properties":{"title":{"title":[{"text":{"content":"Home"}}]}}})")));
        const auto tasks = emulator.api("POST", "/v1/databases",
                                        json::parse(R"({"parent":{"page_id":")" + home + R"("},
            "title":[{"text":{"content":"Tasks"}}],"initial_data_source":{"properties":{
              "Name":{"title":{}},"Count":{"number":{}}}}})"));
        tasks_ds = id_of(tasks.at("data_sources").as_array()[0]);
        emulator.control("share", {{"token", "connection-1"}, {"object_id", home}});
        emulator.control("rate_limit", {{"requests", 0}, {"window_ms", 60'000}});
    }

    fs::path path(const std::string& name) const { return dir.path() / name; }

    std::string task(const std::string& name, int n = 0) {
        json::object body{{"parent", {{"data_source_id", tasks_ds}}}};
        body["properties"] = {{"Name", {{"title", json::array{{{"text", {{"content", name}}}}}}}},
                              {"Count", {{"number", n}}}};
        return id_of(emulator.api("POST", "/v1/pages", body));
    }
    std::vector<std::string> tasks(int n, const std::string& prefix = "Task ") {
        std::vector<std::string> ids;
        for (int i = 0; i < n; ++i) ids.push_back(task(prefix + std::to_string(i), i));
        return ids;
    }

    void write_config() const {
        std::ofstream out(path("config.yaml"));
        out << "notion:\n  token: " << test::Emulator::connection_token
            << "\n  base_url: " << emulator.url()
            << "\n  budget: { per_minute: 60000, burst: 200 }\ncontrol:\n  listen: 127.0.0.1:"
            << control_port << "\nstate:\n  dir: " << path("state").string() << "\nconnectors:\n"
            << connectors << "syncs:\n  - name: tasks\n    source: { data_source: " << tasks_ds
            << " }\n    every: 1s\n    reconcile_every: 1h\n    targets:\n";
        for (const auto& t : targets) out << "      - connector: " << t << "\n";
    }

    std::vector<std::string> argv(std::vector<std::string> args) const {
        std::vector<std::string> out{SYNCD_DAEMON_BINARY, "-c", path("config.yaml").string()};
        out.insert(out.end(), args.begin(), args.end());
        return out;
    }

    test::Finished syncd(std::vector<std::string> args = {"sync-once"},
                         std::chrono::milliseconds timeout = 120s) const {
        write_config();
        auto finished =
            test::run_command(argv(std::move(args)), path("syncd.log"), timeout, environment);
        MESSAGE(finished.out);
        return finished;
    }

    std::string log() const { return read_file(path("syncd.log")); }

    // "pending events N, dead letters M" of `notion-syncd status` for target tasks/<connector>.
    std::string status_of(const std::string& connector) const {
        const auto out = syncd({"status"}).out;
        const std::string key = "target tasks/" + connector + ": ";
        const auto at = out.find(key);
        if (at == std::string::npos) return "(no target in: " + out + ")";
        const auto end = out.find('\n', at);
        return out.substr(at + key.size(), end - at - key.size());
    }

    // Events written by append_events.py, one JSON object per line.
    std::vector<json::object> events_in(const std::string& file) const {
        std::vector<json::object> out;
        std::ifstream in(path(file));
        for (std::string line; std::getline(in, line);) {
            if (!line.empty()) out.push_back(json::parse(line).as_object());
        }
        return out;
    }
};

std::set<std::int64_t> seqs_of(const std::vector<json::object>& events) {
    std::set<std::int64_t> out;
    for (const auto& e : events) out.insert(e.at("seq").to_number<std::int64_t>());
    return out;
}

std::set<std::int64_t> one_to(std::int64_t n) {
    std::set<std::int64_t> out;
    for (std::int64_t i = 1; i <= n; ++i) out.insert(i);
    return out;
}

std::string webhook_block(const std::string& url, const std::string& more = "") {
    return "  hook:\n    type: webhook\n    url: " + url + "\n    secret: " + secret + "\n" + more;
}

// Runs `connector` deliveries in-process: the block's connector gets each batch in turn; the
// outcome of each is "ok" or the DeliveryError's text, and its retry_after.
struct Outcome {
    std::string text = "ok";
    bool retryable = false;
    std::optional<std::chrono::milliseconds> retry_after = {};
};

std::vector<Outcome> deliver_in_process(const std::string& yaml,
                                        std::vector<connectors::ChangeBatch> batches) {
    return test::run([&]() -> asio::awaitable<std::vector<Outcome>> {
        auto problems = std::make_shared<config::Problems>();
        config::SettingsReader reader(YAML::Load(yaml), "connectors.hook", problems);
        const auto executor = co_await asio::this_coro::executor;
        connectors::ConnectorContext context{.name = "hook", .executor = executor};
        auto connector = connectors::webhook::make_connector(reader, context);
        REQUIRE(problems->lines.empty());
        co_await connector->start();
        std::vector<Outcome> outcomes;
        for (auto& batch : batches) {
            Outcome outcome;
            try {
                co_await connector->deliver(batch);
            } catch (const connectors::DeliveryError& e) {
                outcome = {
                    .text = e.what(), .retryable = e.retryable, .retry_after = e.retry_after};
            }
            outcomes.push_back(outcome);
        }
        co_return outcomes;
    }());
}

// The same for an exec connector, pausing `pause` before each batch after the first.
// Whether some process's command line holds `text` (/proc/<pid>/cmdline).
bool process_running_with(const std::string& text) {
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string cmdline = read_file(entry.path() / "cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        if (cmdline.find(text) != std::string::npos) return true;
    }
    return false;
}

// Delivers `batches` in order through an exec connector; before each batch after the first,
// waits (up to 10 s) until `between()` holds.
std::vector<Outcome> exec_in_process(const std::string& yaml,
                                     std::vector<connectors::ChangeBatch> batches,
                                     std::function<bool()> between = {}) {
    return test::run([&]() -> asio::awaitable<std::vector<Outcome>> {
        auto problems = std::make_shared<config::Problems>();
        config::SettingsReader reader(YAML::Load(yaml), "connectors.script", problems);
        const auto executor = co_await asio::this_coro::executor;
        connectors::ConnectorContext context{.name = "script", .executor = executor};
        auto connector = connectors::exec::make_connector(reader, context);
        REQUIRE(problems->lines.empty());
        co_await connector->start();
        std::vector<Outcome> outcomes;
        asio::steady_timer timer(executor);
        for (auto& batch : batches) {
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!outcomes.empty() && between && !between() &&
                   std::chrono::steady_clock::now() < deadline) {
                timer.expires_after(20ms);
                co_await timer.async_wait(asio::use_awaitable);
            }
            if (!outcomes.empty() && between) REQUIRE_MESSAGE(between(), "the wait before a batch");
            Outcome outcome;
            try {
                co_await connector->deliver(batch);
            } catch (const connectors::DeliveryError& e) {
                outcome = {
                    .text = e.what(), .retryable = e.retryable, .retry_after = e.retry_after};
            }
            outcomes.push_back(outcome);
        }
        co_return outcomes;
    }());
}

connectors::ChangeBatch batch_of(std::int64_t first, std::int64_t last) {
    connectors::ChangeBatch batch{.target = "tasks/hook", .sync = "tasks"};
    for (auto seq = first; seq <= last; ++seq) {
        model::ChangeEvent e{.seq = seq,
                             .kind = "created",
                             .sync = "tasks",
                             .data_source_id = "ds",
                             .page_id = "page-" + std::to_string(seq)};
        e.properties = {{"Name", "Task " + std::to_string(seq)}};
        batch.events.push_back(std::move(e));
    }
    return batch;
}

// A certificate for localhost, self-signed (its own CA), in dir/server.{pem,key}.
void make_certificate(const test::TempDir& dir) {
    const auto base = (dir.path() / "server").string();
    test::shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout " + base + ".key -out " +
                base +
                ".pem -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1");
}

}  // namespace

// ---- webhook, in-process ----

TEST_CASE("webhook: a batch arrives signed, with its delivery id and the configured headers") {
    test::WebhookReceiver receiver({.secret = secret});
    setenv("WEBHOOK_IT_TOKEN", "t0ken", 1);
    const auto outcomes =
        deliver_in_process("url: " + receiver.url("/hook?team=blue") + "\nsecret: " + secret +
                               "\nheaders: { Authorization: 'Bearer ${WEBHOOK_IT_TOKEN}' }\n",
                           {batch_of(3, 5), batch_of(3, 5)});
    CHECK(outcomes[0].text == "ok");
    const auto requests = receiver.requests();
    REQUIRE(requests.size() == 2);
    const auto& r = requests[0];
    CHECK(r.method == "POST");
    CHECK(r.target == "/hook?team=blue");
    CHECK(r.signature_ok);
    CHECK(r.headers.at("content-type") == "application/json");
    CHECK(r.headers.at("authorization") == "Bearer t0ken");
    CHECK(r.headers.at("x-notion-syncd-delivery") == "tasks/hook:3-5");
    CHECK(requests[1].headers.at("x-notion-syncd-delivery") == "tasks/hook:3-5");
    const auto body = json::parse(r.body);
    CHECK(body.at("delivery_id") == "tasks/hook:3-5");
    CHECK(body.at("target") == "tasks/hook");
    CHECK(body.at("sync") == "tasks");
    REQUIRE(body.at("events").as_array().size() == 3);
    CHECK(body.at("events").at(0).at("seq") == 3);
    CHECK(body.at("events").at(2).at("page_id") == "page-5");
    CHECK(body.at("events").at(0).at("properties").at("Name") == "Task 3");
}

TEST_CASE("webhook: 408, 429 and 5xx are retryable, with the Retry-After asked for") {
    test::WebhookReceiver receiver;
    receiver.answer_next(1, {.status = 429, .body = "slow down", .retry_after = "7"});
    receiver.answer_next(1, {.status = 503});
    receiver.answer_next(1, {.status = 408});
    const auto outcomes =
        deliver_in_process("url: " + receiver.url("/secret-path") + "\n",
                           {batch_of(1, 1), batch_of(1, 1), batch_of(1, 1), batch_of(1, 1)});
    CHECK(outcomes[0].retryable);
    CHECK(outcomes[0].retry_after == std::chrono::milliseconds(7000));
    CHECK(outcomes[0].text.find("answered 429: slow down") != std::string::npos);
    CHECK(outcomes[1].retryable);
    CHECK_FALSE(outcomes[1].retry_after);
    CHECK(outcomes[2].retryable);
    CHECK(outcomes[3].text == "ok");
    for (const auto& o : outcomes) CHECK(o.text.find("secret-path") == std::string::npos);
}

TEST_CASE("webhook: another 4xx is not retried and names the status and the answer's start") {
    test::WebhookReceiver receiver;
    receiver.answer_always(
        {.status = 400, .body = "missing field \"text\"\n" + std::string(500, 'x')});
    const auto outcomes = deliver_in_process(
        "url: " + receiver.url("/services/T0/B0/SECRETPART") + "\nsecret: " + secret + "\n",
        {batch_of(1, 2)});
    CHECK_FALSE(outcomes[0].retryable);
    CHECK(outcomes[0].text.starts_with("webhook: POST " + receiver.url("/…") +
                                       " answered 400 (not retried): missing field \"text\" xxx"));
    CHECK(outcomes[0].text.size() < 450);
    CHECK(outcomes[0].text.find("SECRETPART") == std::string::npos);
    CHECK(outcomes[0].text.find(secret) == std::string::npos);
}

TEST_CASE("webhook: a receiver that is down is a retryable error") {
    const int port = test::free_port();
    const auto outcomes = deliver_in_process(
        "url: http://127.0.0.1:" + std::to_string(port) + "/hook/SECRETPART\ntimeout: 2s\n",
        {batch_of(1, 1)});
    CHECK(outcomes[0].retryable);
    CHECK(outcomes[0].text.find("connecting to 127.0.0.1") != std::string::npos);
    CHECK(outcomes[0].text.find("SECRETPART") == std::string::npos);
}

TEST_CASE("webhook: a template posts one body per event, a retried batch skips the ones sent") {
    test::WebhookReceiver receiver({.secret = secret});
    receiver.answer_next(1, {.status = 200});
    receiver.answer_next(1, {.status = 500});
    const auto outcomes = deliver_in_process(
        "url: " + receiver.url() + "\nsecret: " + secret +
            "\ntemplate: '{\"text\": \"{{properties.Name}} was {{event}}\", \"seq\": "
            "{{json:seq}}}'\n",
        {batch_of(1, 3), batch_of(1, 3)});
    CHECK(outcomes[0].retryable);
    CHECK(outcomes[1].text == "ok");
    const auto requests = receiver.requests();
    REQUIRE(requests.size() == 4);
    std::vector<std::string> ids;
    for (const auto& r : requests) {
        CHECK(r.signature_ok);
        ids.push_back(r.headers.at("x-notion-syncd-delivery"));
    }
    CHECK(ids ==
          std::vector<std::string>{"tasks/hook:1", "tasks/hook:2", "tasks/hook:2", "tasks/hook:3"});
    CHECK(json::parse(requests[0].body) == json::parse(R"({"text":"Task 1 was created","seq":1})"));
}

TEST_CASE("webhook: HTTPS with a private CA given as ca_file") {
    test::TempDir dir;
    make_certificate(dir);
    test::WebhookReceiver receiver({.secret = secret,
                                    .cert_file = (dir.path() / "server.pem").string(),
                                    .key_file = (dir.path() / "server.key").string()});
    const auto outcomes =
        deliver_in_process("url: " + receiver.url() + "\nsecret: " + secret +
                               "\nca_file: " + (dir.path() / "server.pem").string() + "\n",
                           {batch_of(1, 2)});
    CHECK(outcomes[0].text == "ok");
    CHECK(receiver.events_accepted() == 2);
    const auto refused = deliver_in_process("url: " + receiver.url() + "\n", {batch_of(1, 2)});
    CHECK(refused[0].retryable);
    CHECK(refused[0].text.find("certificate verify failed") != std::string::npos);
}

// ---- exec, in-process ----

TEST_CASE("exec: a program that exits between batches is restarted without failing a delivery") {
    test::TempDir dir;
    const auto out = (dir.path() / "batches.jsonl").string();
    // hello and one batch, then end of input: the program exits after its first ack.
    const auto outcomes = exec_in_process(
        "command: [/bin/sh, -c, 'head -n 2 | " + examples + "/append_batches.sh " + out + "']\n",
        {batch_of(1, 2), batch_of(3, 4)},
        // Gone for three polls in a row: a process that is exiting has an empty cmdline before it
        // can be reaped (a window the connector's exit check could otherwise fall into).
        [&, quiet = 0]() mutable {
            quiet = process_running_with("append_batches.sh " + out) ? 0 : quiet + 1;
            return quiet >= 3;
        });
    CHECK(outcomes[0].text == "ok");
    CHECK(outcomes[1].text == "ok");
    std::size_t lines = 0;
    std::ifstream in(out);
    for (std::string line; std::getline(in, line);) ++lines;
    CHECK(lines == 2);
}

TEST_CASE("exec: noise, stale answers and reserved messages on stdout are skipped") {
    test::TempDir dir;
    const auto script = dir.path() / "noisy.sh";
    std::ofstream(script) << R"(while IFS= read -r line; do
  case $line in
    '{"type":"batch","id":'*)
      rest=${line#'{"type":"batch","id":'}; id=${rest%%,*}
      echo 'starting up...'
      echo '{"type":"ack","id":999}'
      echo '{"type":"changes","changes":[]}'
      echo '{"type":"progress","done":1}'
      echo "{\"type\":\"ack\",\"id\":$id}" ;;
  esac
done
)";
    const auto outcomes =
        exec_in_process("command: [/bin/sh, " + script.string() + "]\nack_timeout: 5s\n",
                        {batch_of(1, 2), batch_of(3, 4)});
    CHECK(outcomes[0].text == "ok");
    CHECK(outcomes[1].text == "ok");
}

TEST_CASE("exec: a retryable nack keeps the program, a non-retryable one says so") {
    test::TempDir dir;
    const auto script = dir.path() / "nack.sh";
    std::ofstream(script) << R"(n=0
while IFS= read -r line; do
  case $line in
    '{"type":"batch","id":'*)
      rest=${line#'{"type":"batch","id":'}; id=${rest%%,*}; n=$((n + 1))
      if [ $n = 1 ]; then r=true; else r=false; fi
      echo "{\"type\":\"nack\",\"id\":$id,\"error\":\"no $n from $$\",\"retryable\":$r}" ;;
  esac
done
)";
    const auto outcomes = exec_in_process("command: [/bin/sh, " + script.string() + "]\n",
                                          {batch_of(1, 1), batch_of(1, 1)});
    CHECK(outcomes[0].retryable);
    CHECK_FALSE(outcomes[1].retryable);
    CHECK(outcomes[0].text.starts_with("exec: the program refused batch 1: no 1 from "));
    // The same program answered both: a nack is an answer, not a failure of the program.
    const auto pid = outcomes[0].text.substr(outcomes[0].text.rfind(' ') + 1);
    CHECK(outcomes[1].text == "exec: the program refused batch 2: no 2 from " + pid);
}

// ---- webhook, end to end ----

TEST_CASE("webhook end to end: every event arrives signed, check-config refuses a bad template") {
    Harness h;
    test::WebhookReceiver receiver({.secret = secret});
    h.tasks(30);
    h.connectors = webhook_block(receiver.url("/hooks/SECRETPATH"),
                                 "    headers:\n      X-Team: ${WEBHOOK_TEAM}\n");
    h.targets = {"hook"};
    h.environment = {{"WEBHOOK_TEAM", "blue"}};
    const auto first = h.syncd();
    REQUIRE(first.status == 0);
    const auto requests = receiver.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].signature_ok);
    CHECK(requests[0].headers.at("x-team") == "blue");
    CHECK(requests[0].headers.at("x-notion-syncd-delivery") == "tasks/hook:1-30");
    const auto body = json::parse(requests[0].body);
    std::vector<json::object> events;
    for (const auto& e : body.at("events").as_array()) events.push_back(e.as_object());
    CHECK(seqs_of(events) == one_to(30));
    CHECK(events[0].at("event") == "created");
    CHECK(events[0].at("data_source_id") == h.tasks_ds.c_str());
    CHECK(h.status_of("hook").starts_with("pending events 0, dead letters 0"));

    h.connectors = webhook_block(receiver.url(), "    template: '{\"text\": \"{{titel}}\"}'\n");
    const auto check = h.syncd({"check-config"});
    CHECK(check.status == 78);
    const auto log = h.log();
    CHECK(log.find("config.yaml:14:15: connectors.hook.template: unknown name `titel`") !=
          std::string::npos);
    CHECK(log.find("SECRETPATH") == std::string::npos);
    CHECK(log.find(secret) == std::string::npos);
}

TEST_CASE("webhook end to end: 500s and 429s are retried and no event is lost") {
    Harness h;
    test::WebhookReceiver receiver({.secret = secret});
    h.tasks(5);
    receiver.answer_next(1, {.status = 500, .body = "boom"});
    receiver.answer_next(1, {.status = 429, .retry_after = "1"});
    receiver.answer_next(1, {.status = 502});
    h.connectors = webhook_block(receiver.url());
    h.targets = {"hook"};
    REQUIRE(h.syncd().status == 0);
    const auto requests = receiver.requests();
    REQUIRE(requests.size() == 4);
    for (const auto& r : requests) {
        CHECK(r.signature_ok);
        CHECK(r.headers.at("x-notion-syncd-delivery") == "tasks/hook:1-5");
    }
    CHECK(requests.back().answered == 200);
    CHECK(receiver.events_accepted() == 5);
    CHECK(h.status_of("hook").starts_with("pending events 0, dead letters 0"));
}

TEST_CASE("webhook end to end: while the receiver is down events wait, then all arrive") {
    Harness h;
    h.tasks(30);
    const int port = test::free_port();
    h.connectors = webhook_block("http://127.0.0.1:" + std::to_string(port) + "/hook");
    h.targets = {"hook"};
    h.write_config();
    {
        test::Process daemon(h.argv({"run"}), h.path("run.log"));
        REQUIRE(wait_until(60s, [&] {
            return read_file(h.path("run.log")).find("delivery failed") != std::string::npos;
        }));
        test::WebhookReceiver receiver({.secret = secret, .port = port});
        CHECK(receiver.wait_for_events(30, 60s));
        for (const auto& r : receiver.requests()) CHECK(r.signature_ok);
    }
    MESSAGE(read_file(h.path("run.log")));
    CHECK(read_file(h.path("run.log")).find("connecting to 127.0.0.1") != std::string::npos);
    CHECK(h.status_of("hook").starts_with("pending events 0, dead letters 0"));
}

TEST_CASE("webhook end to end: a 400 moves the events to dead letters, shown by status") {
    Harness h;
    test::WebhookReceiver receiver({.secret = secret});
    receiver.answer_always({.status = 400, .body = "unknown field"});
    h.tasks(3);
    h.connectors = webhook_block(receiver.url("/hook/SECRETPATH"));
    h.targets = {"hook"};
    h.syncd();
    CHECK(h.status_of("hook").starts_with("pending events 0, dead letters 3"));
    // The batch, then each event alone to find the ones that fail.
    CHECK(receiver.request_count() == 4);
    const auto log = h.log();
    CHECK(log.find("answered 400 (not retried): unknown field") != std::string::npos);
    CHECK(log.find("SECRETPATH") == std::string::npos);
    CHECK(log.find(secret) == std::string::npos);

    // Later events go on while the dead letters wait.
    receiver.answer_always({.status = 200});
    h.task("After the fix");
    REQUIRE(h.syncd().status == 0);
    CHECK(receiver.events_accepted() == 1);
    CHECK(h.status_of("hook").starts_with("pending events 0, dead letters 3"));

    // `dead-letters`: list them, retry them (they go out again and are delivered), none left.
    const auto listed = h.syncd({"dead-letters", "list", "--target", "tasks/hook"});
    CHECK(listed.status == 0);
    CHECK(listed.out.find("3 dead letters") != std::string::npos);
    CHECK(listed.out.find("answered 400") != std::string::npos);
    const auto retried = h.syncd({"dead-letters", "retry", "--target", "tasks/hook"});
    CHECK(retried.status == 0);
    CHECK(retried.out.find("queued again") != std::string::npos);
    REQUIRE(h.syncd().status == 0);
    CHECK(receiver.events_accepted() == 4);
    const auto after = h.status_of("hook");
    CAPTURE(after);
    CHECK(after.starts_with("pending events 0, dead letters 0"));
    CHECK(h.syncd({"dead-letters", "drop", "--id", "12345"}).status == 64);
}

TEST_CASE("webhook end to end: a chat template posts one message per event") {
    Harness h;
    test::WebhookReceiver receiver({.secret = secret});
    h.task("Write the docs");
    h.task("Ship \"it\"");
    h.connectors = webhook_block(
        receiver.url(),
        "    template: >-\n      {\"text\": \"{{title}} was {{event}} in {{data_source}}\", "
        "\"count\": {{json:properties.Count}}}\n");
    h.targets = {"hook"};
    REQUIRE(h.syncd().status == 0);
    const auto requests = receiver.requests();
    REQUIRE(requests.size() == 2);
    std::set<std::string> texts;
    for (const auto& r : requests) {
        CHECK(r.signature_ok);
        texts.insert(std::string(json::parse(r.body).at("text").as_string()));
        CHECK(json::parse(r.body).at("count") == 0);
    }
    CHECK(texts == std::set<std::string>{"Write the docs was created in Tasks",
                                         "Ship \"it\" was created in Tasks"});
}

// ---- exec, end to end ----

namespace {

std::string exec_block(const std::string& name, const std::vector<std::string>& command,
                       const std::string& more = "") {
    std::string yaml = "  " + name + ":\n    type: exec\n    command: [";
    for (std::size_t i = 0; i < command.size(); ++i)
        yaml += (i ? ", " : "") + std::string("\"") + command[i] + "\"";
    return yaml + "]\n" + more;
}

std::string python_example(const Harness& h, const std::string& more = "") {
    return exec_block("script", {examples + "/append_events.py", h.path("events.jsonl").string()},
                      more);
}

}  // namespace

TEST_CASE("exec end to end: the Python example receives every event and its stderr is logged") {
    Harness h;
    h.tasks(30);
    h.connectors = python_example(h);
    h.targets = {"script"};
    REQUIRE(h.syncd().status == 0);
    const auto events = h.events_in("events.jsonl");
    CHECK(events.size() == 30);
    CHECK(seqs_of(events) == one_to(30));
    CHECK(events[0].at("event") == "created");
    CHECK(events[0].at("properties").at("Name") == "Task 0");
    const auto log = h.log();
    CHECK(log.find("connector=script pid=") != std::string::npos);
    CHECK(log.find("stderr: hello: target tasks/script, 1 data sources") != std::string::npos);
    CHECK(h.status_of("script").starts_with("pending events 0, dead letters 0"));

    // The next run starts a new program, which gets only the new events.
    h.task("Later");
    REQUIRE(h.syncd().status == 0);
    CHECK(seqs_of(h.events_in("events.jsonl")) == one_to(31));
}

TEST_CASE("exec end to end: the shell example receives every event") {
    Harness h;
    h.tasks(30);
    h.connectors =
        exec_block("batches", {examples + "/append_batches.sh", h.path("batches.jsonl").string()});
    h.targets = {"batches"};
    REQUIRE(h.syncd().status == 0);
    std::vector<json::object> events;
    for (const auto& batch : h.events_in("batches.jsonl")) {
        CHECK(batch.at("type") == "batch");
        for (const auto& e : batch.at("events").as_array()) events.push_back(e.as_object());
    }
    CHECK(events.size() == 30);
    CHECK(seqs_of(events) == one_to(30));
    CHECK(h.log().find("stderr: hello received") != std::string::npos);
}

TEST_CASE("exec end to end: a program that crashes mid-stream is restarted and nothing is lost") {
    Harness h;
    h.tasks(250);  // three batches of at most 100
    h.connectors = python_example(h, "    env: { APPEND_EVENTS_EXIT_AFTER: \"1\" }\n");
    h.targets = {"script"};
    REQUIRE(h.syncd().status == 0);
    const auto events = h.events_in("events.jsonl");
    CHECK(seqs_of(events) == one_to(250));
    // Each instance acks one batch and dies half way through the next: written twice, never lost.
    CHECK(events.size() == 250 + 50 + 25);
    const auto log = h.log();
    CHECK(count(log, "exited with status 3: the program closed its output") == 2);
    CHECK(count(log, "stderr: exiting in the middle of batch") == 2);
    CHECK(h.status_of("script").starts_with("pending events 0, dead letters 0"));
}

TEST_CASE("exec end to end: a nack that is not retryable sends the event to dead letters") {
    Harness h;
    h.tasks(4);
    h.task("poison pill");
    h.connectors = python_example(h, "    env: { APPEND_EVENTS_REJECT: poison }\n");
    h.targets = {"script"};
    h.syncd();
    const auto events = h.events_in("events.jsonl");
    CHECK(events.size() == 4);
    for (const auto& e : events) CHECK(e.at("properties").at("Name") != "poison pill");
    CHECK(h.status_of("script").starts_with("pending events 0, dead letters 1"));
    CHECK(h.log().find("the program refused batch") != std::string::npos);
}

TEST_CASE("exec end to end: a program that stops answering is restarted after ack_timeout") {
    Harness h;
    h.tasks(3);
    // The first instance never reads; the next ones are the shell example.
    const std::string script = "if [ ! -e stalled ]; then touch stalled; exec sleep 60; fi; exec " +
                               examples + "/append_batches.sh batches.jsonl";
    h.connectors = exec_block("batches", {"/bin/sh", "-c", script},
                              "    cwd: " + h.dir.path().string() + "\n    ack_timeout: 1s\n");
    h.targets = {"batches"};
    REQUIRE(h.syncd().status == 0);
    std::size_t events = 0;
    for (const auto& batch : h.events_in("batches.jsonl"))
        events += batch.at("events").as_array().size();
    CHECK(events == 3);
    const auto log = h.log();
    CHECK(log.find("no answer from the program within") != std::string::npos);
    CHECK(log.find("killed by signal 15") != std::string::npos);
}

TEST_CASE(
    "exec: a missing or non-executable command is a configuration error, for check-config too") {
    Harness h;
    h.tasks(1);
    h.connectors = exec_block("script", {h.path("missing-program").string()});
    h.targets = {"script"};
    for (const auto& command :
         {std::vector<std::string>{"check-config"}, std::vector<std::string>{"sync-once"}}) {
        const auto refused = h.syncd(command);
        CHECK(refused.status == 78);
        CHECK(h.log().find("connectors.script.command: cannot start `" +
                           h.path("missing-program").string() + "`: no such file") !=
              std::string::npos);
    }
    std::ofstream(h.path("not-executable")) << "#!/bin/sh\n";
    h.connectors = exec_block("script", {h.path("not-executable").string()});
    CHECK(h.syncd({"check-config"}).status == 78);
    CHECK(h.log().find("not executable (chmod +x " + h.path("not-executable").string() + ")") !=
          std::string::npos);
    h.connectors = exec_block("script", {"no-such-program-in-path"});
    CHECK(h.syncd({"check-config"}).status == 78);
    CHECK(h.log().find("cannot start `no-such-program-in-path`: not found in PATH") !=
          std::string::npos);
}

TEST_CASE("exec end to end: a program that cannot start leaves the events pending") {
    Harness h;
    h.tasks(3);
    // The file is there and executable (check-config accepts it), but its interpreter is not:
    // exec fails when the daemon starts it.
    { std::ofstream(h.path("missing-program")) << "#!/nonexistent/interpreter\n"; }
    fs::permissions(h.path("missing-program"), fs::perms::owner_all, fs::perm_options::add);
    h.connectors = exec_block("script", {h.path("missing-program").string()});
    h.targets = {"script"};
    CHECK(h.syncd().status == 1);
    CHECK(h.status_of("script").starts_with("pending events 3, dead letters 0"));
    CHECK(h.log().find("cannot run " + h.path("missing-program").string() +
                       ": No such file or directory") != std::string::npos);

    // Once the program is there, everything arrives.
    fs::remove(h.path("missing-program"));
    fs::copy_file(examples + "/append_events.py", h.path("missing-program"));
    fs::permissions(h.path("missing-program"), fs::perms::owner_all, fs::perm_options::add);
    h.connectors =
        exec_block("script", {h.path("missing-program").string(), h.path("events.jsonl").string()});
    REQUIRE(h.syncd().status == 0);
    CHECK(seqs_of(h.events_in("events.jsonl")) == one_to(3));
}

TEST_CASE("exec end to end: SIGTERM stops the daemon, and the program leaves on end of input") {
    Harness h;
    h.tasks(2);
    h.connectors = python_example(h);
    h.targets = {"script"};
    h.write_config();
    std::string command;
    for (const auto& a : h.argv({"run"})) command += "'" + a + "' ";
    command += "& pid=$!; cd " + h.dir.path().string() +
               "; until [ \"$(cat events.jsonl 2>/dev/null | wc -l)\" -ge 2 ]; do sleep 0.1; done;"
               " t0=$(date +%s%N); kill -TERM $pid; wait $pid; s=$?; t1=$(date +%s%N);"
               " echo \"exit=$s ms=$(( (t1 - t0) / 1000000 ))\"";
    const auto finished = test::run_command({"/bin/sh", "-c", command}, h.path("run.log"), 60s);
    MESSAGE(finished.out);
    REQUIRE(finished.out.starts_with("exit=0 ms="));
    // Below the 2 s the daemon gives a program after closing its stdin: it left on its own.
    CHECK(std::stoi(finished.out.substr(10)) < 1900);
    CHECK(seqs_of(h.events_in("events.jsonl")) == one_to(2));
}
