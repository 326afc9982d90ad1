// The YAML front matter of a synced Markdown file (issue 13): written so a person can edit it
// (plain keys and values, quoted only where YAML needs it, dates as YAML dates, `title:` for the
// title property, read-only values under `notion:`), and read back typed by the schema, so a
// value of the wrong type is reported, never written to Notion as something else.
//
//   ---
//   notion_id: 1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988
//   title: Release plan
//   Status: In progress
//   Estimate: 8
//   Due: 2026-06-01
//   Tags: [launch, q3]
//   Owner: [5c6a1d2e-0000-4000-8000-000000000001]
//   notion:
//     url: https://www.notion.so/1f2e3d4c5b6a79881f2e3d4c5b6a7988
//     data_source: 248104cd-477e-80af-bc30-000bd1bfd9e1
//     last_edited_time: 2026-06-01T10:00:00.000Z
//     Total: 16
//   ---
#pragma once

#include <yaml-cpp/yaml.h>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/model/record.hpp"

namespace syncd::connectors::markdown {

// Keys of the front matter that are not property names.
inline constexpr std::string_view notion_id_key = "notion_id";
inline constexpr std::string_view title_key = "title";
inline constexpr std::string_view notion_key = "notion";
inline constexpr std::string_view conflict_copy_key = "notion_conflict_copy";

// Whether a property is written under `notion:` (read-only: never written back): a type Notion
// computes, or a name that is one of the keys above.
bool read_only_in_file(const model::PropertyInfo& property);

// `text` as a YAML scalar: plain when YAML reads it back as the same string (and no YAML
// 1.1 reader takes it for a number, a boolean, null or a date), else double-quoted.
std::string yaml_string(std::string_view text);

// The front matter (with its --- lines) of a page. `schema` gives the types (null: the values'
// own JSON kinds decide, all at the top level).
// People and relations are written as `Name <id>` where `names` (id -> what that user or page is
// called) knows the id, else as the bare id; reading takes the id in either form.
using Names = std::map<std::string, std::string>;
std::string render_front_matter(const model::ChangeEvent& event, const model::Schema* schema,
                                bool conflict_copy = false, const Names* names = nullptr);

// A file split into its front matter (YAML) and body.
struct FrontMatter {
    bool present = false;    // the file starts with a --- block
    std::string error = {};  // the YAML cannot be read (what and where)
    std::string notion_id = {};
    std::string data_source_id = {};  // notion: data_source:
    bool conflict_copy = false;
    // Top-level keys other than notion_id, notion and notion_conflict_copy.
    std::map<std::string, YAML::Node> keys = {};
    std::string body = {};
};
// Never throws: a file that is not valid YAML front matter says why in `error`.
FrontMatter read_front_matter(std::string_view file);

// One value of the front matter read for a property of `type`, in the form the write-back engine
// reads (model::canonical_from_column): text, a number, a boolean, a list, a date object.
// `error` says why the value cannot be that type ("8" quoted for a number is text, not 8).
struct ReadValue {
    boost::json::value value = {};
    std::string error = {};
};
ReadValue read_value(const YAML::Node& node, const std::string& type);

// The properties a file holds for `schema`: property id -> value, and property id -> why its
// value cannot be read. Keys the schema does not know and read-only properties are left out;
// a property whose key is missing is left out (not changed).
struct FileValues {
    boost::json::object values = {};
    std::map<std::string, std::string> errors = {};
};
FileValues values_of(const FrontMatter& front, const model::Schema& schema);

// A conflict copy of a file: the person's text as they saved it, with `notion_conflict_copy:
// true` as the first key (such files are never synced).
std::string mark_conflict_copy(std::string_view file);

}  // namespace syncd::connectors::markdown
