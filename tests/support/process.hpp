// Test support: child processes, the emulator, and running one coroutine to completion.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace syncd::test {

// Runs one coroutine on a fresh io_context and returns its result or rethrows its exception.
template <typename T>
T run(boost::asio::awaitable<T> task) {
    boost::asio::io_context io;
    auto future = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
    io.run();
    return future.get();
}

// A temporary directory removed on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A child process; SIGTERM then SIGKILL on destruction. Its stderr goes to `log`, which is
// printed if the process ended on its own before that (it crashed).
class Process {
public:
    Process(const std::vector<std::string>& argv, const std::filesystem::path& log);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    // Waits for the first line on stdout.
    std::string first_line(std::chrono::milliseconds timeout);
    // Reads stdout lines until one contains `text`.
    void wait_for(std::string_view text, std::chrono::milliseconds timeout);
    // Waits for the process to end (it was told to); its wait status, or nullopt if it is still
    // running after `timeout`.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    int pid() const { return pid_; }

private:
    int pid_ = -1;
    int stdout_fd_ = -1;
    std::filesystem::path log_;
};

// notion-emulator on a free port with an owner and one connection token.
class Emulator {
public:
    static constexpr const char* owner_token = "test-owner-token";
    static constexpr const char* connection_token = "test-connection-token";

    explicit Emulator(const TempDir& dir, std::vector<std::string> extra = {});
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int port() const { return port_; }
    // POST /__emulator/<what> with a JSON body; returns the answer.
    boost::json::value control(const std::string& what, const boost::json::value& body);
    boost::json::value get(const std::string& what);
    // A call of the public API with a token, synchronously (set-up in tests).
    boost::json::value api(const std::string& method, const std::string& target,
                           const boost::json::value& body, const std::string& token = owner_token,
                           const std::string& version = "2026-03-11");

private:
    Process process_;
    int port_ = 0;
};

// Runs a program to completion (killed after `timeout`) with extra environment variables;
// returns its exit status (128 + signal when killed) and its stdout. stderr goes to `log`.
struct Finished {
    int status = -1;
    std::string out;
};
Finished run_command(const std::vector<std::string>& argv, const std::filesystem::path& log,
                     std::chrono::milliseconds timeout,
                     const std::vector<std::pair<std::string, std::string>>& environment = {});

// A TCP port that was free a moment ago on 127.0.0.1 (for tools that cannot take port 0).
int free_port();

// Polls `done` every 20 ms until it holds or `timeout` passes; its last answer.
bool wait_until(std::chrono::milliseconds timeout, const std::function<bool()>& done);

// The whole file ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

// Whether `text` holds `needle` followed by something other than a digit or '.' (and, when it
// starts with a digit, preceded by a non-digit), so that "held deletes: 5" does not match
// "held deletes: 50", "} 1" does not match "} 10" and "30 pages" does not match "130 pages".
bool contains_exactly(std::string_view text, std::string_view needle);

// The value of the Prometheus sample `series` (`name{labels}` as printed) in a /metrics text.
std::optional<double> metric_value(std::string_view metrics, std::string_view series);

// Runs a shell command; throws if it fails.
void shell(const std::string& command);

// Path of a binary built by this build (set by CMake), e.g. notion-emulator.
std::string emulator_binary();

}  // namespace syncd::test
