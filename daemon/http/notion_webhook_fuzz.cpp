// libFuzzer: the webhook receiver's parsing and signature check must accept any bytes without
// crashing, leaking or reading out of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/http/notion_webhook.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto parsed = syncd::http::parse_webhook(input);
    const std::size_t half = size / 2;
    (void)syncd::http::signature_valid(input.substr(0, half), input.substr(half), "secret");
    if (parsed && parsed->verification_token)
        (void)syncd::http::redact(*parsed->verification_token);
    return 0;
}
