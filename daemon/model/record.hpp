// Canonical records and change events: what the daemon compares, stores and delivers
// (DESIGN §3 Canonicalizer + Differ). Shared with connectors.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace syncd::model {

namespace json = boost::json;

// A property value as connectors see it (issue #4): strings, numbers, booleans, names, ids,
// {start, end, time_zone}; never signed file URLs or other volatile parts.
json::value canonical_value(const json::object& property);

// An integral double (|x| < 2^53) as an int64, anything else as it is: the one form of a number in
// canonical values, so a value compares equal to itself read back from JSON text.
json::value canonical_number(const json::value& number);

// Whether a page object's value was cut at 25 items and must be read through the property
// item endpoint (notion-api.md §3.3).
bool is_truncated(const json::object& property);

struct Record {
    std::string page_id = {};
    std::string data_source_id = {};
    std::string created_time = {};
    std::string last_edited_time = {};
    std::string url = {};
    bool in_trash = false;
    json::object values = {};  // property id -> canonical value
    std::string hash = {};     // of values and in_trash; 16 hex digits
    // User id -> name, from the people values that carry one (labels for files people edit;
    // not part of the values or the hash).
    std::map<std::string, std::string> names = {};
};

// A page object from the API as a canonical record (values keyed by property id).
Record to_record(const json::object& page);
std::string hash_of(const Record& record);

struct PropertyInfo {
    std::string id;
    std::string name;
    std::string type;
    // select, multi_select, status: the option names (two-way writes only these).
    std::vector<std::string> options = {};
};

// A data source's schema as the daemon tracks it: property ids are the identity.
struct Schema {
    std::string data_source_id = {};
    std::string title = {};
    std::vector<PropertyInfo> properties = {};
    const PropertyInfo* by_id(const std::string& id) const;
    json::object to_json() const;
    static Schema from_json(const json::object& o);
    static Schema from_data_source(const json::object& data_source);
};

// One change of one page (or one schema), in the outbox and on the wire.
struct ChangeEvent {
    std::int64_t seq = 0;
    std::string kind = {};  // created | updated | deleted | restored | access_lost | schema_changed
    std::string sync = {};
    std::string data_source_id = {};
    std::string page_id = {};
    std::string last_edited_time = {};
    std::string url = {};
    json::object properties = {};    // name -> canonical value, after the change
    json::array changed = {};        // names of changed properties (updated, schema_changed)
    json::object property_ids = {};  // name -> property id, so targets can bind columns by id
    // With `content: true`: the page's blocks (nested under "children"), and whether they changed.
    std::optional<json::array> content = {};
    bool content_changed = false;
    // A `created` event from a target's snapshot of the mirror (a new or reset target), not a
    // change seen in Notion.
    bool snapshot = false;

    json::object to_json() const;
    // model::to_json_text(to_json()) appended to `out`, without building the object.
    void append_json_text(std::string& out) const;
    static ChangeEvent from_json(const json::object& o);
};

// A hash of page content (blocks) that ignores what changes on every read (signed file URLs
// and their expiry times).
std::string content_hash(const json::array& blocks);

// Snake case for column and table names: "Due date" -> "due_date", "Ticket #" -> "ticket".
std::string snake_case(const std::string& name);

}  // namespace syncd::model
