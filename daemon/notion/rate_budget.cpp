#include "daemon/notion/rate_budget.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace syncd::notion {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

std::string_view to_string(Priority priority) {
    switch (priority) {
        case Priority::write_back:
            return "write_back";
        case Priority::poll:
            return "poll";
        case Priority::schema:
            return "schema";
        case Priority::content:
            return "content";
        case Priority::reconcile:
            return "reconcile";
    }
    return "unknown";
}

TokenBucket::TokenBucket(double per_second, double capacity, SteadyClock::time_point now)
    : per_second_(per_second),
      capacity_(std::max(capacity, 1.0)),
      tokens_(capacity_),
      updated_(now) {}

void TokenBucket::refill(SteadyClock::time_point now) {
    if (now <= updated_) return;
    const double elapsed = std::chrono::duration<double>(now - updated_).count();
    tokens_ = std::min(capacity_, tokens_ + elapsed * per_second_);
    updated_ = now;
}

bool TokenBucket::try_take(SteadyClock::time_point now) {
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
}

SteadyClock::time_point TokenBucket::next_token(SteadyClock::time_point now) {
    refill(now);
    if (tokens_ >= 1.0) return now;
    const double seconds = (1.0 - tokens_) / per_second_;
    // Rounded up: at the time returned the token is there (rounded down, it could be 0.99999).
    return now + std::chrono::ceil<SteadyClock::duration>(std::chrono::duration<double>(seconds));
}

void TokenBucket::set_rate(double per_second, SteadyClock::time_point now) {
    refill(now);
    per_second_ = per_second;
}

void TokenBucket::drain(SteadyClock::time_point now) {
    refill(now);
    tokens_ = 0;
}

double TokenBucket::tokens(SteadyClock::time_point now) {
    refill(now);
    return tokens_;
}

struct RateBudget::State {
    struct Waiter {
        asio::steady_timer* timer = nullptr;
        bool granted = false;
    };

    State(asio::any_io_executor ex, BudgetOptions o, std::shared_ptr<TokenBucket> p)
        : executor(std::move(ex)),
          options(o),
          bucket(full_rate(), o.burst, SteadyClock::now()),
          pool(std::move(p)),
          pump_timer(executor) {}

    double full_rate() const { return options.per_minute / 60.0 * options.safety; }
    bool has_waiters() const {
        return std::any_of(rotation.begin(), rotation.end(),
                           [](const auto& r) { return !r.empty(); });
    }
    void note_grant(SteadyClock::time_point now) {
        ++metrics.granted;
        grants.push_back(now);
        while (!grants.empty() && now - grants.front() > 60s) grants.pop_front();
    }

    asio::any_io_executor executor;
    BudgetOptions options;
    TokenBucket bucket;
    std::shared_ptr<TokenBucket> pool;
    double factor = 1;
    SteadyClock::time_point paused_until{};
    // Per priority: jobs in round-robin order, and each job's waiters in arrival order.
    std::array<std::list<std::string>, priority_count> rotation;
    std::array<std::map<std::string, std::deque<Waiter*>>, priority_count> queues;
    asio::steady_timer pump_timer;
    bool pump_running = false;
    bool stopped = false;
    BudgetMetrics metrics;
    std::deque<SteadyClock::time_point> grants;
};

// Hands out tokens to waiters, highest priority first, round-robin among jobs; exits when no
// one waits (acquire() restarts it).
asio::awaitable<void> RateBudget::pump(std::shared_ptr<State> state) {
    while (!state->stopped && state->has_waiters()) {
        const auto now = SteadyClock::now();
        auto ready = std::max(state->paused_until, state->bucket.next_token(now));
        if (state->pool) ready = std::max(ready, state->pool->next_token(now));
        if (ready > now) {
            state->pump_timer.expires_at(ready);
            co_await state->pump_timer.async_wait(use_tuple);  // cancelled to re-evaluate
            continue;
        }
        // Both hold a token (or wait again: a grant never goes without one).
        if (state->pool && state->pool->tokens(now) < 1.0) continue;
        if (!state->bucket.try_take(now)) continue;
        if (state->pool) state->pool->try_take(now);
        for (std::size_t p = 0; p < priority_count; ++p) {
            auto& rotation = state->rotation[p];
            if (rotation.empty()) continue;
            const std::string job = rotation.front();
            rotation.pop_front();
            auto& queue = state->queues[p].at(job);
            RateBudget::State::Waiter* waiter = queue.front();
            queue.pop_front();
            if (queue.empty()) {
                state->queues[p].erase(job);
            } else {
                rotation.push_back(job);
            }
            waiter->granted = true;
            waiter->timer->cancel();
            state->note_grant(now);
            break;
        }
    }
    state->pump_running = false;
}

