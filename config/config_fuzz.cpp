// libFuzzer target for the configuration loader (issue 16): any text is either a configuration or
// refused with config::Error (file:line:column and what to change) — never a crash, and never
// another exception (a YAML error, an out-of-range number) escaping as something else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"

using namespace syncd::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    // The jsonl connector's keys stand for every connector's (the registry is not linked here).
    const ConnectorValidator validate = [](const std::string& type, SettingsReader& settings) {
        if (type != "jsonl") return false;
        settings.required_string("path");
        settings.string_or("fsync", "batch");
        return true;
    };
    try {
        const Config config = parse(text, "fuzz.yaml", validate);
        if (config.syncs.empty() && config.connectors.empty() && !text.empty()) return 0;
    } catch (const Error& e) {
        if (std::string(e.what()).empty()) __builtin_trap();  // an error says what is wrong
    }
    return 0;
}
