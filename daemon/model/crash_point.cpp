#include "daemon/model/crash_point.hpp"

#ifdef SYNCD_CRASH_POINTS
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace syncd::model {
namespace {

struct Target {
    std::string name;
    long hit = 1;
};

const Target& target() {
    static const Target parsed = [] {
        Target t;
        const char* value = std::getenv("NOTION_SYNCD_CRASH_AT");
        if (value == nullptr) return t;
        std::string text = value;
        if (const auto colon = text.rfind(':'); colon != std::string::npos) {
            t.hit = std::strtol(text.c_str() + colon + 1, nullptr, 10);
            text.resize(colon);
        }
        t.name = text;
        return t;
    }();
    return parsed;
}

}  // namespace

void crash_point(std::string_view name) {
    static std::atomic<long> arrivals{0};
    const auto& t = target();
    if (t.name.empty() || name != t.name) return;
    if (++arrivals < t.hit) return;
    const std::string line = "crash point " + t.name + " reached\n";
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
    ::kill(::getpid(), SIGKILL);
}

}  // namespace syncd::model
#endif
