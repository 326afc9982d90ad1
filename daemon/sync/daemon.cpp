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
    client_ = std::make_unique<notion::NotionClient>(executor_, client_config, budget_);
    for (const auto& sync : config_.syncs) {
        pollers_.push_back(std::make_unique<Poller>(sync, *client_, *mirror_));
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
                                                            .soft_delete = target.soft_delete}};
            auto instance = registry.create(connector->type, reader, context);
            reader.finish();
            problems->throw_if_any();
            dispatchers_.push_back(std::make_unique<Dispatcher>(
                sync.name + "/" + connector->name, sync.name, std::move(instance), *mirror_));
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
    for (auto& poller : pollers_) {
        if (job && poller->name() != *job) continue;
        matched = true;
        const auto start = std::chrono::steady_clock::now();
        PollStats stats;
        std::string failure;
        try {
            stats = co_await poller->poll_once(reconcile);
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
    while (!stopping_) {
        std::chrono::milliseconds delay = settings.every;
        try {
            const PollStats stats = co_await poller.poll_once(false);
            if (stats.events > 0) {
                spdlog::info("sync={} {} changes from {} pages read", poller.name(), stats.events,
                             stats.pages_read);
                for (auto& d : dispatchers_) {
                    if (d->sync() == poller.name()) d->wake();
                }
            }
            backoff = 1s;
        } catch (const std::exception& e) {
            if (stopping_) break;
            delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff);
            backoff = std::min<std::chrono::seconds>(backoff * 2, 5min);
            spdlog::warn("sync={} poll failed, retrying in {}s: {}", poller.name(),
                         delay.count() / 1000, e.what());
        }
        if (stopping_) break;
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
    std::vector<std::pair<std::string, std::string>> targets;
    for (auto& d : dispatchers_) targets.emplace_back(d->sync(), d->target());
    mirror_->collect_garbage(targets);
}

void Daemon::release_delete_brake(const std::optional<std::string>& job) {
    for (auto& p : pollers_) {
        if (!job || p->name() == *job) p->release_delete_brake();
    }
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
