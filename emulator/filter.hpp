// Data source query filters and sorts (notion-api.md §6.4), evaluated on rendered page values.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <vector>

#include "emulator/model.hpp"

namespace emulator {

// What filters and sorts see of one page.
struct Row {
    Millis created = 0;  // minute-rounded, as the API shows them
    Millis edited = 0;
    // Untruncated rendered values {id, type, <type>: …} keyed by property id.
    const json::object* properties = nullptr;
};

// Throws a validation_error naming the problem when the filter is malformed, uses an unknown
// property, an operator its type does not have, or nests compounds more than two levels deep.
void validate_filter(const json::value& filter, const std::vector<PropertyDef>& schema);
bool matches(const json::value& filter, const Row& row, const std::vector<PropertyDef>& schema,
             Millis now);

void validate_sorts(const json::value& sorts, const std::vector<PropertyDef>& schema);

// What one sort compares for one row: a number or a text; neither when the value is empty.
struct SortKey {
    std::optional<double> number = {};
    std::optional<std::string> text = {};
    bool empty() const { return !number && !text; }
};
// The keys of a row for validated `sorts`, computed once per row rather than per comparison.
std::vector<SortKey> sort_keys(const json::array& sorts, const Row& row,
                               const std::vector<PropertyDef>& schema);
// +1 for an ascending sort, -1 for a descending one.
std::vector<int> sort_signs(const json::array& sorts);
int compare_keys(const std::vector<int>& signs, const std::vector<SortKey>& a,
                 const std::vector<SortKey>& b);
// Negative when `a` comes before `b`; empty values sort last in either direction.
int compare_rows(const json::array& sorts, const Row& a, const Row& b,
                 const std::vector<PropertyDef>& schema);

// A schema property by name or id (ids compared both raw and URL-decoded).
const PropertyDef* find_property(const std::vector<PropertyDef>& schema, std::string_view key);

}  // namespace emulator
