// notion-syncd: keeps Notion and a team's other tools in sync (README.md, DESIGN.md).
#include <grp.h>
#include <pwd.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
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
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>

#include "config/config.hpp"
#include "connectors/connector.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/http/control_server.hpp"
#include "daemon/http/routes.hpp"
#include "daemon/http/status.hpp"
#include "daemon/mirror/state_lock.hpp"
#include "daemon/model/json_text.hpp"
#include "daemon/model/log.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/net/url.hpp"
#include "daemon/sync/daemon.hpp"
#include "daemon/sync/failure.hpp"

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace syncd;

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
        std::string escaped;
        model::append_json_escaped(escaped, {message.payload.data(), message.payload.size()});
        out.append(escaped.data(), escaped.data() + escaped.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonEscapedMessage>();
    }
};

// The line's structured fields (log::Field) as `,"key":value…` inside the JSON object.
class JsonFields final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg&, const std::tm&,
                spdlog::memory_buf_t& out) override {
        std::string text;
        log::append_json_fields(text);
        out.append(text.data(), text.data() + text.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonFields>();
    }
};

// Timestamped human lines on a terminal or a file, priority-prefixed lines under systemd's
// journal (JOURNAL_STREAM: journald adds time and unit), JSON lines with the structured fields
// on request.
void setup_logging(const std::string& format) {
    auto logger = spdlog::stderr_color_mt("notion-syncd");
    auto formatter = std::make_unique<spdlog::pattern_formatter>(
        format == "json" ? spdlog::pattern_time_type::utc : spdlog::pattern_time_type::local);
    formatter->add_flag<JournalPriority>('*')
        .add_flag<JsonEscapedMessage>('j')
        .add_flag<JsonFields>('F');
    if (format == "json") {
        formatter->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":"%j"%F})");
    } else if (std::getenv("JOURNAL_STREAM") != nullptr && !isatty(STDERR_FILENO)) {
        formatter->set_pattern("%*%v");
    } else if (isatty(STDERR_FILENO)) {
        formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    } else {
        formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
    }
    logger->set_formatter(std::move(formatter));
    spdlog::set_default_logger(logger);
}

config::Config load_config(const std::string& path, const connectors::Registry& registry) {
    return config::load(path, [&](const std::string& type, config::SettingsReader& settings) {
        return registry.validate(type, settings);
    });
}

// Run as root from a shell (`sudo notion-syncd sync-once`), a command that touches the state
// switches to the owner of state.dir (the service's user) once the configuration and the token
// are read, so every file it creates stays the service's. Returns an error to print, if any.
std::optional<std::string> adopt_state_owner(const std::string& state_dir) {
    struct stat info {};
    if (::geteuid() != 0 || ::stat(state_dir.c_str(), &info) != 0 || info.st_uid == 0)
        return std::nullopt;
    if (::setgroups(0, nullptr) != 0 || ::setgid(info.st_gid) != 0 || ::setuid(info.st_uid) != 0) {
        return "cannot switch to the owner of " + state_dir + " (uid " +
               std::to_string(info.st_uid) + "): " + std::strerror(errno);
    }
    const passwd* user = ::getpwuid(info.st_uid);
    spdlog::debug("running as {}, the owner of {}",
                  user ? user->pw_name : std::to_string(info.st_uid), state_dir);
    return std::nullopt;
}

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

