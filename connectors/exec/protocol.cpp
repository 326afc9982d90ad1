#include "connectors/exec/protocol.hpp"

#include <boost/json/parse.hpp>
#include <optional>

#include "daemon/model/json_text.hpp"

namespace syncd::connectors::exec {
namespace {

namespace json = boost::json;

std::string line_of(const json::object& message) {
    std::string line = model::to_json_text(message);
    line += '\n';
    return line;
}

}  // namespace

json::object schemas_json(const std::map<std::string, model::Schema>& schemas) {
    json::object out;
    for (const auto& [id, schema] : schemas) out[id] = schema.to_json();
    return out;
}

std::string hello_line(const std::string& connector, const ChangeBatch& batch, int protocol) {
    json::object hello;
    hello["type"] = "hello";
    hello["protocol"] = protocol;
    hello["connector"] = connector;
    hello["target"] = batch.target;
    hello["sync"] = batch.sync;
    hello["schemas"] = schemas_json(batch.schemas);
    return line_of(hello);
}

std::string batch_line(std::int64_t id, const ChangeBatch& batch, bool with_schemas) {
    json::object message;
    message["type"] = "batch";
    message["id"] = id;
    json::array events;
    events.reserve(batch.events.size());
    for (const auto& e : batch.events) events.push_back(e.to_json());
    message["events"] = std::move(events);
    if (with_schemas) message["schemas"] = schemas_json(batch.schemas);
    return line_of(message);
}

std::string collect_line(std::int64_t id) {
    json::object message;
    message["type"] = "collect";
    message["id"] = id;
    return line_of(message);
}

std::string snapshot_line(std::int64_t id) {
    json::object message;
    message["type"] = "snapshot";
    message["id"] = id;
    return line_of(message);
}

std::string result_line(std::int64_t id, const Change& change, const std::string& status,
                        const ExternalRow::Outcome& outcome) {
    json::object message;
    message["type"] = "result";
    message["id"] = id;
    message["index"] = change.index;
    if (!change.page_id.empty()) message["page_id"] = change.page_id;
    if (!change.external_key.empty()) message["external_key"] = change.external_key;
    if (!outcome.page_id.empty()) message["page_id"] = outcome.page_id;
    message["status"] = status;
    json::array written;
    for (const auto& name : outcome.written) written.emplace_back(name);
    message["written"] = std::move(written);
    json::array rejected;
    for (const auto& [property, reason] : outcome.rejected) {
        json::object r{{"reason", reason}};
        if (!property.empty()) r["property"] = property;
        rejected.push_back(std::move(r));
    }
    message["rejected"] = std::move(rejected);
    return line_of(message);
}

namespace {

Change read_change(const json::value& v, std::size_t index, bool snapshot) {
    Change c{.index = index};
    if (!v.is_object()) {
        c.error = "a change must be a JSON object";
        return c;
    }
    const auto& o = v.get_object();
    const auto text = [&](const char* key) -> std::optional<std::string> {
        const auto* x = o.if_contains(key);
        if (x == nullptr || x->is_null()) return std::string();
        if (!x->is_string()) return std::nullopt;
        return std::string(x->get_string());
    };
    const auto page = text("page_id");
    const auto key = text("external_key");
    const auto source = text("data_source_id");
    if (!page || !key || !source) {
        c.error = "page_id, external_key and data_source_id must be strings";
        return c;
    }
    c.page_id = *page;
    c.external_key = *key;
    c.data_source_id = *source;
    if (c.page_id.empty() == c.external_key.empty() && !snapshot) {
        c.error = "a change names its row by page_id or by external_key (one of them)";
        return c;
    }
    if (snapshot && c.page_id.empty()) {
        c.error = "a snapshot row needs its page_id";
        return c;
    }
    if (const auto* p = o.if_contains("properties"); p && !p->is_null()) {
        if (!p->is_object()) {
            c.error = "\"properties\" must be an object (property name or id -> value)";
            return c;
        }
        c.properties = p->get_object();
    }
    if (const auto* d = o.if_contains("deleted"); d && !d->is_null()) {
        if (!d->is_bool()) {
            c.error = "\"deleted\" must be true or false";
            return c;
        }
        c.deleted = d->get_bool();
    }
    if (const auto* b = o.if_contains("based_on"); b && !b->is_null()) {
        if (!b->is_object()) {
            c.error = "\"based_on\" must be an object ({\"seq\": …} or {\"last_edited_time\": …})";
            return c;
        }
        c.based_on = b->get_object();
    }
    if (c.deleted && !c.external_key.empty()) {
        c.error = "a row without a page cannot be deleted in Notion";
    }
    return c;
}

}  // namespace

Reply parse_reply(std::string_view line) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(line, ec);
    if (ec) throw ProtocolError("not JSON: " + ec.message());
    if (!parsed.is_object()) throw ProtocolError("not a JSON object");
    const auto& o = parsed.get_object();
    const auto* type = o.if_contains("type");
    if (type == nullptr || !type->is_string()) throw ProtocolError("no string \"type\"");
    Reply reply{.type_name = std::string(type->get_string())};
    if (reply.type_name == "changes" || reply.type_name == "snapshot") {
        const bool snapshot = reply.type_name == "snapshot";
        reply.type = snapshot ? Reply::Type::snapshot : Reply::Type::changes;
        const auto* id = o.if_contains("id");
        if (id == nullptr || !id->is_int64())
            throw ProtocolError(reply.type_name + " without an integer \"id\"");
        reply.id = id->get_int64();
        const char* list = snapshot ? "rows" : "changes";
        const auto* items = o.if_contains(list);
        if (items == nullptr || !items->is_array())
            throw ProtocolError(reply.type_name + " without a \"" + list + "\" list");
        std::size_t index = 0;
        for (const auto& item : items->get_array())
            reply.changes.push_back(read_change(item, index++, snapshot));
        if (const auto* more = o.if_contains("more"); more && more->is_bool())
            reply.more = more->get_bool();
        return reply;
    }
    if (reply.type_name != "ack" && reply.type_name != "nack") return reply;
    reply.type = reply.type_name == "ack" ? Reply::Type::ack : Reply::Type::nack;
    const auto* id = o.if_contains("id");
    if (id == nullptr || !id->is_int64())
        throw ProtocolError(reply.type_name + " without an integer \"id\"");
    reply.id = id->get_int64();
    if (reply.type == Reply::Type::nack) {
        if (const auto* error = o.if_contains("error")) {
            if (!error->is_string()) throw ProtocolError("nack \"error\" is not a string");
            reply.error = std::string(error->get_string());
        }
        if (const auto* retryable = o.if_contains("retryable")) {
            if (!retryable->is_bool()) throw ProtocolError("nack \"retryable\" is not a boolean");
            reply.retryable = retryable->get_bool();
        }
    }
    return reply;
}

}  // namespace syncd::connectors::exec
