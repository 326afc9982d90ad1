#include "connectors/exec/program.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>

namespace syncd::connectors::exec {
namespace {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_line = 16 * 1024 * 1024;
constexpr std::size_t max_logged = 4096;

// The file argv[0] names: as given when it holds a slash (relative to cwd), else the first
// executable in PATH.
std::string resolve(const std::string& name,
                    const std::vector<std::pair<std::string, std::string>>& environment) {
    if (name.find('/') != std::string::npos) return name;
    std::string path = "/usr/local/bin:/usr/bin:/bin";
    for (const auto& [key, value] : environment) {
        if (key == "PATH") path = value;
    }
    for (std::size_t start = 0;;) {
        const auto colon = path.find(':', start);
        std::string dir = path.substr(start, colon - start);
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    throw std::runtime_error("cannot start `" + name + "`: not found in PATH (" + path + ")");
}

std::string how_it_ended(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    }
    return "ended (wait status " + std::to_string(status) + ")";
}

// A daemon writing to a pipe whose reader is gone must get EPIPE, not die of SIGPIPE. Only the
// default disposition is changed; a handler someone installed is kept.
void ignore_sigpipe() {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &ignore, nullptr);
    }
}

struct Pipe {
    int read = -1;
    int write = -1;
    Pipe() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            throw std::runtime_error(std::string("pipe failed: ") + std::strerror(errno));
        read = fds[0];
        write = fds[1];
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    void close_read() {
        if (read >= 0) close(read);
        read = -1;
    }
    void close_write() {
        if (write >= 0) close(write);
        write = -1;
    }
    int release_read() { return std::exchange(read, -1); }
    int release_write() { return std::exchange(write, -1); }
};

// Between fork and exec only async-signal-safe calls: everything is prepared before the fork.
[[noreturn]] void become_program(const char* file, char* const* argv, char* const* envp,
                                 const char* cwd, int in, int out, int err, int status) {
    setpgid(0, 0);  // a Ctrl-C meant for the daemon is not the program's; the daemon ends it
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    // Dispositions and masks survive exec: give the program the defaults back.
    for (const int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT}) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Descriptors of the daemon (sockets, the mirror) are not the program's.
    if (status > 3) close_range(3, static_cast<unsigned>(status) - 1, 0);
    close_range(static_cast<unsigned>(status) + 1, UINT_MAX, 0);
    char where = 'x';
    int error = 0;
    if (cwd[0] != '\0' && chdir(cwd) != 0) {
        where = 'c';
        error = errno;
    } else {
        execve(file, argv, envp);
        error = errno;
    }
    char report[1 + sizeof error];
    report[0] = where;
    std::memcpy(report + 1, &error, sizeof error);
    (void)!::write(status, report, sizeof report);
    _exit(127);
}

}  // namespace

