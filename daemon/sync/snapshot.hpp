// What the daemon is doing, as plain values: the Daemon fills one, daemon/http/status.hpp renders
// it (GET /v1/status, GET /metrics, `notion-syncd status`, systemd's STATUS=).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/notion/notion_client.hpp"
#include "daemon/notion/rate_budget.hpp"
#include "daemon/sync/job_runner.hpp"

namespace syncd::sync {

struct SourceSnapshot {
    std::string data_source_id = {};
    std::string title = {};
    std::string watermark = {};
    std::string last_complete_read = {};
    std::size_t pages = 0;
    // Adaptive polling (once the job has polled): the planned interval and the learned rate.
    double interval_s = 0;
    double change_rate = 0;  // changes per second
};

struct TargetSnapshot {
    std::string target = {};
    std::int64_t cursor = 0;
    std::size_t pending = 0;
    std::size_t snapshots_pending = 0;
    std::size_t delivered = 0;
    std::chrono::system_clock::time_point last_delivered = {};
    std::string last_error = {};
    std::size_t dead_letters = 0;
    bool two_way = false;
    std::size_t conflicts_open = 0;  // parked for a person (policy manual)
    std::size_t held_writes = 0;     // edited rows max_write_ratio held in the last pass
    std::size_t pages_written = 0;   // written back to Notion since start
};

struct JobSnapshot {
    std::string name = {};
    std::chrono::milliseconds every{0};
    std::chrono::milliseconds min_every{0};
    // The budget forecast (PollScheduler): the expected time from a change to its event, the
    // requests of the polls overdue now, and how long they take at the polling budget.
    double expected_staleness_s = 0;
    double backlog_requests = 0;
    double time_to_converge_s = 0;
    JobState state = {};
    std::size_t held_deletes = 0;
    std::vector<mirror::HeldDelete> held = {};  // the pages behind held_deletes
    std::vector<SourceSnapshot> sources = {};
    std::vector<TargetSnapshot> targets = {};
};

struct Snapshot {
    std::vector<JobSnapshot> jobs = {};
    notion::BudgetMetrics budget = {};
    notion::ClientMetrics client = {};
    double budget_per_minute = 0;
    std::optional<std::string> not_ready = {};  // why /readyz answers 503
    bool auth_rejected = false;                 // Notion rejects the token (or its access)
    std::string auth_reason = {};
};

}  // namespace syncd::sync
