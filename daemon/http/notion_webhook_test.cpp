#include "daemon/http/notion_webhook.hpp"

#include <doctest/doctest.h>

using namespace syncd::http;

TEST_CASE("signatures: HMAC-SHA256 of the raw body, exact format, constant-time compare") {
    const std::string body =
        R"({"id":"e1","type":"page.created","entity":{"id":"p","type":"page"}})";
    const std::string good = sign(body, "secret_token");
    CHECK(good.size() == 7 + 64);
    CHECK(good.starts_with("sha256="));
    CHECK(signature_valid(body, good, "secret_token"));
    CHECK_FALSE(signature_valid(body + " ", good, "secret_token"));  // bytes, not JSON
    CHECK_FALSE(signature_valid(body, good, "other_token"));
    CHECK_FALSE(signature_valid(body, good, ""));
    CHECK_FALSE(signature_valid(body, "", "secret_token"));
    CHECK_FALSE(signature_valid(body, good.substr(7), "secret_token"));
    std::string upper = good;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK_FALSE(signature_valid(body, "sha256=" + upper.substr(7), "secret_token"));
    CHECK_FALSE(signature_valid(body, good + "00", "secret_token"));
    // A known vector: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
    CHECK(sign("The quick brown fox jumps over the lazy dog", "key") ==
          "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST_CASE("parsing: the handshake, events with their parent, and garbage") {
    const auto handshake = parse_webhook(R"({"verification_token":"secret_abc"})");
    REQUIRE(handshake);
    CHECK(handshake->verification_token == "secret_abc");
    CHECK(!handshake->event);

    const auto event = parse_webhook(R"({"id":"367cba44","timestamp":"2024-12-05T23:55:34.285Z",
        "type":"page.properties_updated","entity":{"id":"153104cd","type":"page"},
        "data":{"parent":{"id":"36cc","type":"database","data_source_id":"9802"},
                "updated_properties":["XGe%40"]}})");
    REQUIRE(event);
    REQUIRE(event->event);
    CHECK(event->event->id == "367cba44");
    CHECK(event->event->type == "page.properties_updated");
    CHECK(event->event->entity_id == "153104cd");
    CHECK(event->event->entity_type == "page");
    CHECK(event->event->data_source_id == "9802");
    CHECK(event->event->parent_id == "36cc");

    for (const char* bad : {"", "{", "[]", "42", R"({"type":"page.created"})",
                            R"({"type":"page.created","entity":"x"})",
                            R"({"type":7,"entity":{"id":"p"}})", R"({"verification_token":3})",
                            "{\"type\":\"page.created\",\"entity\":{\"id\":\"p\"},\"data\":[]}"}) {
        CAPTURE(bad);
        const auto parsed = parse_webhook(bad);
        CHECK((!parsed || (parsed->event && parsed->event->entity_id == "p")));
    }
}

TEST_CASE("a token in a log line is cut short") {
    CHECK(redact("secret_FAKE-not-a-real-token-for-tests-0123456789") == "secret_FAK…(49 chars)");
    CHECK(redact("short") == "…");
}
