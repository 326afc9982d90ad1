// The JobRunner of one sync job (STYLE §3): polls each of the job's data sources when the
// connection's PollScheduler says it is due (between `min_every` and `every`, by how often it
// changes; a first poll reads them all), everything at once on a hint (a Notion webhook, POST
// /v1/jobs/{name}/sync), later after failures (1 s, doubling up to 5 min; 5 min after a permanent
// failure — a source not shared, a configuration that does not fit), not while Notion rejects the
// token (AuthGate: one probe per 5 min), and tells the Daemon when a poll committed changes so
// targets deliver. Each outcome is kept in the mirror for `status`.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "config/config.hpp"
#include "daemon/mirror/mirror.hpp"
#include "daemon/sync/failure.hpp"
#include "daemon/sync/poll_scheduler.hpp"
#include "daemon/sync/poller.hpp"

namespace syncd::sync {

// What a job did lately, for status, metrics and readiness.
struct JobState {
    std::chrono::system_clock::time_point last_attempt{};
    std::chrono::system_clock::time_point last_success{};
    std::string last_error = {};
    FailureKind failure = FailureKind::none;  // of the last attempt
    std::size_t polls = 0;
    std::size_t failures = 0;
    std::size_t events = 0;
    bool hinted = false;  // poll again as soon as the current poll ends
    // When the last successful poll of every data source of the job by this process began: the
    // mirror holds all of Notion's changes made before it (the two-way gate's "polled"). Kept
    // apart from last_attempt, which a poll in flight has already moved on.
    std::chrono::system_clock::time_point fresh_since{};
};

class JobRunner {
public:
    // `on_changes` runs after a poll that committed events (the Daemon wakes the targets).
    JobRunner(Poller& poller, config::SyncSettings settings, std::function<void()> on_changes,
              AuthGate& auth, mirror::Mirror& mirror, std::string token_source,
              PollScheduler& scheduler);

    // Until stop(): polls, then waits for the next interval or a hint. Runs on one strand.
    boost::asio::awaitable<void> run();
    // Poll now, or right after the poll in flight. Same strand as run().
    void hint();
    // The poll in flight finishes; then run() returns.
    void stop();

    // Records the outcome of an attempt made outside run() (sync-once): state, AuthGate, mirror.
    void attempted(const Failure& failure);

    const JobState& state() const { return state_; }
    const std::string& name() const { return settings_.name; }
    // The data sources this job has in the scheduler (known after its first poll).
    std::vector<std::string> scheduled() const { return {scheduled_.begin(), scheduled_.end()}; }

private:
    // The scheduler holds exactly the poller's data sources (they change when a webhook or a
    // resolve says so).
    void track_sources();
    // Keeps the outcome of the last attempt (state, AuthGate, mirror).
    void record(const Failure& failure);

    Poller& poller_;
    config::SyncSettings settings_;
    std::function<void()> on_changes_;
    AuthGate& auth_;
    mirror::Mirror& mirror_;
    std::string token_source_;
    PollScheduler& scheduler_;
    std::set<std::string> scheduled_;
    std::optional<boost::asio::steady_timer> timer_;
    JobState state_;
    bool stopping_ = false;
};

}  // namespace syncd::sync
