// Measures notion-emulator's throughput on data source queries returning 100-page batches, with
// rate limits off, over one keep-alive connection. Prints one JSON object.
//
//   emulator_throughput --emulator build/release/emulator/notion-emulator [--pages 1000] [--seconds
//   5]
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* token = "bench-owner-token";

struct Emulator {
    pid_t pid = -1;
    int port = 0;

    explicit Emulator(const std::string& path) {
        int out[2];
        if (pipe(out) != 0) throw std::runtime_error("pipe failed");
        pid = fork();
        if (pid == 0) {
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            execl(path.c_str(), path.c_str(), "--port", "0", "--owner-token", token, "--rate-limit",
                  "0", "--seed", "7", static_cast<char*>(nullptr));
            _exit(127);
        }
        close(out[1]);
        std::string line;
        char c = 0;
        while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
        close(out[0]);
        if (line.empty()) throw std::runtime_error("the emulator did not start: " + path);
        port = static_cast<int>(json::parse(line).at("port").as_int64());
    }
    ~Emulator() {
        kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
    }

    // utime + stime in microseconds, from /proc/PID/stat.
    long cpu_us() const {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), {});
        std::istringstream fields(text.substr(text.rfind(')') + 2));
        std::string skip;
        for (int i = 0; i < 11; ++i) fields >> skip;
        long utime = 0;
        long stime = 0;
        fields >> utime >> stime;
        return (utime + stime) * 1'000'000 / sysconf(_SC_CLK_TCK);
    }
    long peak_rss_kb() const {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
        }
        return 0;
    }
};

class Client {
public:
    explicit Client(int port) : stream_(io_) {
        tcp::resolver resolver(io_);
        stream_.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
        stream_.socket().set_option(tcp::no_delay(true));
    }

    json::value call(http::verb method, const std::string& target, const std::string& body) {
        return json::parse(send(method, target, body));
    }

    // The raw response body; the measured loop scans it instead of parsing it, so that the client
    // is not what limits the figure.
    std::string send(http::verb method, const std::string& target, const std::string& body) {
        http::request<http::string_body> request{method, target, 11};
        request.set(http::field::host, "127.0.0.1");
        request.set(http::field::authorization, std::string("Bearer ") + token);
        request.set("Notion-Version", "2026-03-11");
        if (!body.empty()) request.set(http::field::content_type, "application/json");
        request.body() = body;
        request.prepare_payload();
        http::write(stream_, request);
        http::response<http::string_body> response;
        http::read(stream_, buffer_, response);
        if (response.result_int() != 200) {
            throw std::runtime_error(target + " answered " + std::to_string(response.result_int()) +
                                     ": " + response.body());
        }
        return std::move(response.body());
    }

private:
    asio::io_context io_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
};

}  // namespace

int main(int argc, char** argv) try {
    CLI::App app{"notion-emulator query throughput"};
    std::string path = "build/release/emulator/notion-emulator";
    int pages = 1000;
    double seconds = 5;
    app.add_option("--emulator", path, "notion-emulator binary")->capture_default_str();
    app.add_option("--pages", pages, "Pages in the data source")->capture_default_str();
    app.add_option("--seconds", seconds, "How long to query")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    Emulator emulator(path);
    Client client(emulator.port);
    const auto db = client.call(http::verb::post, "/v1/databases", R"({"parent":{"workspace":true},
        "title":[{"text":{"content":"Bench"}}],
        "initial_data_source":{"properties":{"Name":{"title":{}},"Estimate":{"number":{}},
          "Done":{"checkbox":{}},"Stage":{"status":{}},"Notes":{"rich_text":{}},"Due":{"date":{}}}}})");
    const std::string ds(db.at("data_sources").as_array()[0].at("id").as_string());
    for (int i = 0; i < pages; ++i) {
        client.call(http::verb::post, "/v1/pages",
                    R"({"parent":{"data_source_id":")" + ds + R"("},"properties":{
            "Name":{"title":[{"text":{"content":"Task )" +
                        std::to_string(i) + R"("}}]},
            "Estimate":{"number":)" +
                        std::to_string(i % 13) + R"(},"Done":{"checkbox":)" +
                        (i % 2 ? "true" : "false") + R"(},
            "Notes":{"rich_text":[{"text":{"content":"Some notes about this task"}}]},
            "Due":{"date":{"start":"2026-06-01"}}}})");
    }

    // The daemon's incremental read: timestamp filter, ascending sort, 100 per page.
    const std::string query = R"({"page_size":100,
        "filter":{"timestamp":"last_edited_time","last_edited_time":{"on_or_after":"2020-01-01T00:00:00Z"}},
        "sorts":[{"timestamp":"last_edited_time","direction":"ascending"}]})";
    const long cpu_before = emulator.cpu_us();
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::duration<double>(seconds);
    long requests = 0;
    long returned = 0;
    std::string cursor;
    while (std::chrono::steady_clock::now() < deadline) {
        std::string body = query;
        if (!cursor.empty()) body.insert(body.size() - 1, R"(,"start_cursor":")" + cursor + "\"");
        const std::string result =
            client.send(http::verb::post, "/v1/data_sources/" + ds + "/query", body);
        for (auto at = result.find(R"({"object":"page")"); at != std::string::npos;
             at = result.find(R"({"object":"page")", at + 1)) {
            ++returned;
        }
        const auto next = result.find(R"("next_cursor":")");
        cursor = next == std::string::npos ? "" : result.substr(next + 15, 36);
        ++requests;
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const long cpu = emulator.cpu_us() - cpu_before;
    json::object out{
        {"benchmark", "emulator_query_throughput"},
        {"pages_in_data_source", pages},
        {"page_size", 100},
        {"requests", requests},
        {"pages_returned", returned},
        {"wall_seconds", elapsed},
        {"requests_per_second", static_cast<double>(requests) / elapsed},
        {"emulator_cpu_seconds", static_cast<double>(cpu) / 1e6},
        {"requests_per_emulator_cpu_second",
         cpu > 0 ? static_cast<double>(requests) * 1e6 / static_cast<double>(cpu) : 0.0},
        {"emulator_cpu_us_per_page",
         returned > 0 ? static_cast<double>(cpu) / static_cast<double>(returned) : 0.0},
        {"emulator_peak_rss_kb", emulator.peak_rss_kb()},
        {"target_requests_per_second", 1000}};
    std::cout << json::serialize(out) << std::endl;
    return 0;
} catch (const std::exception& e) {
    std::cerr << "emulator_throughput: " << e.what() << '\n';
    return 1;
}
