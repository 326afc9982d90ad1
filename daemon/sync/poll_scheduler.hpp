// PollScheduler (issue 15): when each data source of one Notion connection is polled next. It
// learns per data source how often it changes and what a poll costs in requests, and splits the
// polling budget by interval ∝ sqrt(cost / rate) (the square-root rule, which minimises the mean
// staleness of a change), scaled so Σ cost / interval = the budget, within [min_every, every] and
// never above `cold_cap` × the equal split. With no changes anywhere every source gets the equal
// split (round robin); the budget is only exceeded when the sources' `every` bounds alone need
// more. A webhook hint makes a source due at once. Pure and deterministic: time is passed in, the
// jitter comes from a generator seeded at construction; no I/O, no Asio, one thread (the
// caller's). bench/polling_sim measures it against round robin.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace syncd::sync {

// The defaults are what bench/polling_sim measured (issue 15).
// The share of the connection's budget polls may plan to spend; the rest is headroom for pages of
// results, content, schema reads, reconciliations and write-backs (all queue on the budget).
inline constexpr double polling_share = 0.8;

struct PollTuning {
    // The recent rate: changes / elapsed time, both decayed by this half-life at each poll, so a
    // source that just changed is hot (people edit in sessions) and cools down after.
    std::chrono::milliseconds half_life = std::chrono::minutes(1);
    // The background rate: changes decayed by this half-life per its span (H / ln 2), so a source
    // often edited over the last hours keeps a share when it is quiet. rate() is their sum.
    std::chrono::milliseconds background_half_life = std::chrono::hours(1);
    // A prior: every source is assumed to change once per this besides what was learned. It
    // spreads the budget evenly while nothing changes and keeps a source that changed long ago
    // from taking all the budget the busy ones leave.
    std::chrono::milliseconds assumed_change_every = std::chrono::minutes(10);
    // No interval exceeds `cold_cap` × the interval an equal split of the budget gives: a quiet
    // source is read nearly as often as round robin would, which bounds the staleness of the
    // first change after a quiet spell (the p99); the rest of the budget goes to busy sources.
    double cold_cap = 1.15;
    // Each wait is the interval × (1 ± jitter), uniform, within the bounds.
    double jitter = 0.02;
    // What a poll costs before one was seen, in requests; then a moving mean with this weight.
    double initial_cost = 1;
    double cost_weight = 0.2;
};

class PollScheduler {
public:
    using Clock = std::chrono::steady_clock;
    using milliseconds = std::chrono::milliseconds;

    // `requests_per_second`: what polls may spend on average (> 0).
    PollScheduler(double requests_per_second, std::uint64_t seed, PollTuning tuning = {});

    // A job reads `ds` at least every `every` and at most every `min_every`. Sources are due at
    // once when added. Added by several jobs, a source is polled within the tightest bounds:
    // the shortest `every` and the longest `min_every` (not above that `every`).
    void add(const std::string& ds, milliseconds every, milliseconds min_every = default_min_every);
    // Takes back one add() with these bounds; with the last one the source and what was learned
    // about it go. Unknown sources and bounds are ignored.
    void remove(const std::string& ds, milliseconds every,
                milliseconds min_every = default_min_every);

    // A poll of `ds` that began reading at `now` found `changes` changed pages and spent
    // `requests_spent` requests (at least one is counted). Hints up to `now` are answered. The
    // first poll of a source only sets the baseline (it reads everything). Ignored for a source not
    // added (a job may have gone while its poll ran).
    void polled(const std::string& ds, Clock::time_point now, std::size_t changes,
                std::size_t requests_spent);
    // A webhook says `ds` changed: due at `now` (unknown sources are ignored).
    void hinted(const std::string& ds, Clock::time_point now);

    // When `ds` is due next (a past time: overdue). `ds` must have been added.
    Clock::time_point due(const std::string& ds) const;
    // The earliest due() of all sources; nullopt without sources.
    std::optional<Clock::time_point> next_due() const;
    // The sources due at `now`, earliest due first (ties by id).
    std::vector<std::string> due_now(Clock::time_point now) const;
    // The planned interval of `ds`, without jitter. `ds` must have been added.
    milliseconds interval(const std::string& ds) const;
    // The learned change rate of `ds` in changes per second (recent + background). `ds` must have
    // been added.
    double rate(const std::string& ds) const;
    // The learned mean requests per poll of `ds`. `ds` must have been added.
    double cost(const std::string& ds) const;
    // Σ cost / interval over all sources: the planned spend in requests per second.
    double planned_requests_per_second() const;

    // Forecasts over `sources` (a job's; unknown ones are skipped). The expected staleness of
    // the next change: the mean of interval/2 weighted by change rate (+ the assumed rate, so
    // the plain mean while nothing has changed).
    double expected_staleness_seconds(const std::vector<std::string>& sources) const;
    // The requests of the polls overdue at `now`, plus `pending_requests` the caller knows of
    // (pages still to read, a retry).
    double backlog_requests(const std::vector<std::string>& sources, Clock::time_point now,
                            double pending_requests = 0) const;
    // backlog_requests / the polling budget.
    double time_to_converge_seconds(const std::vector<std::string>& sources, Clock::time_point now,
                                    double pending_requests = 0) const;

    static constexpr milliseconds default_min_every = std::chrono::seconds(5);

private:
    struct Bounds {
        milliseconds every{0};
        milliseconds min_every{0};
        bool operator<(const Bounds& other) const {
            return std::tie(every, min_every) < std::tie(other.every, other.min_every);
        }
    };
    struct Source {
        std::multiset<Bounds> added = {};
        milliseconds every{0};  // the tightest of `added`
        milliseconds min_every{0};
        std::optional<Clock::time_point> last_polled = {};
        std::optional<Clock::time_point> hinted_at = {};
        double changes = 0;  // decayed sums since the baseline poll
        double seconds = 0;
        double background = 0;
        double cost = 0;
        double jitter = 1;  // this wait's factor
        double interval_s = 0;
    };

    // The tightest bounds of a source's adds.
    static void tighten(Source& s);
    const Source& source(const std::string& ds) const;
    double rate_of(const Source& s) const;
    // rate_of + the assumed rate: what the budget is split by.
    double weight_of(const Source& s) const;
    Clock::time_point due_of(const Source& s) const;
    // Recomputes every interval_s from the rates, costs, bounds and the budget.
    void allocate();

    double budget_;
    PollTuning tuning_;
    std::mt19937_64 random_;
    std::map<std::string, Source> sources_;
};

}  // namespace syncd::sync