// `run`: the service. Reloads on SIGHUP (a bad new configuration, or one whose daemon cannot be
// built, is refused and the running one kept), stops on SIGTERM/SIGINT, speaks sd_notify
// (READY, STATUS, WATCHDOG, RELOADING, STOPPING) and serves the control server.
int run_service(const std::string& path, config::Config config,
                const connectors::Registry& registry, std::unique_ptr<mirror::StateLock> lock) {
    asio::io_context io;
    auto daemon = std::make_unique<sync::Daemon>(io.get_executor(), config, registry);
    std::optional<config::Config> next;
    std::unique_ptr<mirror::StateLock> next_lock;
    bool stopping = false;
    std::shared_ptr<http::Routes> routes;
    std::unique_ptr<http::ControlServer> server;
    if (config.control_listen != "off") {
        std::optional<std::string> token;
        if (!config.control_auth.empty()) token = config.control_auth;
        routes = std::make_shared<http::Routes>([&]() -> sync::Daemon& { return *daemon; },
                                                config.webhook_secret, config.state_dir, token);
        http::ServerOptions options{.listen = config.control_listen};
        if (!config.control_auth.empty()) options.auth_token = config.control_auth;
        try {
            server = std::make_unique<http::ControlServer>(
                io.get_executor(), options, [routes](http::ControlRequest request) {
                    return routes->handle(std::move(request));
                });
        } catch (const std::exception& e) {
            spdlog::error("{}", cli::describe(e));
            return cli::exit_codes::unavailable;
        }
        spdlog::info("control server on {} (/healthz /readyz /metrics /v1/status)",
                     config.control_listen);
    }
    auto refuse_reload = [&](const std::string& why) {
        spdlog::error("reload refused, the running configuration stays:\n{}", why);
        notify("READY=1\nSTATUS=reload refused: " + why.substr(0, why.find('\n')));
    };
    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](const boost::system::error_code& error, int signal) {
            if (error) return;
            if (signal == SIGHUP) {
                const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now().time_since_epoch());
                notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(now.count()));
                try {
                    config::Config candidate = load_config(path, registry);
                    if (candidate.control_listen != daemon->config().control_listen) {
                        throw config::Error(path +
                                            ": control.listen changed; a reload keeps the control "
                                            "server where it is: restart the service to move it");
                    }
                    if (candidate.state_dir != daemon->config().state_dir) {
                        next_lock = std::make_unique<mirror::StateLock>(candidate.state_dir);
                    }
                    next = std::move(candidate);
                    spdlog::info("reloading {}: finishing the work in progress", path);
                    daemon->stop();
                } catch (const std::exception& e) {
                    refuse_reload(cli::describe(e));
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
            config::Config previous = daemon->config();
            daemon.reset();
            try {
                daemon =
                    std::make_unique<sync::Daemon>(io.get_executor(), std::move(*next), registry);
                if (next_lock) lock = std::move(next_lock);
                spdlog::info("configuration reloaded");
            } catch (const std::exception& e) {
                // The new configuration passed its checks but its daemon cannot be built: the
                // old one goes on (it was built before, from the same machine).
                refuse_reload(cli::describe(e));
                daemon = std::make_unique<sync::Daemon>(io.get_executor(), std::move(previous),
                                                        registry);
            }
            next.reset();
            next_lock.reset();
        }
        signals.cancel();
        watchdog.cancel();
        status_timer.cancel();
        if (server) server->stop();
    };
    auto done = asio::co_spawn(io, supervise(), asio::use_future);
    io.run();
    done.get();
    return cli::exit_codes::ok;
}

}  // namespace

