#include "daemon/sync/daemon.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <random>

namespace syncd::sync {

namespace asio = boost::asio;
using namespace std::chrono_literals;

Daemon::Daemon(asio::any_io_executor executor, config::Config config,
               const connectors::Registry& registry)
    : executor_(std::move(executor)), config_(std::move(config)) {
    std::filesystem::create_directories(config_.state_dir);
    mirror_ = std::make_unique<mirror::Mirror>(
        (std::filesystem::path(config_.state_dir) / "mirror.sqlite3").string());
    budget_ = std::make_shared<notion::RateBudget>(
        executor_, notion::BudgetOptions{.per_minute = config_.notion.budget.per_minute,
                                         .burst = config_.notion.budget.burst});
    notion::ClientConfig client_config{.base_url = config_.notion.base_url,
                                       .token = config_.notion.token,
                                       .version = config_.notion.version};
    client_config.http.ca_file = config_.notion.ca_file;
    client_config.retry.max_rate_limit_wait = config_.notion.max_rate_limit_wait;
    client_ = std::make_unique<notion::NotionClient>(executor_, client_config, budget_);
    jobs_.resize(config_.syncs.size());
    for (const auto& sync : config_.syncs) {
        pollers_.push_back(std::make_unique<Poller>(sync, *client_, *mirror_, ledger_));
        for (const auto& target : sync.targets) {
            const auto connector = std::find_if(
                config_.connectors.begin(), config_.connectors.end(),
                [&](const config::ConnectorSettings& c) { return c.name == target.connector; });
            auto problems = std::make_shared<config::Problems>();
            problems->file = config_.path;
            config::SettingsReader reader(connector->node, "connectors." + connector->name,
                                          problems);
            reader.string_or("type", "");
            connectors::ConnectorContext context{.name = connector->name,
                                                 .executor = executor_,
                                                 .target = {.sync = sync.name,
                                                            .table = target.table,
                                                            .mapping = target.mapping,
                                                            .soft_delete = target.soft_delete,
                                                            .unmapped = target.unmapped}};
            auto instance = registry.create(connector->type, reader, context);
            reader.finish();
            problems->throw_if_any();
            DispatchOptions options;
            options.include = target.include;
            options.exclude = target.exclude;
            options.snapshot = target.snapshot;
            options.content = sync.content;
            if (target.unmapped == "skip") {
                for (const auto& [property, column] : target.mapping)
                    options.only.push_back(property);
            }
            dispatchers_.push_back(std::make_unique<Dispatcher>(sync.name + "/" + connector->name,
                                                                sync.name, std::move(instance),
                                                                *mirror_, options));
        }
    }
}

asio::awaitable<bool> Daemon::deliver(const std::string& sync, CycleReport* report) {
    bool all = true;
    for (auto& d : dispatchers_) {
        if (d->sync() != sync) continue;
        const auto before = d->delivered();
        const bool ok = co_await d->drain();
        all = all && ok;
        if (report) {
            report->lines.push_back(
                "  target " + d->target() + ": " + std::to_string(d->delivered() - before) +
                " events delivered" + (ok ? "" : ", NOT caught up") +
                (mirror_->dead_letters(d->target()).empty()
                     ? ""
                     : ", " + std::to_string(mirror_->dead_letters(d->target()).size()) +
                           " dead letters"));
        }
    }
    collect_garbage();
    co_return all;
}

asio::awaitable<CycleReport> Daemon::sync_once(std::optional<std::string> job, bool reconcile) {
    CycleReport report;
    bool matched = false;
    // A data source read by an earlier job of this cycle is not read again by a later one.
    const auto cycle_start = std::chrono::steady_clock::now();
    for (auto& poller : pollers_) {
        if (job && poller->name() != *job) continue;
        matched = true;
        const auto start = std::chrono::steady_clock::now();
        PollStats stats;
        std::string failure;
        try {
            stats = co_await poller->poll_once(reconcile, cycle_start);
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (!failure.empty()) {
            // One job failing does not stop the others; what it committed stays committed and is
            // delivered.
            spdlog::error("sync={} poll failed: {}", poller->name(), failure);
            report.lines.push_back("sync " + poller->name() + ": FAILED: " + failure);
            report.caught_up = false;
            const bool delivered = co_await deliver(poller->name(), &report);
            report.caught_up = report.caught_up && delivered;
            continue;
        }
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        report.lines.push_back(
            "sync " + poller->name() + ": " + std::to_string(stats.data_sources) +
            " data sources, " + std::to_string(stats.pages_read) + " pages read, " +
            std::to_string(stats.events) + " changes" + (stats.reconciled ? ", reconciled" : "") +
            (stats.refreshed ? ", values refreshed" : "") +
            (stats.held_deletes ? ", held deletes: " + std::to_string(stats.held_deletes) : "") +
            " (" + std::to_string(ms.count()) + " ms)");
        if (stats.held_deletes) {
            spdlog::warn("sync={} held deletes: {} (see `notion-syncd status`)", poller->name(),
                         stats.held_deletes);
        }
        const bool delivered = co_await deliver(poller->name(), &report);
        report.caught_up = report.caught_up && delivered;
    }
    if (job && !matched)
        throw std::invalid_argument("no sync job named `" + *job + "` in " + config_.path);
    co_return report;
}

asio::awaitable<void> Daemon::run_job(std::size_t index) {
    Poller& poller = *pollers_[index];
    const auto& settings = config_.syncs[index];
    auto& timer = *timers_[index];
    std::mt19937_64 random(std::random_device{}());
    auto backoff = 1s;
    auto& job = jobs_[index];
    while (!stopping_) {
        std::chrono::milliseconds delay = settings.every;
        const bool hinted = job.hinted;  // a hint says something changed now: read everything
        job.hinted = false;
        job.last_attempt = std::chrono::system_clock::now();
        ++job.polls;
        try {
            // Another job that read a shared data source within half this job's interval did
            // this job's read of it too.
            const PollStats stats = co_await poller.poll_once(
                false, hinted ? std::chrono::steady_clock::time_point{}
                              : std::chrono::steady_clock::now() - settings.every / 2);
            job.last_success = std::chrono::system_clock::now();
            job.last_error.clear();
            job.events += stats.events;
            if (stats.events > 0) {
                spdlog::info("sync={} {} changes from {} pages read", poller.name(), stats.events,
                             stats.pages_read);
                // Every job subscribed to these data sources has new events.
                for (auto& d : dispatchers_) d->wake();
            }
            backoff = 1s;
        } catch (const std::exception& e) {
            if (stopping_) break;
            ++job.failures;
            job.last_error = e.what();
            delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff);
            backoff = std::min<std::chrono::seconds>(backoff * 2, 5min);
            spdlog::warn("sync={} poll failed, retrying in {}s: {}", poller.name(),
                         delay.count() / 1000, e.what());
        }
        if (stopping_) break;
        if (job.hinted) continue;  // a hint arrived during the poll: go again now
        // A little jitter so jobs with the same interval do not poll in lockstep.
        const auto jitter = std::chrono::milliseconds(
            std::uniform_int_distribution<long long>(0, delay.count() / 20)(random));
        timer.expires_after(delay + jitter);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> Daemon::run() {
    auto track = [this](asio::awaitable<void> task) -> asio::awaitable<void> {
        ++running_;
        try {
            co_await std::move(task);
        } catch (const std::exception& e) {
            spdlog::error("internal error: {}", e.what());
        }
        --running_;
    };
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        timers_.push_back(std::make_unique<asio::steady_timer>(executor_));
        asio::co_spawn(executor_, track(run_job(i)), asio::detached);
    }
    for (auto& d : dispatchers_) asio::co_spawn(executor_, track(d->run()), asio::detached);
    asio::steady_timer wait(executor_);
    do {
        wait.expires_after(100ms);
        co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!stopping_) collect_garbage();
    } while (!stopping_ || running_ > 0);
    collect_garbage();
    client_->shutdown();
    budget_->shutdown();
}

void Daemon::collect_garbage() {
    const auto now = std::chrono::steady_clock::now();
    if (now - collected_at_ < 10s && !stopping_) return;
    collected_at_ = now;
    std::vector<std::string> targets;
    for (auto& d : dispatchers_) targets.push_back(d->target());
    mirror_->collect_garbage(targets);
}

void Daemon::release_delete_brake(const std::optional<std::string>& job) {
    for (auto& p : pollers_) {
        if (!job || p->name() == *job) p->release_delete_brake();
    }
}

bool Daemon::hint(const std::string& name) {
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        if (pollers_[i]->name() != name) continue;
        jobs_[i].hinted = true;
        if (i < timers_.size()) timers_[i]->cancel();
        return true;
    }
    return false;
}

