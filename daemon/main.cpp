// notion-syncd: keeps Notion and a team's other tools in sync (README.md, DESIGN.md).
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>

#include "config/config.hpp"
#include "connectors/connector.hpp"
#include "daemon/http/control_server.hpp"
#include "daemon/http/routes.hpp"
#include "daemon/http/status.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/net/url.hpp"
#include "daemon/sync/daemon.hpp"

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace syncd;

constexpr int ex_ok = 0;
constexpr int ex_failure = 1;
constexpr int ex_usage = 64;
constexpr int ex_unavailable = 69;
constexpr int ex_config = 78;  // sysexits EX_CONFIG; the unit's RestartPreventExitStatus=78

// "<3>" style prefixes: journald reads them as the line's priority (sd-daemon(3)).
class JournalPriority final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& message, const std::tm&,
                spdlog::memory_buf_t& out) override {
        static constexpr std::string_view prefixes[] = {"<7>", "<7>", "<6>", "<4>",
                                                        "<3>", "<2>", "<6>"};
        const auto p = prefixes[static_cast<std::size_t>(message.level)];
        out.append(p.data(), p.data() + p.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JournalPriority>();
    }
};

// The message as a JSON string's contents (quotes, backslashes and control characters escaped).
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& message, const std::tm&,
                spdlog::memory_buf_t& out) override {
        const std::string_view text(message.payload.data(), message.payload.size());
        const std::string quoted = json::serialize(json::string(text));
        out.append(quoted.data() + 1, quoted.data() + quoted.size() - 1);
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonEscapedMessage>();
    }
};

// Human lines on a TTY, priority-prefixed lines under systemd's journal (JOURNAL_STREAM), plain
// lines otherwise, JSON lines on request.
void setup_logging(const std::string& format) {
    auto logger = spdlog::stderr_color_mt("notion-syncd");
    auto formatter = std::make_unique<spdlog::pattern_formatter>(
        format == "json" ? spdlog::pattern_time_type::utc : spdlog::pattern_time_type::local);
    formatter->add_flag<JournalPriority>('*').add_flag<JsonEscapedMessage>('j');
    if (format == "json") {
        formatter->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":"%j"})");
        logger->set_formatter(std::move(formatter));
        spdlog::set_default_logger(logger);
        return;
    }
    if (isatty(STDERR_FILENO)) {
        formatter->set_pattern("%H:%M:%S %^%l%$ %v");
    } else if (std::getenv("JOURNAL_STREAM") != nullptr) {
        formatter->set_pattern("%*%v");  // journald adds time and unit
    } else {
        formatter->set_pattern("%l %v");
    }
    logger->set_formatter(std::move(formatter));
    spdlog::set_default_logger(logger);
}

config::Config load_config(const std::string& path, const connectors::Registry& registry) {
    return config::load(path, [&](const std::string& type, config::SettingsReader& settings) {
        return registry.validate(type, settings);
    });
}

// Runs one coroutine on `io` and returns its result, or rethrows.
template <typename T>
T run_task(asio::io_context& io, asio::awaitable<T> task) {
    auto future = asio::co_spawn(io, std::move(task), asio::use_future);
    io.run();
    return future.get();
}

std::string title_of(const json::object& o) {
    std::string text;
    auto collect = [&](const json::value& rich) {
        if (!rich.is_array()) return;
        for (const auto& t : rich.as_array()) {
            if (const auto* p = t.as_object().if_contains("plain_text"))
                text += p->as_string().c_str();
        }
    };
    if (const auto* t = o.if_contains("title")) collect(*t);
    if (const auto* props = o.if_contains("properties"); props && props->is_object()) {
        for (const auto& [name, p] : props->as_object()) {
            if (p.as_object().contains("title") && p.as_object().at("type") == "title")
                collect(p.at("title"));
        }
    }
    return text.empty() ? "(untitled)" : text;
}

