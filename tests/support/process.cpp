#include "tests/support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <stdexcept>

#include "daemon/net/http_client.hpp"

namespace syncd::test {

TempDir::TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() / ("syncd-test-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

Process::Process(const std::vector<std::string>& argv, const std::filesystem::path& log)
    : log_(log) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        dup2(out[1], STDOUT_FILENO);
        const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (err >= 0) dup2(err, STDERR_FILENO);
        close(out[0]);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    close(out[1]);
    stdout_fd_ = out[0];
}

Process::~Process() {
    if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        std::ifstream in(log_);
        std::cerr << "== " << log_.string() << " (the process ended before the test did):\n"
                  << in.rdbuf() << '\n';
    }
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        for (int i = 0; i < 50; ++i) {
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                break;
            }
            usleep(100'000);
        }
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return status;
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        usleep(20'000);
    }
    return std::nullopt;
}

bool wait_until(std::chrono::milliseconds timeout, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        usleep(20'000);
    }
    return done();
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool contains_exactly(std::string_view text, std::string_view needle) {
    for (auto at = text.find(needle); at != std::string_view::npos;
         at = text.find(needle, at + 1)) {
        const auto end = at + needle.size();
        const auto digit = [&](std::size_t i) {
            return std::isdigit(static_cast<unsigned char>(text[i])) != 0;
        };
        const bool starts_clean = at == 0 || !digit(at - 1) || !digit(at);
        const bool ends_clean = end == text.size() || !(digit(end) || text[end] == '.');
        if (starts_clean && ends_clean) return true;
    }
    return false;
}

std::optional<double> metric_value(std::string_view metrics, std::string_view series) {
    std::size_t start = 0;
    while (start < metrics.size()) {
        auto end = metrics.find('\n', start);
        if (end == std::string_view::npos) end = metrics.size();
        const auto line = metrics.substr(start, end - start);
        if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ')
            return std::stod(std::string(line.substr(series.size() + 1)));
        start = end + 1;
    }
    return std::nullopt;
}

std::string Process::first_line(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd fd{stdout_fd_, POLLIN, 0};
        if (poll(&fd, 1, 100) <= 0) continue;
        char c = 0;
        if (read(stdout_fd_, &c, 1) != 1) break;
        if (c == '\n') return line;
        line.push_back(c);
    }
    throw std::runtime_error("the process printed no line in time");
}

void Process::wait_for(std::string_view text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (first_line(left).find(text) != std::string::npos) return;
    }
    throw std::runtime_error("the process did not print \"" + std::string(text) + "\" in time");
}

Finished run_command(const std::vector<std::string>& argv, const std::filesystem::path& log,
                     std::chrono::milliseconds timeout,
                     const std::vector<std::pair<std::string, std::string>>& environment) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (err >= 0) dup2(err, STDERR_FILENO);
        close(out[0]);
        for (const auto& [name, value] : environment) setenv(name.c_str(), value.c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    close(out[1]);
    Finished finished;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buffer[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        pollfd p{.fd = out[0], .events = POLLIN, .revents = 0};
        if (poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000))) <= 0) continue;
        const ssize_t n = read(out[0], buffer, sizeof buffer);
        if (n <= 0) break;
        finished.out.append(buffer, static_cast<std::size_t>(n));
    }
    close(out[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    finished.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return finished;
}

int free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

void shell(const std::string& command) {
    if (std::system(command.c_str()) != 0) throw std::runtime_error("command failed: " + command);
}

std::string emulator_binary() {
    if (const char* path = std::getenv("NOTION_EMULATOR")) return path;
    return SYNCD_EMULATOR_BINARY;
}

Emulator::Emulator(const TempDir& dir, std::vector<std::string> extra)
    : process_(
          [&] {
              std::vector<std::string> argv{emulator_binary(), "--port",    "0",
                                            "--owner-token",   owner_token, "--connection-token",
                                            connection_token};
              argv.insert(argv.end(), extra.begin(), extra.end());
              return argv;
          }(),
          dir.path() / "emulator.log") {
    port_ = static_cast<int>(
        boost::json::parse(process_.first_line(std::chrono::seconds(20))).at("port").as_int64());
}

namespace {

boost::json::value request(int port, const std::string& method, const std::string& target,
                           const std::string& body, net::Headers headers) {
    return run([&]() -> boost::asio::awaitable<boost::json::value> {
        // Declarations apart from co_await: g++ 12 mishandles temporaries across a suspension.
        const auto executor = co_await boost::asio::this_coro::executor;
        const net::Url url = net::Url::parse("http://127.0.0.1:" + std::to_string(port));
        net::HttpClient client(executor, url, net::ClientOptions{});
        net::Request r{
            .method = method, .target = target, .headers = std::move(headers), .body = body};
        if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
        const net::Response response = co_await client.send(std::move(r));
        if (response.status != 200) {
            throw std::runtime_error(method + " " + target + " answered " +
                                     std::to_string(response.status) + ": " + response.body);
        }
        co_return boost::json::parse(response.body);
    }());
}

}  // namespace

boost::json::value Emulator::control(const std::string& what, const boost::json::value& body) {
    return request(port_, "POST", "/__emulator/" + what, boost::json::serialize(body), {});
}

boost::json::value Emulator::get(const std::string& what) {
    return request(port_, "GET", "/__emulator/" + what, "", {});
}

boost::json::value Emulator::api(const std::string& method, const std::string& target,
                                 const boost::json::value& body, const std::string& token,
                                 const std::string& version) {
    return request(port_, method, target, body.is_null() ? "" : boost::json::serialize(body),
                   {{"Authorization", "Bearer " + token}, {"Notion-Version", version}});
}

}  // namespace syncd::test
