#include "connectors/markdown/body.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <stdexcept>

#include "connectors/markdown/render.hpp"
#include "daemon/model/json_text.hpp"

namespace syncd::connectors::markdown {
namespace {

namespace json = boost::json;

using model::string_at;

const std::set<std::string, std::less<>> editable_types = {
    "paragraph", "heading_1",          "heading_2", "heading_3", "bulleted_list_item",
    "to_do",     "numbered_list_item", "quote",     "code",      "divider"};

struct Marks {
    bool bold = false;
    bool italic = false;
    bool strikethrough = false;
    bool code = false;
    std::string href = {};
    bool operator==(const Marks&) const = default;
};

json::object text_item(const std::string& content, const Marks& marks) {
    json::value link = nullptr;
    if (!marks.href.empty()) link = json::object{{"url", marks.href}};
    return {{"type", "text"},
            {"text", json::object{{"content", content}, {"link", link}}},
            {"annotations", json::object{{"bold", marks.bold},
                                         {"italic", marks.italic},
                                         {"strikethrough", marks.strikethrough},
                                         {"underline", false},
                                         {"code", marks.code},
                                         {"color", "default"}}},
            {"plain_text", content},
            {"href", marks.href.empty() ? json::value(nullptr) : json::value(marks.href)}};
}

// Inline Markdown as the renderer writes it (inline_text), as rich text; nullopt when it cannot
// be read (an unclosed code span or link). What it reads loosely is caught by rendering back.
class InlineParser {
public:
    explicit InlineParser(std::string_view text) : text_(text) {}

    std::optional<json::array> parse() {
        Marks marks;
        if (!run(marks, false)) return std::nullopt;
        flush(marks);
        if (marks.bold || marks.italic || marks.strikethrough) return std::nullopt;
        return std::move(items_);
    }

private:
    // Reads until the end (or, inside a link's text, until its `]`).
    bool run(Marks& marks, bool in_link) {
        while (at_ < text_.size()) {
            const char c = text_[at_];
            if (c == '\\' && at_ + 1 < text_.size()) {
                pending_.push_back(text_[at_ + 1]);
                at_ += 2;
            } else if (text_.substr(at_).starts_with("**")) {
                toggle(marks, &Marks::bold, 2);
            } else if (text_.substr(at_).starts_with("~~")) {
                toggle(marks, &Marks::strikethrough, 2);
            } else if (c == '_') {
                toggle(marks, &Marks::italic, 1);
            } else if (c == '`') {
                const std::size_t close = text_.find('`', at_ + 1);
                if (close == std::string_view::npos || close == at_ + 1) return false;
                flush(marks);
                Marks code = marks;
                code.code = true;
                add(std::string(text_.substr(at_ + 1, close - at_ - 1)), code);
                at_ = close + 1;
            } else if (c == '[' && !in_link) {
                flush(marks);
                ++at_;
                Marks inner = marks;
                const std::size_t first = items_.size();
                if (!run(inner, true)) return false;
                flush(inner);
                // `](url)` closes it.
                if (!text_.substr(at_).starts_with("](")) return false;
                const std::size_t close = text_.find(')', at_ + 2);
                if (close == std::string_view::npos) return false;
                const std::string href(text_.substr(at_ + 2, close - at_ - 2));
                if (href.empty() || inner.bold != marks.bold || inner.italic != marks.italic ||
                    inner.strikethrough != marks.strikethrough)
                    return false;
                for (std::size_t i = first; i < items_.size(); ++i) {
                    auto& item = items_[i].as_object();
                    item["href"] = href;
                    item["text"].as_object()["link"] = json::object{{"url", href}};
                }
                at_ = close + 1;
            } else if (c == ']' && in_link) {
                return true;
            } else {
                pending_.push_back(c);
                ++at_;
            }
        }
        return !in_link;
    }

    void toggle(Marks& marks, bool Marks::*mark, std::size_t width) {
        flush(marks);
        marks.*mark = !(marks.*mark);
        at_ += width;
    }

    void flush(const Marks& marks) {
        if (pending_.empty()) return;
        add(std::move(pending_), marks);
        pending_.clear();
    }

    void add(std::string content, const Marks& marks) {
        items_.push_back(text_item(content, marks));
    }

