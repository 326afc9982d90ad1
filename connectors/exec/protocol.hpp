// The exec connector's JSON-lines protocol, version 1 (connectors/exec/PROTOCOL.md): the lines the
// daemon writes to the program's stdin and the answers it reads from its stdout.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "connectors/connector.hpp"

namespace syncd::connectors::exec {

inline constexpr int protocol_version = 1;

// {"type":"hello","protocol":1,"connector":…,"target":…,"sync":…,"schemas":{…}} and a newline.
std::string hello_line(const std::string& connector, const ChangeBatch& batch);

// {"type":"batch","id":…,"events":[…]} and a newline; "type" and "id" always come first, so a
// line-oriented program can find the id without a JSON parser. `schemas` is added when the
// schemas changed since the program last saw them.
std::string batch_line(std::int64_t id, const ChangeBatch& batch, bool with_schemas);

// The schemas of a batch by data source id, as sent in hello and batch.
boost::json::object schemas_json(const std::map<std::string, model::Schema>& schemas);

// One line the program wrote on stdout.
struct Reply {
    enum class Type { ack, nack, changes, other };
    Type type = Type::other;
    std::string type_name = {};  // as written, for Type::other
    std::int64_t id = 0;         // ack, nack
    std::string error = {};      // nack
    bool retryable = true;       // nack; absent means true
};

// A line that is not a message of the protocol.
class ProtocolError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Throws ProtocolError for a line that is not a JSON object with a string "type", or an ack or
// nack without an integer "id", or a nack whose "error"/"retryable" have the wrong type.
Reply parse_reply(std::string_view line);

}  // namespace syncd::connectors::exec
