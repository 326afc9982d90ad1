#include "connectors/exec/exec.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <sstream>

#include "connectors/exec/program.hpp"

using namespace syncd;
using namespace syncd::connectors::exec;
using namespace std::chrono_literals;

namespace {

struct Block {
    std::shared_ptr<config::Problems> problems = std::make_shared<config::Problems>();
    config::SettingsReader reader;
    explicit Block(const std::string& yaml) : reader(YAML::Load(yaml), "connectors.run", problems) {
        problems->file = "test.yaml";
    }
    Settings parse() {
        auto settings = parse_settings(reader);
        reader.finish();
        return settings;
    }
    std::string problems_text() const {
        std::string text;
        for (const auto& line : problems->lines) text += line + "\n";
        return text;
    }
};

std::string value_of(const std::vector<std::pair<std::string, std::string>>& environment,
                     const std::string& name) {
    for (const auto& [key, value] : environment) {
        if (key == name) return value;
    }
    return "(unset)";
}

}  // namespace

TEST_CASE("command, env with ${ENV}, cwd and ack_timeout are read") {
    setenv("EXEC_TEST_OUT", "/tmp/out", 1);
    Block block(R"(
command: [python3, append_events.py, "${EXEC_TEST_OUT}/events.jsonl"]
env: { OUT_DIR: "${EXEC_TEST_OUT}", MODE: fast }
cwd: /tmp
ack_timeout: 2m
)");
    const auto s = block.parse();
    CHECK(block.problems_text() == "");
    CHECK(s.command ==
          std::vector<std::string>{"python3", "append_events.py", "/tmp/out/events.jsonl"});
    CHECK(s.env == std::vector<std::pair<std::string, std::string>>{{"OUT_DIR", "/tmp/out"},
                                                                    {"MODE", "fast"}});
    CHECK(s.cwd == "/tmp");
    CHECK(s.ack_timeout == 2min);
}

TEST_CASE("a missing, empty or scalar command is a config error") {
    {
        Block block("cwd: /tmp");
        block.parse();
        CHECK(block.problems_text() ==
              "test.yaml:1:1: connectors.run: missing required key `command` (the program and "
              "its arguments, as a list)\n");
    }
    {
        Block block("command: []");
        block.parse();
        CHECK(block.problems_text().find("expected the program and its arguments") !=
              std::string::npos);
    }
    {
        Block block("command: python3 hook.py");
        block.parse();
        CHECK(block.problems_text() ==
              "test.yaml:1:10: connectors.run.command: expected a list of strings\n");
    }
    {
        Block block("command: [python3, {a: 1}]");
        block.parse();
        CHECK(block.problems_text().find("connectors.run.command[1]: expected a string") !=
              std::string::npos);
    }
}

TEST_CASE("bad env names, unset variables and a tiny ack_timeout are config errors") {
    unsetenv("EXEC_TEST_SURELY_UNSET");
    Block block(R"(
command: [true]
env: { "BAD-NAME": x, "1X": y, GOOD: "${EXEC_TEST_SURELY_UNSET}" }
ack_timeout: 10ms
)");
    block.parse();
    const auto text = block.problems_text();
    CHECK(text.find("`BAD-NAME` is not an environment variable name") != std::string::npos);
    CHECK(text.find("`1X` is not an environment variable name") != std::string::npos);
    CHECK(text.find("env.GOOD: environment variable EXEC_TEST_SURELY_UNSET is not set") !=
          std::string::npos);
    CHECK(text.find("connectors.run.ack_timeout: expected at least 100ms") != std::string::npos);
}

TEST_CASE("the program gets a small environment: no secret of the daemon, env: on top") {
    setenv("NOTION_TOKEN", "secret_should_not_leak", 1);
    setenv("PATH", "/usr/bin:/bin", 1);
    const auto environment = program_environment("script", {{"PATH", "/opt/bin"}, {"X", "1"}});
    CHECK(value_of(environment, "NOTION_TOKEN") == "(unset)");
    CHECK(value_of(environment, "PATH") == "/opt/bin");
    CHECK(value_of(environment, "X") == "1");
    CHECK(value_of(environment, "NOTION_SYNCD_PROTOCOL") == "1");
    CHECK(value_of(environment, "NOTION_SYNCD_CONNECTOR") == "script");
    unsetenv("NOTION_TOKEN");
}

TEST_CASE("restarts back off from half a second, doubling, up to 30 seconds") {
    CHECK(restart_delay(0) == 0ms);
    CHECK(restart_delay(1) == 500ms);
    CHECK(restart_delay(2) == 1000ms);
    CHECK(restart_delay(3) == 2000ms);
    CHECK(restart_delay(7) == 30'000ms);
    CHECK(restart_delay(100) == 30'000ms);
}

TEST_CASE("a program's last stderr lines are logged even when it exits at once") {
    // The lines a program writes just before it exits (often why it stops) are still in the
    // pipe when the Program is destroyed: they must be read, not dropped.
    std::ostringstream captured;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
    auto logger = std::make_shared<spdlog::logger>("stderr-test", sink);
    const auto previous = spdlog::default_logger();
    spdlog::set_default_logger(logger);
    for (int round = 0; round < 20; ++round) {
        boost::asio::io_context io;
        boost::asio::co_spawn(
            io,
            [&]() -> boost::asio::awaitable<void> {
                syncd::connectors::exec::ProgramSpec spec{
                    // More than a pipe holds (64 KiB), so lines are still unread at the exit.
                    .argv = {"sh", "-c",
                             "seq 1 30000 >&2; echo \"last words " + std::to_string(round) +
                                 "\" >&2; exit 3"},
                    .environment = {{"PATH", "/usr/bin:/bin"}},
                    .log_name = "t"};
                auto program = co_await syncd::connectors::exec::Program::start(spec);
                while (co_await program->read_line(std::chrono::seconds(10))) {
                }
                program.reset();  // at once, as a connector does when the program's output ends
            },
            boost::asio::detached);
        io.run();
        syncd::connectors::exec::Program::join_ended();  // the end runs off the loop
        spdlog::default_logger()->flush();
        INFO(round);
        CHECK(captured.str().find("stderr: last words " + std::to_string(round)) !=
              std::string::npos);
    }
    spdlog::set_default_logger(previous);
}

TEST_CASE("destroying a program that will not stop returns at once and it still ends") {
    // It ignores the end of its input and SIGTERM: ending it takes 2 s + 2 s and SIGKILL, which
    // must not be waited for where the Program is destroyed (the event loop).
    boost::asio::io_context io;
    int pid = 0;
    std::chrono::steady_clock::duration destroying{};
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            syncd::connectors::exec::ProgramSpec spec{
                .argv = {"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"},
                .environment = {{"PATH", "/usr/bin:/bin"}},
                .log_name = "stubborn"};
            auto program = co_await syncd::connectors::exec::Program::start(spec);
            CHECK(co_await program->read_line(std::chrono::seconds(10)) == "ready");
            pid = program->pid();
            const auto before = std::chrono::steady_clock::now();
            program.reset();
            destroying = std::chrono::steady_clock::now() - before;
        },
        boost::asio::detached);
    io.run();
    REQUIRE(pid > 0);
    CHECK(destroying < std::chrono::milliseconds(500));
    CHECK(kill(pid, 0) == 0);  // still there: being ended off the loop
    const auto before = std::chrono::steady_clock::now();
    syncd::connectors::exec::Program::join_ended();
    const auto ending = std::chrono::steady_clock::now() - before;
    CHECK(ending > std::chrono::seconds(3));  // the grace periods were given
    CHECK(kill(pid, 0) != 0);                 // and then it was killed and reaped
}