    std::string_view text_;
    std::size_t at_ = 0;
    std::string pending_;
    json::array items_;
};

std::optional<json::array> inline_of(std::string_view text) { return InlineParser(text).parse(); }

json::object block(const std::string& type, json::object payload) {
    payload["color"] = "default";
    return {{"object", "block"}, {"type", type}, {type, std::move(payload)}};
}

std::optional<json::object> text_block(const std::string& type, std::string_view text,
                                       json::object extra = {}) {
    auto rich = inline_of(text);
    if (!rich) return std::nullopt;
    extra["rich_text"] = std::move(*rich);
    return block(type, std::move(extra));
}

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        if (end == std::string_view::npos) {
            out.push_back(text);
            break;
        }
        out.push_back(text.substr(0, end));
        text.remove_prefix(end + 1);
    }
    return out;
}

std::string joined(const std::vector<std::string_view>& lines, std::size_t from, std::size_t to) {
    std::string out;
    for (std::size_t i = from; i < to; ++i) {
        if (i > from) out += '\n';
        out += lines[i];
    }
    return out;
}

// The item a list line starts, or nullopt.
std::optional<json::object> list_item(std::string_view line, bool& is_item) {
    is_item = true;
    if (line.starts_with("- [ ] ") || line.starts_with("- [x] "))
        return text_block("to_do", line.substr(6), {{"checked", line[3] == 'x'}});
    if (line.starts_with("- ")) return text_block("bulleted_list_item", line.substr(2));
    if (line.starts_with("1. ")) return text_block("numbered_list_item", line.substr(3));
    is_item = false;
    return std::nullopt;
}

std::string without_newlines_at_end(std::string_view text) {
    while (text.ends_with('\n')) text.remove_suffix(1);
    return std::string(text);
}

}  // namespace

std::optional<json::array> parse_blocks(std::string_view text) {
    const std::vector<std::string_view> lines = lines_of(text);
    json::array out;
    for (std::size_t i = 0; i < lines.size();) {
        const std::string_view line = lines[i];
        if (line.empty()) {
            ++i;
            continue;
        }
        if (line.starts_with("```")) {
            std::size_t ticks = 0;
            while (ticks < line.size() && line[ticks] == '`') ++ticks;
            const std::string_view fence = line.substr(0, ticks);
            const std::string language(line.substr(ticks));
            if (language.empty()) return std::nullopt;  // Notion needs one
            std::size_t close = i + 1;
            while (close < lines.size() && lines[close] != fence) ++close;
            if (close == lines.size()) return std::nullopt;
            json::object code{
                {"rich_text", json::array{text_item(joined(lines, i + 1, close), Marks{})}},
                {"language", language}};
            out.push_back(json::object{{"object", "block"}, {"type", "code"}, {"code", code}});
            i = close + 1;
            continue;
        }
        if (line == "---") {
            out.push_back(json::object{
                {"object", "block"}, {"type", "divider"}, {"divider", json::object{}}});
            ++i;
            continue;
        }
        if (line.starts_with("# ") || line.starts_with("## ") || line.starts_with("### ")) {
            const std::size_t level = line.find(' ');
            auto heading = text_block("heading_" + std::to_string(level), line.substr(level + 1));
            if (!heading) return std::nullopt;
            out.push_back(std::move(*heading));
            ++i;
            continue;
        }
        bool is_item = false;
        if (auto item = list_item(line, is_item); is_item) {
            // One item per line; the list ends at a blank line.
            for (; i < lines.size() && !lines[i].empty(); ++i) {
                auto next = list_item(lines[i], is_item);
                if (!is_item || !next) return std::nullopt;
                out.push_back(std::move(*next));
            }
            continue;
        }
        if (line.starts_with(">")) {
            std::vector<std::string_view> quoted;
            for (; i < lines.size() && lines[i].starts_with(">"); ++i) {
                std::string_view l = lines[i].substr(1);
                if (l.starts_with(' ')) l.remove_prefix(1);
                quoted.push_back(l);
            }
            auto quote = text_block("quote", joined(quoted, 0, quoted.size()));
            if (!quote) return std::nullopt;
            out.push_back(std::move(*quote));
            continue;
        }
        // What the renderer writes for blocks the parser does not read: never a paragraph.
        for (const char* other : {"$$", "<", "|", "![", "    ", "\t"}) {
            if (line.starts_with(other)) return std::nullopt;
        }
        std::size_t end = i;
        while (end < lines.size() && !lines[end].empty()) ++end;
        auto paragraph = text_block("paragraph", joined(lines, i, end));
        if (!paragraph) return std::nullopt;
        out.push_back(std::move(*paragraph));
        i = end;
    }
    return out;
}

