// The Dispatcher of one target (sync x connector, DESIGN §3): delivers outbox events after the
// target's cursor in batches, advances the cursor on success, backs off on failure, and moves an
// event that keeps failing to dead letters so delivery goes on.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "connectors/connector.hpp"
#include "daemon/mirror/mirror.hpp"

namespace syncd::sync {

struct DispatchOptions {
    std::size_t batch_size = 100;
    int max_attempts = 5;  // per batch before its first event is dead-lettered
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_cap{60'000};
};

class Dispatcher {
public:
    Dispatcher(std::string target, std::string sync,
               std::unique_ptr<connectors::Connector> connector, mirror::Mirror& mirror,
               DispatchOptions options = {});

    // Delivers until the target has every event committed so far; false if it gave up on a
    // batch (after dead-lettering) or the connector could not start.
    boost::asio::awaitable<bool> drain();
    const std::string& target() const { return target_; }
    const std::string& sync() const { return sync_; }
    std::size_t delivered() const { return delivered_; }
    std::size_t pending();

private:
    std::string target_;
    std::string sync_;
    std::unique_ptr<connectors::Connector> connector_;
    mirror::Mirror& mirror_;
    DispatchOptions options_;
    bool started_ = false;
    std::size_t delivered_ = 0;
};

}  // namespace syncd::sync
