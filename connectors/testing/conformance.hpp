// The connector conformance suite (STYLE §7, issue #10): one set of cases every connector
// passes, each run against a fresh target. A connector's test describes how to make it, how to
// read back what its target holds, and how to make the target fail for a while.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "connectors/connector.hpp"

namespace syncd::connectors::testing {

struct Subject {
    std::string name = {};
    // Empties the target (called before each case).
    std::function<void()> reset = {};
    // A connector on the target (a case may make a second one, as a restart does).
    std::function<std::unique_ptr<Connector>()> make = {};
    // What the target holds now: live page id -> property name -> canonical value, as a consumer
    // of the target reads it (a table's rows, the files, or the events replayed in order).
    std::function<std::map<std::string, boost::json::object>()> state = {};
    // Makes the next deliveries fail (retryably), then work again.
    std::function<void()> break_target = {};
    std::function<void()> fix_target = {};
};

// The io_context every case runs on: make connectors with its executor (they keep it).
boost::asio::io_context& io_context();

// Runs every case against `subject`, with doctest's CHECK/REQUIRE; each case is a SUBCASE.
void run_conformance(const Subject& subject);

// Replays events (oldest first) into the state a consumer of an event stream ends with.
std::map<std::string, boost::json::object> replay(const std::vector<boost::json::object>& events);

}  // namespace syncd::connectors::testing
