#include "daemon/sync/job_runner.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

namespace syncd::sync {

namespace asio = boost::asio;
using namespace std::chrono_literals;

JobRunner::JobRunner(Poller& poller, config::SyncSettings settings,
                     std::function<void()> on_changes)
    : poller_(poller), settings_(std::move(settings)), on_changes_(std::move(on_changes)) {}

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
    while (!stopping_) {
        std::chrono::milliseconds delay = settings_.every;
        const bool hinted = state_.hinted;  // a hint says something changed now: read everything
        state_.hinted = false;
        state_.last_attempt = std::chrono::system_clock::now();
        ++state_.polls;
        try {
            // Another job that read a shared data source within half this job's interval did
            // this job's read of it too.
            const PollStats stats = co_await poller_.poll_once(
                false, hinted ? std::chrono::steady_clock::time_point{}
                              : std::chrono::steady_clock::now() - settings_.every / 2);
            state_.last_success = std::chrono::system_clock::now();
            state_.last_error.clear();
            state_.events += stats.events;
            if (stats.events > 0) {
                spdlog::info("sync={} {} changes from {} pages read", settings_.name, stats.events,
                             stats.pages_read);
                on_changes_();
            }
            backoff = 1s;
        } catch (const std::exception& e) {
            if (stopping_) break;
            ++state_.failures;
            state_.last_error = e.what();
            delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff);
            backoff = std::min<std::chrono::seconds>(backoff * 2, 5min);
            spdlog::warn("sync={} poll failed, retrying in {}s: {}", settings_.name,
                         delay.count() / 1000, e.what());
        }
        if (stopping_) break;
        if (state_.hinted) continue;  // a hint arrived during the poll: go again now
        // A little jitter so jobs with the same interval do not poll in lockstep.
        const auto jitter = std::chrono::milliseconds(
            std::uniform_int_distribution<long long>(0, delay.count() / 20)(random));
        timer_->expires_after(delay + jitter);
        co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

}  // namespace syncd::sync
