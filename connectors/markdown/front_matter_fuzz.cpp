// libFuzzer target for the front matter of two-way Markdown files (issue 13): any file a person
// saves is read without a crash or a hang, and what it reads survives our own rendering: values
// read from a file, written back into a file and read again are the same values.
#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "connectors/markdown/front_matter.hpp"

namespace {

using namespace syncd::connectors::markdown;

const syncd::model::Schema& schema() {
    static const syncd::model::Schema s = [] {
        syncd::model::Schema out{.data_source_id = "ds"};
        out.properties = {
            {"t", "Name", "title"},    {"r", "Notes", "rich_text"}, {"n", "Estimate", "number"},
            {"c", "Done", "checkbox"}, {"s", "Status", "select"},   {"m", "Tags", "multi_select"},
            {"d", "Due", "date"},      {"p", "Owner", "people"},    {"l", "Related", "relation"},
            {"u", "Link", "url"},      {"f", "Files", "files"},     {"x", "Double", "formula"}};
        return out;
    }();
    return s;
}

// FRONT_MATTER_FUZZ_PRINT=1 with a saved input shows the two readings before the trap.
[[noreturn]] void finding(const FileValues& first, const FileValues& second,
                          const std::string& text) {
    if (std::getenv("FRONT_MATTER_FUZZ_PRINT") != nullptr) {
        std::fprintf(stderr, "read:    %s\nrendered:\n%s\nread again: %s\n",
                     boost::json::serialize(first.values).c_str(), text.c_str(),
                     boost::json::serialize(second.values).c_str());
        for (const auto& [id, why] : second.errors)
            std::fprintf(stderr, "error %s: %s\n", id.c_str(), why.c_str());
    }
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    const FrontMatter front = read_front_matter(file);
    if (!front.error.empty()) return 0;
    const FileValues read = values_of(front, schema());
    // Rendered as the daemon renders a file that keeps a person's values, then read again.
    syncd::model::ChangeEvent event{.data_source_id = "ds", .page_id = "p"};
    for (const auto& p : schema().properties) {
        if (const auto* v = read.values.if_contains(p.id)) {
            event.properties[p.name] = *v;
            event.property_ids[p.name] = p.id;
        }
    }
    const std::string text = render_front_matter(event, &schema());
    const FrontMatter again = read_front_matter(text);
    if (!again.error.empty()) finding(read, {}, text + "\n" + again.error);
    const FileValues reread = values_of(again, schema());
    if (!reread.errors.empty() || reread.values != read.values) finding(read, reread, text);
    return 0;
}
