#include "daemon/sync/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

namespace syncd::sync {

Dispatcher::Dispatcher(std::string target, std::string sync,
                       std::unique_ptr<connectors::Connector> connector, mirror::Mirror& mirror,
                       DispatchOptions options)
    : target_(std::move(target)),
      sync_(std::move(sync)),
      connector_(std::move(connector)),
      mirror_(mirror),
      options_(options) {}

std::size_t Dispatcher::pending() {
    const auto cursor = mirror_.cursor(target_);
    return mirror_.events_after(sync_, cursor, 1'000'000).size();
}

boost::asio::awaitable<bool> Dispatcher::drain() {
    std::mt19937_64 random(std::random_device{}());
    const auto executor = co_await boost::asio::this_coro::executor;
    int attempt = 0;
    for (;;) {
        if (!started_) {
            try {
                co_await connector_->start();
                started_ = true;
            } catch (const std::exception& e) {
                spdlog::error("target={} cannot start: {}", target_, e.what());
                co_return false;
            }
        }
        const auto events =
            mirror_.events_after(sync_, mirror_.cursor(target_), options_.batch_size);
        if (events.empty()) co_return true;
        connectors::ChangeBatch batch{.target = target_, .sync = sync_, .events = events};
        const auto sources = mirror_.sources(sync_);
        batch.several_sources = sources.size() > 1;
        for (const auto& s : sources) {
            if (s.schema) batch.schemas.emplace(s.data_source_id, *s.schema);
        }
        std::string error;
        bool retryable = true;
        try {
            co_await connector_->deliver(std::move(batch));
        } catch (const connectors::DeliveryError& e) {
            error = e.what();
            retryable = e.retryable;
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (error.empty()) {
            mirror_.set_cursor(target_, events.back().seq);
            delivered_ += events.size();
            attempt = 0;
            continue;
        }
        ++attempt;
        if (!retryable || attempt >= options_.max_attempts) {
            spdlog::error("target={} event seq={} moved to dead letters after {} attempts: {}",
                          target_, events.front().seq, attempt, error);
            mirror_.dead_letter(target_, events.front(), error);
            attempt = 0;
            continue;
        }
        const auto ceiling = std::min<long long>(options_.backoff_cap.count(),
                                                 options_.backoff_base.count() << attempt);
        const auto delay =
            std::chrono::milliseconds(std::uniform_int_distribution<long long>(0, ceiling)(random));
        spdlog::warn("target={} delivery failed (attempt {}), retrying in {} ms: {}", target_,
                     attempt, delay.count(), error);
        boost::asio::steady_timer timer(executor, delay);
        co_await timer.async_wait(boost::asio::use_awaitable);
    }
}

}  // namespace syncd::sync
