// Changes pushed to a two-way target from outside (issue 13): by an exec program (protocol 2,
// `changes` messages) or over HTTP (POST /v1/targets/{sync}/{connector}/changes). The same change
// objects in both; the inbox holds them until the write-back decides them (external_changes,
// acknowledge) and keeps each one's result for whoever sent it.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "connectors/connector.hpp"

namespace syncd::connectors {

// One change as sent, read; `error` says why it cannot be used.
struct Change {
    std::size_t index = 0;  // in its message's list
    std::string page_id = {};
    std::string external_key = {};        // a row of the sender's without a page yet
    std::string data_source_id = {};      // optional: where a new page goes
    boost::json::object properties = {};  // by property name or id
    bool deleted = false;
    boost::json::object based_on = {};  // {"last_edited_time": …} or {"seq": …}, informative
    std::string error = {};
};

// A change object ({"page_id"|"external_key", "properties", "deleted", "based_on",
// "data_source_id"}); a snapshot row needs its page_id and may not be deleted.
Change read_change(const boost::json::value& v, std::size_t index, bool snapshot = false);

// {"id":N,"index":i,"page_id"…,"external_key"…,"status":…,"written":[…],"rejected":[{…}]}.
boost::json::object result_json(std::int64_t id, const Change& change, const std::string& status,
                                const ExternalRow::Outcome& outcome);

class ChangeInbox {
public:
    explicit ChangeInbox(std::string table) : table_(std::move(table)) {}

    // The key of the HMAC a sender may sign its requests with (the webhook connector's
    // `secret`); empty for none.
    void set_secret(std::string secret) { secret_ = std::move(secret); }
    const std::string& secret() const { return secret_; }
    // Request ids for the HTTP route: one per accepted request, never one an earlier run of the
    // daemon gave (they start at the start time in ms × 1000), so a sender's GET of an old id
    // never reads another request's results.
    std::int64_t next_request() { return ++requests_; }
    // Whether results of request `id` are here (kept, or changes still undecided).
    bool knows(std::int64_t id) const { return kept_.contains(id) || undecided(id) > 0; }
    // The sync's schemas (property names -> ids, the data sources a new row may go to).
    void set_schemas(std::map<std::string, model::Schema> schemas) {
        schemas_ = std::move(schemas);
    }
    // Takes the changes of message `id` (the sender's id, or a request's); a change that cannot
    // be used gets its "rejected" result at once, returned too (index -> why).
    std::map<std::size_t, std::string> take(std::int64_t id, const std::vector<Change>& changes);
    // The changes not decided yet, as the write-back reads them.
    std::vector<ExternalRow> rows() const;
    // The write-back decided `rows` (acknowledge): their results.
    void decided(const std::vector<ExternalRow>& rows);
    // Results not handed out yet (exec sends them as `result` lines).
    std::vector<boost::json::object> take_results();
    // Every result of message `id` so far (kept for the last 1,000 messages), and how many of
    // its changes are not decided yet.
    std::vector<boost::json::object> results_of(std::int64_t id) const;
    std::size_t undecided(std::int64_t id) const;
    // A snapshot row (verify_every) as the write-back reads it; "" or why it cannot be.
    std::string row_of(const Change& change, ExternalRow& row) const;

private:
    struct Pending {
        std::int64_t message = 0;
        Change change;
        ExternalRow row;
    };
    void result(std::int64_t id, const Change& change, const std::string& status,
                const ExternalRow::Outcome& outcome);
    const model::PropertyInfo* property(const std::string& data_source_id,
                                        const std::string& key) const;

    std::string table_;
    std::string secret_;
    std::int64_t requests_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count() *
                             1000;
    std::map<std::string, model::Schema> schemas_;
    std::map<std::string, Pending> pending_;  // by row: "page:<id>" or "key:<external key>"
    std::int64_t generation_ = 0;
    std::vector<boost::json::object> fresh_;  // not taken yet
    std::map<std::int64_t, std::vector<boost::json::object>> kept_;
    std::deque<std::int64_t> kept_order_;
};

}  // namespace syncd::connectors
