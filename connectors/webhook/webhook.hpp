// `webhook`: POSTs events as JSON to a URL (connectors/webhook/README.md). Without a template,
// one request per batch: {"delivery_id", "target", "sync", "events": [event, …]}; with one, a
// request per event with the rendered body. Every request carries
//   X-Notion-Syncd-Delivery: <target>:<first seq>-<last seq>   (the same for a redelivery)
//   X-Notion-Syncd-Signature: sha256=<hex HMAC-SHA256 of the body keyed by `secret`>
// 2xx acks; 408, 429, 5xx and network errors are retryable (with the Retry-After asked for);
// any other status is not, and the error carries the status and the start of the answer.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/connector.hpp"
#include "connectors/webhook/body_template.hpp"

namespace syncd::connectors::webhook {

inline constexpr const char* signature_header = "X-Notion-Syncd-Signature";
inline constexpr const char* delivery_header = "X-Notion-Syncd-Delivery";

struct Settings {
    std::string url = {};
    std::string secret = {};  // empty: requests are not signed
    std::vector<std::pair<std::string, std::string>> headers = {};  // ${ENV} expanded
    std::chrono::milliseconds timeout{30'000};
    std::string ca_file = {};
    std::optional<BodyTemplate> body_template = {};
};

Settings parse_settings(config::SettingsReader& read);
void validate(config::SettingsReader& read);
std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context);

// "sha256=<64 hex digits>": HMAC-SHA256 of `body` keyed by `secret`.
std::string signature(std::string_view secret, std::string_view body);

// The delivery id of events first..last of `target`: stable when the same events go again.
std::string delivery_id(const std::string& target, std::int64_t first, std::int64_t last);

enum class Outcome { ack, retry, reject };
// 2xx ack; 408, 429 and 5xx retry; anything else (3xx included: no redirects) reject.
Outcome classify(int status);

// A Retry-After value (delta seconds or an HTTP date, relative to `now`); nullopt if unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The URL as safe to log: scheme and authority only (chat webhook URLs hold a secret in the path).
std::string redacted(const std::string& url);

}  // namespace syncd::connectors::webhook
