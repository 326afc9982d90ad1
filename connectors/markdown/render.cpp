#include "connectors/markdown/render.hpp"

#include <cstring>
#include <sstream>

#include "connectors/markdown/front_matter.hpp"
#include "daemon/model/json_text.hpp"

namespace syncd::connectors::markdown {
namespace {

namespace json = boost::json;

using model::string_at;

// Backslash-escapes what would otherwise start Markdown syntax inside text.
std::string escape(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (std::strchr("\\`*_[]<>#|~", c) != nullptr) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

std::string indent(const std::string& text, const std::string& prefix) {
    std::string out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out += line.empty() ? "\n" : prefix + line + "\n";
    return out;
}

std::string file_url(const json::object& payload) {
    const std::string type = string_at(payload, "type");
    if (const auto* f = payload.if_contains(type); f && f->is_object())
        return string_at(f->get_object(), "url");
    return {};
}

std::string caption(const json::object& payload, const std::string& fallback) {
    const auto* c = payload.if_contains("caption");
    std::string text = c ? inline_text(*c) : std::string();
    if (text.empty()) text = string_at(payload, "name");
    return text.empty() ? fallback : text;
}

std::string notion_url(const std::string& id) {
    std::string hex;
    for (const char c : id)
        if (c != '-') hex.push_back(c);
    return "https://www.notion.so/" + hex;
}

// `starts` (when given) receives where each top-level block's text begins; `after_type` is the
// type of the block that follows the last one (a list run ends with a blank line unless it goes
// on there).
void render(const json::array& blocks, std::string& out, std::vector<std::size_t>* starts = nullptr,
            const std::string& after_type = {});

std::string children_of(const json::object& block) {
    std::string out;
    if (const auto* c = block.if_contains("children"); c && c->is_array())
        render(c->get_array(), out);
    return out;
}

void render(const json::array& blocks, std::string& out, std::vector<std::size_t>* starts,
            const std::string& after_type) {
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        if (starts != nullptr) starts->push_back(out.size());
        if (!blocks[i].is_object()) continue;
        const auto& block = blocks[i].get_object();
        const std::string type = string_at(block, "type");
        const json::object empty;
        const auto* p = block.if_contains(type);
        const json::object& payload = p && p->is_object() ? p->get_object() : empty;
        const std::string text =
            payload.contains("rich_text") ? inline_text(payload.at("rich_text")) : std::string();
        const std::string children = children_of(block);
        if (type == "paragraph") {
            out += text + "\n\n" + children;
        } else if (type == "heading_1" || type == "heading_2" || type == "heading_3") {
            out += std::string(static_cast<std::size_t>(type.back() - '0'), '#') + " " + text +
                   "\n\n" + children;
        } else if (type == "bulleted_list_item" || type == "numbered_list_item" ||
                   type == "to_do") {
            std::string marker = type == "numbered_list_item" ? "1. " : "- ";
            if (type == "to_do") {
                const auto* checked = payload.if_contains("checked");
                marker += checked && checked->is_bool() && checked->get_bool() ? "[x] " : "[ ] ";
            }
            out += marker + text + "\n";
            out += indent(children, "    ");
            // A list ends with a blank line when the next block is not of the same kind.
            const bool next_same = i + 1 < blocks.size()
                                       ? blocks[i + 1].is_object() &&
                                             string_at(blocks[i + 1].get_object(), "type") == type
                                       : after_type == type;
            if (!next_same) out += "\n";
        } else if (type == "quote") {
            out += indent(text + "\n" + (children.empty() ? "" : "\n" + children), "> ") + "\n";
        } else if (type == "callout") {
            std::string icon;
            if (const auto* ic = payload.if_contains("icon"); ic && ic->is_object())
                icon = string_at(ic->get_object(), "emoji");
            out += indent((icon.empty() ? "" : icon + " ") + text + "\n" +
                              (children.empty() ? "" : "\n" + children),
                          "> ") +
                   "\n";
        } else if (type == "code") {
            std::string code;
            if (const auto* rich = payload.if_contains("rich_text"); rich && rich->is_array()) {
                for (const auto& t : rich->get_array()) {
                    if (t.is_object()) code += string_at(t.get_object(), "plain_text");
                }
            }
            std::string fence = "```";
            while (code.find(fence) != std::string::npos) fence += '`';
            out += fence + string_at(payload, "language") + "\n" + code + "\n" + fence + "\n\n";
        } else if (type == "equation") {
            out += "$$\n" + string_at(payload, "expression") + "\n$$\n\n";
        } else if (type == "divider") {
            out += "---\n\n";
        } else if (type == "toggle") {
            out += "<details>\n<summary>" + text + "</summary>\n\n" + children + "</details>\n\n";
        } else if (type == "table") {
            const auto* rows = block.if_contains("children");
            bool first = true;
            if (rows && rows->is_array()) {
                for (const auto& row : rows->get_array()) {
                    if (!row.is_object()) continue;
                    const auto* r = row.get_object().if_contains("table_row");
                    const auto* cells =
                        r && r->is_object() ? r->get_object().if_contains("cells") : nullptr;
                    if (cells == nullptr || !cells->is_array()) continue;
                    std::string line = "|";
                    for (const auto& cell : cells->get_array())
                        line += " " + inline_text(cell) + " |";
                    out += line + "\n";
                    if (first) {
                        std::string rule = "|";
                        for (std::size_t c = 0; c < cells->get_array().size(); ++c)
                            rule += " --- |";
                        out += rule + "\n";
                        first = false;
                    }
                }
            }
            out += "\n";
        } else if (type == "image") {
            out += "![" + escape(caption(payload, "image")) + "](" + file_url(payload) + ")\n\n";
        } else if (type == "file" || type == "pdf" || type == "video" || type == "audio") {
            out += "[" + escape(caption(payload, type)) + "](" + file_url(payload) + ")\n\n";
        } else if (type == "bookmark" || type == "embed" || type == "link_preview") {
            const std::string url = string_at(payload, "url");
            out += "[" + escape(caption(payload, url)) + "](" + url + ")\n\n";
        } else if (type == "child_page" || type == "child_database") {
            out += "[" + escape(string_at(payload, "title")) + "](" +
                   notion_url(string_at(block, "id")) + ")\n\n";
        } else {
            out += "<!-- notion block: " + type + " -->\n\n" + children;
        }
    }
}

}  // namespace

std::string inline_text(const json::value& rich_text) {
    std::string out;
    if (!rich_text.is_array()) return out;
    for (const auto& item : rich_text.get_array()) {
        if (!item.is_object()) continue;
        const auto& t = item.get_object();
        const std::string type = string_at(t, "type");
        std::string text = type == "equation" ? "$" + string_at(t, "plain_text") + "$"
                                              : escape(string_at(t, "plain_text"));
        if (text.empty()) continue;
        if (const auto* a = t.if_contains("annotations"); a && a->is_object()) {
            const auto on = [&](const char* key) {
                const auto* v = a->get_object().if_contains(key);
                return v && v->is_bool() && v->get_bool();
            };
            if (on("code")) text = "`" + string_at(t, "plain_text") + "`";
            if (on("bold")) text = "**" + text + "**";
            if (on("italic")) text = "_" + text + "_";
            if (on("strikethrough")) text = "~~" + text + "~~";
        }
        if (const auto* href = t.if_contains("href"); href && href->is_string()) {
            text = "[" + text + "](" + std::string(href->get_string()) + ")";
        }
        out += text;
    }
    return out;
}

std::string render_blocks(const json::array& blocks) {
    std::string out;
    render(blocks, out);
    while (out.size() >= 2 && out.ends_with("\n\n")) out.pop_back();
    return out;
}

std::vector<std::string> render_chunks(const json::array& blocks, const std::string& after_type) {
    std::string out;
    std::vector<std::size_t> starts;
    render(blocks, out, &starts, after_type);
    if (after_type.empty()) {
        while (out.size() >= 2 && out.ends_with("\n\n")) out.pop_back();
    }
    std::vector<std::string> chunks;
    for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::size_t from = std::min(starts[i], out.size());
        const std::size_t to =
            i + 1 < starts.size() ? std::min(starts[i + 1], out.size()) : out.size();
        chunks.push_back(out.substr(from, to - from));
    }
    return chunks;
}

std::string render_page(const model::ChangeEvent& event, const std::string& title,
                        const model::Schema* schema, const Names* names) {
    std::string out = render_front_matter(event, schema, false, names);
    out += "\n";
    if (!title.empty()) out += "# " + escape(title) + "\n\n";
    if (event.content) out += render_blocks(*event.content);
    return out;
}

std::string file_name(const std::string& title, const std::string& page_id) {
    std::string slug;
    for (const unsigned char c : title) {
        if (std::isalnum(c)) {
            slug.push_back(static_cast<char>(std::tolower(c)));
        } else if (c >= 0x80) {
            slug.push_back(static_cast<char>(c));  // keep non-ASCII letters
        } else if (!slug.empty() && slug.back() != '-') {
            slug.push_back('-');
        }
        if (slug.size() >= 60 && c < 0x80) break;  // never inside a UTF-8 sequence
    }
    while (!slug.empty() && slug.back() == '-') slug.pop_back();
    if (slug.empty()) slug = "untitled";
    std::string hex;
    for (const char c : page_id)
        if (c != '-' && hex.size() < 8) hex.push_back(c);
    return slug + "-" + hex + ".md";
}

}  // namespace syncd::connectors::markdown
