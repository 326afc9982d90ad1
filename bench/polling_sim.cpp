// Adaptive polling vs round robin (issue 15), simulated: `--sources` data sources on one
// connection whose edit rates are skewed by Zipf(`--zipf`) over the sources, one simulated
// `--hours`, seeded. Both policies send their requests through the daemon's own pacing (a
// syncd::notion::TokenBucket at BudgetOptions' rate × safety, burst 5) into Notion's limiter,
// modelled as a bucket of `--per-minute`/60 per second with `--burst` (a request it has no token
// for counts as a 429). A poll costs 1 request plus 1 per further 100 changed pages; it reads
// the edits made up to its first request. Staleness of an edit: from the edit until the end of
// the poll that reads it. Adaptive: the real syncd::sync::PollScheduler with the whole polling
// budget (polling_share of the connection's, as the daemon gives it); round robin: the sources
// polled in turn at the same requests per second.
//
// Webhook hints are not simulated. Two workloads; a JSON line per workload and seed, and with
// `--seeds` above 1 a pooled line per workload (all seeds' edits together):
//  - sessions: per source, work sessions arrive as a Poisson process (`--sessions-per-hour` over
//    all sources, Zipf-split); a session lasts Exp(`--session-minutes`) and edits at its start
//    and then every Exp(`--edit-gap`) seconds while it lasts (people work on a database for some
//    minutes, then it is quiet for hours);
//  - poisson: per source, edits as a Poisson process with the same expected total.
//
//   polling_sim [--seed 1] [--seeds 1] [--sources 50] [--zipf 1] [--hours 1] … (--help)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <deque>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "daemon/model/json_text.hpp"
#include "daemon/notion/rate_budget.hpp"
#include "daemon/sync/poll_scheduler.hpp"

