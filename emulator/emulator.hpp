// The emulator's request handling, without sockets: auth, versions, rate limits, faults, the
// request log, routing to the Workspace, the control API, and webhook deliveries.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "emulator/model.hpp"

namespace emulator {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method;
    std::string target;
    Headers headers = {};
    std::string body = {};
    // The value of a header (case-insensitive name), or empty.
    std::string header(std::string_view name) const;
};

struct HttpResponse {
    int status = 200;
    Headers headers = {};
    std::string body = {};
    // Fault directives for the transport (control API /faults) and latency.
    bool reset_connection = false;
    bool truncate_body = false;
    Millis delay_ms = 0;
};

struct Options {
    std::optional<std::string> owner_token = {};
    std::vector<std::string> connection_tokens = {};
    int rate_requests = 180;  // per connection and window; 0 = unlimited
    Millis rate_window_ms = 60'000;
    int workspace_requests = 0;  // the shared workspace pool; 0 = unlimited
    Millis latency_fixed_ms = 0;
    Millis latency_jitter_ms = 0;
    Millis search_lag_ms = 0;
    // A kept-alive connection idle this long is closed by the server, as proxies and Notion's
    // edge do (POST /__emulator/keep_alive {idle_ms}).
    Millis keep_alive_idle_ms = 300'000;
    std::uint64_t seed = 0;  // 0 = random
};

struct WebhookDelivery {
    std::string url;
    Headers headers;
    std::string body;
};

class Emulator {
public:
    explicit Emulator(Options options);
    Millis keep_alive_idle_ms() const { return options_.keep_alive_idle_ms; }

    HttpResponse handle(const HttpRequest& request);
    // Webhook posts whose aggregation delay has passed (the server calls this periodically).
    std::vector<WebhookDelivery> due_webhooks();

    Workspace& workspace() { return workspace_; }

    // An injected fault (POST /__emulator/faults).
    struct Fault {
        std::string method = {};
        std::string path_prefix = {};
        std::string token = {};  // a token or a connection name
        int count = 0;
        double probability = 1.0;  // a matching request gets the fault with this chance
        int status = 0;
        std::string code = {};     // empty: Notion's code for `status`
        std::string message = {};  // empty: Notion's message for `code`
        std::optional<int> retry_after = {};
        std::string rate_limit_reason = {};
        bool reset_connection = false;
        bool truncate_body = false;
        Millis delay_ms = 0;
        int commit_then_status = 0;
    };

private:
    struct Window {
        Millis start = 0;
        int count = 0;
    };
    struct LoggedRequest {
        std::string connection;
        std::string method;
        std::string path;
        int status;
        Millis at;
    };
    struct Subscription {
        std::string id;
        std::string url;
        std::string verification_token;
        std::string connection;
        Millis aggregation_delay_ms = 0;
    };
    struct PendingEvent {
        std::size_t subscription;
        ChangeEvent event;
        Millis due;  // steady clock
        std::set<std::pair<std::string, bool>> authors;
    };

    HttpResponse api(const HttpRequest& request, const Connection& connection,
                     std::string_view path, std::string_view query, std::string& route);
    HttpResponse answer(const HttpRequest& request);
    HttpResponse control(const HttpRequest& request, std::string_view path);
    std::optional<HttpResponse> rate_limit(const Connection& connection);
    HttpResponse error(int status, const std::string& code, const std::string& message,
                       boost::json::object additional = {}) const;
    HttpResponse ok(boost::json::object body) const;
    void log(const std::string& connection, const std::string& method, const std::string& path,
             const std::string& route, int status);
    std::string request_id();

    Options options_;
    Clock clock_;
    Workspace workspace_;
    IdSource request_ids_;
    std::mt19937_64 jitter_;
    std::vector<Fault> faults_;
    std::mt19937_64 fault_dice_;
    std::map<std::string, std::size_t> faults_applied_;  // by kind: "429", "reset_connection"…
    std::map<std::string, Window> windows_;              // by connection name
    Window workspace_window_;
    std::deque<LoggedRequest> log_;
    std::map<std::tuple<std::string, std::string, std::string, int>, std::size_t> counters_;
    std::vector<Subscription> subscriptions_;
    std::vector<PendingEvent> pending_;
    std::vector<WebhookDelivery> outbox_;
};

}  // namespace emulator
