#include "connectors/exec/protocol.hpp"

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
    json::object message{{"type", "result"}};
    for (auto& [key, value] : result_json(id, change, status, outcome)) message[key] = value;
    return line_of(message);
}

std::string result_line(const json::object& result) {
    json::object message{{"type", "result"}};
    for (const auto& [key, value] : result) message[key] = value;
    return line_of(message);
}

Reply parse_reply(std::string_view line) {
    boost::system::error_code ec;
    const json::value parsed = model::parse_json(line, ec);
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
