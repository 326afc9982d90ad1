#include "daemon/sync/job_runner.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "daemon/model/log.hpp"

namespace syncd::sync {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
    return t == std::chrono::system_clock::time_point{}
               ? 0
               : std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch())
                     .count();
}
std::chrono::system_clock::time_point from_unix_ms(std::int64_t ms) {
    return ms == 0 ? std::chrono::system_clock::time_point{}
                   : std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}
}  // namespace

JobRunner::JobRunner(Poller& poller, config::SyncSettings settings,
                     std::function<void()> on_changes, AuthGate& auth, mirror::Mirror& mirror,
                     std::string token_source, PollScheduler& scheduler)
    : poller_(poller),
      settings_(std::move(settings)),
      on_changes_(std::move(on_changes)),
      auth_(auth),
      mirror_(mirror),
      token_source_(std::move(token_source)),
      scheduler_(scheduler) {
    // The last outcome of an earlier process (`sync-once`, a run before a restart).
    const mirror::JobOutcome stored = mirror_.job_outcome(settings_.name);
    state_.last_attempt = from_unix_ms(stored.last_attempt_ms);
    state_.last_success = from_unix_ms(stored.last_success_ms);
    state_.failure = failure_kind_from(stored.failure_kind);
    state_.last_error = stored.last_error;
}

void JobRunner::attempted(const Failure& failure) {
    state_.last_attempt = std::chrono::system_clock::now();
    ++state_.polls;
    if (failure.kind == FailureKind::none) {
        state_.last_success = state_.last_attempt;
    } else {
        ++state_.failures;
    }
    record(failure);
}

void JobRunner::record(const Failure& failure) {
    state_.failure = failure.kind;
    state_.last_error = failure.message;
    if (failure.kind == FailureKind::auth_rejected) {
        auth_.rejected(failure.message);
    } else {
        auth_.accepted();  // Notion answered with something other than a rejection
    }
    try {
        mirror_.set_job_outcome(settings_.name,
                                {.last_attempt_ms = unix_ms(state_.last_attempt),
                                 .last_success_ms = unix_ms(state_.last_success),
                                 .failure_kind = std::string(to_string(failure.kind)),
                                 .last_error = failure.message});
    } catch (const std::exception& e) {
        spdlog::warn("sync={} cannot keep the job's outcome in the mirror: {}", settings_.name,
                     e.what());
    }
}

void JobRunner::track_sources() {
    const auto& now = poller_.data_sources();
    const std::set<std::string> current(now.begin(), now.end());
    for (auto it = scheduled_.begin(); it != scheduled_.end();) {
        if (current.contains(*it)) {
            ++it;
            continue;
        }
        scheduler_.remove(*it, settings_.every, settings_.min_every);
        it = scheduled_.erase(it);
    }
    for (const auto& ds : current) {
        if (scheduled_.insert(ds).second) scheduler_.add(ds, settings_.every, settings_.min_every);
    }
}

void JobRunner::hint() {
    state_.hinted = true;
    if (timer_) timer_->cancel();
}

void JobRunner::stop() {
    stopping_ = true;
    if (timer_) timer_->cancel();
}

asio::awaitable<void> JobRunner::run() {
    timer_.emplace(co_await asio::this_coro::executor);
    std::mt19937_64 random(std::random_device{}());
    auto backoff = 1s;
    const auto sleep_until = [this](std::chrono::steady_clock::time_point at) {
        timer_->expires_at(at);
        return timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    };
    while (!stopping_) {
        if (auth_.is_rejected() && std::chrono::steady_clock::now() < auth_.next_poll()) {
            // Notion rejects the token: no job polls until the next probe (or a reload).
            co_await sleep_until(auth_.next_poll());
            state_.hinted = false;
            continue;
        }
        // What is due: everything on a hint (something changed now) or before the first poll
        // (the data sources are not known yet); else the sources the scheduler says are due.
        const auto now = std::chrono::steady_clock::now();
        const bool hinted = state_.hinted;
        state_.hinted = false;
        std::set<std::string> due;
        const bool everything = hinted || scheduled_.empty();
        if (!everything) {
            std::optional<std::chrono::steady_clock::time_point> next;
            for (const auto& ds : scheduled_) {
                const auto at = scheduler_.due(ds);
                if (at <= now) due.insert(ds);
                if (!next || at < *next) next = at;
            }
            if (due.empty()) {
                // Another job's polls re-plan the budget: look again within min_every.
                co_await sleep_until(std::min(*next, now + settings_.min_every));
                continue;
            }
        }
        const auto began = std::chrono::system_clock::now();
        state_.last_attempt = began;
        ++state_.polls;
        const auto started = std::chrono::steady_clock::now();
        std::chrono::milliseconds delay{0};
        try {
            // Another job that read a shared data source within half of min_every did this job's
            // read of it too.
            const PollStats stats = co_await poller_.poll_once(
                false,
                hinted ? std::chrono::steady_clock::time_point{}
                       : std::chrono::steady_clock::now() - settings_.min_every / 2,
                everything ? nullptr : &due);
            track_sources();
            for (const auto& [ds, read] : stats.sources_read) {
                scheduler_.polled(ds, started, read.events, read.requests);
            }
            state_.last_success = std::chrono::system_clock::now();
            if (everything) state_.fresh_since = began;
            state_.events += stats.events;
            if (state_.failure != FailureKind::none)
                spdlog::info("sync={} polls again after: {}", settings_.name, state_.last_error);
            record({});
            if (stats.events > 0) {
                log::info({{"job", settings_.name},
                           {"events", stats.events},
                           {"pages_read", stats.pages_read},
                           {"data_sources", stats.sources_read.size()},
                           {"duration_ms", log::ms_since(started)}},
                          "sync={} {} changes from {} pages read", settings_.name, stats.events,
                          stats.pages_read);
                on_changes_();
            }
            backoff = 1s;
        } catch (const std::exception& e) {
            if (stopping_) break;
            ++state_.failures;
            const Failure failure = classify(e, token_source_);
            const bool repeated =
                state_.failure == failure.kind && state_.last_error == failure.message;
            record(failure);
            switch (failure.kind) {
                case FailureKind::auth_rejected:
                    continue;  // the gate waits for the next probe (logged by the gate)
                case FailureKind::not_found:
                case FailureKind::config:
                    // Retrying soon changes nothing until someone acts: every 5 min.
                    delay = std::max<std::chrono::milliseconds>(settings_.every, 5min);
                    break;
                default:
                    delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff);
                    backoff = std::min<std::chrono::seconds>(backoff * 2, 5min);
            }
            if (!repeated) {
                log::warn({{"job", settings_.name},
                           {"failure", std::string(to_string(failure.kind))},
                           {"retry_in_s", delay.count() / 1000}},
                          "sync={} poll failed, retrying in {}s: {}", settings_.name,
                          delay.count() / 1000, failure.message);
            }
        }
        if (stopping_) break;
        if (state_.hinted) continue;  // a hint arrived during the poll: go again now
        if (delay.count() > 0) {
            // After a failure: back off (with a little jitter), whatever is due.
            const auto jitter = std::chrono::milliseconds(
                std::uniform_int_distribution<long long>(0, delay.count() / 20)(random));
            co_await sleep_until(std::chrono::steady_clock::now() + delay + jitter);
        }
    }
}

}  // namespace syncd::sync
