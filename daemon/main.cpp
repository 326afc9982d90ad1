// notion-syncd: keeps Notion and a team's other tools in sync (README.md, DESIGN.md).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <iostream>

#include "config/config.hpp"
#include "connectors/connector.hpp"
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

void setup_logging(const std::string& format) {
    auto logger = spdlog::stderr_color_mt("notion-syncd");
    if (format == "json") {
        logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":"%v"})",
                            spdlog::pattern_time_type::utc);
    } else if (isatty(STDERR_FILENO)) {
        logger->set_pattern("%H:%M:%S %^%l%$ %v");
    } else {
        logger->set_pattern("%l %v");
    }
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

int status(mirror::Mirror& mirror, const config::Config& config) {
    for (const auto& sync : config.syncs) {
        std::cout << "sync " << sync.name << "\n";
        for (const auto& s : mirror.sources(sync.name)) {
            std::cout << "  data source " << s.data_source_id << " ("
                      << (s.schema ? s.schema->title : "?") << "): watermark "
                      << (s.watermark.empty() ? "none" : s.watermark) << ", last complete read "
                      << (s.read_from.empty() ? "never" : s.read_from) << " (Notion time), pages "
                      << mirror.live_pages(s.data_source_id).size() << "\n";
        }
        const auto last = mirror.last_seq(sync.name);
        for (const auto& t : sync.targets) {
            const std::string target = sync.name + "/" + t.connector;
            const auto cursor = mirror.cursor(target);
            std::cout << "  target " << target << ": pending events "
                      << mirror.count_after(sync.name, cursor) << ", dead letters "
                      << mirror.dead_letters(target).size() << "\n";
            (void)last;
        }
        std::cout << "  held deletes: " << mirror.held_deletes(sync.name) << "\n";
    }
    return ex_ok;
}

}  // namespace

int main(int argc, char** argv) {
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
    auto* resync = app.add_subcommand("resync", "Re-read a job from scratch at its next poll");
    std::string resync_job;
    resync->add_option("--job", resync_job, "The sync job")->required();
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
        asio::io_context io;
        sync::Daemon daemon(io.get_executor(), config, registry);
        if (show->parsed()) return status(daemon.mirror(), config);
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
        if (once->parsed()) {
            if (apply_held) daemon.release_delete_brake(job);
            const sync::CycleReport report =
                run_task(io, daemon.sync_once(job, reconcile || apply_held));
            for (const auto& line : report.lines) std::cout << line << '\n';
            return report.caught_up ? ex_ok : ex_failure;
        }
        if (run->parsed()) {
            asio::signal_set signals(io, SIGINT, SIGTERM);
            signals.async_wait([&](const boost::system::error_code& error, int) {
                if (error) return;
                spdlog::info("stopping: finishing the work in progress");
                daemon.stop();
            });
            spdlog::info("notion-syncd running {} sync jobs", config.syncs.size());
            run_task(io, daemon.run());
            return ex_ok;
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
