// The operator console's files (daemon/http/console/), embedded in the binary at build time
// (cmake/embed_assets.cmake): served by the control server at /console/<path>, index.html also
// at /. No network, no CDN, no build step but CMake's.
#pragma once

#include <string_view>
#include <vector>

namespace syncd::http {

struct ConsoleAsset {
    std::string_view path;  // "/console/console.js"
    std::string_view content_type;
    std::string_view body;
};

const std::vector<ConsoleAsset>& console_assets();

}  // namespace syncd::http