asio::awaitable<int> discover(sync::Daemon& daemon) {
    auto& client = daemon.client();
    json::object body;
    notion::Pager pager = client.search_all(
        std::move(body), notion::RequestContext(notion::Priority::schema, "discover"));
    std::size_t pages = 0;
    std::size_t sources = 0;
    for (;;) {
        std::optional<notion::ListPage> page = co_await pager.next();
        if (!page) break;
        for (const auto& r : page->results) {
            const auto& o = r.as_object();
            const std::string kind(o.at("object").as_string());
            if (kind == "data_source") {
                ++sources;
                std::cout << "data_source  " << o.at("id").as_string().c_str() << "  "
                          << title_of(o) << "\n";
            } else {
                ++pages;
                std::cout << "page         " << o.at("id").as_string().c_str() << "  "
                          << title_of(o) << "\n";
            }
        }
    }
    if (pages + sources == 0) {
        std::cout << "The connection sees nothing yet. In Notion, open the page or database to "
                     "sync, choose\n"
                     "••• → Connections → Add connections, and pick this connection; sharing a "
                     "page shares\n"
                     "everything under it. New content can take a minute to appear in search.\n";
    } else {
        std::cout << pages << " pages, " << sources << " data sources visible to the connection\n";
    }
    co_return ex_ok;
}

// Prints the status JSON (from the running daemon's /v1/status, or built from the mirror).
void print_status(const json::object& status, const std::string& source) {
    std::cout << "(" << source << ")\n";
    for (const auto& job_value : status.at("jobs").as_array()) {
        const auto& job = job_value.as_object();
        std::cout << "sync " << job.at("name").as_string().c_str();
        if (const auto& last = job.at("last_success").as_string(); !last.empty()) {
            std::cout << ": last poll " << last.c_str() << ", lag "
                      << static_cast<long long>(job.at("lag_s").to_number<double>()) << " s";
        }
        if (const auto& error = job.at("last_error").as_string(); !error.empty())
            std::cout << ", last error: " << error.c_str();
        std::cout << "\n";
        for (const auto& sv : job.at("data_sources").as_array()) {
            const auto& s = sv.as_object();
            const auto& title = s.at("title").as_string();
            const auto& watermark = s.at("watermark").as_string();
            const auto& read = s.at("last_complete_read").as_string();
            std::cout << "  data source " << s.at("data_source_id").as_string().c_str() << " ("
                      << (title.empty() ? "?" : title.c_str()) << "): watermark "
                      << (watermark.empty() ? "none" : watermark.c_str()) << ", last complete read "
                      << (read.empty() ? "never" : read.c_str()) << " (Notion time), pages "
                      << s.at("pages").to_number<std::int64_t>() << "\n";
        }
        for (const auto& tv : job.at("targets").as_array()) {
            const auto& t = tv.as_object();
            std::cout << "  target " << t.at("target").as_string().c_str() << ": pending events "
                      << t.at("pending").to_number<std::int64_t>() << ", dead letters "
                      << t.at("dead_letters").to_number<std::int64_t>();
            if (const auto* cursor = t.if_contains("cursor"))
                std::cout << ", cursor " << cursor->to_number<std::int64_t>();
            if (const auto* snapshots = t.if_contains("snapshots_pending");
                snapshots && snapshots->to_number<std::int64_t>() > 0) {
                std::cout << ", snapshot of " << snapshots->to_number<std::int64_t>()
                          << " data sources in progress";
            }
            if (const auto* last = t.if_contains("last_delivered");
                last && last->is_string() && !last->get_string().empty()) {
                std::cout << ", last delivered " << last->get_string().c_str();
            }
            if (const auto* error = t.if_contains("last_error");
                error && error->is_string() && !error->get_string().empty()) {
                std::cout << ", last error: " << error->get_string().c_str();
            }
            std::cout << "\n";
        }
        std::cout << "  held deletes: " << job.at("held_deletes").to_number<std::int64_t>() << "\n";
    }
    const auto& budget = status.at("budget").as_object();
    std::cout << "budget: " << budget.at("used_last_minute").to_number<std::int64_t>() << " of "
              << budget.at("per_minute").to_number<double>() << " requests in the last minute, "
              << budget.at("rate_limited").to_number<std::int64_t>() << " rate-limited"
              << (budget.at("paused").as_bool() ? ", paused" : "") << "\n";
}

