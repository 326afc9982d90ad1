// The Poller of one sync job (DESIGN §3): finds the job's data sources, reads what changed since
// the watermark, turns pages into canonical records, diffs them against the Mirror and commits
// mirror rows + watermark + outbox events in one transaction per API page. Reconciliation finds
// deleted and unshared pages.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon/mirror/mirror.hpp"
#include "daemon/notion/notion_client.hpp"

namespace syncd::sync {

// What reading one data source in a poll found and cost (for the PollScheduler).
struct SourceRead {
    std::size_t events = 0;
    std::size_t requests = 0;  // estimated: one per API page of results, one per content read
};

struct PollStats {
    std::size_t data_sources = 0;
    std::map<std::string, SourceRead> sources_read = {};  // the data sources read, not skipped
    std::size_t pages_read = 0;
    std::size_t contents_read = 0;  // pages whose blocks were read (content: true)
    std::size_t events = 0;
    std::size_t held_deletes = 0;
    bool reconciled = false;
    bool refreshed = false;  // computed values re-read (refresh_every)
};

// When each data source was last read completely, shared by the pollers of every job: a data
// source covered by several jobs is read once (the Daemon owns it; one strand).
using ReadLedger = std::map<std::string, std::chrono::steady_clock::time_point>;

class Poller {
public:
    Poller(const config::SyncSettings& settings, notion::NotionReads& client,
           mirror::Mirror& mirror, ReadLedger& ledger);

    // One pass over every data source of the job; `reconcile` forces a reconciliation. A data
    // source some job read completely at or after `fresh_after` (if set) is not read again.
    // With `only`, the other data sources are not read (the scheduler says they are not due).
    boost::asio::awaitable<PollStats> poll_once(
        bool reconcile, std::chrono::steady_clock::time_point fresh_after = {},
        const std::set<std::string>* only = nullptr);
    // What `check-config --online` checks, without reading pages: the source resolves (the id is
    // shared and of the kind its key says) and every property name in the targets' mapping,
    // include and exclude exists. Throws what poll_once would.
    boost::asio::awaitable<void> check();
    // A page Notion returned after a write (two-way): diffed and committed like a polled page, so
    // the other targets receive what was written and the mirror holds it. Returns the events made.
    boost::asio::awaitable<std::size_t> ingest_written(boost::json::object page);
    // The content hash of a page's blocks as Notion holds them now (read, not the mirror's): a
    // body write checks it first, so a write interrupted or made twice never adds blocks twice.
    boost::asio::awaitable<std::string> current_content_hash(std::string page_id);
    const std::vector<std::string>& data_sources() const { return data_sources_; }
    const std::string& name() const { return settings_.name; }
    // The next reconciliation applies its deletes even past max_delete_ratio (the user checked
    // the held deletes and wants them).
    void release_delete_brake() { brake_released_ = true; }
    // The next poll reconciles (a person decided on held deletes).
    void request_reconcile() { reconcile_requested_ = true; }
    // The job's data sources changed (a webhook): list them again at the next poll.
    void sources_changed() { resolved_at_ = {}; }
    // The schema of this data source changed (a webhook): read it at the next poll.
    void schema_changed(const std::string& data_source_id) { schema_stale_.insert(data_source_id); }

private:
    boost::asio::awaitable<PollStats> poll_sources(
        bool reconcile, std::chrono::steady_clock::time_point fresh_after,
        const std::set<std::string>* only);
    boost::asio::awaitable<void> resolve();
    // The schema of `data_source_id` in schemas_: from the mirror, or read when due.
    boost::asio::awaitable<void> ensure_schema(const std::string& data_source_id, PollStats& stats);
    // Throws config::Error for a property name of the targets that no data source has.
    void check_property_names() const;
    // A 404 on the job's own source: what the id is instead (another kind: which key to use) or
    // that it is not shared. Returns the error to throw.
    boost::asio::awaitable<notion::NotionError> explain_missing(notion::NotionError original);
    // Whether a 404 came from reading the job's configured source itself.
    bool about_source(const notion::NotionError& error) const;
    // A `page:` source: the tree's plain pages are the rows of a data source "page:<root>",
    // with `title` and `parent` (the parent page's id).
    std::string tree_source() const;
    bool is_tree(const std::string& data_source_id) const;
    model::Schema tree_schema() const;
    void load_tree();  // the tree as the mirror holds it (a new process)
    void as_tree_page(boost::json::object& page) const;
    boost::asio::awaitable<void> read_tree(const std::string& data_source_id, PollStats& stats);
    boost::asio::awaitable<void> reconcile_tree(const std::string& data_source_id,
                                                PollStats& stats);
    // Collects the tree under `page_id` into tree_, and its databases' data sources into
    // `sources`.
    boost::asio::awaitable<void> walk_page(std::string page_id, int depth,
                                           std::vector<std::string>& sources);
    boost::asio::awaitable<void> refresh_schema(const std::string& data_source_id,
                                                PollStats& stats);
    boost::asio::awaitable<void> read_changes(const std::string& data_source_id, PollStats& stats);
    boost::asio::awaitable<void> reconcile(const std::string& data_source_id, PollStats& stats);
    // Whether a schema holds values that change without the page's last_edited_time moving.
    static bool has_computed(const model::Schema& schema);
    // Re-reads every page of a data source (refresh_every) for rollups and formulas.
    boost::asio::awaitable<void> refresh_values(const std::string& data_source_id,
                                                PollStats& stats);
    // Replaces values cut at 25 items with the complete ones from the property item endpoint.
    boost::asio::awaitable<void> complete(boost::json::object& page);
    // With `content: true`, the blocks of a page whose last_edited_time moved since they were
    // last read (nullopt: not configured or unchanged).
    struct FreshContent {
        boost::json::array blocks;
        std::string hash;
        std::string read_at;  // Notion's time when the read began
    };
    boost::asio::awaitable<std::optional<FreshContent>> read_content(
        const boost::json::object& page);
    boost::asio::awaitable<boost::json::array> fetch_blocks(std::string block_id, int depth);
    // Completes and reads content for one API page of results (network), then diffs and commits
    // them in one transaction (no co_await while it is open: other jobs share the mirror).
    boost::asio::awaitable<void> ingest(const std::string& ds, boost::json::array& results,
                                        PollStats& stats, const std::string* watermark);
    // Whether a page shows properties other than the known schema of its data source.
    bool schema_differs(const std::string& data_source_id, const boost::json::object& page) const;
    // Diffs one page against the mirror and stages what changed in `batch`; true if it did.
    bool stage(mirror::Mirror::Batch& batch, const boost::json::object& page, PollStats& stats,
               const std::optional<FreshContent>& content);

    config::SyncSettings settings_;
    notion::NotionReads& client_;
    mirror::Mirror& mirror_;
    ReadLedger& ledger_;
    std::vector<std::string> data_sources_;
    std::map<std::string, std::string> tree_;  // a page tree: page id -> parent page id
    std::chrono::steady_clock::time_point resolved_at_{};
    std::set<std::string> schema_stale_;            // data sources whose schema must be read again
    std::map<std::string, model::Schema> schemas_;  // as last read, by data source
    bool reconcile_requested_ = false;
    bool brake_released_ = false;
    std::chrono::steady_clock::time_point progress_at_{};
    std::size_t progress_pages_ = 0;
    notion::RequestContext poll_context_;
};

}  // namespace syncd::sync
