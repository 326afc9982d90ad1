// Property schemas and values: request shapes in, Notion's response shapes out, with Notion's
// validation rules and limits (notion-api.md §3.2, §6.3, §7.2, §7.3).
#pragma once

#include <string>
#include <string_view>

#include "emulator/model.hpp"

namespace emulator {

// The member `key` of `o`, or a null value when there is none (a reference either way).
inline const json::value& field(const json::object& o, std::string_view key) {
    static const json::value missing;
    const auto* v = o.if_contains(key);
    return v != nullptr ? *v : missing;
}

// Rich text in its response form: type, its payload, full annotations, plain_text, href.
json::array normalize_rich_text(const Workspace& workspace, const json::value& request,
                                const std::string& path);
std::string plain_text(const json::array& rich_text);

struct PropertyCodec {
    // A schema property from a request config such as {"select": {"options": [...]}}.
    static PropertyDef make_property(Workspace& workspace, DataSource& ds, const std::string& name,
                                     const json::object& request, const std::string& path);
    // The schema entry of a data source object.
    static json::object render_config(const Workspace& workspace, const DataSource& ds,
                                      const PropertyDef& def);

    // Validates a request value and returns what the page stores. `from_fixture` admits
    // Notion-hosted files and relations to pages not loaded yet. Relation targets must be pages
    // of the related data source that `writer` can see (unknown or unseen: 404 object_not_found;
    // another data source's page: 400 validation_error); a null `writer` sees everything.
    static json::value normalize_value(Workspace& workspace, DataSource* ds, const PropertyDef& def,
                                       const json::value& request, const std::string& path,
                                       bool from_fixture, const Connection* writer);

    // {id, type, <type>: value} as in a page object; `truncate` applies the 25-reference limit.
    // Relation targets `viewer` cannot see are left out before truncating (and of rollups and
    // formulas over them: notion-api.md §1.3); a null `viewer` sees everything.
    static json::object render_value(const Workspace& workspace, const Page& page,
                                     const PropertyDef& def, bool truncate,
                                     const Connection* viewer);

    // The stored relation targets of `page` for `def` that `viewer` can see (all with a null
    // `viewer`), in order.
    static json::array visible_relation(const Workspace& workspace, const Page& page,
                                        const PropertyDef& def, const Connection* viewer);

    static bool is_read_only(std::string_view type);
    // The property of `ds` with this id (or, with an empty id, this name).
    static const PropertyDef* find(const DataSource& ds, std::string_view id,
                                   std::string_view name);
};

// Evaluates the emulator's formula subset: prop("Name"), number and string literals,
// + - * / and parentheses. Returns a formula value {type, <type>: value}. Properties are read
// as `viewer` sees them (see render_value).
json::object evaluate_formula(const Workspace& workspace, const Page& page, const DataSource& ds,
                              std::string_view expression, const Connection* viewer);

}  // namespace emulator