RateBudget::RateBudget(asio::any_io_executor executor, BudgetOptions options,
                       std::shared_ptr<TokenBucket> workspace_pool)
    : state_(std::make_shared<State>(std::move(executor), options, std::move(workspace_pool))) {}

RateBudget::~RateBudget() { shutdown(); }

void RateBudget::shutdown() {
    state_->stopped = true;
    state_->pump_timer.cancel();
    for (auto& queues : state_->queues) {
        for (auto& [job, waiters] : queues) {
            for (auto* w : waiters) w->timer->cancel();
        }
    }
}

asio::awaitable<void> RateBudget::acquire(Priority priority, std::string job) {
    const auto state = state_;
    if (state->stopped) throw boost::system::system_error(asio::error::operation_aborted);
    const auto start = SteadyClock::now();
    // Nobody waiting and a token at hand: go.
    if (!state->has_waiters() && start >= state->paused_until &&
        (!state->pool || state->pool->tokens(start) >= 1.0) && state->bucket.try_take(start)) {
        if (state->pool) state->pool->try_take(start);
        state->note_grant(start);
        co_return;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor, SteadyClock::time_point::max());
    State::Waiter waiter{.timer = &timer};
    const auto p = static_cast<std::size_t>(priority);
    auto& queue = state->queues[p][job];
    if (queue.empty()) state->rotation[p].push_back(job);
    queue.push_back(&waiter);
    ++state->metrics.queue_depth[p];
    if (!state->pump_running) {
        state->pump_running = true;
        asio::co_spawn(state->executor, RateBudget::pump(state), asio::detached);
    }
    co_await timer.async_wait(use_tuple);
    --state->metrics.queue_depth[p];
    if (!waiter.granted) {
        // Cancelled or shut down: leave the queue without taking a token.
        auto it = state->queues[p].find(job);
        if (it != state->queues[p].end()) {
            std::erase(it->second, &waiter);
            if (it->second.empty()) {
                state->queues[p].erase(it);
                state->rotation[p].remove(job);
            }
        }
        throw boost::system::system_error(asio::error::operation_aborted);
    }
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
    state->metrics.total_wait += waited;
    state->metrics.max_wait = std::max(state->metrics.max_wait, waited);
}

void RateBudget::on_rate_limited(std::chrono::milliseconds retry_after) {
    const auto now = SteadyClock::now();
    // One decrease per storm: the 429s answering requests sent before the pause took effect
    // (or during it) are the same event. Halving for each drove the rate to its floor after one
    // storm, and the catch-up afterwards took half a minute (the fault soak).
    const bool new_storm = now >= state_->paused_until;
    state_->paused_until = std::max(state_->paused_until, now + retry_after);
    if (new_storm) state_->factor = std::max(state_->options.min_factor, state_->factor * 0.5);
    state_->bucket.set_rate(state_->full_rate() * state_->factor, now);
    state_->bucket.drain(now);
    ++state_->metrics.rate_limited;
    state_->pump_timer.cancel();
}

void RateBudget::on_success() {
    if (state_->factor >= 1) return;
    state_->factor = std::min(1.0, state_->factor + state_->options.increase);
    state_->bucket.set_rate(state_->full_rate() * state_->factor, SteadyClock::now());
}

BudgetMetrics RateBudget::metrics() const {
    BudgetMetrics m = state_->metrics;
    const auto now = SteadyClock::now();
    m.granted_last_minute = static_cast<std::size_t>(std::count_if(
        state_->grants.begin(), state_->grants.end(), [&](auto t) { return now - t <= 60s; }));
    m.rate_factor = state_->factor;
    m.paused = now < state_->paused_until;
    return m;
}

}  // namespace syncd::notion
