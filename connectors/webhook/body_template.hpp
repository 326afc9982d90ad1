// The webhook's `template:`: one request body per event for chat tools and the like, written as
// JSON with placeholders (connectors/webhook/README.md):
//   {{name.path}}       the value as text, escaped for the inside of a JSON string
//   {{json:name.path}}  the value as JSON (strings quoted, lists and objects as they are)
// `name` is one of template_names(); `.path` walks into objects (properties.Name) and lists
// (changed.0). A missing value is empty text, or null as JSON.
#pragma once

#include <boost/json/object.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/connector.hpp"

namespace syncd::connectors::webhook {

// A template that cannot be used: what is wrong and where (a 0-based offset into the text).
class TemplateError : public std::invalid_argument {
public:
    TemplateError(const std::string& what, std::size_t offset_)
        : std::invalid_argument(what), offset(offset_) {}
    std::size_t offset;
};

class BodyTemplate {
public:
    // Throws TemplateError for an unclosed or empty placeholder, an unknown name or prefix, or a
    // template that does not render to JSON.
    static BodyTemplate parse(std::string_view text);
    // The body for one event; `context` holds template_names() (see template_context).
    std::string render(const boost::json::object& context) const;

private:
    struct Piece {
        std::string literal = {};            // text before the placeholder
        std::vector<std::string> path = {};  // empty: no placeholder (the tail)
        bool as_json = false;
    };
    std::vector<Piece> pieces_;
};

// The names a placeholder may start with.
const std::vector<std::string>& template_names();

// The values a template sees for `event`: the event's JSON fields (event, seq, sync,
// data_source_id, page_id, last_edited_time, url, properties, changed, property_ids) plus title
// (the page's title property), data_source (its title), target and delivery_id.
boost::json::object template_context(const model::ChangeEvent& event,
                                     const std::map<std::string, model::Schema>& schemas,
                                     const std::string& target, const std::string& delivery_id);

}  // namespace syncd::connectors::webhook
