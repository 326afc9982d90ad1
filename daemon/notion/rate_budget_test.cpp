#include "daemon/notion/rate_budget.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <thread>
#include <vector>

using namespace syncd::notion;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// Runs `io` until `done()` holds or `limit` passes; whether it holds. Waits on the condition,
// not on a fixed window, so a loaded machine makes the test slower, not wrong.
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        if (io.stopped()) io.restart();
        io.run_one_for(10ms);
    }
    return done();
}

}  // namespace

TEST_CASE("a token bucket refills continuously up to its capacity") {
    const auto t0 = SteadyClock::now();
    TokenBucket bucket(2.0, 3, t0);
    CHECK(bucket.try_take(t0));
    CHECK(bucket.try_take(t0));
    CHECK(bucket.try_take(t0));
    CHECK_FALSE(bucket.try_take(t0));
    CHECK(bucket.next_token(t0) == t0 + 500ms);
    CHECK_FALSE(bucket.try_take(t0 + 499ms));
    CHECK(bucket.try_take(t0 + 500ms));
    CHECK(bucket.tokens(t0 + 100s) == doctest::Approx(3.0));
}

TEST_CASE("at the time next_token says, the token is there, whatever the rate's rounding") {
    // Rates whose token times are not whole nanoseconds: rounded down, the bucket would hold
    // 0.99999… tokens at the time given and a grant would go without one.
    for (const double rate : {2.91, 3.0 * 0.97, 1.0 / 3.0, 7.0, 180.0 * 0.97 / 60.0}) {
        CAPTURE(rate);
        auto t = SteadyClock::now();
        TokenBucket bucket(rate, 1, t);
        for (int i = 0; i < 1000; ++i) {
            t = bucket.next_token(t);
            REQUIRE(bucket.try_take(t));
        }
    }
}

TEST_CASE("a drained bucket at a lower rate takes longer to give the next token") {
    const auto t0 = SteadyClock::now();
    TokenBucket bucket(4.0, 2, t0);
    bucket.drain(t0);
    bucket.set_rate(1.0, t0);
    CHECK(bucket.next_token(t0) == t0 + 1s);
}

TEST_CASE("waiting requests are served by priority, round-robin among jobs") {
    asio::io_context io;
    // One token at a time, 50 per second: the order is decided by the queue, not by luck.
    RateBudget budget(io.get_executor(), {.per_minute = 3000, .burst = 1, .safety = 1});
    std::vector<std::string> order;
    auto request = [&](Priority p, std::string job, std::string name) -> asio::awaitable<void> {
        co_await budget.acquire(p, job);
        order.push_back(name);
    };
    // The first takes the only token; the rest queue up.
    asio::co_spawn(io, request(Priority::poll, "a", "first"), asio::detached);
    asio::co_spawn(io, request(Priority::reconcile, "a", "reconcile"), asio::detached);
    asio::co_spawn(io, request(Priority::poll, "a", "poll-a1"), asio::detached);
    asio::co_spawn(io, request(Priority::poll, "a", "poll-a2"), asio::detached);
    asio::co_spawn(io, request(Priority::poll, "b", "poll-b1"), asio::detached);
    asio::co_spawn(io, request(Priority::write_back, "c", "write"), asio::detached);
    io.run();
    CHECK(order ==
          std::vector<std::string>{"first", "write", "poll-a1", "poll-b1", "poll-a2", "reconcile"});
    CHECK(budget.metrics().granted == 6);
}

TEST_CASE("a rate limit pauses every request until Retry-After and halves the rate") {
    asio::io_context io;
    RateBudget budget(io.get_executor(), {.per_minute = 6000, .burst = 1, .safety = 1});
    SteadyClock::time_point granted;
    const auto start = SteadyClock::now();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            co_await budget.acquire(Priority::poll, "a");
            budget.on_rate_limited(300ms);
            co_await budget.acquire(Priority::write_back, "a");
            granted = SteadyClock::now();
        },
        asio::detached);
    io.run();
    CHECK(granted - start >= 300ms);
    CHECK(budget.metrics().rate_limited == 1);
    CHECK(budget.metrics().rate_factor == doctest::Approx(0.5));
    budget.on_success();
    CHECK(budget.metrics().rate_factor == doctest::Approx(0.55));
}

TEST_CASE("the 429s of one storm halve the rate once, a later storm again") {
    asio::io_context io;
    RateBudget budget(io.get_executor(), {.per_minute = 6000, .burst = 1, .safety = 1});
    budget.on_rate_limited(200ms);
    budget.on_rate_limited(200ms);  // answers to requests already on their way
    budget.on_rate_limited(100ms);
    CHECK(budget.metrics().rate_limited == 3);
    CHECK(budget.metrics().rate_factor == doctest::Approx(0.5));
    std::this_thread::sleep_for(250ms);  // the pause is over: the next 429 is a new storm
    budget.on_rate_limited(100ms);
    CHECK(budget.metrics().rate_factor == doctest::Approx(0.25));
}

TEST_CASE("a cancelled wait leaves the queue without taking a token") {
    asio::io_context io;
    RateBudget budget(io.get_executor(), {.per_minute = 60, .burst = 1, .safety = 1});
    bool second_granted = false;
    bool cancelled = false;
    asio::cancellation_signal cancel;
    asio::co_spawn(io, budget.acquire(Priority::poll, "a"), asio::detached);
    asio::co_spawn(io, budget.acquire(Priority::poll, "b"),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                       second_granted = !e;
                       cancelled = e != nullptr;
                   }));
    const auto queued = [&] {
        return budget.metrics().queue_depth[static_cast<std::size_t>(Priority::poll)];
    };
    REQUIRE(run_until(io, [&] { return budget.metrics().granted == 1 && queued() == 1; }));
    cancel.emit(asio::cancellation_type::terminal);
    CHECK(run_until(io, [&] { return cancelled; }));
    CHECK_FALSE(second_granted);
    CHECK(budget.metrics().queue_depth[static_cast<std::size_t>(Priority::poll)] == 0);
    CHECK(budget.metrics().granted == 1);
    budget.shutdown();
}

TEST_CASE("a workspace pool shared by two connections caps them together") {
    asio::io_context io;
    // Each connection alone could go at 6,000 per minute; the pool allows 2 at once, then 10/s.
    auto pool = std::make_shared<TokenBucket>(10.0, 2, SteadyClock::now());
    RateBudget first(io.get_executor(), {.per_minute = 6000, .burst = 10, .safety = 1}, pool);
    RateBudget second(io.get_executor(), {.per_minute = 6000, .burst = 10, .safety = 1}, pool);
    int granted = 0;
    auto ask = [&](RateBudget& budget) -> asio::awaitable<void> {
        co_await budget.acquire(Priority::poll, "job");
        ++granted;
    };
    for (int i = 0; i < 3; ++i) {
        asio::co_spawn(io, ask(first), asio::detached);
        asio::co_spawn(io, ask(second), asio::detached);
    }
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(run_until(io, [&] { return granted == 2; }));
    // The pool's third token is 100 ms away: nothing more before then.
    CHECK(granted == 2);
    CHECK(run_until(io, [&] { return granted == 6; }));
    // Four more tokens at 10/s take at least ~400 ms however fast the machine is.
    CHECK(std::chrono::steady_clock::now() - start >= 350ms);
    first.shutdown();
    second.shutdown();
}