// The running daemon's status through its control server, if it answers.
asio::awaitable<std::optional<json::object>> remote_status(config::Config config) {
    if (config.control_listen == "off") co_return std::nullopt;
    try {
        const auto executor = co_await asio::this_coro::executor;
        net::ClientOptions options;
        options.connect_timeout = std::chrono::milliseconds(1000);
        options.request_timeout = std::chrono::milliseconds(5000);
        net::HttpClient client(executor, net::Url::parse("http://" + config.control_listen),
                               options);
        net::Request request;
        request.target = "/v1/status";
        if (!config.control_auth.empty())
            request.headers.emplace_back("Authorization", "Bearer " + config.control_auth);
        net::Response response = co_await client.send(std::move(request));
        if (response.status != 200) co_return std::nullopt;
        co_return json::parse(response.body).as_object();
    } catch (const std::exception&) {
        co_return std::nullopt;  // not running (or not reachable): read the mirror instead
    }
}

// `dead-letters list|retry|drop [--target T] [--id N]`.
int dead_letters(mirror::Mirror& mirror, const std::string& action, const std::string& target,
                 std::optional<std::int64_t> id) {
    auto letters = mirror.dead_letters(target);
    if (id) {
        std::erase_if(letters, [&](const mirror::DeadLetter& d) { return d.id != *id; });
        if (letters.empty()) {
            std::cerr << "no dead letter with id " << *id
                      << (target.empty() ? "" : " for target " + target) << '\n';
            return ex_usage;
        }
    }
    if (action == "list") {
        for (const auto& d : letters) {
            const auto event = mirror.dead_letter_event(d.id);
            std::cout << d.id << "  " << d.target << "  seq " << d.seq << "  "
                      << (event ? event->kind + " " + event->page_id : std::string("?")) << "  "
                      << d.failed_at << "\n    " << d.error << "\n";
        }
        std::cout << letters.size() << " dead letters\n";
        return ex_ok;
    }
    // Oldest first, so events of one page go out again in their order.
    std::sort(letters.begin(), letters.end(),
              [](const auto& a, const auto& b) { return a.seq < b.seq; });
    for (const auto& d : letters) {
        if (action == "retry") {
            mirror.mark_retry(d.id);
            std::cout << "dead letter " << d.id << " queued again for " << d.target
                      << " only (with the page's current values)\n";
        } else {
            mirror.drop_dead_letter(d.id);
            std::cout << "dead letter " << d.id << " dropped\n";
        }
    }
    if (action == "retry" && !letters.empty())
        std::cout << "a running daemon delivers them within a minute (or run sync-once)\n";
    return ex_ok;
}

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