json::object request_block(const json::object& b) {
    const std::string type = string_at(b, "type");
    json::object payload = b.at(type).as_object();
    if (auto* rich = payload.if_contains("rich_text"); rich && rich->is_array()) {
        json::array items;
        for (const auto& item : rich->as_array()) {
            json::object o = item.as_object();
            o.erase("plain_text");
            o.erase("href");
            // At most 2,000 characters (UTF-16 units; bytes are never fewer) per item, cut
            // between UTF-8 sequences.
            std::string content(o.at("text").at("content").as_string());
            do {
                std::size_t cut = std::min<std::size_t>(content.size(), 2000);
                while (cut < content.size() &&
                       (static_cast<unsigned char>(content[cut]) & 0xC0) == 0x80)
                    --cut;
                json::object part = o;
                part["text"].as_object()["content"] = content.substr(0, cut);
                items.push_back(std::move(part));
                content.erase(0, cut);
            } while (!content.empty());
        }
        payload["rich_text"] = std::move(items);
    }
    return {{"object", "block"}, {"type", type}, {type, std::move(payload)}};
}

std::vector<BodyChunk> body_chunks(const json::array& blocks) {
    const std::vector<std::string> texts = render_chunks(blocks);
    std::vector<BodyChunk> out;
    for (std::size_t i = 0; i < blocks.size() && i < texts.size(); ++i) {
        const auto* o = blocks[i].if_object();
        BodyChunk chunk{.text = texts[i]};
        if (o != nullptr) {
            chunk.id = string_at(*o, "id");
            chunk.type = string_at(*o, "type");
            const auto* children = o->if_contains("children");
            const bool has_children =
                children && children->is_array() && !children->get_array().empty();
            chunk.editable = editable_types.contains(chunk.type) && !has_children;
        }
        out.push_back(std::move(chunk));
    }
    return out;
}

json::array chunks_json(const std::vector<BodyChunk>& chunks) {
    json::array out;
    for (const auto& c : chunks) {
        out.push_back(json::object{
            {"id", c.id}, {"type", c.type}, {"editable", c.editable}, {"text", c.text}});
    }
    return out;
}

std::vector<BodyChunk> chunks_from_json(const json::value& v) {
    std::vector<BodyChunk> out;
    if (!v.is_array()) return out;
    for (const auto& item : v.get_array()) {
        const auto* o = item.if_object();
        if (o == nullptr) continue;
        const auto* editable = o->if_contains("editable");
        out.push_back({.id = string_at(*o, "id"),
                       .type = string_at(*o, "type"),
                       .editable = editable && editable->is_bool() && editable->get_bool(),
                       .text = string_at(*o, "text")});
    }
    return out;
}

