// The Dispatcher of one target (sync x connector, DESIGN §3): delivers outbox events after the
// target's cursor in batches, advances the cursor on success, backs off on failure, and moves an
// event that keeps failing to dead letters so delivery goes on. Each target runs on its own, so
// a slow or failing target never holds up polling or the other targets.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "daemon/mirror/mirror.hpp"
#include "daemon/sync/write_back.hpp"

namespace syncd::sync {

struct DispatchOptions {
    std::size_t batch_size = 100;
    int max_attempts = 5;  // per drain before it reports "not caught up" (events stay pending)
    // An event whose delivery failed (retryably) for this long goes to dead letters, so one
    // poisoned event cannot hold a target back for ever.
    std::chrono::milliseconds dead_letter_after{std::chrono::hours(24)};
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_cap{60'000};
    // Which properties the target sees (names or ids): `include` (empty = all) less `exclude`;
    // `only` (the mapped ones, with `unmapped: skip`) narrows further.
    std::vector<std::string> include = {};
    std::vector<std::string> exclude = {};
    std::vector<std::string> only = {};
    // A target without a cursor first receives the live pages of its data sources from the
    // mirror (`created` events with "snapshot": true); false: it starts from now.
    bool snapshot = true;
    bool content = false;  // the sync reads page content: snapshot events carry it
    // A two-way target: what it receives becomes the base of its pages' properties (the last
    // value both sides agreed on), and its captured edits are written back before each delivery.
    bool two_way = false;
};

// Removes the properties a target does not want from an event (names and ids both match).
void filter_properties(model::ChangeEvent& event, const DispatchOptions& options);

class Dispatcher {
public:
    Dispatcher(std::string target, std::string sync,
               std::unique_ptr<connectors::Connector> connector, mirror::Mirror& mirror,
               DispatchOptions options = {});

    // Starts the connector if it is not yet (plan reads a two-way target's captures); false if it
    // cannot start.
    boost::asio::awaitable<bool> ensure_started();
    // Delivers until the target has every event committed so far (or stop() was called); false
    // if the connector could not start or delivery stopped early.
    boost::asio::awaitable<bool> drain();
    // Until stop(): drains whenever woken (and once at start, for a backlog left by a crash).
    boost::asio::awaitable<void> run();
    // New events are in the outbox.
    void wake();
    // Two-way: the write-back that runs before each delivery (owned by the Daemon). `wait`:
    // young edits are waited for (sync-once).
    // Called when this target's write-back added events to the outbox (the pages Notion
    // returned): the Daemon wakes the other targets, which would otherwise wait for a poll.
    void set_on_new_events(std::function<void()> on_new_events) {
        on_new_events_ = std::move(on_new_events);
    }
    void set_write_back(WriteBack* write_back, bool wait) {
        write_back_ = write_back;
        wait_for_settle_ = wait;
    }
    WriteBack* write_back() const { return write_back_; }
    // The batch in flight finishes (and is committed); then drain() and run() return.
    void stop();

    const std::string& target() const { return target_; }
    connectors::Connector& connector() { return *connector_; }
    const std::string& sync() const { return sync_; }
    std::size_t delivered() const { return delivered_; }
    std::size_t pending();
    // The last failure ("" after a success) and when events were last acknowledged.
    const std::string& last_error() const { return last_error_; }
    std::chrono::system_clock::time_point last_delivered() const { return last_delivered_; }

private:
    struct Outcome {
        std::string error = {};  // empty: acknowledged
        bool retryable = true;
        std::optional<std::chrono::milliseconds> retry_after = {};
        bool ok() const { return error.empty(); }
    };
    boost::asio::awaitable<void> sleep(std::chrono::milliseconds delay);
    // One batch to the connector, as this target sees it (its sync, its properties).
    boost::asio::awaitable<Outcome> send(std::vector<model::ChangeEvent> events);
    // The schemas of the job's data sources to the connector (tables before any page), when
    // they changed since last time; false if the target refused.
    boost::asio::awaitable<bool> apply_schemas();
    // Dead letters of this target marked for retry; false if one is still failing.
    boost::asio::awaitable<bool> deliver_retries();
    // Data sources this target does not hold yet: their live pages from the mirror.
    boost::asio::awaitable<bool> deliver_snapshots();
    model::ChangeEvent snapshot_event(const mirror::StoredPage& page,
                                      const std::optional<model::Schema>& schema);
    // Two-way: the captured edits written back, then the pages whose rows must get Notion's
    // values again delivered to this target alone; false if that failed (retried later).
    boost::asio::awaitable<bool> run_write_back();
    // Two-way: the properties with a conflict parked for a person (policy manual) are left out,
    // so the target keeps its value until someone decides.
    // Two-way targets hold state: each value an event carries is the mirror's current one.
    void keep_current(model::ChangeEvent& event);
    void keep_parked(model::ChangeEvent& event);
    // What the users and pages the batch's people and relation values name are called.
    std::map<std::string, std::string> names_in(const connectors::ChangeBatch& batch);
    // Two-way: the properties a captured edit not merged yet changed are left out, so the row
    // keeps the person's value until the write-back merges it.
    void keep_pending(model::ChangeEvent& event, const std::map<std::string, PendingEdit>& pending);
    // Two-way: what the target acknowledged is the base of those pages — not of a page whose row
    // was captured while the delivery ran, nor of a deleted row (`before`/`after`: the captures
    // pending before and after the delivery, done at `delivered_at`).
    void record_base(const std::vector<model::ChangeEvent>& events,
                     const std::map<std::string, PendingEdit>& before,
                     const std::map<std::string, PendingEdit>& after,
                     std::chrono::system_clock::time_point delivered_at);
    std::chrono::milliseconds backoff(int attempt,
                                      std::optional<std::chrono::milliseconds> retry_after);

    std::string target_;
    std::string sync_;
    std::unique_ptr<connectors::Connector> connector_;
    mirror::Mirror& mirror_;
    DispatchOptions options_;
    bool started_ = false;
    bool stopping_ = false;
    bool woken_ = false;
    bool idle_ = false;
    std::size_t delivered_ = 0;
    std::string last_error_ = {};
    std::string applied_schemas_ = {};  // the schemas apply_schemas() last gave the connector
    std::chrono::system_clock::time_point last_delivered_{};
    // After a batch failed for good, events are sent one by one up to this seq, so only the
    // event that fails is dead-lettered, not its neighbours.
    std::int64_t single_until_ = 0;
    std::optional<boost::asio::steady_timer> timer_;
    std::mt19937_64 random_{std::random_device{}()};
    std::int64_t failing_after_ = -1;  // the cursor the current failures are at
    std::optional<std::chrono::steady_clock::time_point> failing_since_;
    WriteBack* write_back_ = nullptr;
    std::function<void()> on_new_events_;
    bool wait_for_settle_ = false;
};

}  // namespace syncd::sync
