// Blocking work away from the event loop (issue 15): a connector whose calls block (a SQLite
// transaction waiting up to its busy timeout, write + fdatasync, a directory scan) runs on a
// thread of its own, so polling, the other targets and the control server go on meanwhile.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>

#include "connectors/connector.hpp"

namespace syncd::connectors {

// One thread that runs blocking jobs, one at a time in the order given; the awaiting coroutine
// resumes on its own executor. The destructor waits for the job running, if any.
class Worker {
public:
    Worker();
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Runs `job` on the worker thread; rethrows what it throws.
    boost::asio::awaitable<void> run(std::function<void()> job);
    // Runs the coroutine `task` on the worker thread (its own executor there); rethrows.
    boost::asio::awaitable<void> run(boost::asio::awaitable<void> task);

private:
    struct Pool;
    std::unique_ptr<Pool> pool_;
};

// `inner`, with every call run on a Worker of its own: for connectors that block. The inner
// connector is only ever used from that thread (after construction), one call at a time.
std::unique_ptr<Connector> off_loop(std::unique_ptr<Connector> inner);

}  // namespace syncd::connectors