int main(int argc, char** argv) {
    namespace codes = cli::exit_codes;
    // A peer that goes away (a connector's program, a socket) must give EPIPE, not kill us.
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app{"notion-syncd: keeps Notion and your other tools in sync"};
    app.require_subcommand(1);
    app.fallthrough();  // -c and --log-format also after the sub-command
    app.set_version_flag("--version", std::string("notion-syncd ") + SYNCD_VERSION +
                                          " (Notion API version 2026-03-11 by default; "
                                          "2025-09-03 with notion.version)");
    const char* env_config = std::getenv("NOTION_SYNCD_CONFIG");
    std::string config_path = env_config ? env_config : "/etc/notion-syncd/config.yaml";
    std::string log_format = "human";
    app.add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
    app.add_option("--log-format", log_format, "human or json")
        ->check(CLI::IsMember({"human", "json"}));
    std::string log_level = "info";
    app.add_option("--log-level", log_level,
                   "debug (every Notion request with route, status and duration), info, warn "
                   "or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    auto* run = app.add_subcommand("run", "Sync on schedule until SIGTERM or SIGINT");
    auto* once = app.add_subcommand("sync-once", "One full cycle of every job, delivery included");
    std::optional<std::string> job;
    bool reconcile = false;
    once->add_option("--job", job, "Only this sync job");
    once->add_flag("--reconcile", reconcile, "Reconcile every data source now");
    bool apply_held = false;
    once->add_flag("--apply-held-deletes", apply_held,
                   "Reconcile now and apply deletes the delete brake held (implies --reconcile)");
    bool apply_held_writes = false;
    once->add_flag("--apply-held-writes", apply_held_writes,
                   "Write the edits of two-way targets that max_write_ratio held");
    auto* conflicts = app.add_subcommand(
        "conflicts", "Two-way: properties both sides changed (list [--all] [--json])");
    std::string conflicts_action = "list";
    bool conflicts_all = false;
    bool conflicts_json = false;
    std::optional<std::int64_t> conflict_id;
    std::string conflict_take;
    std::string conflict_value;
    conflicts->add_option("action", conflicts_action, "list, show or resolve")
        ->check(CLI::IsMember({"list", "show", "resolve"}));
    conflicts->add_option("id", conflict_id, "The conflict (show, resolve)");
    conflicts->add_option("--take", conflict_take, "resolve: notion, external or value")
        ->check(CLI::IsMember({"notion", "external", "value"}));
    conflicts->add_option("--value", conflict_value, "resolve --take value: the value, as JSON");
    conflicts->add_flag("--all", conflicts_all, "Also the decided ones, with the losing value");
    conflicts->add_flag("--json", conflicts_json, "JSON for scripts");
    auto* plan = app.add_subcommand(
        "plan", "What the next cycle would do, both directions, without doing it");
    std::optional<std::string> plan_job;
    bool plan_json = false;
    plan->add_option("--job", plan_job, "Only this sync job");
    plan->add_flag("--json", plan_json, "JSON for scripts: a list of actions");
    auto* history = app.add_subcommand("history", "Two-way: what was written where for a page");
    std::string history_page;
    history->add_option("page", history_page, "The page id (or URL)")->required();
    auto* check = app.add_subcommand("check-config", "Validate the configuration and exit");
    bool online = false;
    check->add_flag("--online", online,
                    "Also ask Notion: each source shared and of its kind, property names known");
    auto* find = app.add_subcommand("discover", "Show what the connection can see, as a tree");
    bool find_json = false;
    find->add_flag("--json", find_json, "JSON for scripts");
    auto* show = app.add_subcommand(
        "status", "Per job: data sources, watermarks, pending events, dead letters");
    bool show_json = false;
    show->add_flag("--json", show_json, "JSON for scripts (what /v1/status answers)");
    auto* dead = app.add_subcommand(
        "dead-letters", "List, retry or drop events a target gave up on (list|retry|drop)");
    std::string dead_action = "list";
    std::string dead_target;
    std::optional<std::int64_t> dead_id;
    bool dead_all = false;
    dead->add_option("action", dead_action, "list, retry or drop")
        ->check(CLI::IsMember({"list", "retry", "drop"}));
    dead->add_option("--target", dead_target, "Only this target (<sync>/<connector>)");
    dead->add_option("--id", dead_id, "Only this dead letter");
    dead->add_flag("--all", dead_all,
                   "drop: every dead letter (drop needs --id, --target or this)");
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
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; every other CLI11 error is a usage error (64).
        return app.exit(e) == 0 ? codes::ok : codes::usage;
    }
    setup_logging(log_format);
    spdlog::set_level(spdlog::level::from_str(log_level));

    connectors::Registry registry;
    connectors::add_builtin_connectors(registry);
    config::Config config;
    try {
        config = load_config(config_path, registry);
    } catch (const config::Error& e) {
        std::cerr << e.what() << '\n';
        return codes::config;
    }
    const auto has_job = [&](const std::string& name) {
        return std::any_of(config.syncs.begin(), config.syncs.end(),
                           [&](const config::SyncSettings& s) { return s.name == name; });
    };
    const auto job_names = [&] {
        std::string names;
        for (const auto& s : config.syncs) names += (names.empty() ? "" : ", ") + s.name;
        return names;
    };
    if (plan_job && !has_job(*plan_job)) {
        std::cerr << "no sync job named `" << *plan_job << "` in " << config_path
                  << " (its jobs: " << job_names() << ")\n";
        return codes::usage;
    }
    if (job && !has_job(*job)) {
        std::cerr << "no sync job named `" << *job << "` in " << config_path
                  << " (its jobs: " << job_names() << ")\n";
        return codes::usage;
    }
    try {
        if (check->parsed()) {
            std::cout << "configuration OK: " << config.connectors.size() << " connectors, "
                      << config.syncs.size() << " syncs"
                      << (online ? "; asking Notion about each job's source and property names"
                                 : "")
                      << "\n";
            return online ? cli::check_online(config, registry) : codes::ok;
        }
        if (find->parsed()) return cli::discover(config, find_json);
        if (const auto problem = adopt_state_owner(config.state_dir)) {
            std::cerr << *problem << '\n';
            return codes::internal;
        }
        if (show->parsed()) return cli::status(config, registry, show_json);
        // The commands below change the state: one process at a time per state directory.
        const bool writes = !(dead->parsed() && dead_action == "list") && !history->parsed() &&
                            !(conflicts->parsed() && conflicts_action != "resolve");
        std::unique_ptr<mirror::StateLock> lock;
        if (writes) lock = std::make_unique<mirror::StateLock>(config.state_dir);
        if (run->parsed()) return run_service(config_path, config, registry, std::move(lock));
        asio::io_context io;
        sync::Daemon daemon(io.get_executor(), config, registry);
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
                return codes::usage;
            }
            daemon.mirror().reset_target(resync_target);
            std::cout << "target " << resync_target
                      << " receives every page again (a snapshot from the mirror) at its next "
                         "delivery\n";
            return codes::ok;
        }
        if (resync->parsed() && resync_job.empty()) {
            std::cerr << "resync needs --job NAME or --target SYNC/CONNECTOR\n";
            return codes::usage;
        }
        if (resync->parsed()) {
            if (!has_job(resync_job)) {
                std::cerr << "no sync job named `" << resync_job << "` in " << config_path
                          << " (its jobs: " << job_names() << ")\n";
                return codes::usage;
            }
            daemon.mirror().reset_sync(resync_job);
            std::cout << "sync " << resync_job << " will be read from scratch at its next poll\n";
            return codes::ok;
        }
        if (plan->parsed()) {
            auto future = asio::co_spawn(io, daemon.plan(plan_job), asio::use_future);
            io.run();
            return cli::print_plan(future.get(), plan_json);
        }
        if (conflicts->parsed() && conflicts_action != "list") {
            return cli::conflict(daemon.mirror(), conflicts_action, conflict_id, conflict_take,
                                 conflict_value);
        }
        if (conflicts->parsed()) {
            return cli::conflicts(daemon.mirror(), conflicts_all, conflicts_json);
        }
        if (history->parsed()) {
            const auto id = config::parse_notion_id(history_page);
            if (!id) {
                std::cerr << "`" << history_page << "` is not a Notion page id or URL\n";
                return codes::usage;
            }
            return cli::history(daemon.mirror(), *id);
        }
        if (dead->parsed()) {
            return cli::dead_letters(daemon.mirror(), dead_action, dead_target, dead_id, dead_all);
        }
        if (once->parsed()) {
            if (apply_held) daemon.release_delete_brake(job);
            if (apply_held_writes) daemon.release_write_brake(job);
            auto future = asio::co_spawn(io, daemon.sync_once(job, reconcile || apply_held),
                                         asio::use_future);
            io.run();
            const sync::CycleReport report = future.get();
            for (const auto& line : report.lines) std::cout << line << '\n';
            if (report.failure != sync::FailureKind::none) return sync::exit_code(report.failure);
            if (report.dead_lettered > 0) {
                std::cout << report.dead_lettered
                          << " events were moved to dead letters in this run: see `notion-syncd "
                             "dead-letters list`\n";
                return codes::partial;
            }
            return report.caught_up ? codes::ok : codes::partial;
        }
    } catch (const config::Error& e) {
        std::cerr << e.what() << '\n';
        return codes::config;
    } catch (const mirror::StateLocked& e) {
        std::cerr << e.what() << '\n';
        return codes::busy;
    } catch (const sync::UnknownJob& e) {
        std::cerr << e.what() << '\n';
        return codes::usage;
    } catch (const notion::NotionError& e) {
        const sync::Failure failure = sync::classify(e, config.notion.token_source);
        spdlog::error("{}", failure.message);
        return sync::exit_code(failure.kind);
    } catch (const std::exception& e) {
        spdlog::error("{}", cli::describe(e));
        return codes::internal;
    }
    return codes::usage;
}
