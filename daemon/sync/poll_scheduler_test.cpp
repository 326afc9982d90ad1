#include "daemon/sync/poll_scheduler.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

using namespace syncd::sync;
using namespace std::chrono_literals;
using Clock = PollScheduler::Clock;

namespace {

const Clock::time_point t0 = Clock::time_point{} + 1h;

std::vector<std::string> names(std::size_t n) {
    std::vector<std::string> sources;
    for (std::size_t i = 0; i < n; ++i) sources.push_back("ds-" + std::to_string(i));
    return sources;
}

double seconds(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

// Polls whatever is due, second by second, from `from` for `span`; `changes(ds, now)` says what
// a poll finds. `check` runs after each poll. Returns when it stopped.
Clock::time_point run(
    PollScheduler& scheduler, Clock::time_point from, std::chrono::seconds span,
    const std::function<std::size_t(const std::string&, Clock::time_point)>& changes,
    const std::function<void()>& check = [] {}) {
    auto now = from;
    for (; now < from + span; now += 1s) {
        for (const std::string& ds : scheduler.due_now(now)) {
            scheduler.polled(ds, now, changes(ds, now), 1);
            check();
        }
    }
    return now;
}

std::size_t none(const std::string&, Clock::time_point) { return 0; }

// Sources edited once per their period: a poll finds the edits since the source's last poll.
class Edits {
public:
    explicit Edits(std::map<std::string, std::chrono::seconds> periods)
        : periods_(std::move(periods)) {}

    std::size_t operator()(const std::string& ds, Clock::time_point now) {
        const auto period = periods_.find(ds);
        const auto last = std::exchange(last_[ds], now);
        if (period == periods_.end() || last == Clock::time_point{}) return 0;
        return static_cast<std::size_t>((now - t0) / period->second - (last - t0) / period->second);
    }

private:
    std::map<std::string, std::chrono::seconds> periods_;
    std::map<std::string, Clock::time_point> last_;
};

}  // namespace

TEST_CASE("without changes anywhere every source gets an equal split of the budget") {
    PollScheduler scheduler(1.0, 1);
    for (const auto& ds : names(20)) scheduler.add(ds, 10min);
    run(scheduler, t0, 5min, none);
    for (const auto& ds : names(20)) {
        CHECK(seconds(scheduler.interval(ds)) == doctest::Approx(20).epsilon(0.01));
        CHECK(scheduler.rate(ds) == 0);
    }
    CHECK(scheduler.planned_requests_per_second() == doctest::Approx(1.0).epsilon(0.01));
}

TEST_CASE("a busy source gets a shorter interval than a dormant one") {
    PollScheduler scheduler(1.0, 1);
    for (const auto& ds : names(20)) scheduler.add(ds, 10min);
    run(scheduler, t0, 10min, Edits({{"ds-0", 4s}}));
    CHECK(scheduler.rate("ds-0") > 0);
    CHECK(scheduler.rate("ds-1") == 0);
    // The quiet ones wait the longest: cold_cap × the equal split (20 s); ds-0 gets the rest.
    CHECK(seconds(scheduler.interval("ds-1")) ==
          doctest::Approx(PollTuning{}.cold_cap * 20).epsilon(0.01));
    CHECK(seconds(scheduler.interval("ds-0")) ==
          doctest::Approx(1 / (1 - 19 / (PollTuning{}.cold_cap * 20))).epsilon(0.01));
    CHECK(scheduler.planned_requests_per_second() == doctest::Approx(1.0).epsilon(0.001));
}

TEST_CASE("the busier of two changing sources is polled more often") {
    PollScheduler scheduler(0.5, 1);
    for (const auto& ds : names(20)) scheduler.add(ds, 10min);
    run(scheduler, t0, 20min, Edits({{"ds-0", 5s}, {"ds-1", 60s}}));
    CHECK(scheduler.rate("ds-0") > scheduler.rate("ds-1"));
    CHECK(scheduler.rate("ds-1") > 0);
    CHECK(scheduler.interval("ds-0") < scheduler.interval("ds-1"));
    CHECK(scheduler.interval("ds-1") < scheduler.interval("ds-2"));
}

TEST_CASE("intervals stay within min_every and every and the spend within the budget") {
    PollScheduler scheduler(2.0, 7);
    const auto sources = names(30);
    for (std::size_t i = 0; i < sources.size(); ++i) {
        // A third polled at least every 12 s, a third not more often than every 20 s.
        scheduler.add(sources[i], i % 3 == 0 ? 12s : 10min, i % 3 == 1 ? 20s : 5s);
    }
    std::size_t checks = 0;
    run(
        scheduler, t0, 32min,
        [](const std::string& ds, Clock::time_point now) -> std::size_t {
            // A burst of work on a few sources now and then.
            const auto minute = std::chrono::duration_cast<std::chrono::minutes>(now - t0).count();
            return (ds == "ds-2" || ds == "ds-4") && minute % 10 < 3 ? 2 : 0;
        },
        [&] {
            ++checks;
            for (std::size_t i = 0; i < sources.size(); ++i) {
                const auto interval = scheduler.interval(sources[i]);
                CHECK(interval >= (i % 3 == 1 ? 20s : 5s));
                CHECK(interval <= (i % 3 == 0 ? 12s : 10min));
            }
            CHECK(scheduler.planned_requests_per_second() <= doctest::Approx(2.0));
        });
    CHECK(checks > 500);
    CHECK(scheduler.interval("ds-2") < scheduler.interval("ds-5"));
}

TEST_CASE("the budget is exceeded only when the every bounds alone need more") {
    PollScheduler scheduler(1.0, 1);
    for (const auto& ds : names(50)) scheduler.add(ds, 10s);
    run(scheduler, t0, 2min, Edits({{"ds-0", 2s}}));
    for (const auto& ds : names(50)) CHECK(scheduler.interval(ds) == 10s);
    CHECK(scheduler.planned_requests_per_second() == doctest::Approx(5.0));
}

TEST_CASE("what a poll costs is learned and counts against the budget") {
    PollScheduler scheduler(1.0, 1);
    for (const auto& ds : names(10)) scheduler.add(ds, 10min);
    CHECK(scheduler.cost("ds-0") == 1);
    auto now = t0;
    for (int i = 0; i < 40; ++i, now += 20s) {
        for (const std::string& ds : scheduler.due_now(now)) {
            scheduler.polled(ds, now, 0, ds == "ds-0" ? 3 : 1);
        }
    }
    CHECK(scheduler.cost("ds-0") == doctest::Approx(3).epsilon(0.01));
    CHECK(scheduler.cost("ds-1") == 1);
    // interval ∝ sqrt(cost / rate): a dearer poll waits longer, within the cap.
    CHECK(scheduler.interval("ds-0") > scheduler.interval("ds-1"));
    CHECK(scheduler.planned_requests_per_second() == doctest::Approx(1.0).epsilon(0.001));
}

TEST_CASE("a hint makes a source due at once") {
    PollScheduler scheduler(1.0, 1);
    scheduler.add("tasks", 10min);
    scheduler.add("notes", 10min);
    CHECK(scheduler.due_now(t0) == std::vector<std::string>{"notes", "tasks"});
    scheduler.polled("tasks", t0, 0, 1);
    scheduler.polled("notes", t0, 0, 1);
    CHECK(scheduler.due_now(t0 + 1s).empty());
    CHECK(scheduler.due("tasks") > t0 + 1s);

    scheduler.hinted("tasks", t0 + 1s);
    CHECK(scheduler.due("tasks") == t0 + 1s);
    CHECK(scheduler.due_now(t0 + 1s) == std::vector<std::string>{"tasks"});
    CHECK(scheduler.next_due() == t0 + 1s);

    scheduler.polled("tasks", t0 + 2s, 1, 1);  // the poll answers the hint
    CHECK(scheduler.due("tasks") > t0 + 2s);
    CHECK(scheduler.due_now(t0 + 2s).empty());
    scheduler.hinted("unknown", t0);  // ignored
}

TEST_CASE("a hint during a poll keeps the source due after it") {
    PollScheduler scheduler(1.0, 1);
    scheduler.add("tasks", 10min);
    scheduler.polled("tasks", t0, 0, 1);
    scheduler.hinted("tasks", t0 + 5s);  // came in while the poll that began at t0 + 4s ran
    scheduler.polled("tasks", t0 + 4s, 0, 1);
    CHECK(scheduler.due("tasks") == t0 + 5s);
}

TEST_CASE("the same seed gives the same schedule") {
    const auto schedule = [](std::uint64_t seed) {
        PollScheduler scheduler(1.0, seed);
        for (const auto& ds : names(10)) scheduler.add(ds, 10min);
        std::vector<Clock::time_point> dues;
        run(scheduler, t0, 10min, Edits({{"ds-3", 7s}}), [&] {
            for (const auto& ds : names(10)) dues.push_back(scheduler.due(ds));
        });
        return dues;
    };
    const auto first = schedule(42);
    CHECK(first.size() > 100);
    CHECK(first == schedule(42));
    CHECK(first != schedule(43));  // the jitter differs
}

TEST_CASE("a source that stops changing drifts back to the quiet interval") {
    PollScheduler scheduler(1.0, 1);
    for (const auto& ds : names(20)) scheduler.add(ds, 10min);
    auto now = run(scheduler, t0, 5min, Edits({{"ds-0", 5s}}));
    const auto hot = scheduler.interval("ds-0");
    const double hot_rate = scheduler.rate("ds-0");
    CHECK(hot < scheduler.interval("ds-1") / 3);
    now = run(scheduler, now, 10min, none);
    CHECK(scheduler.rate("ds-0") < hot_rate / 16);  // ten half-lives of the recent rate
    const auto cooling = scheduler.interval("ds-0");
    CHECK(cooling > hot);
    now = run(scheduler, now, 1h, none);
    // What stays is the background rate, which fades over hours.
    CHECK(scheduler.interval("ds-0") > cooling);
    CHECK(scheduler.interval("ds-0") < scheduler.interval("ds-1"));
    run(scheduler, now, 12h, none);
    CHECK(seconds(scheduler.interval("ds-0")) ==
          doctest::Approx(seconds(scheduler.interval("ds-1"))).epsilon(0.01));
    CHECK(seconds(scheduler.interval("ds-1")) == doctest::Approx(20).epsilon(0.01));
}

TEST_CASE("with a small budget a quiet source waits its every and a busy one less") {
    // 4.2 requests a minute for 20 sources: an equal split is 286 s, the cap above every.
    PollScheduler scheduler(0.07, 1);
    for (const auto& ds : names(20)) scheduler.add(ds, 5min);
    run(scheduler, t0, 1h, Edits({{"ds-0", 10s}}));
    CHECK(scheduler.interval("ds-1") == 5min);
    CHECK(scheduler.interval("ds-0") < 5min);
    CHECK(scheduler.interval("ds-0") > 5s);
}

TEST_CASE("a first poll only sets the baseline") {
    PollScheduler scheduler(1.0, 1);
    scheduler.add("tasks", 10min);
    scheduler.polled("tasks", t0, 5000, 50);  // the initial full read
    CHECK(scheduler.rate("tasks") == 0);
    CHECK(scheduler.cost("tasks") == 1);
    scheduler.polled("tasks", t0 + 10s, 2, 1);
    CHECK(scheduler.rate("tasks") == doctest::Approx(0.2).epsilon(0.01));
}

TEST_CASE("a source added by two jobs is polled within the tightest bounds") {
    PollScheduler scheduler(100.0, 1);  // budget to spare: every source at its min_every
    scheduler.add("tasks", 10min, 5s);
    scheduler.add("tasks", 1min, 30s);
    CHECK(scheduler.interval("tasks") == 30s);
    scheduler.remove("tasks", 1min, 30s);
    CHECK(scheduler.interval("tasks") == 5s);
    scheduler.remove("tasks", 2min, 5s);  // bounds nobody added: ignored
    CHECK(scheduler.due_now(t0) == std::vector<std::string>{"tasks"});
    scheduler.remove("tasks", 10min, 5s);
    CHECK(scheduler.due_now(t0).empty());
    CHECK_FALSE(scheduler.next_due().has_value());
    scheduler.polled("tasks", t0, 1, 1);  // a poll that ended after its job went: ignored
}

TEST_CASE("the forecast: expected staleness, backlog and time to converge") {
    PollScheduler scheduler(2.0, 1);
    const auto sources = names(10);
    for (const auto& ds : sources) scheduler.add(ds, 10min);
    // Nothing polled yet: everything is overdue, one request each.
    CHECK(scheduler.backlog_requests(sources, t0) == 10);
    CHECK(scheduler.backlog_requests(sources, t0, 4.5) == 14.5);
    CHECK(scheduler.time_to_converge_seconds(sources, t0, 4.5) == doctest::Approx(7.25));
    CHECK(scheduler.backlog_requests({"unknown"}, t0) == 0);

    for (const auto& ds : sources) scheduler.polled(ds, t0, 0, 1);
    CHECK(scheduler.backlog_requests(sources, t0 + 1s) == 0);
    CHECK(scheduler.time_to_converge_seconds(sources, t0 + 1s) == 0);
    // No changes seen: the plain mean of interval / 2, the equal split being 5 s.
    CHECK(scheduler.expected_staleness_seconds(sources) == doctest::Approx(2.5).epsilon(0.01));
    CHECK(scheduler.backlog_requests(sources, t0 + 1min) == 10);

    // Changes weight the mean towards the sources that have them.
    scheduler.polled("ds-0", t0 + 5s, 3, 1);
    scheduler.polled("ds-1", t0 + 5s, 1, 1);
    const double r0 = scheduler.rate("ds-0");
    const double r1 = scheduler.rate("ds-1");
    const double i0 = seconds(scheduler.interval("ds-0"));
    const double i1 = seconds(scheduler.interval("ds-1"));
    CHECK(r0 == doctest::Approx(3 * r1));
    CHECK(scheduler.expected_staleness_seconds(sources) ==
          doctest::Approx((r0 * i0 / 2 + r1 * i1 / 2) / (r0 + r1)));
    CHECK(scheduler.expected_staleness_seconds({"unknown"}) == 0);
}