namespace json = boost::json;
using syncd::notion::TokenBucket;
using syncd::sync::PollScheduler;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_of(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

struct Parameters {
    std::uint64_t seed = 1;
    std::size_t seeds = 1;
    std::size_t sources = 50;
    double zipf = 1;
    double hours = 1;
    double per_minute = 180;        // Notion's budget per connection (notion-api.md §3.1)
    double burst = 10;              // Notion's bucket
    double sessions_per_hour = 30;  // over all sources
    double session_minutes = 4;     // mean length
    double edit_gap = 20;           // mean seconds between a session's edits
    std::size_t pages = 1000;       // per source; an edit changes one at random
    double every = 600;             // every source's `every` (s), the upper bound
    double min_every = 5;
    // PollTuning, its defaults unless given
    double half_life = seconds_of(syncd::sync::PollTuning{}.half_life);
    double background_half_life = seconds_of(syncd::sync::PollTuning{}.background_half_life);
    double assumed_change_every = seconds_of(syncd::sync::PollTuning{}.assumed_change_every);
    double cold_cap = syncd::sync::PollTuning{}.cold_cap;
    double jitter = syncd::sync::PollTuning{}.jitter;
};

struct Edit {
    double at = 0;  // seconds since the start
    std::size_t page = 0;
};

using Workload = std::vector<std::vector<Edit>>;  // per source, by time

std::vector<double> zipf_shares(const Parameters& p) {
    std::vector<double> shares(p.sources);
    double sum = 0;
    for (std::size_t i = 0; i < p.sources; ++i) {
        shares[i] = 1 / std::pow(static_cast<double>(i + 1), p.zipf);
        sum += shares[i];
    }
    for (double& s : shares) s /= sum;
    return shares;
}

double edits_per_session(const Parameters& p) { return 1 + p.session_minutes * 60 / p.edit_gap; }

Workload sessions_workload(const Parameters& p, std::uint64_t seed) {
    std::mt19937_64 random(seed);
    const double end = p.hours * 3600;
    const auto shares = zipf_shares(p);
    Workload edits(p.sources);
    std::uniform_int_distribution<std::size_t> page(0, p.pages - 1);
    for (std::size_t i = 0; i < p.sources; ++i) {
        std::exponential_distribution<double> next_session(p.sessions_per_hour * shares[i] / 3600);
        std::exponential_distribution<double> length(1 / (p.session_minutes * 60));
        std::exponential_distribution<double> gap(1 / p.edit_gap);
        double start = next_session(random);
        while (start < end) {
            const double stop = std::min(start + length(random), end);
            double t = start;
            while (t < stop) {
                edits[i].push_back({t, page(random)});
                t += gap(random);
            }
            start += next_session(random);
        }
        std::sort(edits[i].begin(), edits[i].end(),
                  [](const Edit& a, const Edit& b) { return a.at < b.at; });
    }
    return edits;
}

Workload poisson_workload(const Parameters& p, std::uint64_t seed) {
    std::mt19937_64 random(seed);
    const double end = p.hours * 3600;
    const auto shares = zipf_shares(p);
    const double per_hour = p.sessions_per_hour * edits_per_session(p);
    Workload edits(p.sources);
    std::uniform_int_distribution<std::size_t> page(0, p.pages - 1);
    for (std::size_t i = 0; i < p.sources; ++i) {
        std::exponential_distribution<double> gap(per_hour * shares[i] / 3600);
        double t = gap(random);
        while (t < end) {
            edits[i].push_back({t, page(random)});
            t += gap(random);
        }
    }
    return edits;
}

Clock::time_point at(double seconds) {
    return Clock::time_point{} +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

double seconds_at(Clock::time_point t) {
    return std::chrono::duration<double>(t - Clock::time_point{}).count();
}

// Takes a token from `bucket` at `now` or as soon after as there is one; when it did.
Clock::time_point take(TokenBucket& bucket, Clock::time_point now) {
    // next_token() rounds down to the clock's tick, so it can name a time a hair before the
    // token is whole: step on by a tick then.
    while (!bucket.try_take(now)) now = std::max(bucket.next_token(now), now + Clock::duration(1));
    return now;
}

// What one policy did: the staleness of every edit, what it sent.
struct Result {
    std::vector<double> staleness = {};
    std::size_t polls = 0;
    std::size_t requests = 0;  // within the simulated hours
    std::size_t rate_limited = 0;
    double minutes = 0;      // simulated
    double pacing_wait = 0;  // summed over polls: from due until sent (adaptive only)
    double longest_pacing_wait = 0;

    void add(const Result& other) {
        staleness.insert(staleness.end(), other.staleness.begin(), other.staleness.end());
        polls += other.polls;
        requests += other.requests;
        rate_limited += other.rate_limited;
        minutes += other.minutes;
        pacing_wait += other.pacing_wait;
        longest_pacing_wait = std::max(longest_pacing_wait, other.longest_pacing_wait);
    }

    double mean() const {
        double sum = 0;
        for (double s : staleness) sum += s;
        return staleness.empty() ? 0 : sum / static_cast<double>(staleness.size());
    }
    // Nearest rank.
    double quantile(double q) const {
        if (staleness.empty()) return 0;
        std::vector<double> sorted = staleness;
        std::sort(sorted.begin(), sorted.end());
        const auto n = sorted.size();
        const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
        return sorted[std::clamp<std::size_t>(rank, 1, n) - 1];
    }

    json::object figures() const {
        return {{"mean_staleness_s", mean()},
                {"p50_staleness_s", quantile(0.5)},
                {"p99_staleness_s", quantile(0.99)},
                {"max_staleness_s", quantile(1)},
                {"polls", polls},
                {"requests", requests},
                {"requests_per_minute", static_cast<double>(requests) / minutes},
                {"rate_limited_429", rate_limited},
                {"mean_pacing_wait_s", polls ? pacing_wait / static_cast<double>(polls) : 0},
                {"max_pacing_wait_s", longest_pacing_wait}};
    }
};

// The connection: the daemon's pacing in front of Notion's limiter, and what was read.
class Connection {
public:
    Connection(const Parameters& p, const Workload& edits)
        : end_(at(p.hours * 3600)),
          edits_(edits),
          next_edit_(edits.size(), 0),
          pacing_(p.per_minute / 60 * syncd::notion::BudgetOptions{}.safety,
                  syncd::notion::BudgetOptions{}.burst, at(0)),
          notion_(p.per_minute / 60, p.burst, at(0)) {
        result_.minutes = p.hours * 60;
    }

    // What the daemon lets polls plan to spend (the rest is headroom for other requests).
    static double polling_rate(const Parameters& p) {
        return p.per_minute / 60 * syncd::sync::polling_share;
    }

    // When the daemon's pacing lets the next request go.
    Clock::time_point next_request(Clock::time_point now) { return pacing_.next_token(now); }

    struct Poll {
        std::size_t changes = 0;
        std::size_t requests = 0;
        Clock::time_point ended = {};
    };
    // Polls `source` at `now` (a pacing token is there): reads the edits made until `now`.
    Poll poll(std::size_t source, Clock::time_point now) {
        const auto& edits = edits_[source];
        std::size_t& next = next_edit_[source];
        const std::size_t first = next;
        std::set<std::size_t> pages;
        while (next < edits.size() && at(edits[next].at) <= now) pages.insert(edits[next++].page);
        Poll result{.changes = pages.size(),
                    .requests = std::max<std::size_t>(1, (pages.size() + 99) / 100)};
        auto t = now;
        for (std::size_t r = 0; r < result.requests; ++r) {
            t = take(pacing_, t);
            if (!notion_.try_take(t)) {
                ++result_.rate_limited;  // Retry-After: the request goes again when Notion has room
                t = take(notion_, t);
            }
            if (t < end_) ++result_.requests;
        }
        result.ended = t;
        for (std::size_t e = first; e < next; ++e) {
            result_.staleness.push_back(seconds_at(t) - edits[e].at);
        }
        ++result_.polls;
        return result;
    }

    bool all_read() const {
        for (std::size_t i = 0; i < edits_.size(); ++i) {
            if (next_edit_[i] < edits_[i].size()) return false;
        }
        return true;
    }

    // Whether the run is over at `now`: the hours passed and every edit was read (or an hour
    // more passed).
    bool done(Clock::time_point now) const {
        return now >= end_ && (all_read() || now >= end_ + std::chrono::hours(1));
    }

    Result& result() { return result_; }

private:
    Clock::time_point end_;
    const Workload& edits_;
    std::vector<std::size_t> next_edit_;
    TokenBucket pacing_;
    TokenBucket notion_;
    Result result_;
};

Result round_robin(const Parameters& p, const Workload& edits) {
    Connection connection(p, edits);
    const auto per_request = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1 / Connection::polling_rate(p)));
    auto next = at(0);
    for (std::size_t turn = 0;; ++turn) {
        const auto t = std::max(next, connection.next_request(next));
        if (connection.done(t)) break;
        const auto poll = connection.poll(turn % p.sources, t);
        next = std::max(next + static_cast<Clock::rep>(poll.requests) * per_request, poll.ended);
    }
    return connection.result();
}