BodyEdit plan_body(const std::vector<BodyChunk>& base_chunks, std::string_view edited_text) {
    BodyEdit edit;
    // Compared as the blocks render with a block after them (every block's text then ends with
    // a blank line: a list's last item too), not trimmed at the file's end as written; newlines
    // at the very end are an editor's habit, not content.
    std::vector<BodyChunk> base = base_chunks;
    if (!base.empty()) base.back().text = without_newlines_at_end(base.back().text) + "\n\n";
    std::string edited = without_newlines_at_end(edited_text);
    if (!edited.empty()) edited += "\n\n";
    std::string before;
    for (const auto& c : base) before += c.text;
    if (edited == before) return edit;
    const std::size_t n = base.size();
    // The chunks the edit left alone at the start and at the end.
    std::size_t prefix = 0;
    std::size_t from = 0;
    while (prefix < n && std::string_view(edited).substr(from).starts_with(base[prefix].text)) {
        from += base[prefix].text.size();
        ++prefix;
    }
    std::size_t suffix = 0;
    std::size_t to = edited.size();
    while (suffix < n - prefix) {
        const std::string& t = base[n - 1 - suffix].text;
        if (to < from + t.size() || std::string_view(edited).substr(0, to).ends_with(t) == false)
            break;
        to -= t.size();
        ++suffix;
    }
    // The changed span parsed into blocks that render back to it exactly, widened by a chunk on
    // each side when the edit changed how a neighbour ends (a list that now goes on).
    for (std::size_t widen = 0; widen <= 2; ++widen) {
        const std::size_t lo = prefix - std::min(prefix, widen);
        const std::size_t hi = suffix - std::min(suffix, widen);
        std::size_t start = 0;
        for (std::size_t i = 0; i < lo; ++i) start += base[i].text.size();
        std::size_t stop = edited.size();
        for (std::size_t i = n - hi; i < n; ++i) stop -= base[i].text.size();
        if (stop < start) continue;
        const std::string_view middle = std::string_view(edited).substr(start, stop - start);
        const auto parsed = parse_blocks(middle);
        if (!parsed) continue;
        // The block after the span (none: one that continues no list).
        const std::string after_type = hi > 0 ? base[n - hi].type : std::string("(end)");
        const std::vector<std::string> texts = render_chunks(*parsed, after_type);
        std::string rendered;
        for (const auto& t : texts) rendered += t;
        if (rendered != middle) continue;
        // The block before the span ends as it did only if what follows it continues its list
        // as before (a list's last item ends with a blank line, the others do not).
        if (lo > 0) {
            const std::string& type = base[lo - 1].type;
            const std::string old_next = lo < n ? base[lo].type : std::string("(end)");
            const std::string new_next =
                !parsed->empty() ? std::string(parsed->at(0).as_object().at("type").as_string())
                                 : after_type;
            if ((old_next == type) != (new_next == type)) continue;
        }
        // Align the old blocks of the span with the new ones (same type and text = kept).
        const std::size_t m = parsed->size();
        const std::size_t k = n - hi - lo;
        const auto same = [&](std::size_t a, std::size_t b) {
            const BodyChunk& old = base[lo + a];
            return old.type == parsed->at(b).as_object().at("type").as_string() &&
                   without_newlines_at_end(old.text) == without_newlines_at_end(texts[b]);
        };
        std::vector<std::vector<std::size_t>> lcs(k + 1, std::vector<std::size_t>(m + 1, 0));
        for (std::size_t a = k; a-- > 0;) {
            for (std::size_t b = m; b-- > 0;) {
                lcs[a][b] =
                    same(a, b) ? lcs[a + 1][b + 1] + 1 : std::max(lcs[a + 1][b], lcs[a][b + 1]);
            }
        }
        std::string anchor = lo > 0 ? base[lo - 1].id : std::string();
        BlockOp insert{.kind = BlockOp::Kind::insert};
        std::vector<BlockOp> ops;
        const auto flush = [&] {
            if (insert.blocks.empty()) return;
            insert.after = anchor;
            insert.start = anchor.empty() && n > 0;  // before the first block, not at the end
            ops.push_back(std::move(insert));
            insert = BlockOp{.kind = BlockOp::Kind::insert};
        };
        std::vector<std::size_t> gone;   // old blocks to remove
        std::vector<std::size_t> added;  // new blocks not kept
        const auto settle_run = [&]() -> std::string {
            // A run of old blocks replaced by a run of new ones: each old block updated in place
            // by the new one of its type most like it (order kept), the others removed and
            // inserted. Likeness: 1 for the type, plus the text the two share at either end.
            for (const std::size_t g : gone) {
                if (!base[lo + g].editable) {
                    return "its " + base[lo + g].type +
                           " block changed, which a Markdown file cannot express (edit it in "
                           "Notion)";
                }
            }
            const auto likeness = [&](std::size_t g, std::size_t a) -> std::size_t {
                const BodyChunk& old = base[lo + gone[g]];
                if (old.type != parsed->at(added[a]).as_object().at("type").as_string()) return 0;
                const std::string x = without_newlines_at_end(old.text);
                const std::string y = without_newlines_at_end(texts[added[a]]);
                std::size_t same_start = 0;
                while (same_start < x.size() && same_start < y.size() &&
                       x[same_start] == y[same_start])
                    ++same_start;
                std::size_t same_end = 0;
                while (same_end < x.size() - same_start && same_end < y.size() - same_start &&
                       x[x.size() - 1 - same_end] == y[y.size() - 1 - same_end])
                    ++same_end;
                return 1 + same_start + same_end;
            };
            const std::size_t gs = gone.size();
            const std::size_t as = added.size();
            std::vector<std::vector<std::size_t>> best(gs + 1, std::vector<std::size_t>(as + 1, 0));
            for (std::size_t g = gs; g-- > 0;) {
                for (std::size_t a = as; a-- > 0;) {
                    const std::size_t like = likeness(g, a);
                    best[g][a] = std::max(
                        {best[g + 1][a], best[g][a + 1], like > 0 ? best[g + 1][a + 1] + like : 0});
                }
            }
            std::size_t g = 0;
            std::size_t a = 0;
            while (g < gs || a < as) {
                if (g < gs && a < as && likeness(g, a) > 0 &&
                    best[g][a] == best[g + 1][a + 1] + likeness(g, a)) {
                    flush();
                    const BodyChunk& old = base[lo + gone[g]];
                    ops.push_back(
                        {.kind = BlockOp::Kind::update,
                         .block_id = old.id,
                         .blocks = json::array{request_block(parsed->at(added[a]).as_object())}});
                    anchor = old.id;
                    ++g;
                    ++a;
                } else if (a < as && (g == gs || best[g][a] == best[g][a + 1])) {
                    insert.blocks.push_back(request_block(parsed->at(added[a]).as_object()));
                    ++a;
                } else {
                    ops.push_back(
                        {.kind = BlockOp::Kind::remove, .block_id = base[lo + gone[g]].id});
                    ++g;
                }
            }
            gone.clear();
            added.clear();
            return {};
        };
        std::size_t a = 0;
        std::size_t b = 0;
        std::string refused;
        while ((a < k || b < m) && refused.empty()) {
            if (a < k && b < m && same(a, b) && lcs[a][b] == lcs[a + 1][b + 1] + 1) {
                refused = settle_run();
                flush();
                anchor = base[lo + a].id;
                ++a;
                ++b;
            } else if (b < m && (a == k || lcs[a][b + 1] >= lcs[a + 1][b])) {
                added.push_back(b++);
            } else {
                gone.push_back(a++);
            }
        }
        if (refused.empty()) refused = settle_run();
        if (!refused.empty()) {
            edit.error = "body not round-trippable: " + refused;
            return edit;
        }
        flush();
        edit.ops = std::move(ops);
        return edit;
    }
    for (std::size_t i = prefix; i < n - suffix; ++i) {
        if (!base[i].editable) {
            edit.error = "body not round-trippable: its " + base[i].type +
                         " block changed, which a Markdown file cannot express (edit it in "
                         "Notion)";
            return edit;
        }
    }
    edit.error =
        "body not round-trippable: the edited text does not map to Notion blocks without loss "
        "(what the file can express: paragraphs, headings, one-level lists and to-dos, quotes, "
        "code blocks with a language, dividers; **bold**, _italic_, ~~struck~~, `code`, "
        "[links](url), other Markdown characters escaped with \\)";
    return edit;
}

