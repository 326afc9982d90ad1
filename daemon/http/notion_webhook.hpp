// Notion connection webhooks (notion-api.md §9): the verification handshake, the
// X-Notion-Signature check on the raw body, and the little the daemon needs from an event to
// turn it into a sync hint. Events carry no content: polling stays the source of truth.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace syncd::http {

struct WebhookEvent {
    std::string id = {};              // for deduplication (Notion retries up to 8 times)
    std::string type = {};            // page.properties_updated, data_source.schema_updated, …
    std::string entity_id = {};       // dashed
    std::string entity_type = {};     // page, database, data_source, block, …
    std::string data_source_id = {};  // data.parent.data_source_id, when the page lives in one
    std::string parent_id = {};       // data.parent.id
};

struct WebhookRequest {
    // The one-time handshake: {"verification_token": "..."} (unsigned).
    std::optional<std::string> verification_token = {};
    std::optional<WebhookEvent> event = {};
};

// Parses a webhook body; nullopt (never an exception) when it is not JSON or has neither shape.
std::optional<WebhookRequest> parse_webhook(std::string_view body);

// Whether `header` is "sha256=<64 lowercase hex>" equal to HMAC-SHA256(secret, body), compared in
// constant time.
bool signature_valid(std::string_view body, std::string_view header, std::string_view secret);

// "sha256=<hex>" for a body (tests, and the webhook connector's own signature).
std::string sign(std::string_view body, std::string_view secret);

// The token shortened for a log line: enough to recognise it, not enough to use it.
std::string redact(std::string_view token);

}  // namespace syncd::http