void Daemon::sources_changed(const std::string& job) {
    for (auto& poller : pollers_) {
        if (poller->name() == job) poller->sources_changed();
    }
}

void Daemon::schema_changed(const std::string& data_source_id) {
    for (auto& poller : pollers_) poller->schema_changed(data_source_id);
}

std::optional<std::string> Daemon::job_for(const std::string& entity_id,
                                           const std::string& data_source_id) {
    std::string ds = data_source_id;
    if (ds.empty()) {
        if (const auto page = mirror_->page_digest(entity_id)) ds = page->data_source_id;
    }
    for (const auto& poller : pollers_) {
        const auto& sources = poller->data_sources();
        for (const auto& id : {ds, entity_id}) {
            if (!id.empty() && std::find(sources.begin(), sources.end(), id) != sources.end())
                return poller->name();
        }
    }
    return std::nullopt;
}

namespace {

std::string iso(std::chrono::system_clock::time_point t) {
    if (t == std::chrono::system_clock::time_point{}) return {};
    const auto secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char out[32];
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

double seconds_since(std::chrono::system_clock::time_point t) {
    if (t == std::chrono::system_clock::time_point{}) return -1;
    return std::chrono::duration<double>(std::chrono::system_clock::now() - t).count();
}

std::string label(std::string_view value) {
    std::string out;
    for (const char c : value) {
        if (c == '"' || c == '\\') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace

boost::json::object Daemon::status() {
    namespace json = boost::json;
    json::array jobs;
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        const auto& name = pollers_[i]->name();
        const auto& job = jobs_[i];
        json::array sources;
        for (const auto& s : mirror_->sources(name)) {
            sources.push_back(
                json::object{{"data_source_id", s.data_source_id},
                             {"title", s.schema ? s.schema->title : std::string()},
                             {"watermark", s.watermark},
                             {"last_complete_read", s.read_from},
                             {"pages", mirror_->live_pages(s.data_source_id).size()}});
        }
        json::array targets;
        for (const auto& d : dispatchers_) {
            if (d->sync() != name) continue;
            targets.push_back(
                json::object{{"target", d->target()},
                             {"cursor", mirror_->cursor(d->target())},
                             {"pending", d->pending()},
                             {"snapshots_pending", mirror_->snapshots_pending(d->target())},
                             {"delivered", d->delivered()},
                             {"last_delivered", iso(d->last_delivered())},
                             {"last_error", d->last_error()},
                             {"dead_letters", mirror_->dead_letters(d->target()).size()}});
        }
        jobs.push_back(json::object{{"name", name},
                                    {"every_s", config_.syncs[i].every.count() / 1000.0},
                                    {"last_attempt", iso(job.last_attempt)},
                                    {"last_success", iso(job.last_success)},
                                    {"lag_s", seconds_since(job.last_success)},
                                    {"last_error", job.last_error},
                                    {"polls", job.polls},
                                    {"failures", job.failures},
                                    {"events", job.events},
                                    {"held_deletes", mirror_->held_deletes(name)},
                                    {"data_sources", sources},
                                    {"targets", targets}});
    }
    const auto budget = budget_->metrics();
    json::object queue;
    for (std::size_t p = 0; p < notion::priority_count; ++p)
        queue[notion::to_string(static_cast<notion::Priority>(p))] = budget.queue_depth[p];
    return {{"jobs", jobs},
            {"budget",
             {{"per_minute", config_.notion.budget.per_minute},
              {"used_last_minute", budget.granted_last_minute},
              {"rate_limited", budget.rate_limited},
              {"rate_factor", budget.rate_factor},
              {"paused", budget.paused},
              {"queue_depth", queue}}},
            {"ready", ready()}};
}

std::string Daemon::metrics(const std::string& extra) {
    std::string out;
    auto line = [&](const std::string& text) {
        out += text;
        out += '\n';
    };
    auto help = [&](const char* name, const char* type, const char* text) {
        line(std::string("# HELP ") + name + " " + text);
        line(std::string("# TYPE ") + name + " " + type);
    };
    const auto client = client_->metrics();
    help("notion_syncd_requests_total", "counter", "Notion API requests by route and status");
    for (const auto& [key, count] : client.requests) {
        line("notion_syncd_requests_total{route=\"" + label(key.first) + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(count));
    }
    const auto budget = budget_->metrics();
    help("notion_syncd_rate_limited_total", "counter", "429 and 529 answers from Notion");
    line("notion_syncd_rate_limited_total " + std::to_string(budget.rate_limited));
    help("notion_syncd_budget_used", "gauge", "requests granted in the last 60 s");
    line("notion_syncd_budget_used " + std::to_string(budget.granted_last_minute));
    help("notion_syncd_budget_per_minute", "gauge", "configured budget per 60 s");
    line("notion_syncd_budget_per_minute " + std::to_string(config_.notion.budget.per_minute));
    help("notion_syncd_budget_queue_depth", "gauge", "requests waiting for the budget");
    for (std::size_t p = 0; p < notion::priority_count; ++p) {
        line("notion_syncd_budget_queue_depth{priority=\"" +
             std::string(notion::to_string(static_cast<notion::Priority>(p))) + "\"} " +
             std::to_string(budget.queue_depth[p]));
    }
    help("notion_syncd_poll_lag_seconds", "gauge", "seconds since the job's last successful poll");
    help("notion_syncd_last_success_timestamp_seconds", "gauge", "Unix time of the last good poll");
    help("notion_syncd_poll_failures_total", "counter", "failed polls");
    help("notion_syncd_held_deletes", "gauge", "deletes held by the delete brake");
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        const std::string job = "{job=\"" + label(pollers_[i]->name()) + "\"} ";
        const auto& state = jobs_[i];
        line("notion_syncd_poll_lag_seconds" + job +
             std::to_string(seconds_since(state.last_success)));
        line("notion_syncd_last_success_timestamp_seconds" + job +
             std::to_string(state.last_success == std::chrono::system_clock::time_point{}
                                ? 0
                                : std::chrono::system_clock::to_time_t(state.last_success)));
        line("notion_syncd_poll_failures_total" + job + std::to_string(state.failures));
        line("notion_syncd_held_deletes" + job +
             std::to_string(mirror_->held_deletes(pollers_[i]->name())));
    }
    help("notion_syncd_events_pending", "gauge", "outbox events a target has not acknowledged");
    help("notion_syncd_events_delivered_total", "counter", "events delivered since start");
    help("notion_syncd_dead_letters", "gauge", "events set aside after failing");
    for (const auto& d : dispatchers_) {
        const std::string target = "{target=\"" + label(d->target()) + "\"} ";
        line("notion_syncd_events_pending" + target + std::to_string(d->pending()));
        line("notion_syncd_events_delivered_total" + target + std::to_string(d->delivered()));
        line("notion_syncd_dead_letters" + target +
             std::to_string(mirror_->dead_letters(d->target()).size()));
    }
    out += extra;
    return out;
}

std::string Daemon::summary() {
    double lag = 0;
    std::size_t failing = 0;
    for (const auto& job : jobs_) {
        lag = std::max(lag, seconds_since(job.last_success));
        if (!job.last_error.empty()) ++failing;
    }
    std::size_t pending = 0;
    std::size_t dead = 0;
    for (const auto& d : dispatchers_) {
        pending += d->pending();
        dead += mirror_->dead_letters(d->target()).size();
    }
    return std::to_string(pollers_.size()) + " jobs, oldest poll " +
           std::to_string(static_cast<long long>(lag)) + " s ago, " + std::to_string(pending) +
           " events pending, " + std::to_string(dead) + " dead letters" +
           (failing ? ", " + std::to_string(failing) + " jobs failing" : "");
}

bool Daemon::ready() const {
    // Config loaded and mirror open (this object exists), and Notion answered within the last
    // three poll intervals (at least 5 minutes) once polling began.
    bool polled = false;
    std::chrono::milliseconds window = std::chrono::minutes(5);
    for (std::size_t i = 0; i < jobs_.size(); ++i) {
        polled = polled || jobs_[i].polls > 0;
        window = std::max<std::chrono::milliseconds>(window, config_.syncs[i].every * 3);
    }
    if (!polled) return true;
    const auto last = client_->last_answer();
    return last != std::chrono::steady_clock::time_point{} &&
           std::chrono::steady_clock::now() - last <= window;
}

void Daemon::stop() {
    stopping_ = true;
    for (auto& t : timers_) t->cancel();
    for (auto& d : dispatchers_) d->stop();
    // Requests waiting for the budget or in flight for a poll are abandoned: the poll's batch is
    // not committed, so the next start reads it again.
    client_->shutdown();
}

}  // namespace syncd::sync
