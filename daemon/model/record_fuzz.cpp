// libFuzzer target for the page canonicalizer (issue 16): any JSON a data source query could
// return as a page is turned into a record without a crash (a shape it cannot read throws a
// std::exception, which fails the poll with a message); the record depends only on the JSON's
// content (the same after a write/parse round trip) and hashes the same every time.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "daemon/model/json_text.hpp"
#include "daemon/model/record.hpp"

using namespace syncd::model;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    boost::system::error_code ec;
    const auto page = parse_json(text, ec);
    if (ec || !page.is_object()) return 0;
    std::string hash;
    try {
        hash = hash_of(to_record(page.get_object()));
    } catch (const std::exception&) {
        return 0;  // refused with a message (the poll fails and says why)
    }
    // Through the daemon's own writer (Boost.JSON's serialize writes NaN and Infinity, no JSON).
    const auto again = parse_json(to_json_text(page));
    if (hash_of(to_record(again.get_object())) != hash) __builtin_trap();
    if (hash_of(to_record(page.get_object())) != hash) __builtin_trap();
    return 0;
}
