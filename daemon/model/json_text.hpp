// JSON text as people and programs downstream read it: events, /v1/status, front matter, target
// columns and what the mirror stores for replay (issue 11, item 10).
#pragma once

#include <boost/json/fwd.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/system/error_code.hpp>
#include <string>
#include <string_view>

namespace syncd::model {

// Compact JSON exactly as boost::json::serialize writes it (same member order, same string
// escapes), except numbers, which are written as JavaScript's JSON.stringify writes them: an
// integer as digits (180, 0, -3; -0 as 0), any other number as the shortest decimal that reads
// back to the same double, with an exponent only below 1e-6 or from 1e21 on (1234.5, 0.000001,
// 1e-7, 1e+21). NaN and infinities, which JSON cannot hold, become null. Boost 1.81 writes 1.8E2.
std::string to_json_text(const boost::json::value& value);
std::string to_json_text(const boost::json::object& object);
std::string to_json_text(const boost::json::array& array);

// JSON text as boost::json::parse reads it (the same errors, the same limits), except that every
// number with a fraction or an exponent is the double nearest to its decimal text: Boost 1.81
// rounds about one in five of them to a neighbour (-97570.19231092371 is read 1 ulp off), so a
// number would not survive being written and read again, and a value read back from the mirror
// or a target would differ from the one Notion sent. Every parse of the daemon goes through this.
boost::json::value parse_json(std::string_view text, boost::system::error_code& error,
                              boost::json::storage_ptr storage = {});
// The same; throws boost::system::system_error on bad JSON.
boost::json::value parse_json(std::string_view text, boost::json::storage_ptr storage = {});

// `text` escaped for the inside of a JSON string, as boost::json::serialize escapes (no quotes).
void append_json_escaped(std::string& out, std::string_view text);

// `text` as a JSON string (quoted, escaped); `"key":`, after a comma unless it is the first member.
// For writing a known shape straight to text (events) without building an object first.
void append_json_string(std::string& out, std::string_view text);
void append_json_key(std::string& out, std::string_view key, bool first = false);
// append_json_string, or null for an empty text (an event's page_id, last_edited_time, url).
void append_json_string_or_null(std::string& out, std::string_view text);

// The string member `key` of `o`, or "" when it is missing or not a string.
std::string string_at(const boost::json::object& o, std::string_view key);

// to_json_text(…) appended to `out`.
void append_json_text(std::string& out, const boost::json::value& value);
void append_json_text(std::string& out, const boost::json::object& object);
void append_json_text(std::string& out, const boost::json::array& array);

}  // namespace syncd::model
