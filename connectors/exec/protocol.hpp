// The exec connector's JSON-lines protocol, version 1 (connectors/exec/PROTOCOL.md): the lines the
// daemon writes to the program's stdin and the answers it reads from its stdout.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/change_inbox.hpp"
#include "connectors/connector.hpp"

namespace syncd::connectors::exec {

inline constexpr int protocol_version = 1;
// Two-way targets speak version 2: version 1 plus collect/changes/result and snapshot.
inline constexpr int two_way_protocol_version = 2;

// {"type":"hello","protocol":1,"connector":…,"target":…,"sync":…,"schemas":{…}} and a newline.
std::string hello_line(const std::string& connector, const ChangeBatch& batch,
                       int protocol = protocol_version);

// Version 2: {"type":"collect","id":N} (answer: a `changes` message with the same id) and
// {"type":"snapshot","id":N} (answer: `snapshot` messages with that id, the last with
// "more": false).
std::string collect_line(std::int64_t id);
std::string snapshot_line(std::int64_t id);

// {"type":"result","id":N,"index":i,…,"status":"applied"|"rejected"|"replaced",…}: what became
// of change `index` of the program's `changes` message N.
std::string result_line(std::int64_t id, const Change& change, const std::string& status,
                        const ExternalRow::Outcome& outcome);
// The same from a ChangeInbox result (result_json).
std::string result_line(const boost::json::object& result);

// {"type":"batch","id":…,"events":[…]} and a newline; "type" and "id" always come first, so a
// line-oriented program can find the id without a JSON parser. `schemas` is added when the
// schemas changed since the program last saw them.
std::string batch_line(std::int64_t id, const ChangeBatch& batch, bool with_schemas);

// The schemas of a batch by data source id, as sent in hello and batch.
boost::json::object schemas_json(const std::map<std::string, model::Schema>& schemas);

// One line the program wrote on stdout.
struct Reply {
    enum class Type { ack, nack, changes, snapshot, other };
    Type type = Type::other;
    std::string type_name = {};        // as written, for Type::other
    std::int64_t id = 0;               // ack, nack, changes, snapshot
    std::string error = {};            // nack
    bool retryable = true;             // nack; absent means true
    std::vector<Change> changes = {};  // changes; snapshot: its rows (page_id and properties)
    bool more = false;                 // snapshot: more messages follow
};

// A line that is not a message of the protocol.
class ProtocolError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Throws ProtocolError for a line that is not a JSON object with a string "type", or an ack,
// nack, changes or snapshot without an integer "id", a nack whose "error"/"retryable" have the
// wrong type, or a changes/snapshot without its list. A change that is not right on its own
// (no page_id or external_key, properties not an object) is read with its `error` set, so it
// can be answered alone.
Reply parse_reply(std::string_view line);

}  // namespace syncd::connectors::exec
