// The control server's routes (DESIGN §3): plain functions of a request and the running Daemon.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "daemon/http/control_server.hpp"
#include "daemon/sync/daemon.hpp"

namespace syncd::http {

class Routes {
public:
    // `daemon` returns the Daemon in service (it changes on reload); `secret` is the Notion
    // webhook verification token from the config (may be empty until the handshake), `state_dir`
    // where a received verification token is saved.
    // `auth_token`: the control token (control.auth_token_file), which also authenticates changes
    // POSTed to two-way targets.
    Routes(std::function<sync::Daemon&()> daemon, std::string secret, std::string state_dir,
           std::optional<std::string> auth_token = std::nullopt);

    ControlResponse operator()(const ControlRequest& request);
    // The same, for the control server: the routes that wait (GET /v1/plan) and the others.
    boost::asio::awaitable<ControlResponse> handle(ControlRequest request);
    // Counters of the routes themselves, in Prometheus text format.
    std::string metrics() const;

private:
    ControlResponse webhook(const ControlRequest& request);
    // A file of the operator console (GET / is its index.html).
    ControlResponse console_file(const std::string& path);
    // POST /v1/targets/{sync}/{connector}/changes and GET …/changes/{request}; `rest` is the path
    // after /v1/targets/.
    ControlResponse changes(const ControlRequest& request, const std::string& rest);

    std::function<sync::Daemon&()> daemon_;
    std::optional<std::string> auth_token_;
    // Answers to requests with an Idempotency-Key, by target and key (the last 10,000): the body's
    // hash and the answer.
    std::map<std::string, std::pair<std::string, ControlResponse>> idempotent_;
    std::deque<std::string> idempotent_order_;
    std::string secret_;
    std::string state_dir_;
    // Event ids seen lately: Notion retries deliveries up to 8 times.
    std::set<std::string> seen_;
    std::deque<std::string> seen_order_;
    std::size_t accepted_ = 0;
    std::size_t ignored_ = 0;
    std::size_t duplicates_ = 0;
    std::size_t bad_signatures_ = 0;
    std::size_t malformed_ = 0;
    std::size_t verifications_ = 0;
};

}  // namespace syncd::http
