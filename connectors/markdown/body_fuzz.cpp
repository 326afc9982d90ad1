// libFuzzer target for body write-back (issue 13, `body: two-way`): a page's blocks (the input's
// first part, parsed) and a person's edit of their text (the part after the first NUL byte).
// Whatever plan_body answers, it never crashes; when it plans block changes, carrying them out
// on the blocks gives exactly the edited text — never a lost, doubled or misplaced block.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "connectors/markdown/body.hpp"
#include "connectors/markdown/render.hpp"

namespace {

using namespace syncd::connectors::markdown;

std::string normalized(std::string_view text) {
    while (text.ends_with('\n')) text.remove_suffix(1);
    return text.empty() ? std::string() : std::string(text) + "\n";
}

// BODY_FUZZ_PRINT=1 with a saved input shows the three texts before the trap.
[[noreturn]] void finding(const std::string& base, const std::string& edited,
                          const std::string& result) {
    if (std::getenv("BODY_FUZZ_PRINT") != nullptr) {
        std::fprintf(stderr, "base:\n%s\nedited:\n%s\nafter the block changes:\n%s\n", base.c_str(),
                     edited.c_str(), result.c_str());
    }
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t cut = input.find('\0');
    if (cut == std::string_view::npos) {
        (void)parse_blocks(input);
        return 0;
    }
    auto base = parse_blocks(input.substr(0, cut));
    if (!base) return 0;
    for (std::size_t i = 0; i < base->size(); ++i)
        base->at(i).as_object()["id"] = "b" + std::to_string(i);
    const std::string base_text = render_blocks(*base);
    const std::string edited(input.substr(cut + 1));
    const auto edit = plan_body(body_chunks(*base), edited);
    if (!edit.error.empty()) return 0;
    std::string result;
    try {
        result = render_blocks(apply_body_edit(*base, edit));
    } catch (const std::logic_error&) {
        finding(base_text, edited, "(an operation on a block that is not there)");
    }
    if (normalized(result) != normalized(edited)) finding(base_text, edited, result);
    return 0;
}