Result adaptive(const Parameters& p, const Workload& edits, std::uint64_t seed) {
    Connection connection(p, edits);
    PollScheduler scheduler(
        Connection::polling_rate(p), seed,
        {.half_life = std::chrono::milliseconds(std::llround(p.half_life * 1000)),
         .background_half_life =
             std::chrono::milliseconds(std::llround(p.background_half_life * 1000)),
         .assumed_change_every =
             std::chrono::milliseconds(std::llround(p.assumed_change_every * 1000)),
         .cold_cap = p.cold_cap,
         .jitter = p.jitter});
    std::vector<std::string> names;
    for (std::size_t i = 0; i < p.sources; ++i) {
        names.push_back("ds-" + std::to_string(i));
        scheduler.add(names.back(), std::chrono::milliseconds(std::llround(p.every * 1000)),
                      std::chrono::milliseconds(std::llround(p.min_every * 1000)));
    }
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < p.sources; ++i) index[names[i]] = i;
    std::deque<std::size_t> queue;  // due, waiting for the pacing
    std::vector<bool> queued(p.sources, false);
    std::vector<Clock::time_point> queued_at(p.sources);
    auto t = at(0);
    while (!connection.done(t)) {
        for (const std::string& ds : scheduler.due_now(t)) {
            const std::size_t i = index.at(ds);
            if (!queued[i]) {
                queued[i] = true;
                queued_at[i] = t;
                queue.push_back(i);
            }
        }
        auto next = t + std::chrono::hours(24);
        if (!queue.empty()) {
            const auto token = connection.next_request(t);
            if (token <= t) {
                const std::size_t i = queue.front();
                queue.pop_front();
                queued[i] = false;
                const double wait = std::chrono::duration<double>(t - queued_at[i]).count();
                connection.result().pacing_wait += wait;
                connection.result().longest_pacing_wait =
                    std::max(connection.result().longest_pacing_wait, wait);
                const auto poll = connection.poll(i, t);
                scheduler.polled(names[i], t, poll.changes, poll.requests);
                t = std::max(t, poll.ended);
                continue;
            }
            next = token;
        }
        for (std::size_t i = 0; i < p.sources; ++i) {
            if (!queued[i]) next = std::min(next, scheduler.due(names[i]));
        }
        t = std::max(t, next);
    }
    return connection.result();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Adaptive polling vs round robin, simulated (one JSON line per workload and seed)"};
    Parameters p;
    app.add_option("--seed", p.seed, "first seed")->capture_default_str();
    app.add_option("--seeds", p.seeds, "seeds to run: seed, seed+1, …")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--sources", p.sources, "data sources")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--zipf", p.zipf, "Zipf exponent of the edit rates over sources")
        ->capture_default_str();
    app.add_option("--hours", p.hours, "simulated hours")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--per-minute", p.per_minute, "Notion's requests per minute")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--burst", p.burst, "Notion's burst, in requests")->capture_default_str();
    app.add_option("--sessions-per-hour", p.sessions_per_hour,
                   "work sessions per hour over all sources")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--session-minutes", p.session_minutes, "mean session length")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--edit-gap", p.edit_gap, "mean seconds between a session's edits")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--pages", p.pages, "pages per source")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--every", p.every, "every source's `every` in seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--min-every", p.min_every, "every source's `min_every` in seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--half-life", p.half_life, "PollTuning::half_life in seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--background-half-life", p.background_half_life,
                   "PollTuning::background_half_life in seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--assumed-change-every", p.assumed_change_every,
                   "PollTuning::assumed_change_every in seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--cold-cap", p.cold_cap, "PollTuning::cold_cap")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 100.0));
    app.add_option("--jitter", p.jitter, "PollTuning::jitter")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    const json::object parameters{{"sources", p.sources},
                                  {"zipf", p.zipf},
                                  {"hours", p.hours},
                                  {"per_minute", p.per_minute},
                                  {"notion_burst", p.burst},
                                  {"polling_requests_per_second", Connection::polling_rate(p)},
                                  {"sessions_per_hour", p.sessions_per_hour},
                                  {"session_minutes", p.session_minutes},
                                  {"edit_gap_s", p.edit_gap},
                                  {"edits_per_hour", p.sessions_per_hour * edits_per_session(p)},
                                  {"pages", p.pages},
                                  {"every_s", p.every},
                                  {"min_every_s", p.min_every},
                                  {"half_life_s", p.half_life},
                                  {"background_half_life_s", p.background_half_life},
                                  {"assumed_change_every_s", p.assumed_change_every},
                                  {"cold_cap", p.cold_cap},
                                  {"jitter", p.jitter}};
    // Prints one comparison; whether it meets the goal: ≤ 0.5× round robin's mean
    // staleness, p99 no worse, no 429.
    const auto report = [&](json::object line, const Result& a, const Result& rr) {
        const double mean_ratio = a.mean() / rr.mean();
        const double p99_ratio = a.quantile(0.99) / rr.quantile(0.99);
        const bool goal = mean_ratio <= 0.5 && p99_ratio <= 1 && a.rate_limited == 0;
        line["edits"] = a.staleness.size();
        line["adaptive"] = a.figures();
        line["round_robin"] = rr.figures();
        line["mean_ratio"] = mean_ratio;
        line["p99_ratio"] = p99_ratio;
        line["goal_met"] = goal;
        line["parameters"] = parameters;
        std::cout << syncd::model::to_json_text(line) << std::endl;
        return goal;
    };
    for (const std::string workload : {"sessions", "poisson"}) {
        Result all_adaptive;
        Result all_round_robin;
        std::size_t met = 0;
        for (std::uint64_t seed = p.seed; seed < p.seed + p.seeds; ++seed) {
            const Workload edits =
                workload == "sessions" ? sessions_workload(p, seed) : poisson_workload(p, seed);
            const Result a = adaptive(p, edits, seed);
            const Result rr = round_robin(p, edits);
            met += report({{"scenario", "polling-sim"}, {"workload", workload}, {"seed", seed}}, a,
                          rr);
            all_adaptive.add(a);
            all_round_robin.add(rr);
        }
        // Over ~350 edits an hour, one seed's p99 is its 4th-worst edit: noisy. The pooled
        // figures are the steadier comparison.
        if (p.seeds > 1) {
            report({{"scenario", "polling-sim"},
                    {"workload", workload},
                    {"pooled_seeds", p.seeds},
                    {"seeds_goal_met", met}},
                   all_adaptive, all_round_robin);
        }
    }
}