json::array apply_body_edit(json::array blocks, const BodyEdit& edit) {
    // A request's block as the API answers with it: rich text with plain_text and href.
    std::size_t made = 0;
    const auto answered = [&](const json::value& request) {
        json::object b = request.as_object();
        const std::string type(b.at("type").as_string());
        if (auto* rich = b[type].as_object().if_contains("rich_text")) {
            for (auto& item : rich->as_array()) {
                auto& o = item.as_object();
                // Copies: adding keys to `o` moves what references into it would point at.
                const json::object text = o.at("text").as_object();
                const auto* link = text.if_contains("link");
                o["href"] =
                    link && link->is_object() ? link->as_object().at("url") : json::value(nullptr);
                o["plain_text"] = text.at("content");
            }
        }
        b["id"] = "new-" + std::to_string(++made);
        return b;
    };
    const auto find = [&](const std::string& id) {
        return std::find_if(blocks.begin(), blocks.end(), [&](const json::value& b) {
            return b.as_object().at("id").as_string() == id;
        });
    };
    for (const auto& op : edit.ops) {
        if (op.kind == BlockOp::Kind::update) {
            const auto at = find(op.block_id);
            if (at == blocks.end()) throw std::logic_error("update of a block not there");
            json::object updated = answered(op.blocks.at(0));
            updated["id"] = op.block_id;
            *at = std::move(updated);
        } else if (op.kind == BlockOp::Kind::remove) {
            const auto at = find(op.block_id);
            if (at == blocks.end()) throw std::logic_error("removal of a block not there");
            blocks.erase(at);
        } else {
            auto at = op.start ? blocks.begin() : blocks.end();
            if (!op.after.empty()) {
                at = find(op.after);
                if (at == blocks.end()) throw std::logic_error("insert after a block not there");
                ++at;
            }
            for (const auto& b : op.blocks) at = blocks.insert(at, answered(b)) + 1;
        }
    }
    return blocks;
}

}  // namespace syncd::connectors::markdown
