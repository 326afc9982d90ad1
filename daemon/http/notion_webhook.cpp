#include "daemon/http/notion_webhook.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/value.hpp>

#include "daemon/model/json_text.hpp"

namespace syncd::http {
namespace {

namespace json = boost::json;

std::string string_at(const json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string())
        return std::string(v->get_string());
    return {};
}

}  // namespace

std::optional<WebhookRequest> parse_webhook(std::string_view body) {
    boost::system::error_code error;
    const json::value v = model::parse_json(body, error);
    if (error || !v.is_object()) return std::nullopt;
    const auto& o = v.get_object();
    WebhookRequest out;
    if (const auto* token = o.if_contains("verification_token"); token && token->is_string()) {
        out.verification_token = std::string(token->get_string());
        return out;
    }
    const auto* entity = o.if_contains("entity");
    if (!o.contains("type") || entity == nullptr || !entity->is_object()) return std::nullopt;
    WebhookEvent event{.id = string_at(o, "id"),
                       .type = string_at(o, "type"),
                       .entity_id = string_at(entity->get_object(), "id"),
                       .entity_type = string_at(entity->get_object(), "type")};
    if (event.type.empty() || event.entity_id.empty()) return std::nullopt;
    if (const auto* data = o.if_contains("data"); data && data->is_object()) {
        if (const auto* parent = data->get_object().if_contains("parent");
            parent && parent->is_object()) {
            event.data_source_id = string_at(parent->get_object(), "data_source_id");
            event.parent_id = string_at(parent->get_object(), "id");
        }
    }
    out.event = std::move(event);
    return out;
}

std::string sign(std::string_view body, std::string_view secret) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "sha256=";
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0xf]);
    }
    return out;
}

bool signature_valid(std::string_view body, std::string_view header, std::string_view secret) {
    if (secret.empty() || header.size() != 7 + 64 || !header.starts_with("sha256=")) return false;
    for (const char c : header.substr(7)) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    const std::string expected = sign(body, secret);
    return CRYPTO_memcmp(expected.data(), header.data(), expected.size()) == 0;
}

std::string redact(std::string_view token) {
    if (token.size() <= 12) return "…";
    return std::string(token.substr(0, 10)) + "…(" + std::to_string(token.size()) + " chars)";
}

}  // namespace syncd::http
