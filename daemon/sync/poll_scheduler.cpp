#include "daemon/sync/poll_scheduler.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numbers>

namespace syncd::sync {

namespace {

double seconds_of(std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000; }

// The x in [lo, hi] where the decreasing `spend(x)` comes down to `budget`, by bisection (on a
// log scale: intervals and scales span orders of magnitude); `hi` if even that spends more.
template <typename Spend>
double solve(double lo, double hi, double budget, Spend spend) {
    if (spend(lo) <= budget) return lo;
    if (spend(hi) > budget) return hi;
    for (int i = 0; i < 100; ++i) {
        const double mid = std::sqrt(lo * hi);
        if (spend(mid) > budget) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return hi;  // the side that keeps the budget
}

}  // namespace

PollScheduler::PollScheduler(double requests_per_second, std::uint64_t seed, PollTuning tuning)
    : budget_(requests_per_second), tuning_(tuning), random_(seed) {
    assert(budget_ > 0 && tuning_.cold_cap >= 1 && tuning_.half_life.count() > 0);
}

void PollScheduler::add(const std::string& ds, milliseconds every, milliseconds min_every) {
    assert(every.count() > 0 && min_every.count() > 0);
    auto [it, added] = sources_.try_emplace(ds);
    Source& s = it->second;
    if (added) s.cost = tuning_.initial_cost;
    s.added.insert({.every = every, .min_every = min_every});
    tighten(s);
    allocate();
}

void PollScheduler::remove(const std::string& ds, milliseconds every, milliseconds min_every) {
    const auto it = sources_.find(ds);
    if (it == sources_.end()) return;
    Source& s = it->second;
    const auto bounds = s.added.find({.every = every, .min_every = min_every});
    if (bounds == s.added.end()) return;
    s.added.erase(bounds);
    if (s.added.empty()) {
        sources_.erase(it);
    } else {
        tighten(s);
    }
    allocate();
}

void PollScheduler::tighten(Source& s) {
    s.every = s.added.begin()->every;
    s.min_every = s.added.begin()->min_every;
    for (const Bounds& b : s.added) {
        s.every = std::min(s.every, b.every);
        s.min_every = std::max(s.min_every, b.min_every);
    }
    s.min_every = std::min(s.min_every, s.every);
}

void PollScheduler::polled(const std::string& ds, Clock::time_point now, std::size_t changes,
                           std::size_t requests_spent) {
    const auto it = sources_.find(ds);
    if (it == sources_.end()) return;
    Source& s = it->second;
    if (s.last_polled) {
        const double elapsed =
            std::max(0.0, std::chrono::duration<double>(now - *s.last_polled).count());
        const double decay = std::exp2(-elapsed / seconds_of(tuning_.half_life));
        s.changes = s.changes * decay + static_cast<double>(changes);
        s.seconds = s.seconds * decay + elapsed;
        s.background =
            s.background * std::exp2(-elapsed / seconds_of(tuning_.background_half_life)) +
            static_cast<double>(changes);
        // Every poll sends at least one request (a read another job made for it still cost one).
        const double spent = static_cast<double>(std::max<std::size_t>(requests_spent, 1));
        s.cost += tuning_.cost_weight * (spent - s.cost);
    }
    s.last_polled = now;
    if (s.hinted_at && *s.hinted_at <= now) s.hinted_at.reset();
    s.jitter = 1 + std::uniform_real_distribution<double>(-tuning_.jitter, tuning_.jitter)(random_);
    allocate();
}

void PollScheduler::hinted(const std::string& ds, Clock::time_point now) {
    const auto it = sources_.find(ds);
    if (it == sources_.end()) return;
    auto& hinted_at = it->second.hinted_at;
    if (!hinted_at || now < *hinted_at) hinted_at = now;
}

const PollScheduler::Source& PollScheduler::source(const std::string& ds) const {
    const auto it = sources_.find(ds);
    assert(it != sources_.end());
    return it->second;
}

double PollScheduler::rate_of(const Source& s) const {
    const double recent = s.seconds > 0 ? s.changes / s.seconds : 0;
    return recent + s.background * std::numbers::ln2 / seconds_of(tuning_.background_half_life);
}

double PollScheduler::weight_of(const Source& s) const {
    return rate_of(s) + 1 / seconds_of(tuning_.assumed_change_every);
}

PollScheduler::Clock::time_point PollScheduler::due(const std::string& ds) const {
    return due_of(source(ds));
}

PollScheduler::Clock::time_point PollScheduler::due_of(const Source& s) const {
    if (!s.last_polled) return {};  // never polled: due since the clock's epoch
    const double wait =
        std::clamp(s.interval_s * s.jitter, seconds_of(s.min_every), seconds_of(s.every));
    const auto regular = *s.last_polled + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(wait));
    return s.hinted_at ? std::min(regular, *s.hinted_at) : regular;
}

std::optional<PollScheduler::Clock::time_point> PollScheduler::next_due() const {
    std::optional<Clock::time_point> next;
    for (const auto& [ds, s] : sources_) {
        const auto t = due_of(s);
        if (!next || t < *next) next = t;
    }
    return next;
}

std::vector<std::string> PollScheduler::due_now(Clock::time_point now) const {
    std::vector<std::pair<Clock::time_point, std::string>> due_sources;
    for (const auto& [ds, s] : sources_) {
        const auto t = due_of(s);
        if (t <= now) due_sources.emplace_back(t, ds);
    }
    std::sort(due_sources.begin(), due_sources.end());
    std::vector<std::string> names;
    names.reserve(due_sources.size());
    for (auto& [t, ds] : due_sources) names.push_back(std::move(ds));
    return names;
}

std::chrono::milliseconds PollScheduler::interval(const std::string& ds) const {
    return milliseconds(std::llround(source(ds).interval_s * 1000));
}

double PollScheduler::rate(const std::string& ds) const { return rate_of(source(ds)); }

double PollScheduler::cost(const std::string& ds) const { return source(ds).cost; }

double PollScheduler::planned_requests_per_second() const {
    double spend = 0;
    for (const auto& [ds, s] : sources_) spend += s.cost / s.interval_s;
    return spend;
}

double PollScheduler::expected_staleness_seconds(const std::vector<std::string>& sources) const {
    double weighted = 0;
    double weights = 0;
    double plain = 0;
    std::size_t known = 0;
    for (const std::string& ds : sources) {
        const auto it = sources_.find(ds);
        if (it == sources_.end()) continue;
        const double half = it->second.interval_s / 2;
        const double r = weight_of(it->second);
        weighted += r * half;
        weights += r;
        plain += half;
        ++known;
    }
    if (weights > 0) return weighted / weights;
    return known > 0 ? plain / static_cast<double>(known) : 0;
}

double PollScheduler::backlog_requests(const std::vector<std::string>& sources,
                                       Clock::time_point now, double pending_requests) const {
    double backlog = pending_requests;
    for (const std::string& ds : sources) {
        const auto it = sources_.find(ds);
        if (it != sources_.end() && due_of(it->second) <= now) backlog += it->second.cost;
    }
    return backlog;
}

double PollScheduler::time_to_converge_seconds(const std::vector<std::string>& sources,
                                               Clock::time_point now,
                                               double pending_requests) const {
    return backlog_requests(sources, now, pending_requests) / budget_;
}

void PollScheduler::allocate() {
    if (sources_.empty()) return;
    double shortest = std::numeric_limits<double>::max();
    double longest = 0;
    for (const auto& [ds, s] : sources_) {
        shortest = std::min(shortest, seconds_of(s.min_every));
        longest = std::max(longest, seconds_of(s.every));
    }
    // The interval an equal split of the budget gives every source (within its bounds).
    const double equal = solve(shortest, longest, budget_, [&](double interval) {
        double spend = 0;
        for (const auto& [ds, s] : sources_) {
            spend += s.cost / std::clamp(interval, seconds_of(s.min_every), seconds_of(s.every));
        }
        return spend;
    });
    // Minimising Σ rate·interval/2 (the mean staleness of a change) under Σ cost/interval =
    // budget gives interval ∝ sqrt(cost/rate): the square-root rule, with `scale` the factor.
    const double longest_wait = tuning_.cold_cap * equal;
    const auto interval_at = [&](const Source& s, double scale) {
        const double upper = std::clamp(longest_wait, seconds_of(s.min_every), seconds_of(s.every));
        return std::clamp(scale * std::sqrt(s.cost / weight_of(s)), seconds_of(s.min_every), upper);
    };
    double smallest = std::numeric_limits<double>::max();
    double largest = 0;
    for (const auto& [ds, s] : sources_) {
        const double root = std::sqrt(weight_of(s) / s.cost);
        smallest = std::min(smallest, seconds_of(s.min_every) * root);
        largest = std::max(largest, std::min(longest_wait, seconds_of(s.every)) * root);
    }
    const double scale = solve(smallest, std::max(smallest, largest), budget_, [&](double k) {
        double spend = 0;
        for (const auto& [ds, s] : sources_) spend += s.cost / interval_at(s, k);
        return spend;
    });
    for (auto& [ds, s] : sources_) s.interval_s = interval_at(s, scale);
}

}  // namespace syncd::sync