std::optional<std::string> start_problem(const ProgramSpec& spec) {
    if (spec.argv.empty()) return "no command to run";
    if (!spec.cwd.empty() && access(spec.cwd.c_str(), X_OK) != 0)
        return "cannot enter the working directory " + spec.cwd + ": " + std::strerror(errno);
    std::string file;
    try {
        file = resolve(spec.argv.front(), spec.environment);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    // A name with a slash is relative to the program's working directory.
    if (!file.starts_with('/') && !spec.cwd.empty()) file = spec.cwd + "/" + file;
    if (access(file.c_str(), F_OK) != 0) return "cannot start `" + file + "`: no such file";
    if (access(file.c_str(), X_OK) != 0)
        return "cannot start `" + file + "`: not executable (chmod +x " + file + ")";
    return std::nullopt;
}

Program::Program(asio::any_io_executor executor, std::string log_name)
    : log_name_(std::move(log_name)),
      stdin_(executor),
      stdout_(executor),
      deadline_(std::move(executor)) {}

asio::awaitable<std::shared_ptr<Program>> Program::start(ProgramSpec spec) {
    if (spec.argv.empty()) throw std::runtime_error("no command to run");
    ignore_sigpipe();
    const std::string file = resolve(spec.argv.front(), spec.environment);
    std::vector<char*> argv;
    for (auto& a : spec.argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> variables;
    for (const auto& [key, value] : spec.environment) variables.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& v : variables) envp.push_back(v.data());
    envp.push_back(nullptr);

    Pipe in, out, err, status, wake;
    const auto executor = co_await asio::this_coro::executor;
    std::shared_ptr<Program> program(new Program(executor, spec.log_name));
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        become_program(file.c_str(), argv.data(), envp.data(), spec.cwd.c_str(), in.read, out.write,
                       err.write, status.write);
    }
    setpgid(pid, pid);  // also here, so a signal to the group cannot race the child's own call
    program->pid_ = pid;
    in.close_read();
    out.close_write();
    err.close_write();
    status.close_write();
    program->stdin_.assign(in.release_write());
    program->stdout_.assign(out.release_read());
    program->wake_fd_ = wake.release_write();
    program->stderr_thread_ =
        std::thread([name = program->log_name_, pid, fd = err.release_read(),
                     wake_fd = wake.release_read()] { log_stderr(name, pid, fd, wake_fd); });

    // The status pipe closes on a successful exec; otherwise it carries the reason.
    asio::posix::stream_descriptor report_stream(executor, status.release_read());
    char report[1 + sizeof(int)] = {};
    auto [ec, n] = co_await asio::async_read(report_stream, asio::buffer(report), use_tuple);
    if (n == sizeof report) {
        int error = 0;
        std::memcpy(&error, report + 1, sizeof error);
        co_await program->wait_exit(std::chrono::seconds(2));
        throw std::runtime_error(report[0] == 'c'
                                     ? "cannot change to directory " + spec.cwd + ": " +
                                           std::strerror(error)
                                     : "cannot run " + file + ": " + std::strerror(error));
    }
    spdlog::info("connector={} started {} pid={}", spec.log_name, file, pid);
    co_return program;
}

namespace {

// Ends programs still running when their Program goes (a reload, a shutdown) on threads of their
// own, so the event loop does not wait out their grace periods; joined at exit, so no program
// outlives the daemon.
class Reaper {
public:
    static Reaper& instance() {
        static Reaper reaper;
        return reaper;
    }
    template <typename Job>
    void add(Job job) {
        std::lock_guard lock(mutex_);
        std::erase_if(threads_, [](Entry& e) {
            if (!*e.done) return false;
            e.thread.join();
            return true;
        });
        auto done = std::make_shared<std::atomic<bool>>(false);
        threads_.push_back({std::thread([job = std::move(job), done]() mutable {
                                job();
                                *done = true;
                            }),
                            done});
    }
    void join() {
        std::vector<Entry> threads;
        {
            std::lock_guard lock(mutex_);
            threads.swap(threads_);
        }
        for (auto& e : threads) e.thread.join();
    }
    ~Reaper() { join(); }

private:
    struct Entry {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    std::mutex mutex_;
    std::vector<Entry> threads_;
};

// Waits up to `limit` for `pid` to exit (reaping it); true if it did (or is gone).
bool wait_for_exit(pid_t pid, std::chrono::milliseconds limit) {
    for (auto waited = std::chrono::milliseconds(0);; waited += std::chrono::milliseconds(20)) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) return true;
        if (waited >= limit) return false;
        usleep(20'000);
    }
}

}  // namespace

void Program::join_ended() { Reaper::instance().join(); }

Program::~Program() {
    boost::system::error_code ignored;
    stdin_.close(ignored);
    stdout_.close(ignored);
    // Stdin is closed: a program that ends on end of input has 2 s, then SIGTERM, 2 s, SIGKILL.
    // Its stderr is read until it ends, then the reading thread is stopped.
    auto end = [pid = (pid_ > 0 && !reap()) ? pid_ : 0, wake_fd = std::exchange(wake_fd_, -1),
                stderr_thread = std::move(stderr_thread_)]() mutable {
        if (pid > 0 && !wait_for_exit(pid, std::chrono::seconds(2))) {
            kill(-pid, SIGTERM);
            if (!wait_for_exit(pid, std::chrono::seconds(2))) {
                kill(-pid, SIGKILL);
                int status = 0;
                waitpid(pid, &status, 0);
            }
        }
        if (wake_fd >= 0) {
            (void)!::write(wake_fd, "x", 1);
            close(wake_fd);
        }
        if (stderr_thread.joinable()) stderr_thread.join();
    };
    Reaper::instance().add(std::move(end));
}

