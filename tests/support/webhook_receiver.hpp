// Test support: a local HTTP(S) server standing in for a webhook's receiver. It runs on a thread
// of its own, checks each request's X-Notion-Syncd-Signature, records what came, and answers as
// told (e.g. 500 twice, then 200).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace syncd::test {

struct ReceivedRequest {
    std::string method = {};
    std::string target = {};
    std::map<std::string, std::string> headers = {};  // names in lower case
    std::string body = {};                            // empty unless keep_bodies
    bool signature_ok = false;
    std::size_t events = 0;  // in the body's "events" list (1 for a body without one)
    int answered = 0;        // the status sent back
};

struct ReceiverAnswer {
    int status = 200;
    std::string body = {};
    std::string retry_after = {};  // a Retry-After header when not empty
};

struct ReceiverOptions {
    std::string secret = {};     // checks signatures with it when not empty
    int port = 0;                // 0: any free port
    std::string cert_file = {};  // both set: HTTPS
    std::string key_file = {};
    bool keep_bodies = true;
};

class WebhookReceiver {
public:
    explicit WebhookReceiver(ReceiverOptions options = {});
    ~WebhookReceiver();
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    int port() const;
    // "http(s)://127.0.0.1:<port><path>" (https with "localhost", the certificate's name).
    std::string url(const std::string& path = "/hook") const;

    // The next `count` requests get `answer`; later ones the default answer (200 unless set).
    void answer_next(std::size_t count, const ReceiverAnswer& answer);
    void answer_always(const ReceiverAnswer& answer);

    std::vector<ReceivedRequest> requests() const;
    // Events in requests answered with 2xx.
    std::size_t events_accepted() const;
    std::size_t request_count() const;
    // Waits until events_accepted() >= n; false on timeout.
    bool wait_for_events(std::size_t n, std::chrono::milliseconds timeout) const;

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace syncd::test
