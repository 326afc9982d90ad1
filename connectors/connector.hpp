// The connector interface and registry (DESIGN §3 Connectors, STYLE §2). A connector only speaks
// its target's protocol; the daemon owns time, cursors, retries and dead letters.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config/settings_reader.hpp"
#include "daemon/model/record.hpp"

namespace syncd::connectors {

// What one delivery carries: events of one sync, oldest first, and the schemas they refer to.
struct ChangeBatch {
    std::string target = {};  // "<sync>/<connector>"
    std::string sync = {};
    std::vector<model::ChangeEvent> events = {};
    std::map<std::string, model::Schema> schemas = {};  // by data source id
    bool several_sources = false;                       // the sync reads more than one data source
    // For connectors that ask (wants_names): what the users and pages named in the events'
    // people and relation values are called, where the mirror knows (id -> name).
    std::map<std::string, std::string> names = {};
};

// A delivery that failed. Retryable failures are retried with backoff; others go to dead
// letters after the daemon's attempts run out.
class DeliveryError : public std::runtime_error {
public:
    DeliveryError(const std::string& what, bool retryable_,
                  std::optional<std::chrono::milliseconds> retry_after_ = std::nullopt)
        : std::runtime_error(what), retryable(retryable_), retry_after(retry_after_) {}
    bool retryable;
    // How long the target asked us to wait before the next attempt (an HTTP Retry-After).
    std::optional<std::chrono::milliseconds> retry_after;
};

// How a sync uses a connector (its `targets:` entry).
struct TargetOptions {
    std::string sync = {};
    std::string table = {};
    std::vector<std::pair<std::string, std::string>> mapping = {};  // property name or id -> column
    bool soft_delete = false;
    // Properties without a mapping entry: their own columns (`columns`, the default), one JSON
    // column `notion_properties` (`json`), or left out (`skip`, applied by the dispatcher).
    std::string unmapped = "columns";
    // Two-way (`two_way:`): the connector captures the edits other programs make to its rows
    // (external_changes) and its own writes are not captured.
    bool two_way = false;
    bool two_way_body = false;  // markdown `body: two-way`: body edits are written back too
};

// One change of a page's blocks that a person's edit of its body (markdown `body: two-way`)
// makes, in the API's terms: the block keeps its id (and its comments) when only its text
// changed.
struct BlockOp {
    enum class Kind { update, remove, insert };
    Kind kind = Kind::update;
    std::string block_id = {};       // update, remove
    std::string after = {};          // insert: after this block ("" and !start: at the end)
    bool start = false;              // insert: at the page's start
    boost::json::array blocks = {};  // update: the block's new body (one); insert: new blocks
};

// A body edit: the block changes, or why there are none (`error`: the edited text does not map
// to blocks without loss), and the content the file's text was rendered from (its content hash:
// if Notion's blocks changed since, the edit is a conflict).
struct BodyEdit {
    std::vector<BlockOp> ops = {};
    std::string error = {};
    std::string based_on = {};
};

// A row another program changed in a two-way target, as captured (the values at capture time,
// so a later delivery to the row cannot hide them).
struct ExternalRow {
    std::string table = {};
    std::string page_id = {};  // empty for a row inserted without one (row_key says which)
    std::string row_key = {};  // the target's own key of a row without a page (sqlite: rowid)
    std::string capture = {};  // the connector's key of the capture (acknowledge)
    std::string data_source_id = {};
    // Property id -> the column's value as stored (text, number, or JSON text for lists and
    // dates): the write-back engine reads it by the property's type.
    boost::json::object values = {};
    // Property id -> why the target's value cannot be read as that property (a markdown file's
    // `Estimate: "8"`): set back from Notion with this reason, never written.
    std::map<std::string, std::string> errors = {};
    bool deleted = false;         // the row is gone
    std::int64_t generation = 0;  // acknowledge() removes the capture only at this generation
    std::chrono::system_clock::time_point captured_at = {};
    // The page's last_edited_time the sender's values were based on (pushed changes'
    // `based_on`), when it says: if Notion's page was edited after it, a value that differs
    // from Notion's is a conflict (the sender did not see Notion's change), not an edit.
    std::string based_on = {};
    std::optional<BodyEdit> body = {};  // markdown with `body: two-way`: the body changed
    // Set by the write-back on the rows it acknowledges, for targets that answer whoever made
    // the edit (exec): what was written to Notion, and what was not and why.
    struct Outcome {
        std::vector<std::string> written = {};  // property names now in Notion
        // (property name or "" for the whole row, why not): a conflict Notion's side won or
        // parked, a value that cannot be written, a read-only property, a refused delete.
        std::vector<std::pair<std::string, std::string>> rejected = {};
        std::string page_id = {};  // the page a row without one became (create: true)
        // Not done this cycle: left captured and tried again (a create whose earlier try's
        // outcome is unknown, its page not found yet).
        bool later = false;
    } outcome = {};
};

class ChangeInbox;  // connectors/change_inbox.hpp

struct ConnectorContext {
    std::string name = {};  // the connector's YAML name
    boost::asio::any_io_executor executor = {};
    TargetOptions target = {};
};

class Connector {
public:
    virtual ~Connector() = default;
    // Connects and creates what the target needs. Called once, before deliver().
    virtual boost::asio::awaitable<void> start() = 0;
    // Applies `batch` in order, upserting by page id, so a batch delivered twice changes
    // nothing. Throws DeliveryError (or anything else, treated as retryable).
    virtual boost::asio::awaitable<void> deliver(ChangeBatch batch) = 0;
    // Creates what the target needs for the data sources in `batch` (one `schema_changed` event
    // per data source, with its properties) before any page arrives, so an empty data source
    // still has its table. Called again when the schemas change. Default: nothing (targets
    // that need no structure, like a file of events, a webhook or a program).
    virtual boost::asio::awaitable<void> apply_schema(ChangeBatch batch) {
        (void)batch;
        co_return;
    }
    // Two-way targets: the rows other programs changed since their last acknowledgement.
    // Default: none (a target that cannot be edited).
    virtual boost::asio::awaitable<std::vector<ExternalRow>> external_changes() {
        co_return std::vector<ExternalRow>{};
    }
    // The rows handled: their captures are removed, unless the row changed again since (a newer
    // generation), which is then returned by the next external_changes().
    virtual boost::asio::awaitable<void> acknowledge(std::vector<ExternalRow> rows) {
        (void)rows;
        co_return;
    }
    // Two-way targets: every row the target holds for two-way, in external_changes()'s form
    // (capture empty, generation 0), for the periodic full comparison with the base
    // (`verify_every`) that finds edits made while the capture was off (triggers disabled).
    // Default: none.
    virtual boost::asio::awaitable<std::vector<ExternalRow>> all_rows() {
        co_return std::vector<ExternalRow>{};
    }
    // Two-way targets that take changes pushed over HTTP (POST /v1/targets/{sync}/{connector}/
    // changes): where they go. Default: none (the route answers 404).
    virtual ChangeInbox* inbox() { return nullptr; }
    // Whether deliveries should carry ChangeBatch::names (files people read and edit do).
    virtual bool wants_names() const { return false; }
    // Two-way creates: writes the page made for a row inserted without one into that row (as
    // the connector's own write, not captured).
    virtual boost::asio::awaitable<void> assign_page_id(ExternalRow row, std::string page_id) {
        (void)row;
        (void)page_id;
        throw DeliveryError("this target cannot take the ids of pages created for its rows", false);
        co_return;
    }
};

class Registry {
public:
    // Reads (and so validates) a connector's block; problems are recorded in the reader.
    using Validate = std::function<void(config::SettingsReader&)>;
    using Make =
        std::function<std::unique_ptr<Connector>(config::SettingsReader&, const ConnectorContext&)>;

    void add(const std::string& type, Validate validate, Make make);
    // False for an unknown type.
    bool validate(const std::string& type, config::SettingsReader& settings) const;
    // Throws config::Error for an unknown type or a bad block.
    std::unique_ptr<Connector> create(const std::string& type, config::SettingsReader& settings,
                                      const ConnectorContext& context) const;
    std::vector<std::string> types() const;

private:
    std::map<std::string, std::pair<Validate, Make>> entries_;
};

// Every connector this binary ships (connectors/builtin.cpp).
void add_builtin_connectors(Registry& registry);

}  // namespace syncd::connectors
