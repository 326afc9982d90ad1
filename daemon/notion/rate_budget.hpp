// RateBudget: when a connection may send its next request (DESIGN §3). A token bucket refilled
// continuously at `per_minute`/60 s with room for `burst`; a 429/529 pauses the whole connection
// until Retry-After, then the rate restarts lower and climbs back (AIMD). Waiting requests are
// served by priority, round-robin among the jobs of one priority.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <string>

namespace syncd::notion {

enum class Priority { write_back = 0, poll = 1, schema = 2, content = 3, reconcile = 4 };
constexpr std::size_t priority_count = 5;
std::string_view to_string(Priority priority);

using SteadyClock = std::chrono::steady_clock;

struct BudgetOptions {
    double per_minute = 180;  // Notion's default per-connection budget (notion-api.md §3.1)
    double burst = 5;         // tokens that may be spent at once
    // Aim this much under the budget: a bucket at the full rate overruns a fixed window.
    double safety = 0.97;
    double min_factor = 0.1;  // lowest rate after repeated 429s, as a share of the budget
    double increase = 0.05;   // rate regained per successful request, as a share
};

// The arithmetic of a token bucket, with time passed in (unit-tested without sleeping).
class TokenBucket {
public:
    TokenBucket(double per_second, double capacity, SteadyClock::time_point now);
    // Takes a token if one is there.
    bool try_take(SteadyClock::time_point now);
    // When the next token will be there (now if one is).
    SteadyClock::time_point next_token(SteadyClock::time_point now);
    void set_rate(double per_second, SteadyClock::time_point now);
    void drain(SteadyClock::time_point now);
    double tokens(SteadyClock::time_point now);
    double rate() const { return per_second_; }

private:
    void refill(SteadyClock::time_point now);
    double per_second_;
    double capacity_;
    double tokens_;
    SteadyClock::time_point updated_;
};

struct BudgetMetrics {
    std::size_t granted = 0;
    std::size_t granted_last_minute = 0;
    std::size_t rate_limited = 0;  // 429/529 reported
    std::array<std::size_t, priority_count> queue_depth = {};
    std::chrono::milliseconds total_wait{0};
    std::chrono::milliseconds max_wait{0};
    double rate_factor = 1;
    bool paused = false;
};

class RateBudget {
public:
    // `workspace_pool`, when given, is a second bucket shared with the other connections of the
    // same workspace; a request needs a token from both.
    RateBudget(boost::asio::any_io_executor executor, BudgetOptions options,
               std::shared_ptr<TokenBucket> workspace_pool = nullptr);
    ~RateBudget();
    RateBudget(const RateBudget&) = delete;
    RateBudget& operator=(const RateBudget&) = delete;

    // Waits for this request's turn. Cancellation-safe: a cancelled wait leaves the queue and
    // consumes nothing.
    boost::asio::awaitable<void> acquire(Priority priority, std::string job);
    // Notion said 429/529: nothing is sent before `retry_after` has passed; then the rate
    // restarts at half of what it was.
    void on_rate_limited(std::chrono::milliseconds retry_after);
    void on_success();
    BudgetMetrics metrics() const;
    void shutdown();

private:
    struct State;
    static boost::asio::awaitable<void> pump(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
};

}  // namespace syncd::notion
