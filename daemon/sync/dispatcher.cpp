#include "daemon/sync/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <random>
#include <set>

#include "daemon/model/crash_point.hpp"
#include "daemon/model/log.hpp"

namespace syncd::sync {

namespace asio = boost::asio;
namespace json = boost::json;

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

std::chrono::milliseconds Dispatcher::backoff(
    int attempt, std::optional<std::chrono::milliseconds> retry_after) {
    const auto ceiling = std::min<long long>(
        options_.backoff_cap.count(), options_.backoff_base.count() << std::min(attempt, 20));
    auto delay =
        std::chrono::milliseconds(std::uniform_int_distribution<long long>(0, ceiling)(random_));
    // A target that said when to come back (Retry-After) is not asked sooner.
    if (retry_after) delay = std::min(std::max(delay, *retry_after), options_.backoff_cap * 5);
    return delay;
}

std::map<std::string, std::string> Dispatcher::names_in(const connectors::ChangeBatch& batch) {
    std::set<std::string> ids;
    for (const auto& event : batch.events) {
        const auto schema = batch.schemas.find(event.data_source_id);
        if (schema == batch.schemas.end()) continue;
        for (const auto& [name, value] : event.properties) {
            const auto* id = event.property_ids.if_contains(name);
            const auto* property = id && id->is_string()
                                       ? schema->second.by_id(std::string(id->get_string()))
                                       : nullptr;
            if (property == nullptr || !value.is_array() ||
                (property->type != "people" && property->type != "relation"))
                continue;
            for (const auto& item : value.get_array())
                if (item.is_string()) ids.emplace(item.get_string());
        }
    }
    return ids.empty() ? std::map<std::string, std::string>{} : mirror_.names(ids);
}

asio::awaitable<Dispatcher::Outcome> Dispatcher::send(std::vector<model::ChangeEvent> events) {
    connectors::ChangeBatch batch{.target = target_, .sync = sync_, .events = std::move(events)};
    // Two-way: edits captured in the target and not merged yet (young, held) stay in their rows.
    std::map<std::string, PendingEdit> pending;
    if (options_.two_way && write_back_) {
        std::optional<std::string> failure;
        try {
            pending = co_await write_back_->pending_edits();
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (failure) {
            last_error_ = "cannot read the captured edits: " + *failure;
            Outcome failed;
            failed.error = last_error_;
            co_return failed;
        }
    }
    for (auto& event : batch.events) {
        event.sync =
            sync_;  // found by whichever job polled the data source; delivered for this one
        filter_properties(event, options_);
        if (options_.two_way) {
            keep_current(event);
            keep_parked(event);
            keep_pending(event, pending);
        }
    }
    const auto sources = mirror_.sources(sync_);
    batch.several_sources = sources.size() > 1;
    for (const auto& source : sources) {
        if (source.schema) batch.schemas.emplace(source.data_source_id, *source.schema);
    }
    if (connector_->wants_names()) batch.names = names_in(batch);
    Outcome outcome;
    const auto started = std::chrono::steady_clock::now();
    const std::size_t count = batch.events.size();
    std::vector<model::ChangeEvent> delivered_events;
    if (options_.two_way) delivered_events = batch.events;
    try {
        co_await connector_->deliver(std::move(batch));
    } catch (const connectors::DeliveryError& e) {
        outcome = {.error = e.what(), .retryable = e.retryable, .retry_after = e.retry_after};
    } catch (const std::exception& e) {
        outcome = {.error = e.what()};
    }
    last_error_ = outcome.error;
    if (outcome.ok() && options_.two_way) {
        const auto delivered_at = std::chrono::system_clock::now();
        std::map<std::string, PendingEdit> after;
        bool known = true;
        if (write_back_) {
            try {
                after = co_await write_back_->pending_edits();
            } catch (const std::exception& e) {
                known = false;
                spdlog::warn("target={} cannot read the captured edits, the base stays: {}",
                             target_, e.what());
            }
        }
        if (known) record_base(delivered_events, pending, after, delivered_at);
    }
    if (outcome.ok()) {
        last_delivered_ = std::chrono::system_clock::now();
        log::info({{"target", target_}, {"events", count}, {"duration_ms", log::ms_since(started)}},
                  "target={} {} events delivered", target_, count);
    }
    co_return outcome;
}

void Dispatcher::keep_current(model::ChangeEvent& event) {
    if (event.page_id.empty() || event.kind == "deleted" || event.kind == "access_lost") return;
    const auto stored = mirror_.page(event.page_id);
    if (!stored || stored->state != mirror::PageState::live) return;
    for (auto& [name, value] : event.properties) {
        const auto* id = event.property_ids.if_contains(name);
        if (!id || !id->is_string()) continue;
        const auto* now = stored->record.values.if_contains(id->get_string());
        // A table holds state: an event behind the mirror (delivered late, after this target's
        // own newer write) must not put an older value back in the row.
        if (now != nullptr && *now != value) value = *now;
    }
}

void Dispatcher::keep_parked(model::ChangeEvent& event) {
    if (event.page_id.empty() || event.kind == "deleted" || event.kind == "access_lost") return;
    for (auto it = event.properties.begin(); it != event.properties.end();) {
        const auto* id = event.property_ids.if_contains(it->key());
        if (id && id->is_string() &&
            mirror_.has_open_conflict(target_, event.page_id, std::string(id->get_string()))) {
            // A conflict parked for a person: the target keeps its value until it is resolved.
            event.property_ids.erase(it->key());
            it = event.properties.erase(it);
        } else {
            ++it;
        }
    }
}

void Dispatcher::keep_pending(model::ChangeEvent& event,
                              const std::map<std::string, PendingEdit>& pending) {
    if (event.page_id.empty() || event.kind == "deleted" || event.kind == "access_lost") return;
    const auto edit = pending.find(event.page_id);
    if (edit == pending.end()) return;
    for (auto it = event.properties.begin(); it != event.properties.end();) {
        const auto* id = event.property_ids.if_contains(it->key());
        if (id && id->is_string() &&
            edit->second.properties.contains(std::string(id->get_string()))) {
            event.property_ids.erase(it->key());
            it = event.properties.erase(it);
        } else {
            ++it;
        }
    }
}

void Dispatcher::record_base(const std::vector<model::ChangeEvent>& events,
                             const std::map<std::string, PendingEdit>& before,
                             const std::map<std::string, PendingEdit>& after,
                             std::chrono::system_clock::time_point delivered_at) {
    try {
        for (const auto& event : events) {
            if (event.page_id.empty() || event.kind == "schema_changed") continue;
            if (event.kind == "deleted" || event.kind == "access_lost") {
                mirror_.drop_base(target_, event.page_id);
                continue;
            }
            const auto was = before.find(event.page_id);
            const auto is = after.find(event.page_id);
            const bool captured_before = was != before.end();
            const bool same_capture =
                captured_before && is != after.end() && is->second.capture == was->second.capture;
            // An edit captured while this delivery waited for the table or ran (a transaction
            // that committed late): the delivery may have covered it, and its merge must compare
            // it with the base it was made against.
            if (is != after.end() && !same_capture && is->second.captured_at < delivered_at)
                continue;
            // A deleted row: a change from Notion must still beat that delete.
            if (captured_before && was->second.deleted) continue;
            // Only what Notion still holds: an event older than the mirror (delivered late, after
            // this target's own newer write landed) must not take the base back to its value,
            // or the write looks like a person's change in Notion and the table's next edit
            // loses to it as a conflict (the crash loop found one).
            const auto stored = mirror_.page(event.page_id);
            json::object values;
            for (const auto& [name, value] : event.properties) {
                const auto* id = event.property_ids.if_contains(name);
                if (!id || !id->is_string()) continue;
                if (stored) {
                    const auto* now = stored->record.values.if_contains(id->get_string());
                    if (now == nullptr || *now != value) continue;
                }
                values[id->get_string()] = value;
            }
            // Delivered over a pending capture (which had not changed these): that capture's
            // values for them are stale, and the write-back knows by its name.
            mirror_.set_base(target_, event.page_id, values,
                             same_capture ? was->second.capture : std::string());
        }
    } catch (const std::exception& e) {
        // Without it the next write-back compares with an older base: a property Notion changed
        // can look changed in the target too, a conflict decided by the policy.
        spdlog::warn("target={} cannot record what it holds: {}", target_, e.what());
    }
}

asio::awaitable<bool> Dispatcher::run_write_back() {
    const std::int64_t before = mirror_.highest_seq();
    std::optional<std::string> failure;
    try {
        const WriteBackStats stats = co_await write_back_->run(wait_for_settle_);
        (void)stats;
    } catch (const std::exception& e) {
        failure = e.what();
    }
    // What was written came back as events (in the outbox now): the other targets get them now.
    if (on_new_events_ && mirror_.highest_seq() != before) on_new_events_();
    if (failure) {
        last_error_ = "write-back: " + *failure;
        spdlog::warn("target={} write-back failed, the edits stay captured and are tried again: {}",
                     target_, *failure);
        co_return false;
    }
    const std::vector<std::string> pages = write_back_->take_reverts();
    if (pages.empty()) co_return true;
    std::vector<model::ChangeEvent> events;
    for (const auto& id : pages) {
        const auto page = mirror_.page(id);
        if (!page || page->state != mirror::PageState::live) continue;
        const auto source = mirror_.source(page->record.data_source_id);
        auto event = snapshot_event(*page, source ? source->schema : std::nullopt);
        event.kind = "updated";
        event.snapshot = false;
        filter_properties(event, options_);
        events.push_back(std::move(event));
    }
    if (!events.empty()) {
        const auto outcome = co_await send(std::move(events));
        if (!outcome.ok()) co_return false;
    }
    write_back_->reverted(pages);
    co_return true;
}

model::ChangeEvent Dispatcher::snapshot_event(const mirror::StoredPage& page,
                                              const std::optional<model::Schema>& schema) {
    const auto& record = page.record;
    model::ChangeEvent event{.kind = "created",
                             .sync = sync_,
                             .data_source_id = record.data_source_id,
                             .page_id = record.page_id,
                             .last_edited_time = record.last_edited_time,
                             .url = record.url};
    event.snapshot = true;
    for (const auto& [id, value] : record.values) {
        const auto* property = schema ? schema->by_id(std::string(id)) : nullptr;
        const std::string name = property ? property->name : std::string(id);
        event.properties[name] = value;
        event.property_ids[name] = id;
    }
    if (options_.content) {
        auto content = mirror_.content(record.page_id, true);
        event.content = content ? std::move(content->blocks) : json::array();
    }
    return event;
}

asio::awaitable<bool> Dispatcher::apply_schemas() {
    connectors::ChangeBatch batch{.target = target_, .sync = sync_};
    std::string signature;
    const auto sources = mirror_.sources(sync_);
    batch.several_sources = sources.size() > 1;
    for (const auto& source : sources) {
        if (!source.schema) continue;
        model::ChangeEvent event{
            .kind = "schema_changed", .sync = sync_, .data_source_id = source.data_source_id};
        for (const auto& property : source.schema->properties) {
            event.property_ids[property.name] = property.id;
            event.changed.emplace_back(property.name);
        }
        filter_properties(event, options_);
        signature += json::serialize(source.schema->to_json());
        batch.schemas.emplace(source.data_source_id, *source.schema);
        batch.events.push_back(std::move(event));
    }
    if (batch.events.empty() || signature == applied_schemas_) co_return true;
    try {
        co_await connector_->apply_schema(std::move(batch));
    } catch (const std::exception& e) {
        last_error_ = e.what();
        spdlog::warn("target={} cannot prepare for its data sources' schemas: {}", target_,
                     e.what());
        co_return false;
    }
    applied_schemas_ = std::move(signature);
    co_return true;
}

asio::awaitable<bool> Dispatcher::deliver_retries() {
    auto retries = mirror_.retries(target_);
    for (auto& retry : retries) {
        if (stopping_) co_return false;
        const std::int64_t id = retry.first;
        // Not `send({event})`: g++ 12 cannot keep an initializer list alive across co_await
        // ("array used as initializer").
        std::vector<model::ChangeEvent> one;
        one.push_back(retry.second);
        const auto outcome = co_await send(std::move(one));
        if (outcome.ok()) {
            mirror_.drop_dead_letter(id);
            ++delivered_;
            spdlog::info("target={} dead letter {} delivered", target_, id);
            continue;
        }
        if (outcome.retryable) {
            spdlog::warn("target={} dead letter {} not delivered yet: {}", target_, id,
                         outcome.error);
            co_return false;
        }
        spdlog::error("target={} dead letter {} refused again: {}", target_, id, outcome.error);
        mirror_.dead_letter_failed_again(id, outcome.error);
    }
    co_return true;
}

asio::awaitable<bool> Dispatcher::deliver_snapshots() {
    if (const auto added = mirror_.begin_target(target_, sync_, options_.snapshot)) {
        spdlog::info("target={} holds {} more data sources ({} to send from the mirror first)",
                     target_, added, mirror_.snapshots_pending(target_));
    }
    int attempt = 0;
    bool single = false;  // after a refused batch: page by page, so only that page is set aside
    while (!stopping_) {
        const auto position = mirror_.next_snapshot(target_);
        if (!position) co_return true;
        const auto& ds = position->data_source_id;
        const auto pages =
            mirror_.live_pages_after(ds, position->after_page, single ? 1 : options_.batch_size);
        if (pages.empty()) {
            mirror_.set_snapshot_progress(target_, ds, std::nullopt);
            spdlog::info("target={} data_source={} snapshot complete", target_, ds);
            single = false;
            continue;
        }
        const auto source = mirror_.source(ds);
        // A snapshot event's seq is the outbox position it reflects (shared by the whole
        // snapshot): the changes after it follow with higher numbers.
        const auto at = mirror_.cursor(target_);
        std::vector<model::ChangeEvent> events;
        for (const auto& page : pages) {
            events.push_back(snapshot_event(page, source ? source->schema : std::nullopt));
            events.back().seq = at;
        }
        const auto outcome = co_await send(events);
        if (outcome.ok()) {
            model::crash_point("deliver.before_snapshot_progress");
            mirror_.set_snapshot_progress(target_, ds, pages.back().record.page_id);
            delivered_ += events.size();
            attempt = 0;
            continue;
        }
        ++attempt;
        if (!outcome.retryable) {
            if (events.size() > 1) {
                single = true;
                attempt = 0;
                continue;
            }
            spdlog::error("target={} snapshot page={} moved to dead letters: {}", target_,
                          events.front().page_id, outcome.error);
            mirror_.dead_letter(target_, events.front(), outcome.error, false);
            mirror_.set_snapshot_progress(target_, ds, pages.back().record.page_id);
            attempt = 0;
            continue;
        }
        if (attempt >= options_.max_attempts) {
            spdlog::warn("target={} snapshot not complete after {} attempts, it goes on later: {}",
                         target_, attempt, outcome.error);
            co_return false;
        }
        const auto delay = backoff(attempt, outcome.retry_after);
        spdlog::warn("target={} snapshot delivery failed (attempt {} of {}), retrying in {} ms: {}",
                     target_, attempt, options_.max_attempts, delay.count(), outcome.error);
        co_await sleep(delay);
    }
    co_return false;
}

asio::awaitable<bool> Dispatcher::ensure_started() {
    if (started_) co_return true;
    try {
        co_await connector_->start();
        started_ = true;
    } catch (const std::exception& e) {
        spdlog::error("target={} cannot start: {}", target_, e.what());
    }
    co_return started_;
}

asio::awaitable<bool> Dispatcher::drain() {
    int attempt = 0;
    if (!co_await ensure_started()) co_return false;
    try {
        if (!co_await apply_schemas()) co_return false;
        if (!co_await deliver_retries()) co_return false;
        if (!co_await deliver_snapshots()) co_return false;
        if (write_back_ && !co_await run_write_back()) co_return false;
    } catch (const std::exception& e) {
        // The mirror itself failed (e.g. busy): the events stay where they are.
        spdlog::warn("target={} cannot read the mirror: {}", target_, e.what());
        co_return false;
    }
    while (!stopping_) {
        std::int64_t cursor = 0;
        std::vector<model::ChangeEvent> events;
        try {
            cursor = mirror_.cursor(target_);
            if (cursor != failing_after_) {
                failing_after_ = cursor;  // a new head of the queue: its failures count afresh
                failing_since_.reset();
            }
            const std::size_t size = cursor < single_until_ ? 1 : options_.batch_size;
            events = mirror_.events_after(sync_, cursor, size);
        } catch (const std::exception& e) {
            spdlog::warn("target={} cannot read the outbox: {}", target_, e.what());
            co_return false;
        }
        if (events.empty()) co_return true;
        const auto outcome = co_await send(events);
        if (outcome.ok()) {
            model::crash_point("deliver.before_cursor");
            try {
                mirror_.set_cursor(target_, events.back().seq);
            } catch (const std::exception& e) {
                // Delivered but not recorded: the batch goes again (at-least-once).
                spdlog::warn("target={} cannot record its cursor: {}", target_, e.what());
                co_return false;
            }
            delivered_ += events.size();
            attempt = 0;
            continue;
        }
        const std::string& error = outcome.error;
        ++attempt;
        const auto now = std::chrono::steady_clock::now();
        if (!failing_since_) failing_since_ = now;
        // A target that is down (retryable failures) keeps its events pending however long it
        // takes; only an event it refuses (non-retryable), or one that kept failing for
        // `dead_letter_after`, is set aside.
        const bool given_up =
            !outcome.retryable || now - *failing_since_ >= options_.dead_letter_after;
        if (outcome.retryable && !given_up && attempt >= options_.max_attempts) {
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
            try {
                mirror_.dead_letter(target_, events.front(), error);
            } catch (const std::exception& e) {
                spdlog::warn("target={} cannot record a dead letter: {}", target_, e.what());
                co_return false;
            }
            attempt = 0;
            continue;
        }
        const auto delay = backoff(attempt, outcome.retry_after);
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
