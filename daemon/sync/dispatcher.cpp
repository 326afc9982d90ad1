#include "daemon/sync/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "daemon/model/crash_point.hpp"

namespace syncd::sync {

namespace asio = boost::asio;

Dispatcher::Dispatcher(std::string target, std::string sync,
                       std::unique_ptr<connectors::Connector> connector, mirror::Mirror& mirror,
                       DispatchOptions options)
    : target_(std::move(target)),
      sync_(std::move(sync)),
      connector_(std::move(connector)),
      mirror_(mirror),
      options_(options) {}

void filter_properties(model::ChangeEvent& event, const DispatchOptions& options) {
    if (options.include.empty() && options.exclude.empty() && options.only.empty()) return;
    const auto listed = [](const std::vector<std::string>& list, std::string_view name,
                           std::string_view id) {
        return std::any_of(list.begin(), list.end(),
                           [&](const std::string& entry) { return entry == name || entry == id; });
    };
    std::vector<std::string> drop;
    for (const auto& [name, id_value] : event.property_ids) {
        const std::string_view id =
            id_value.is_string() ? std::string_view(id_value.get_string()) : std::string_view();
        const bool keep = (options.include.empty() || listed(options.include, name, id)) &&
                          !listed(options.exclude, name, id) &&
                          (options.only.empty() || listed(options.only, name, id));
        if (!keep) drop.emplace_back(name);
    }
    for (const auto& name : drop) {
        event.property_ids.erase(name);
        event.properties.erase(name);
        auto& changed = event.changed;
        for (auto it = changed.begin(); it != changed.end();) {
            it = it->is_string() && it->get_string() == name ? changed.erase(it) : it + 1;
        }
    }
}

std::size_t Dispatcher::pending() { return mirror_.count_after(sync_, mirror_.cursor(target_)); }

asio::awaitable<void> Dispatcher::sleep(std::chrono::milliseconds delay) {
    const auto executor = co_await asio::this_coro::executor;
    if (!timer_) timer_.emplace(executor);
    timer_->expires_after(delay);
    co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
}

void Dispatcher::wake() {
    woken_ = true;
    // Only an idle target is woken early; one backing off after failures keeps its pace.
    if (idle_ && timer_) timer_->cancel();
}

void Dispatcher::stop() {
    stopping_ = true;
    if (timer_) timer_->cancel();
}

asio::awaitable<bool> Dispatcher::drain() {
    std::mt19937_64 random(std::random_device{}());
    int attempt = 0;
    while (!stopping_) {
        if (!started_) {
            try {
                co_await connector_->start();
                started_ = true;
            } catch (const std::exception& e) {
                spdlog::error("target={} cannot start: {}", target_, e.what());
                co_return false;
            }
        }
        const std::int64_t cursor = mirror_.cursor(target_);
        if (cursor != failing_after_) {
            failing_after_ = cursor;  // a new head of the queue: its failures count afresh
            failing_since_.reset();
        }
        const std::size_t size = cursor < single_until_ ? 1 : options_.batch_size;
        const auto events = mirror_.events_after(sync_, cursor, size);
        if (events.empty()) co_return true;
        connectors::ChangeBatch batch{.target = target_, .sync = sync_, .events = events};
        for (auto& event : batch.events) filter_properties(event, options_);
        const auto sources = mirror_.sources(sync_);
        batch.several_sources = sources.size() > 1;
        for (const auto& s : sources) {
            if (s.schema) batch.schemas.emplace(s.data_source_id, *s.schema);
        }
        std::string error;
        bool retryable = true;
        std::optional<std::chrono::milliseconds> retry_after;
        try {
            co_await connector_->deliver(std::move(batch));
        } catch (const connectors::DeliveryError& e) {
            error = e.what();
            retryable = e.retryable;
            retry_after = e.retry_after;
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (error.empty()) {
            model::crash_point("deliver.before_cursor");
            mirror_.set_cursor(target_, events.back().seq);
            delivered_ += events.size();
            attempt = 0;
            continue;
        }
        ++attempt;
        const auto now = std::chrono::steady_clock::now();
        if (!failing_since_) failing_since_ = now;
        // A target that is down (retryable failures) keeps its events pending however long it
        // takes; only an event it refuses (non-retryable), or one that kept failing for
        // `dead_letter_after`, is set aside.
        const bool given_up = !retryable || now - *failing_since_ >= options_.dead_letter_after;
        if (retryable && !given_up && attempt >= options_.max_attempts) {
            spdlog::warn("target={} not caught up after {} attempts, events stay pending: {}",
                         target_, attempt, error);
            co_return false;
        }
        if (given_up) {
            if (events.size() > 1) {
                // Find the event that fails: one at a time through this batch.
                single_until_ = events.back().seq;
                spdlog::warn("target={} batch of {} failed ({}); delivering it event by event",
                             target_, events.size(), error);
                attempt = 0;
                continue;
            }
            spdlog::error(
                "target={} event seq={} page={} moved to dead letters after {} "
                "attempts: {}",
                target_, events.front().seq, events.front().page_id, attempt, error);
            mirror_.dead_letter(target_, events.front(), error);
            attempt = 0;
            continue;
        }
        const auto ceiling = std::min<long long>(options_.backoff_cap.count(),
                                                 options_.backoff_base.count() << attempt);
        auto delay =
            std::chrono::milliseconds(std::uniform_int_distribution<long long>(0, ceiling)(random));
        // A target that said when to come back (Retry-After) is not asked sooner.
        if (retry_after) delay = std::min(std::max(delay, *retry_after), options_.backoff_cap * 5);
        spdlog::warn("target={} delivery failed (attempt {} of {}), retrying in {} ms: {}", target_,
                     attempt, options_.max_attempts, delay.count(), error);
        co_await sleep(delay);
    }
    co_return false;
}

asio::awaitable<void> Dispatcher::run() {
    auto backoff = options_.backoff_base;
    while (!stopping_) {
        woken_ = false;
        const bool ok = co_await drain();
        if (stopping_) break;
        if (ok) {
            backoff = options_.backoff_base;
            // Sleep until woken; a minute at most, so nothing waits on a lost wake-up.
            if (!woken_) {
                idle_ = true;
                co_await sleep(std::chrono::minutes(1));
                idle_ = false;
            }
        } else {
            backoff = std::min(backoff * 2, options_.backoff_cap);
            co_await sleep(backoff);
        }
    }
}

}  // namespace syncd::sync
