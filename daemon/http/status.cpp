#include "daemon/http/status.hpp"

#include <algorithm>
#include <ctime>

namespace syncd::http {
namespace {

namespace json = boost::json;

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

// A Prometheus label value: backslash, double quote and newline escaped.
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

json::object render_status(const sync::Snapshot& snapshot) {
    json::array jobs;
    for (const auto& job : snapshot.jobs) {
        json::array sources;
        for (const auto& s : job.sources) {
            sources.push_back(json::object{{"data_source_id", s.data_source_id},
                                           {"title", s.title},
                                           {"watermark", s.watermark},
                                           {"last_complete_read", s.last_complete_read},
                                           {"pages", s.pages},
                                           {"poll_interval_s", s.interval_s},
                                           {"changes_per_hour", s.change_rate * 3600}});
        }
        json::array targets;
        for (const auto& t : job.targets) {
            json::object two_way;
            if (t.two_way) {
                two_way = {{"conflicts_open", t.conflicts_open},
                           {"held_writes", t.held_writes},
                           {"pages_written", t.pages_written}};
            }
            targets.push_back(
                json::object{{"target", t.target},
                             {"two_way", t.two_way ? json::value(two_way) : json::value(nullptr)},
                             {"cursor", t.cursor},
                             {"pending", t.pending},
                             {"snapshots_pending", t.snapshots_pending},
                             {"delivered", t.delivered},
                             {"last_delivered", iso(t.last_delivered)},
                             {"last_error", t.last_error},
                             {"dead_letters", t.dead_letters}});
        }
        json::array held;
        for (const auto& h : job.held) {
            held.push_back(json::object{{"page_id", h.page_id},
                                        {"title", h.title},
                                        {"data_source_id", h.data_source_id},
                                        {"detected_at", h.detected_at}});
        }
        const auto& state = job.state;
        jobs.push_back(
            json::object{{"name", job.name},
                         {"every_s", static_cast<double>(job.every.count()) / 1000.0},
                         {"min_every_s", static_cast<double>(job.min_every.count()) / 1000.0},
                         {"forecast",
                          {{"expected_staleness_s", job.expected_staleness_s},
                           {"backlog_requests", job.backlog_requests},
                           {"time_to_converge_s", job.time_to_converge_s}}},
                         {"last_attempt", iso(state.last_attempt)},
                         {"last_success", iso(state.last_success)},
                         {"lag_s", seconds_since(state.last_success)},
                         {"last_error", state.last_error},
                         {"failure", sync::to_string(state.failure)},
                         {"polls", state.polls},
                         {"failures", state.failures},
                         {"events", state.events},
                         {"held_deletes", job.held_deletes},
                         {"held_delete_pages", held},
                         {"data_sources", sources},
                         {"targets", targets}});
    }
    const auto& budget = snapshot.budget;
    json::object queue;
    for (std::size_t p = 0; p < notion::priority_count; ++p)
        queue[notion::to_string(static_cast<notion::Priority>(p))] = budget.queue_depth[p];
    return {{"jobs", jobs},
            {"budget",
             {{"per_minute", snapshot.budget_per_minute},
              {"used_last_minute", budget.granted_last_minute},
              {"rate_limited", budget.rate_limited},
              {"rate_factor", budget.rate_factor},
              {"paused", budget.paused},
              {"queue_depth", queue}}},
            {"auth", {{"rejected", snapshot.auth_rejected}, {"reason", snapshot.auth_reason}}},
            {"ready", !snapshot.not_ready.has_value()},
            {"not_ready_reason", snapshot.not_ready.value_or("")}};
}

std::string render_metrics(const sync::Snapshot& snapshot, const std::string& extra) {
    std::string out;
    auto line = [&](const std::string& text) {
        out += text;
        out += '\n';
    };
    auto help = [&](const char* name, const char* type, const char* text) {
        line(std::string("# HELP ") + name + " " + text);
        line(std::string("# TYPE ") + name + " " + type);
    };
    help("notion_syncd_requests_total", "counter", "Notion API requests by route and status");
    for (const auto& [key, count] : snapshot.client.requests) {
        line("notion_syncd_requests_total{route=\"" + label(key.first) + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(count));
    }
    const auto& budget = snapshot.budget;
    help("notion_syncd_rate_limited_total", "counter", "429 and 529 answers from Notion");
    line("notion_syncd_rate_limited_total " + std::to_string(budget.rate_limited));
    help("notion_syncd_budget_used", "gauge", "requests granted in the last 60 s");
    line("notion_syncd_budget_used " + std::to_string(budget.granted_last_minute));
    help("notion_syncd_budget_per_minute", "gauge", "configured budget per 60 s");
    line("notion_syncd_budget_per_minute " + std::to_string(snapshot.budget_per_minute));
    help("notion_syncd_budget_queue_depth", "gauge", "requests waiting for the budget");
    for (std::size_t p = 0; p < notion::priority_count; ++p) {
        line("notion_syncd_budget_queue_depth{priority=\"" +
             std::string(notion::to_string(static_cast<notion::Priority>(p))) + "\"} " +
             std::to_string(budget.queue_depth[p]));
    }
    help("notion_syncd_auth_failed", "gauge",
         "1 while Notion rejects the token or the connection's access (401, 403)");
    line(std::string("notion_syncd_auth_failed ") + (snapshot.auth_rejected ? "1" : "0"));
    // One family at a time, all its samples together (the text format requires it). Per job
    // the label is `sync` (the job's name): `job` is the label Prometheus gives every target.
    const auto per_job = [&](const char* name, const char* type, const char* text, auto value) {
        help(name, type, text);
        for (const auto& job : snapshot.jobs)
            line(std::string(name) + "{sync=\"" + label(job.name) + "\"} " + value(job));
    };
    per_job("notion_syncd_poll_lag_seconds", "gauge",
            "seconds since the job's last successful poll", [](const sync::JobSnapshot& j) {
                return std::to_string(seconds_since(j.state.last_success));
            });
    per_job("notion_syncd_last_success_timestamp_seconds", "gauge",
            "Unix time of the last good poll", [](const sync::JobSnapshot& j) {
                const auto t = j.state.last_success;
                return std::to_string(t == std::chrono::system_clock::time_point{}
                                          ? 0
                                          : std::chrono::system_clock::to_time_t(t));
            });
    per_job("notion_syncd_poll_interval_seconds", "gauge",
            "the job's longest poll interval (every:); busy data sources are polled more often",
            [](const sync::JobSnapshot& j) {
                return std::to_string(static_cast<double>(j.every.count()) / 1000.0);
            });
    per_job("notion_syncd_expected_staleness_seconds", "gauge",
            "expected time from a change in Notion to its event at the planned poll intervals",
            [](const sync::JobSnapshot& j) { return std::to_string(j.expected_staleness_s); });
    per_job("notion_syncd_backlog_requests", "gauge",
            "requests of the job's polls that are due and not made yet",
            [](const sync::JobSnapshot& j) { return std::to_string(j.backlog_requests); });
    per_job("notion_syncd_time_to_converge_seconds", "gauge",
            "how long the backlog takes at the polling budget",
            [](const sync::JobSnapshot& j) { return std::to_string(j.time_to_converge_s); });
    per_job("notion_syncd_poll_failures_total", "counter", "failed polls",
            [](const sync::JobSnapshot& j) { return std::to_string(j.state.failures); });
    per_job("notion_syncd_held_deletes", "gauge", "deletes held by the delete brake",
            [](const sync::JobSnapshot& j) { return std::to_string(j.held_deletes); });
    const auto per_target = [&](const char* name, const char* type, const char* text, auto value) {
        help(name, type, text);
        for (const auto& job : snapshot.jobs) {
            for (const auto& t : job.targets)
                line(std::string(name) + "{target=\"" + label(t.target) + "\"} " + value(t));
        }
    };
    per_target("notion_syncd_events_pending", "gauge",
               "outbox events a target has not acknowledged",
               [](const sync::TargetSnapshot& t) { return std::to_string(t.pending); });
    per_target("notion_syncd_events_delivered_total", "counter", "events delivered since start",
               [](const sync::TargetSnapshot& t) { return std::to_string(t.delivered); });
    per_target("notion_syncd_dead_letters", "gauge", "events set aside after failing",
               [](const sync::TargetSnapshot& t) { return std::to_string(t.dead_letters); });
    per_target("notion_syncd_conflicts_open", "gauge",
               "two-way conflicts parked for a person (policy manual)",
               [](const sync::TargetSnapshot& t) { return std::to_string(t.conflicts_open); });
    per_target("notion_syncd_pages_written_total", "counter",
               "pages written back to Notion from the target since start",
               [](const sync::TargetSnapshot& t) { return std::to_string(t.pages_written); });
    out += extra;
    return out;
}

std::string render_summary(const sync::Snapshot& snapshot) {
    double lag = 0;
    std::size_t failing = 0;
    std::size_t pending = 0;
    std::size_t dead = 0;
    for (const auto& job : snapshot.jobs) {
        lag = std::max(lag, seconds_since(job.state.last_success));
        if (!job.state.last_error.empty()) ++failing;
        for (const auto& t : job.targets) {
            pending += t.pending;
            dead += t.dead_letters;
        }
    }
    if (snapshot.auth_rejected) return "Notion rejects the token: " + snapshot.auth_reason;
    return std::to_string(snapshot.jobs.size()) + " jobs, oldest poll " +
           std::to_string(static_cast<long long>(lag)) + " s ago, " + std::to_string(pending) +
           " events pending, " + std::to_string(dead) + " dead letters" +
           (failing ? ", " + std::to_string(failing) + " jobs failing" : "");
}

}  // namespace syncd::http