// `run`: the service. Reloads on SIGHUP (a bad new configuration is refused and the running one
// kept), stops on SIGTERM/SIGINT, speaks sd_notify (READY, STATUS, WATCHDOG, RELOADING,
// STOPPING) and serves the control server.
int run_service(const std::string& path, config::Config config,
                const connectors::Registry& registry) {
    asio::io_context io;
    auto daemon = std::make_unique<sync::Daemon>(io.get_executor(), config, registry);
    std::optional<config::Config> next;
    bool stopping = false;
    std::shared_ptr<http::Routes> routes;
    std::unique_ptr<http::ControlServer> server;
    if (config.control_listen != "off") {
        routes = std::make_shared<http::Routes>([&]() -> sync::Daemon& { return *daemon; },
                                                config.webhook_secret, config.state_dir);
        http::ServerOptions options{.listen = config.control_listen};
        if (!config.control_auth.empty()) options.auth_token = config.control_auth;
        server = std::make_unique<http::ControlServer>(
            io.get_executor(), options,
            [routes](const http::ControlRequest& request) { return (*routes)(request); });
        spdlog::info("control server on {} (/healthz /readyz /metrics /v1/status)",
                     config.control_listen);
    }
    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](const boost::system::error_code& error, int signal) {
            if (error) return;
            if (signal == SIGHUP) {
                const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now().time_since_epoch());
                notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(now.count()));
                try {
                    next = load_config(path, registry);
                    spdlog::info("reloading {}: finishing the work in progress", path);
                    daemon->stop();
                } catch (const std::exception& e) {
                    spdlog::error("reload refused, the running configuration stays:\n{}", e.what());
                    notify("READY=1\nSTATUS=reload refused: bad configuration (see the log)");
                }
            } else {
                stopping = true;
                notify("STOPPING=1");
                spdlog::info("stopping: finishing the work in progress");
                daemon->stop();
            }
            wait_signal();
        });
    };
    wait_signal();
    // The watchdog is fed from the event loop, so a stuck loop gets the service restarted.
    asio::steady_timer watchdog(io);
    std::uint64_t watchdog_usec = 0;
    std::function<void()> feed = [&] {
        notify("WATCHDOG=1");
        watchdog.expires_after(std::chrono::microseconds(watchdog_usec / 2));
        watchdog.async_wait([&](const boost::system::error_code& error) {
            if (!error) feed();
        });
    };
    if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) feed();
    // A one-line STATUS= for `systemctl status`, refreshed every 15 s.
    asio::steady_timer status_timer(io);
    std::function<void()> report = [&] {
        status_timer.expires_after(std::chrono::seconds(15));
        status_timer.async_wait([&](const boost::system::error_code& error) {
            if (error) return;
            notify("STATUS=" + http::render_summary(daemon->snapshot()));
            report();
        });
    };
    report();
    auto supervise = [&]() -> asio::awaitable<void> {
        for (;;) {
            notify("READY=1\nSTATUS=syncing " + std::to_string(daemon->config().syncs.size()) +
                   " jobs");
            spdlog::info("notion-syncd running {} sync jobs", daemon->config().syncs.size());
            co_await daemon->run();
            if (stopping || !next) break;
            daemon = std::make_unique<sync::Daemon>(io.get_executor(), std::move(*next), registry);
            next.reset();
            spdlog::info("configuration reloaded");
        }
        signals.cancel();
        watchdog.cancel();
        status_timer.cancel();
        if (server) server->stop();
    };
    auto done = asio::co_spawn(io, supervise(), asio::use_future);
    io.run();
    done.get();
    return ex_ok;
}

}  // namespace

