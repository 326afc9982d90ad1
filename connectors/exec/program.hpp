// A program the exec connector runs (fork/exec, in its own process group): stdin and stdout are
// pipes driven by Asio on the caller's executor, so nothing blocks the event loop; stderr is
// logged line by line by a small thread of its own, so output written while no batch is in
// flight is logged at once and no pending read keeps the io_context alive.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace syncd::connectors::exec {

struct ProgramSpec {
    std::vector<std::string> argv = {};  // argv[0] is looked up in the environment's PATH
    std::vector<std::pair<std::string, std::string>> environment = {};  // the whole environment
    std::string cwd = {};                                               // empty: the daemon's
    std::string log_name = {};  // stderr lines are logged as "connector=<log_name> …"
};

// A write or read that did not finish in time.
class ProgramTimeout : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Why `spec` cannot be started (argv[0] not found in its PATH, not executable, no such cwd);
// nullopt when it can. What Program::start checks, without starting anything.
std::optional<std::string> start_problem(const ProgramSpec& spec);

class Program : public std::enable_shared_from_this<Program> {
public:
    // Starts the program and waits until exec succeeded. Throws std::runtime_error saying why it
    // could not start (not found, not executable, no such cwd).
    static boost::asio::awaitable<std::shared_ptr<Program>> start(ProgramSpec spec);

    // Ends a program still running (stdin closed; SIGTERM, then SIGKILL to its process group,
    // waiting up to 2 s each) and joins the stderr thread — on a thread of its own, joined at
    // exit: returns at once, so the event loop never waits for a program to end.
    ~Program();
    // Waits until every program whose Program is gone has ended and its stderr is logged.
    static void join_ended();
    Program(const Program&) = delete;
    Program& operator=(const Program&) = delete;

    // Writes all of `data` to stdin. Throws ProgramTimeout, or std::runtime_error when the
    // program no longer reads (it closed stdin or exited).
    boost::asio::awaitable<void> write(const std::string& data, std::chrono::milliseconds timeout);
    // The next stdout line without its newline; nullopt at end of file. Throws ProgramTimeout,
    // or std::runtime_error for a line over 16 MiB or a read error.
    boost::asio::awaitable<std::optional<std::string>> read_line(std::chrono::milliseconds timeout);
    // Ends the program: closes stdin, waits `grace` for it to exit, then sends SIGTERM and waits
    // `grace` again, then SIGKILL. Returns how it ended ("exited with status 3").
    boost::asio::awaitable<std::string> finish(std::chrono::milliseconds grace);

    // Whether the program has exited (it is reaped then); does not block.
    bool has_exited() { return reap(); }
    int pid() const { return pid_; }

private:
    Program(boost::asio::any_io_executor executor, std::string log_name);
    boost::asio::awaitable<bool> wait_exit(std::chrono::milliseconds limit);
    bool reap();
    void arm(boost::asio::posix::stream_descriptor& stream, std::chrono::milliseconds timeout);
    // On the stderr thread, which may outlive the Program (its end is off the loop).
    static void log_stderr(const std::string& log_name, int pid, int fd, int wake_fd);

    std::string log_name_;
    int pid_ = -1;
    std::optional<int> status_;  // wait status once reaped
    boost::asio::posix::stream_descriptor stdin_;
    boost::asio::posix::stream_descriptor stdout_;
    boost::asio::steady_timer deadline_;
    std::uint64_t generation_ = 0;  // of the operation `deadline_` guards
    bool timed_out_ = false;
    std::string buffer_;  // stdout read past the last line
    int wake_fd_ = -1;    // written to stop the stderr thread
    std::thread stderr_thread_;
};

}  // namespace syncd::connectors::exec
