// libFuzzer target for the exec protocol reader (issue 13): any line a program writes is read
// without a crash or a hang, as a message or a ProtocolError; every change read from it can be
// answered with a result line that is one line of valid JSON naming the same change.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "connectors/exec/protocol.hpp"

using namespace syncd::connectors;
using namespace syncd::connectors::exec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    Reply reply;
    try {
        reply = parse_reply(line);
    } catch (const ProtocolError&) {
        return 0;
    }
    for (const auto& change : reply.changes) {
        ExternalRow::Outcome outcome;
        if (!change.error.empty()) outcome.rejected.emplace_back("", change.error);
        const std::string result = result_line(reply.id, change, "rejected", outcome);
        if (result.empty() || result.back() != '\n' || result.find('\n') != result.size() - 1)
            __builtin_trap();
        boost::system::error_code ec;
        const auto parsed = boost::json::parse(result, ec);
        if (ec || !parsed.is_object() || parsed.at("index") != change.index) __builtin_trap();
    }
    return 0;
}
