// Values going back to Notion (two-way, DESIGN §2): a target's stored column value read as the
// canonical value of its property, and a canonical value as the property value PATCH
// /v1/pages/{id} takes (notion-api.md §6.5, §3.2 limits).
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace syncd::model {

// Whether a property of this type can be written through the API (formula, rollup,
// created_*/last_edited_*, unique_id, button and verification cannot).
bool is_writable(const std::string& type);

// A value read from a target's column (text, a number, JSON text of a list or a date) as the
// canonical value of a property of `type` (model::canonical_value's form); `error` says why not.
struct ReadBack {
    boost::json::value value = {};
    std::string error = {};
};
// `reference` (the stored base, for dates): a date that means the same moment comes back exactly
// as the reference is written (a timestamptz column gives the instant in UTC; midnight UTC
// stands for a date without a time), and a changed time is written in the reference's offset or
// time zone.
ReadBack canonical_from_column(const boost::json::value& stored, const std::string& type,
                               const boost::json::value& reference = nullptr);

// The API value of a property: {"title": [...]}, {"number": 8}, {"select": {"name": "High"}}…
// Rich text is split into items of at most 2,000 UTF-16 code units (never inside a surrogate
// pair), at most 100 items; `error` says what cannot be written (a read-only type, too long).
struct Payload {
    boost::json::value body = {};
    std::string error = {};
};
Payload notion_property(const boost::json::value& canonical, const std::string& type);

}  // namespace syncd::model
