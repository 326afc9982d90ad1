// The Daemon wires the parts of DESIGN §2 together: one NotionClient and RateBudget, the Mirror,
// a Poller and a JobRunner (its schedule) per sync job, a Dispatcher per target; `run` starts
// them, `sync_once` does one full cycle.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "connectors/connector.hpp"
#include "daemon/mirror/mirror.hpp"
#include "daemon/notion/notion_client.hpp"
#include "daemon/sync/dispatcher.hpp"
#include "daemon/sync/job_runner.hpp"
#include "daemon/sync/poller.hpp"
#include "daemon/sync/snapshot.hpp"
#include "daemon/sync/write_back.hpp"

namespace syncd::sync {

// sync_once(job) for a job the configuration does not have (a usage error).
class UnknownJob : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

struct CycleReport {
    std::vector<std::string> lines;           // one per job and per target, for people
    bool caught_up = true;                    // every target has every event
    FailureKind failure = FailureKind::none;  // the worst a job met (decides the exit status)
    std::size_t dead_lettered = 0;            // events moved to dead letters in this cycle
};

class Daemon {
public:
    Daemon(boost::asio::any_io_executor executor, config::Config config,
           const connectors::Registry& registry);

    // Polls every job (or `job`), reconciling where due or `reconcile`, then delivers.
    boost::asio::awaitable<CycleReport> sync_once(std::optional<std::string> job, bool reconcile);
    // `check-config --online`: per job, whether its source resolves and its targets' property
    // names exist (Poller::check); reads no pages.
    boost::asio::awaitable<std::vector<std::pair<std::string, Failure>>> check_online();
    // `plan`: what the next cycle of every job (or `job`) would do, in both directions, without
    // doing it — Notion is polled first (the mirror records what changed; nothing is
    // delivered), then each target's pending events and each two-way target's captured edits
    // are listed as actions {direction, sync, target, page_id, kind, properties, decision}.
    // `live` (the console, GET /v1/plan, while run() runs): nothing is polled (the runners poll),
    // the client keeps serving.
    boost::asio::awaitable<boost::json::array> plan(std::optional<std::string> job,
                                                    bool live = false);
    // The next write-back of `job`'s (or every job's) two-way targets writes past
    // max_write_ratio.
    void release_write_brake(const std::optional<std::string>& job);
    // The next reconciliation of `job` (or every job) applies deletes past the brake.
    void release_delete_brake(const std::optional<std::string>& job);
    // Until stop(): each job polls every `every` and delivers after each poll.
    boost::asio::awaitable<void> run();
    // Work already started finishes; then run() returns.
    void stop();
    // Runs the write-back (and delivery) of a two-way target now.
    void write_back_now(const std::string& target);
    // The inbox of a two-way target that takes changes over HTTP ("<sync>/<connector>"), or null.
    connectors::ChangeInbox* inbox(const std::string& target);
    // A person's decision on a delete the brake holds ("approve" or "keep"; the console, POST
    // /v1/held-deletes/{sync}/{page}): recorded, and the job reconciles now to carry it out.
    // False when no such delete is held.
    bool decide_held_delete(const std::string& job, const std::string& page_id,
                            const std::string& decision);
    // A dead letter sent again by its target (its dispatcher is woken); false if there is none.
    bool retry_dead_letter(std::int64_t id);
    // The console's charts: a sample a minute of the last 24 h (run() takes them).
    boost::json::array history() const;
    // Polls `job` now (a webhook hint or POST /v1/jobs/{name}/sync); false if there is none.
    bool hint(const std::string& job);
    // Notion says a data source was added to or removed from what `job` reads (a webhook): its
    // next poll lists its data sources again.
    void sources_changed(const std::string& job);
    // Notion says a data source's schema changed (a webhook): the next poll reads it again.
    void schema_changed(const std::string& data_source_id);
    // The job that reads a page or data source, if any (webhook hints).
    std::optional<std::string> job_for(const std::string& entity_id,
                                       const std::string& data_source_id);
    // What status, metrics and systemd's STATUS= show (rendered in daemon/http/status.hpp).
    Snapshot snapshot();
    // Why the daemon is not ready (/readyz 503): Notion rejects the token, or has not answered
    // for three poll intervals (at least 5 minutes) once polling began; nullopt when ready.
    std::optional<std::string> not_ready() const;
    bool ready() const { return !not_ready(); }
    const AuthGate& auth() const { return auth_; }
    const config::Config& config() const { return config_; }

    mirror::Mirror& mirror() { return *mirror_; }
    notion::NotionClient& client() { return *client_; }

private:
    boost::asio::awaitable<bool> deliver(const std::string& sync, CycleReport* report);
    // Wakes a two-way target's dispatcher every two_way.every, so its write-back runs.
    boost::asio::awaitable<void> write_back_ticks(std::size_t dispatcher);
    // When the last successful poll of `job` in this process began (the epoch before the first).
    std::chrono::system_clock::time_point polled_at(std::size_t job);
    // A write-back waits for a poll that began after its edits were captured: the job polls now,
    // and the target's dispatcher is woken once that poll is done.
    void request_poll(std::size_t job, std::size_t dispatcher);
    boost::asio::awaitable<void> wake_after_poll(std::size_t job, std::size_t dispatcher,
                                                 std::chrono::system_clock::time_point asked);
    // Drops outbox rows every target has passed (at most every 10 s).
    void collect_garbage();
    // Takes a history sample when a step (60 s; NOTION_SYNCD_HISTORY_STEP_MS for tests) passed.
    void sample_history();

    boost::asio::any_io_executor executor_;
    config::Config config_;
    std::shared_ptr<notion::RateBudget> budget_;
    std::unique_ptr<notion::NotionClient> client_;
    std::unique_ptr<mirror::Mirror> mirror_;
    ReadLedger ledger_;
    // When each data source is polled next: one per connection, shared by every job (issue 15).
    std::unique_ptr<PollScheduler> scheduler_;
    AuthGate auth_;
    std::vector<std::unique_ptr<Poller>> pollers_;
    std::vector<std::unique_ptr<Dispatcher>> dispatchers_;
    std::vector<std::unique_ptr<JobRunner>> runners_;      // one per poller, same order
    std::vector<std::unique_ptr<WriteBack>> write_backs_;  // one per two-way target
    // Per dispatcher (same order): how often its write-back runs; 0 for one-way targets.
    std::vector<std::chrono::milliseconds> two_way_every_;
    std::vector<bool> awaiting_poll_;  // per dispatcher
    bool stopping_ = false;
    int running_ = 0;
    std::chrono::steady_clock::time_point collected_at_{};
    // History (sample_history): the samples, and the counters at the last one.
    std::deque<boost::json::object> history_;
    std::chrono::milliseconds history_step_{60'000};
    std::chrono::steady_clock::time_point sampled_at_{};
    std::size_t requests_at_sample_ = 0;
    std::size_t rate_limited_at_sample_ = 0;
    std::map<std::string, std::size_t> delivered_at_sample_;
};

}  // namespace syncd::sync