bool Program::reap() {
    if (status_) return true;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        status_ = status;
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        status_ = 0;  // reaped elsewhere
        return true;
    }
    return false;
}

asio::awaitable<bool> Program::wait_exit(std::chrono::milliseconds limit) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto until = std::chrono::steady_clock::now() + limit;
    auto step = std::chrono::milliseconds(1);
    while (!reap()) {
        if (std::chrono::steady_clock::now() >= until) co_return false;
        timer.expires_after(step);
        co_await timer.async_wait(use_tuple);
        step = std::min(step * 2, std::chrono::milliseconds(50));
    }
    co_return true;
}

asio::awaitable<std::string> Program::finish(std::chrono::milliseconds grace) {
    boost::system::error_code ignored;
    stdin_.close(ignored);
    if (!co_await wait_exit(grace)) {
        kill(-pid_, SIGTERM);
        if (!co_await wait_exit(grace)) {
            kill(-pid_, SIGKILL);
            co_await wait_exit(std::chrono::seconds(10));
        }
    }
    stdout_.close(ignored);
    co_return status_ ? how_it_ended(*status_) : "did not end after SIGKILL";
}

void Program::arm(asio::posix::stream_descriptor& stream, std::chrono::milliseconds timeout) {
    const auto generation = ++generation_;
    timed_out_ = false;
    deadline_.expires_after(timeout);
    deadline_.async_wait(
        [self = shared_from_this(), &stream, generation](const boost::system::error_code& ec) {
            if (ec || generation != self->generation_) return;
            self->timed_out_ = true;
            stream.cancel();
        });
}

asio::awaitable<void> Program::write(const std::string& data, std::chrono::milliseconds timeout) {
    arm(stdin_, timeout);
    auto [ec, n] = co_await asio::async_write(stdin_, asio::buffer(data), use_tuple);
    ++generation_;
    deadline_.cancel();
    if (timed_out_) {
        throw ProgramTimeout("the program took no input for " + std::to_string(timeout.count()) +
                             " ms");
    }
    if (ec) throw std::runtime_error("the program no longer reads its input: " + ec.message());
}

asio::awaitable<std::optional<std::string>> Program::read_line(std::chrono::milliseconds timeout) {
    arm(stdout_, timeout);
    auto [ec, n] = co_await asio::async_read_until(stdout_, asio::dynamic_buffer(buffer_, max_line),
                                                   '\n', use_tuple);
    ++generation_;
    deadline_.cancel();
    if (timed_out_) {
        throw ProgramTimeout("no answer from the program within " +
                             std::to_string(timeout.count()) + " ms");
    }
    if (ec == asio::error::eof) co_return std::nullopt;
    if (ec == asio::error::not_found)
        throw std::runtime_error("the program wrote a line over 16 MiB");
    if (ec) throw std::runtime_error("reading the program's output: " + ec.message());
    std::string line = buffer_.substr(0, n - 1);
    buffer_.erase(0, n);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    co_return line;
}

void Program::log_stderr(const std::string& log_name, int pid, int fd, int wake_fd) {
    std::string pending;
    char chunk[4096];
    auto emit = [&](std::string_view line) {
        if (line.size() > max_logged) line = line.substr(0, max_logged);
        spdlog::info("connector={} pid={} stderr: {}", log_name, pid, line);
    };
    bool stopping = false;
    for (;;) {
        pollfd fds[2] = {{.fd = fd, .events = POLLIN, .revents = 0},
                         {.fd = wake_fd, .events = POLLIN, .revents = 0}};
        if (!stopping && poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (!stopping && fds[1].revents != 0) {
            // The program is gone: what it wrote last (often why it stopped) is still read,
            // without waiting for more (a child of it may hold the pipe open).
            stopping = true;
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        }
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(chunk, static_cast<std::size_t>(n));
        for (auto newline = pending.find('\n'); newline != std::string::npos;
             newline = pending.find('\n')) {
            emit(std::string_view(pending).substr(0, newline));
            pending.erase(0, newline + 1);
        }
        // A program writing a very long line without a newline is logged in pieces.
        if (pending.size() > max_logged) {
            emit(pending);
            pending.clear();
        }
    }
    if (!pending.empty()) emit(pending);
    close(fd);
    close(wake_fd);
}

}  // namespace syncd::connectors::exec