int main(int argc, char** argv) {
    // A peer that goes away (a connector's program, a socket) must give EPIPE, not kill us.
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app{"notion-syncd: keeps Notion and your other tools in sync"};
    app.require_subcommand(1);
    app.fallthrough();  // -c and --log-format also after the sub-command
    const char* env_config = std::getenv("NOTION_SYNCD_CONFIG");
    std::string config_path = env_config ? env_config : "/etc/notion-syncd/config.yaml";
    std::string log_format = "human";
    app.add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
    app.add_option("--log-format", log_format, "human or json")
        ->check(CLI::IsMember({"human", "json"}));
    auto* run = app.add_subcommand("run", "Sync on schedule until SIGTERM or SIGINT");
    auto* once = app.add_subcommand("sync-once", "One full cycle of every job, delivery included");
    std::optional<std::string> job;
    bool reconcile = false;
    once->add_option("--job", job, "Only this sync job");
    once->add_flag("--reconcile", reconcile, "Reconcile every data source now");
    bool apply_held = false;
    once->add_flag("--apply-held-deletes", apply_held,
                   "Reconcile now and apply deletes the delete brake held (implies --reconcile)");
    auto* check = app.add_subcommand("check-config", "Validate the configuration and exit");
    auto* find = app.add_subcommand("discover", "List what the connection can see");
    auto* show = app.add_subcommand(
        "status", "Per job: data sources, watermarks, pending events, dead letters");
    auto* dead = app.add_subcommand(
        "dead-letters", "List, retry or drop events a target gave up on (list|retry|drop)");
    std::string dead_action = "list";
    std::string dead_target;
    std::optional<std::int64_t> dead_id;
    dead->add_option("action", dead_action, "list, retry or drop")
        ->check(CLI::IsMember({"list", "retry", "drop"}));
    dead->add_option("--target", dead_target, "Only this target (<sync>/<connector>)");
    dead->add_option("--id", dead_id, "Only this dead letter");
    auto* resync = app.add_subcommand(
        "resync", "Re-read a job from Notion at its next poll, or refill a target from the mirror");
    std::string resync_job;
    std::string resync_target;
    auto* resync_job_option =
        resync->add_option("--job", resync_job, "The sync job: read again from Notion");
    resync
        ->add_option("--target", resync_target,
                     "A target <sync>/<connector>: sent every page again (a snapshot)")
        ->excludes(resync_job_option);
    CLI11_PARSE(app, argc, argv);
    setup_logging(log_format);

    connectors::Registry registry;
    connectors::add_builtin_connectors(registry);
    config::Config config;
    try {
        config = load_config(config_path, registry);
    } catch (const config::Error& e) {
        std::cerr << e.what() << '\n';
        return ex_config;
    }
    if (check->parsed()) {
        std::cout << "configuration OK: " << config.connectors.size() << " connectors, "
                  << config.syncs.size() << " syncs\n";
        return ex_ok;
    }
    try {
        if (run->parsed()) return run_service(config_path, config, registry);
        asio::io_context io;
        sync::Daemon daemon(io.get_executor(), config, registry);
        if (show->parsed()) {
            if (auto remote = run_task(io, remote_status(config))) {
                print_status(*remote, "from the running daemon at " + config.control_listen);
            } else {
                io.restart();
                print_status(http::render_status(daemon.snapshot()),
                             "from the mirror; the daemon is not running");
            }
            return ex_ok;
        }
        if (resync->parsed() && !resync_target.empty()) {
            const bool known = std::any_of(
                config.syncs.begin(), config.syncs.end(), [&](const config::SyncSettings& s) {
                    return std::any_of(s.targets.begin(), s.targets.end(),
                                       [&](const config::TargetSettings& t) {
                                           return s.name + "/" + t.connector == resync_target;
                                       });
                });
            if (!known) {
                std::cerr << "no target `" << resync_target << "` in " << config_path
                          << " (targets are named <sync>/<connector>)\n";
                return ex_usage;
            }
            daemon.mirror().reset_target(resync_target);
            std::cout << "target " << resync_target
                      << " receives every page again (a snapshot from the mirror) at its next "
                         "delivery\n";
            return ex_ok;
        }
        if (resync->parsed() && resync_job.empty()) {
            std::cerr << "resync needs --job NAME or --target SYNC/CONNECTOR\n";
            return ex_usage;
        }
        if (resync->parsed()) {
            if (std::none_of(config.syncs.begin(), config.syncs.end(),
                             [&](const auto& s) { return s.name == resync_job; })) {
                std::cerr << "no sync job named `" << resync_job << "` in " << config_path << '\n';
                return ex_usage;
            }
            daemon.mirror().reset_sync(resync_job);
            std::cout << "sync " << resync_job << " will be read from scratch at its next poll\n";
            return ex_ok;
        }
        if (find->parsed()) return run_task(io, discover(daemon));
        if (dead->parsed()) return dead_letters(daemon.mirror(), dead_action, dead_target, dead_id);
        if (once->parsed()) {
            if (apply_held) daemon.release_delete_brake(job);
            const sync::CycleReport report =
                run_task(io, daemon.sync_once(job, reconcile || apply_held));
            for (const auto& line : report.lines) std::cout << line << '\n';
            return report.caught_up ? ex_ok : ex_failure;
        }
    } catch (const config::Error& e) {
        std::cerr << e.what() << '\n';
        return ex_config;
    } catch (const notion::NotionError& e) {
        spdlog::error("{}", e.what());
        return e.kind == notion::ErrorKind::permanent ? ex_failure : ex_unavailable;
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return ex_failure;
    }
    return ex_usage;
}
