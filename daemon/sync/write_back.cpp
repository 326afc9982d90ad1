#include "daemon/sync/write_back.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>

#include "daemon/model/crash_point.hpp"
#include "daemon/model/json_text.hpp"
#include "daemon/model/log.hpp"
#include "daemon/model/record.hpp"
#include "daemon/model/write_value.hpp"

namespace syncd::sync {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

// A page created through the API shows up in its data source's query at once in practice; one
// made by a POST whose answer was lost and not found this long after it was not made.
// NOTION_SYNCD_CREATE_LOOKUP_MS shortens it (tests against notion-emulator, which lists at once).
std::chrono::milliseconds created_page_visible_after() {
    static const std::chrono::milliseconds after = [] {
        if (const char* ms = std::getenv("NOTION_SYNCD_CREATE_LOOKUP_MS"))
            return std::chrono::milliseconds(std::max(0L, std::atol(ms)));
        return std::chrono::milliseconds(std::chrono::minutes(10));
    }();
    return after;
}

// Equal as values: 180 and 180.0 are one number; lists and objects member by member.
bool same(const json::value& a, const json::value& b) {
    if (a.is_number() && b.is_number()) return a.to_number<double>() == b.to_number<double>();
    if (a.is_array() && b.is_array()) {
        const auto& x = a.get_array();
        const auto& y = b.get_array();
        if (x.size() != y.size()) return false;
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (!same(x[i], y[i])) return false;
        }
        return true;
    }
    if (a.is_object() && b.is_object()) {
        const auto& x = a.get_object();
        const auto& y = b.get_object();
        if (x.size() != y.size()) return false;
        for (const auto& [key, value] : x) {
            const auto* other = y.if_contains(key);
            if (other == nullptr || !same(value, *other)) return false;
        }
        return true;
    }
    return a == b;
}

// Whether a column holds a canonical value as a target stores it: lists and objects as JSON text,
// booleans as 0/1, numbers maybe as text (a formula's column has no number type).
bool holds(const json::value& column, const json::value& canonical) {
    if (canonical.is_bool()) {
        return column.is_number() && column.to_number<double>() == (canonical.get_bool() ? 1 : 0);
    }
    if (canonical.is_array() || canonical.is_object()) {
        return column.is_string() && column.get_string() == model::to_json_text(canonical);
    }
    if (canonical.is_number() && column.is_string()) {
        const std::string text(column.get_string());
        char* end = nullptr;
        const double number = std::strtod(text.c_str(), &end);
        return !text.empty() && end == text.c_str() + text.size() &&
               number == canonical.to_number<double>();
    }
    return same(column, canonical);
}

std::chrono::system_clock::time_point parse_iso(const std::string& iso) {
    std::tm tm{};
    int seconds = 0;
    if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &seconds) < 5) {
        return {};
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_sec = seconds;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

WriteBack::WriteBack(std::string target, config::SyncSettings sync, config::TwoWaySettings settings,
                     connectors::Connector& connector, notion::NotionClient& client, Poller& poller,
                     mirror::Mirror& mirror)
    : target_(std::move(target)),
      sync_(std::move(sync)),
      settings_(std::move(settings)),
      connector_(connector),
      client_(client),
      poller_(poller),
      mirror_(mirror) {}

std::vector<std::string> WriteBack::take_reverts() { return mirror_.reverts(target_); }

void WriteBack::reverted(const std::vector<std::string>& pages) {
    mirror_.drop_reverts(target_, pages);
}

std::string WriteBack::capture_identity(const connectors::ExternalRow& row) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(row.captured_at.time_since_epoch());
    return std::to_string(row.generation) + "@" + std::to_string(ms.count());
}

std::string WriteBack::seen_key(const connectors::ExternalRow& row) {
    return row.table + "\n" + row.capture + "\n" + capture_identity(row);
}

asio::awaitable<std::map<std::string, PendingEdit>> WriteBack::pending_edits() {
    std::map<std::string, PendingEdit> out;
    const std::vector<connectors::ExternalRow> rows = co_await connector_.external_changes();
    for (const auto& row : rows) {
        if (row.page_id.empty()) continue;
        PendingEdit edit{.capture = capture_identity(row),
                         .captured_at = row.captured_at,
                         .deleted = row.deleted};
        if (!row.deleted) {
            for (const auto& p : decide(row).properties) edit.properties.insert(p.id);
        }
        out[row.page_id] = std::move(edit);
    }
    co_return out;
}

std::string WriteBack::policy_for(const std::string& name, const std::string& id) const {
    for (const auto& [property, policy] : settings_.fields) {
        if (property == name || property == id) return policy;
    }
    return settings_.policy;
}

asio::awaitable<void> WriteBack::write(const std::string& page_id, json::object properties,
                                       json::object written) {
    constexpr int attempts = 3;
    for (int attempt = 1;; ++attempt) {
        // g++ 12: no braced temporaries as arguments of a coroutine call; locals instead.
        json::object body;
        body["properties"] = properties;
        notion::RequestContext context(notion::Priority::write_back, sync_.name);
        std::string id = page_id;
        std::optional<json::object> page;
        std::optional<notion::NotionError> failure;
        // Before the PATCH: a process killed once Notion took it finds out what landed
        // (recover_pending_writes) instead of taking its own values for a person's edit.
        mirror_.put_pending_write(target_, page_id, written);
        try {
            page = co_await client_.update_page(std::move(id), std::move(body), std::move(context));
        } catch (const notion::NotionError& e) {
            if (e.status != 409 && e.kind != notion::ErrorKind::ambiguous_write) throw;
            failure = e;
        }
        if (page) {
            model::crash_point("writeback.after_patch");
            // The returned page goes through the differ: the mirror holds what was written and
            // the other targets receive it (this one too: its own write is not captured again).
            co_await poller_.ingest_written(std::move(*page));
            co_return;
        }
        // 409 conflict_error (Notion saved something else meanwhile) or an outcome nobody knows:
        // read the page again first, never re-send blindly. After an ambiguous write the edit
        // stays captured, and the next cycle merges against what Notion now holds (the same
        // value: converged; not: written again).
        notion::RequestContext read_context(notion::Priority::write_back, sync_.name);
        std::string read_id = page_id;
        std::vector<std::string> every_property;
        json::object current = co_await client_.retrieve_page(
            std::move(read_id), std::move(every_property), std::move(read_context));
        co_await poller_.ingest_written(std::move(current));
        // What Notion holds now of what was sent (an ambiguous write that went through) is
        // agreed: the edit stays captured, and if the table changes that property back before
        // the next cycle, the change is written instead of taken for no change.
        agree_on_landed(page_id, written);
        mirror_.drop_pending_write(target_, page_id);
        // conflict_error: Notion saved nothing (notion-api.md §4): safe to send again.
        if (failure->status != 409 || attempt == attempts) throw *failure;
        spdlog::info("target={} page={} 409 conflict_error from Notion: writing again ({} of {})",
                     target_, page_id, attempt + 1, attempts);
    }
}

asio::awaitable<void> WriteBack::apply_resolutions(WriteBackStats& stats) {
    const std::vector<mirror::Conflict> resolved = mirror_.unapplied_resolutions(target_);
    for (const auto& c : resolved) {  // a local: g++ 12 and temporaries across co_await
        const auto stored = mirror_.page(c.page_id);
        const auto source = stored ? mirror_.source(stored->data_source_id) : std::nullopt;
        const model::PropertyInfo* info =
            source && source->schema ? source->schema->by_id(c.property_id) : nullptr;
        if (!stored || stored->state != mirror::PageState::live || info == nullptr) {
            mirror_.mark_applied(c.id);  // the page or property is gone: nothing to carry out
            continue;
        }
        if (c.decision == "notion") {
            const json::value notion = stored->record.values.contains(c.property_id)
                                           ? stored->record.values.at(c.property_id)
                                           : json::value(nullptr);
            json::object agreed;
            agreed[c.property_id] = notion;
            mirror_.set_base(target_, c.page_id, agreed);
            mirror_.add_reverts(target_, {c.page_id});
        } else {
            const json::value value = c.decision == "external" ? c.external : c.resolution;
            const model::Payload payload = model::notion_property(value, info->type);
            if (!payload.error.empty()) {
                spdlog::error("target={} conflict {}: the chosen value cannot be written: {}",
                              target_, c.id, payload.error);
                mirror_.mark_applied(c.id);
                continue;
            }
            json::object properties;
            properties[info->name] = payload.body;
            json::object agreed;
            agreed[c.property_id] = value;
            co_await write(c.page_id, std::move(properties), agreed);
            mirror_.set_base(target_, c.page_id, agreed);
            ++stats.pages_written;
            ++stats.properties_written;
        }
        mirror_.log_write(target_, c.page_id, "resolve",
                          {{"conflict", c.id}, {"property", c.property}, {"take", c.decision}});
        mirror_.mark_applied(c.id);
    }
}

bool WriteBack::verify_due() const {
    const auto last = mirror_.verification(target_);
    if (!last) return true;
    const auto at =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(last->verified_at_ms));
    return std::chrono::system_clock::now() - at >= settings_.verify_every;
}

asio::awaitable<std::vector<connectors::ExternalRow>> WriteBack::verify(
    const std::vector<connectors::ExternalRow>& captured, WriteBackStats& stats) {
    std::set<std::string> pages_captured;
    std::set<std::string> rows_captured;  // table and row key of rows without a page
    for (const auto& row : captured) {
        if (row.page_id.empty()) {
            rows_captured.insert(row.table + "\n" + row.row_key);
        } else {
            pages_captured.insert(row.page_id);
        }
    }
    const std::vector<connectors::ExternalRow> all = co_await connector_.all_rows();
    std::vector<connectors::ExternalRow> out;
    std::set<std::string> present;
    for (const auto& row : all) {
        if (!row.page_id.empty()) present.insert(row.page_id);
        const bool is_captured = row.page_id.empty()
                                     ? rows_captured.contains(row.table + "\n" + row.row_key)
                                     : pages_captured.contains(row.page_id);
        if (is_captured) continue;  // its capture says what changed
        ++stats.verified_rows;
        bool differs = row.page_id.empty();  // inserted while the capture was off
        if (!differs) {
            for (const auto& p : decide(row).properties) {
                // A parked conflict keeps the person's value in the row on purpose.
                differs = differs || !mirror_.has_open_conflict(target_, row.page_id, p.id);
            }
        }
        if (!differs) continue;
        ++stats.verify_differed;
        out.push_back(row);
    }
    // Rows deleted while the capture was off: pages the target had and holds no more. Not when
    // it holds no row at all: a connector that cannot list its rows gives none, and every page
    // would look deleted.
    const std::vector<std::string> sources = mirror_.job_sources(sync_.name);
    const std::vector<std::string> based =
        all.empty() ? std::vector<std::string>{} : mirror_.based_pages(target_);
    for (const auto& page_id : based) {
        if (present.contains(page_id) || pages_captured.contains(page_id)) continue;
        const auto page = mirror_.page_digest(page_id);
        if (!page || page->state != mirror::PageState::live ||
            std::find(sources.begin(), sources.end(), page->data_source_id) == sources.end())
            continue;
        ++stats.verify_gone;
        out.push_back(connectors::ExternalRow{
            .page_id = page_id, .data_source_id = page->data_source_id, .deleted = true});
    }
    co_return out;
}

std::vector<std::string> WriteBack::held_by_brakes(const std::vector<connectors::ExternalRow>& rows,
                                                   WriteBackStats* stats) const {
    std::vector<std::string> held(rows.size());
    if (brake_released_) return held;
    // A row inserted and deleted before it became a page changes nothing in Notion, nor does a
    // row of a page gone from Notion meanwhile (trashed by an earlier cycle that stopped before
    // its acknowledgement): not counted.
    const auto counts = [&](const connectors::ExternalRow& row) {
        if (row.page_id.empty()) return !row.deleted;
        const auto page = mirror_.page_digest(row.page_id);
        return page && page->state == mirror::PageState::live;
    };
    std::map<std::string, std::size_t> per_source;
    std::map<std::string, std::size_t> deletes;
    std::map<std::string, std::size_t> creates;
    for (const auto& row : rows) {
        if (!counts(row)) continue;
        ++per_source[row.data_source_id];
        if (row.deleted) ++deletes[row.data_source_id];
        if (row.page_id.empty()) ++creates[row.data_source_id];
    }
    if (settings_.trash) {
        // The delete brake, as for deletes in Notion: many rows gone at once is more likely a
        // DELETE without WHERE than a decision.
        for (const auto& [ds, count] : deletes) {
            const auto live = mirror_.live_page_count(ds);
            if (live == 0 ||
                static_cast<double>(count) <= sync_.max_delete_ratio * static_cast<double>(live))
                continue;
            for (std::size_t i = 0; i < rows.size(); ++i) {
                if (rows[i].data_source_id == ds && rows[i].deleted && counts(rows[i]))
                    held[i] = "max_delete_ratio";
            }
            per_source[ds] -= count;
            if (stats == nullptr) continue;
            spdlog::warn(
                "target={} data_source={} holding {} deleted rows of {} pages (over "
                "max_delete_ratio {}): nothing trashed; run `notion-syncd sync-once --job {} "
                "--apply-held-writes` to trash them",
                target_, ds, count, live, sync_.max_delete_ratio, sync_.name);
            stats->held += count;
        }
    }
    // The write brake: a mass edit (a bad UPDATE without WHERE) is held, not written. The share
    // is of the pages the data source has once the new rows are pages too, so it is never more
    // than 1 (max_write_ratio: 1 holds nothing).
    for (const auto& [ds, count] : per_source) {
        const auto live = mirror_.live_page_count(ds);
        const auto pages = static_cast<double>(live + creates[ds]);
        if (live == 0 || static_cast<double>(count) <= settings_.max_write_ratio * pages) continue;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (rows[i].data_source_id == ds && held[i].empty()) held[i] = "max_write_ratio";
        }
        if (stats == nullptr) continue;
        spdlog::warn(
            "target={} data_source={} holding {} edited rows of {} pages (over "
            "max_write_ratio {}): nothing written; check the table, then run `notion-syncd "
            "sync-once --job {} --apply-held-writes`",
            target_, ds, count, live, settings_.max_write_ratio, sync_.name);
        stats->held += count;
    }
    return held;
}

std::size_t WriteBack::agree_on_landed(const std::string& page_id, const json::object& written) {
    const auto stored = mirror_.page(page_id);
    if (!stored) return 0;
    json::object landed;
    for (const auto& [property_id, value] : written) {
        const auto* now = stored->record.values.if_contains(property_id);
        if (now != nullptr && same(*now, value)) landed[property_id] = value;
    }
    if (!landed.empty()) mirror_.set_base(target_, page_id, landed);
    return landed.size();
}

asio::awaitable<void> WriteBack::recover_pending_writes() {
    const auto pending = mirror_.pending_writes(target_);
    for (const auto& [page_id, written] : pending) {
        notion::RequestContext context(notion::Priority::write_back, sync_.name);
        std::string id = page_id;
        std::vector<std::string> every_property;
        std::optional<json::object> current;
        try {
            current = co_await client_.retrieve_page(std::move(id), std::move(every_property),
                                                     std::move(context));
        } catch (const notion::NotionError& e) {
            if (e.status != 404) throw;  // gone: nothing of it to agree on
        }
        if (current) {
            co_await poller_.ingest_written(std::move(*current));
            const std::size_t landed = agree_on_landed(page_id, written);
            spdlog::info(
                "target={} page={} a write an earlier process made before it stopped: {} of {} "
                "properties landed in Notion",
                target_, page_id, landed, written.size());
        }
        mirror_.drop_pending_write(target_, page_id);
    }
}

asio::awaitable<WriteBackStats> WriteBack::run(bool wait) {
    WriteBackStats stats;
    co_await recover_pending_writes();
    co_await apply_resolutions(stats);
    std::vector<connectors::ExternalRow> rows = co_await connector_.external_changes();
    bool verifying = verify_due();
    if (verifying && !wait && polled_at_) {
        // `run`: the comparison merges against Notion's values of a poll begun once it was due.
        if (!verify_due_since_) verify_due_since_ = std::chrono::system_clock::now();
        if (polled_at_() <= *verify_due_since_) {
            verifying = false;
            if (request_poll_) request_poll_();
        }
    }
    if (rows.empty() && !verifying) {
        first_seen_.clear();
        totals_.pages_written += stats.pages_written;
        totals_.properties_written += stats.properties_written;
        co_return stats;
    }
    auto now = std::chrono::system_clock::now();
    if (wait && !rows.empty()) {
        // sync-once: edits still settling are waited for (at most `settle`) and written now.
        std::chrono::system_clock::time_point youngest{};
        for (const auto& row : rows) youngest = std::max(youngest, row.captured_at);
        const auto ready_at = youngest + settings_.settle;
        if (ready_at > now) {
            asio::steady_timer timer(
                co_await asio::this_coro::executor,
                std::min<std::chrono::nanoseconds>(ready_at - now, settings_.settle));
            co_await timer.async_wait(asio::use_awaitable);
            rows = co_await connector_.external_changes();
            now = std::chrono::system_clock::now();
        }
    }
    const std::vector<connectors::ExternalRow> captured = rows;  // all of them, young or not
    const bool gated = !wait && polled_at_;
    if (gated) {
        // When this process first saw each capture (kept while it is captured).
        std::map<std::string, std::chrono::system_clock::time_point> seen;
        for (const auto& row : rows) {
            const std::string key = seen_key(row);
            const auto it = first_seen_.find(key);
            seen[key] = it != first_seen_.end() ? it->second : now;
        }
        first_seen_ = std::move(seen);
    }
    std::erase_if(rows, [&](const connectors::ExternalRow& row) {
        return !wait && row.captured_at + settings_.settle > now;
    });
    if (gated) {
        // Notion's side of the merge is the mirror: an edit first seen after the last poll began
        // waits for the next poll, so a person's change in Notion meanwhile is seen (a conflict)
        // instead of overwritten unseen. When this process first saw it, not its capture time:
        // a database server's clock may differ from ours.
        const auto polled = polled_at_();
        const auto before = rows.size();
        std::erase_if(rows, [&](const connectors::ExternalRow& row) {
            return first_seen_.at(seen_key(row)) >= polled;
        });
        if (rows.size() != before && request_poll_) request_poll_();
    }
    if (verifying) {
        ++stats.verifications;
        const std::vector<connectors::ExternalRow> found = co_await verify(captured, stats);
        rows.insert(rows.end(), found.begin(), found.end());
    }
    const std::vector<std::string> held = held_by_brakes(rows, &stats);
    bool verify_held = false;
    std::vector<connectors::ExternalRow> go;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (held[i].empty()) {
            go.push_back(std::move(rows[i]));
        } else {
            verify_held = verify_held || rows[i].capture.empty();  // left captured, or found again
        }
    }
    brake_released_ = false;
    std::vector<connectors::ExternalRow> done;
    for (auto& row : go) {
        if (row.capture.empty()) {
            mirror_.log_write(
                target_, row.page_id.empty() ? row.table + ":" + row.row_key : row.page_id,
                "verify",
                {{"reason",
                  row.deleted ? "the row is gone, no capture said so (verify_every)"
                              : "the row differs from the base without a capture (verify_every)"}});
        }
        co_await merge(row, stats);
        // A row verify found has no capture; a row left for later keeps its capture.
        if (!row.capture.empty() && !row.outcome.later) done.push_back(row);
        model::crash_point("writeback.after_page");
    }
    std::vector<std::string> created;  // the create intents done with once acknowledged
    for (const auto& row : go) {
        if (row.page_id.empty() && !row.deleted && !row.outcome.later)
            created.push_back(row.table + ":" + row.row_key);
    }
    if (!done.empty()) co_await connector_.acknowledge(std::move(done));
    model::crash_point("writeback.after_acknowledge");
    for (const auto& key : created) mirror_.drop_create_intent(target_, key);
    if (verifying) {
        spdlog::info("verify: {}: {} rows compared, {} differed without a capture, {} rows gone{}",
                     target_, stats.verified_rows, stats.verify_differed, stats.verify_gone,
                     verify_held ? " (some held by a brake: compared again next time)" : "");
        if (!verify_held) {
            mirror_.set_verification(
                target_, {.verified_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count(),
                          .compared = stats.verified_rows,
                          .differed = stats.verify_differed,
                          .gone = stats.verify_gone});
            verify_due_since_.reset();
        }
    }
    totals_.pages_written += stats.pages_written;
    totals_.properties_written += stats.properties_written;
    totals_.converged += stats.converged;
    totals_.conflicts += stats.conflicts;
    totals_.reverted += stats.reverted;
    totals_.restored += stats.restored;
    totals_.trashed += stats.trashed;
    totals_.created += stats.created;
    totals_.not_created += stats.not_created;
    totals_.create_waiting += stats.create_waiting;
    totals_.held = stats.held;
    totals_.verifications += stats.verifications;
    totals_.verified_rows += stats.verified_rows;
    totals_.verify_differed += stats.verify_differed;
    totals_.verify_gone += stats.verify_gone;
    co_return stats;
}

std::optional<std::string> WriteBack::unknown_option(const model::PropertyInfo& info,
                                                     const json::value& value) const {
    if (info.type != "select" && info.type != "status" && info.type != "multi_select")
        return std::nullopt;
    if (info.type != "status" && settings_.create_options) return std::nullopt;
    std::vector<std::string> names;
    if (value.is_string()) names.emplace_back(value.get_string());
    if (value.is_array()) {
        for (const auto& v : value.get_array()) {
            if (v.is_string()) names.emplace_back(v.get_string());
        }
    }
    for (const auto& name : names) {
        if (std::find(info.options.begin(), info.options.end(), name) != info.options.end())
            continue;
        std::string known;
        for (const auto& o : info.options) known += (known.empty() ? "" : ", ") + o;
        return "`" + name + "` is not an option of " + info.name + " (" + known + ")" +
               (info.type == "status" ? "; add it in Notion"
                                      : "; add it in Notion, or set two_way.create_options: true");
    }
    return std::nullopt;
}

RowPlan WriteBack::decide(const connectors::ExternalRow& row) const {
    RowPlan plan{.page_id = row.page_id, .data_source_id = row.data_source_id};
    const auto stored = mirror_.page(row.page_id);
    if (!stored || stored->state != mirror::PageState::live) return plan;  // gone in Notion too
    const json::object base = mirror_.base(target_, row.page_id);
    const json::object& notion_values = stored->record.values;
    if (row.deleted) {
        // An edit beats a delete: a page a person changed in Notion since both sides last agreed
        // comes back into the table instead of going to the trash (and without two_way.delete a
        // deleted row never deletes the page).
        bool edited = false;
        for (const auto& [id, agreed] : base) {
            const auto* now = notion_values.if_contains(id);
            edited = edited || (now != nullptr && !same(*now, agreed));
        }
        plan.trash = settings_.trash && !edited;
        plan.restore = !plan.trash;
        return plan;
    }
    const auto source = mirror_.source(stored->data_source_id);
    if (!source || !source->schema) return plan;
    const model::Schema& schema = *source->schema;
    // Values delivered over this very capture, which had not changed them: its values for them
    // are what the row held before, not edits.
    const auto over_capture = mirror_.base_over_capture(target_, row.page_id);
    const std::string capture = capture_identity(row);
    for (const auto& [id_key, column_value] : row.values) {
        const std::string id(id_key);
        const model::PropertyInfo* info = schema.by_id(id);
        if (info == nullptr) continue;
        if (const auto it = over_capture.find(id);
            it != over_capture.end() && it->second == capture)
            continue;
        PropertyPlan p{.id = id, .name = info->name, .type = info->type};
        p.notion = notion_values.contains(id) ? notion_values.at(id) : json::value(nullptr);
        p.base = base.contains(id) ? base.at(id) : p.notion;
        p.external = column_value;
        if (!model::is_writable(info->type)) {
            // A formula or rollup edited in the target: Notion's value goes back. Not edited:
            // the column holds what was delivered (the base) or Notion's value already.
            if (holds(column_value, p.base) || holds(column_value, p.notion)) continue;
            p.action = "revert";
            p.reason = info->type + " is read-only in Notion";
            plan.properties.push_back(std::move(p));
            continue;
        }
        const model::ReadBack read = model::canonical_from_column(column_value, info->type, p.base);
        if (!read.error.empty()) {
            p.action = "revert";
            p.reason = read.error;
            plan.properties.push_back(std::move(p));
            continue;
        }
        p.external = read.value;
        if (same(p.external, p.base)) continue;  // not changed in the target
        if (const auto unknown = unknown_option(*info, p.external)) {
            p.action = "revert";
            p.reason = *unknown;
            plan.properties.push_back(std::move(p));
            continue;
        }
        // A sender that says which version it edited, older than Notion's: what it changes is
        // compared with Notion's value, not with what was last delivered to it.
        const bool stale = !row.based_on.empty() &&
                           parse_iso(stored->record.last_edited_time) > parse_iso(row.based_on);
        if (same(p.notion, p.external)) {
            p.action = "converged";  // both made the same change
        } else if (same(p.notion, p.base) && !stale) {
            p.action = "write";
        } else {
            // Both sides changed it, to different values.
            p.action = "conflict";
            p.policy = policy_for(info->name, id);
            p.decision = p.policy == "external-wins" ? "external" : "notion";
            if (p.policy == "newest-wins") {
                // Notion's last_edited_time is rounded down to the minute: the target's edit is
                // newer only when it was captured after that minute ended (a tie goes to Notion).
                const auto notion_at = parse_iso(stored->record.last_edited_time) + 60s;
                p.decision = row.captured_at >= notion_at ? "external" : "notion";
            }
            if (p.policy == "manual") p.decision = "open";
        }
        if (p.action == "write" || (p.action == "conflict" && p.decision == "external")) {
            const model::Payload payload = model::notion_property(p.external, info->type);
            if (!payload.error.empty()) {
                p.action = "revert";
                p.reason = payload.error;
            } else {
                p.payload = payload.body;
            }
        }
        plan.properties.push_back(std::move(p));
    }
    for (const auto& [id, reason] : row.errors) {
        const model::PropertyInfo* info = schema.by_id(id);
        if (info == nullptr) continue;
        PropertyPlan p{.id = id, .name = info->name, .type = info->type};
        p.notion = notion_values.contains(id) ? notion_values.at(id) : json::value(nullptr);
        p.base = base.contains(id) ? base.at(id) : p.notion;
        p.action = "revert";
        p.reason = reason;
        plan.properties.push_back(std::move(p));
    }
    return plan;
}

asio::awaitable<void> WriteBack::create(connectors::ExternalRow& row, WriteBackStats& stats) {
    if (row.deleted) co_return;  // inserted and deleted before it became a page
    if (!settings_.create) {
        ++stats.not_created;
        row.outcome.rejected.emplace_back("", "two_way.create is off: no page is made for it");
        spdlog::warn(
            "target={} table={} row {} has no page_id and two_way.create is off: it "
            "stays in the table only",
            target_, row.table, row.row_key);
        co_return;
    }
    const auto source = mirror_.source(row.data_source_id);
    if (row.data_source_id.empty() || !source || !source->schema) co_return;
    const std::string key = row.table + ":" + row.row_key;
    std::optional<mirror::CreateIntent> intent = mirror_.create_intent(target_, key);
    std::optional<json::object> page;
    json::object written;  // property id -> canonical value
    if (intent && !intent->page_id.empty()) {
        std::vector<std::string> every_property;
        notion::RequestContext context(notion::Priority::write_back, sync_.name);
        std::string id = intent->page_id;
        page = co_await client_.retrieve_page(std::move(id), std::move(every_property),
                                              std::move(context));
    } else if (intent && intent->first_try_ms != 0) {
        // An earlier POST's outcome is unknown (a crash, a timeout): look for the page instead
        // of creating a second one.
        std::string ds = intent->data_source_id;
        std::string title = intent->title;
        const auto since =
            std::chrono::system_clock::time_point(std::chrono::milliseconds(intent->first_try_ms));
        page = co_await client_.find_created_page(std::move(ds), std::move(title), since);
        if (!page && std::chrono::system_clock::now() - since < created_page_visible_after()) {
            // Only this row waits: the other rows are written and the events delivered.
            ++stats.create_waiting;
            row.outcome.later = true;
            spdlog::warn(
                "target={} row {} of {}: an earlier try to create its page may have gone through "
                "and the page is not found yet; looking for it again next cycle (never created "
                "twice; created after {} s without it)",
                target_, row.row_key, row.table,
                std::chrono::duration_cast<std::chrono::seconds>(created_page_visible_after())
                    .count());
            co_return;
        }
        if (!page) {
            spdlog::warn(
                "target={} row {} of {}: no page made by an earlier try {} s after it: it was "
                "not created; creating it now",
                target_, row.row_key, row.table,
                std::chrono::duration_cast<std::chrono::seconds>(created_page_visible_after())
                    .count());
        }
    }
    if (!page) {
        json::object properties;
        std::string title;
        for (const auto& [id_key, column_value] : row.values) {
            const model::PropertyInfo* info = source->schema->by_id(std::string(id_key));
            if (info == nullptr || !model::is_writable(info->type) || column_value.is_null())
                continue;
            const model::ReadBack read = model::canonical_from_column(column_value, info->type);
            const auto unknown =
                read.error.empty() ? unknown_option(*info, read.value) : std::nullopt;
            if (!read.error.empty() || unknown) {
                spdlog::warn("target={} new row {} of {}: `{}` left out: {}", target_, row.row_key,
                             row.table, info->name, read.error.empty() ? *unknown : read.error);
                continue;
            }
            const model::Payload payload = model::notion_property(read.value, info->type);
            if (!payload.error.empty()) continue;
            properties[info->name] = payload.body;
            written[std::string(id_key)] = read.value;
            if (info->type == "title" && read.value.is_string()) title = read.value.get_string();
        }
        // Recorded before the POST, first as not sent (a restart before it sends it then), then
        // with the time it is sent (a restart after that looks for the page).
        intent = mirror::CreateIntent{.target = target_,
                                      .row_key = key,
                                      .data_source_id = row.data_source_id,
                                      .title = title,
                                      .first_try_ms = 0};
        mirror_.put_create_intent(*intent);
        model::crash_point("writeback.before_create");
        intent->first_try_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
        mirror_.put_create_intent(*intent);
        // 409 conflict_error: Notion saved nothing (notion-api.md §4), so the POST goes again,
        // twice at most; then the intent says "not sent" and the next cycle creates it, instead
        // of looking for a page that cannot exist for 10 minutes.
        constexpr int attempts = 3;
        for (int attempt = 1; !page; ++attempt) {
            json::object body;
            body["parent"] = json::object{{"data_source_id", row.data_source_id}};
            body["properties"] = properties;
            // One key per decision to send (the intent's time): a POST sent again after the
            // lookup found nothing is a new one to the client, not "the same, outcome unknown".
            std::string idempotency =
                "notion-syncd:" + target_ + ":" + key + ":" + std::to_string(intent->first_try_ms);
            notion::RequestContext context(notion::Priority::write_back, sync_.name);
            std::optional<notion::NotionError> failure;
            try {
                page = co_await client_.create_page(std::move(body), std::move(idempotency),
                                                    std::move(context));
            } catch (const notion::NotionError& e) {
                if (e.status != 409) throw;  // maybe made: the next cycle looks for it
                failure = e;
            }
            if (failure && attempt == attempts) {
                intent->first_try_ms = 0;
                mirror_.put_create_intent(*intent);
                throw *failure;
            }
        }
        model::crash_point("writeback.after_create");
    }
    const std::string page_id = notion::PageView{*page}.id();
    row.outcome.page_id = page_id;
    intent->page_id = page_id;
    mirror_.put_create_intent(*intent);
    co_await connector_.assign_page_id(row, page_id);
    co_await poller_.ingest_written(std::move(*page));
    if (!written.empty()) mirror_.set_base(target_, page_id, written);
    // The intent (now with the page) stays until the row's capture is acknowledged: if this
    // cycle fails before, the next one finds the page there instead of creating another.
    mirror_.log_write(target_, page_id, "create", {{"table", row.table}, {"row", row.row_key}});
    ++stats.created;
    spdlog::info("target={} row {} of {} is now page {}", target_, row.row_key, row.table, page_id);
}

asio::awaitable<void> WriteBack::merge(connectors::ExternalRow& row, WriteBackStats& stats) {
    if (row.page_id.empty()) {
        co_await create(row, stats);
        co_return;
    }
    if (const auto stored = mirror_.page_digest(row.page_id);
        !stored || stored->state != mirror::PageState::live) {
        row.outcome.rejected.emplace_back(
            "",
            "no such page in this sync (unknown, in the trash or not shared with the "
            "connection)");
        co_return;
    }
    const RowPlan plan = decide(row);
    if (plan.trash) {
        // `delete: true`: the page goes to Notion's trash (a restore there brings it back).
        json::object body;
        body["in_trash"] = true;
        notion::RequestContext context(notion::Priority::write_back, sync_.name);
        std::string id = row.page_id;
        json::object page =
            co_await client_.update_page(std::move(id), std::move(body), std::move(context));
        co_await poller_.ingest_written(std::move(page));
        mirror_.drop_base(target_, row.page_id);
        ++stats.trashed;
        mirror_.log_write(target_, row.page_id, "trash",
                          {{"reason", "the row was deleted in the target (two_way.delete)"}});
        spdlog::info("target={} page={} row deleted in the target: page moved to Notion's trash",
                     target_, row.page_id);
        co_return;
    }
    if (plan.restore) {
        mirror_.add_reverts(target_, {row.page_id});
        ++stats.restored;
        const std::string reason =
            settings_.trash
                ? "the row was deleted in the target after the page changed in Notion (an edit "
                  "beats a delete)"
                : "the row was deleted in the target; two_way.delete is off";
        mirror_.log_write(target_, row.page_id, "restore", {{"reason", reason}});
        row.outcome.rejected.emplace_back("", reason);
        spdlog::warn("target={} page={} {}: restored from Notion", target_, row.page_id, reason);
        co_return;
    }
    json::object properties;  // name -> API value, for the PATCH
    json::object written;     // property id -> canonical value written
    json::object agreed;      // property id -> value both sides now hold
    json::object changes;     // name -> {from, to}, for history
    bool revert = false;
    for (const auto& p : plan.properties) {
        if (p.action == "revert") {
            revert = true;
            ++stats.reverted;
            row.outcome.rejected.emplace_back(p.name, p.reason);
            mirror_.log_write(target_, row.page_id, "revert",
                              {{"property", p.name}, {"reason", p.reason}});
            spdlog::warn("target={} page={} property `{}`: {}; reverted", target_, row.page_id,
                         p.name, p.reason);
            continue;
        }
        if (p.action == "converged") {
            agreed[p.id] = p.external;
            ++stats.converged;
            continue;
        }
        if (p.action == "conflict") {
            ++stats.conflicts;
            if (p.decision == "open" && mirror_.has_open_conflict(target_, row.page_id, p.id)) {
                // Still parked: it shows each side's latest value, the one a resolution takes.
                mirror_.update_open_conflict(target_, row.page_id, p.id, p.notion, p.external);
            } else {
                mirror_.add_conflict({.target = target_,
                                      .page_id = row.page_id,
                                      .property_id = p.id,
                                      .property = p.name,
                                      .base = p.base,
                                      .notion = p.notion,
                                      .external = p.external,
                                      .policy = p.policy,
                                      .decision = p.decision});
            }
            mirror_.log_write(target_, row.page_id, "conflict",
                              {{"property", p.name},
                               {"notion", p.notion},
                               {"target", p.external},
                               {"policy", p.policy},
                               {"decision", p.decision}});
            std::string outcome = p.decision + " wins";
            if (p.decision == "open") outcome = "parked for a person";
            spdlog::warn("target={} page={} property `{}` changed on both sides: {} ({})", target_,
                         row.page_id, p.name, outcome, p.policy);
            // Notion's value goes back into the row; the base moves when that delivery is done
            // (not now: if this cycle fails before the edit is acknowledged, the next one must
            // see the conflict again, not an edit of the agreed value).
            if (p.decision == "notion") {
                revert = true;
                row.outcome.rejected.emplace_back(
                    p.name, "conflict: Notion's value wins (" + p.policy + ")");
            }
            if (p.decision == "open") {
                row.outcome.rejected.emplace_back(p.name, "conflict: parked for a person (manual)");
            }
            if (p.decision != "external") continue;
        }
        // write, or a conflict the target's value won
        properties[p.name] = p.payload;
        written[p.id] = p.external;
        row.outcome.written.push_back(p.name);
        changes[p.name] = {{"from", p.notion}, {"to", p.external}};
    }
    if (!properties.empty()) {
        const auto started = std::chrono::steady_clock::now();
        co_await write(row.page_id, properties, written);
        for (const auto& [id, value] : written) agreed[id] = value;
        ++stats.pages_written;
        stats.properties_written += properties.size();
        mirror_.log_write(target_, row.page_id, "write", {{"properties", changes}});
        log::info({{"target", target_},
                   {"page", row.page_id},
                   {"properties", properties.size()},
                   {"duration_ms", log::ms_since(started)}},
                  "target={} page={} wrote {} properties to Notion", target_, row.page_id,
                  properties.size());
    }
    if (!agreed.empty()) mirror_.set_base(target_, row.page_id, agreed);
    if (!properties.empty()) mirror_.drop_pending_write(target_, row.page_id);
    if (revert) mirror_.add_reverts(target_, {row.page_id});
    if (row.body) co_await write_body(row, stats);
}

asio::awaitable<void> WriteBack::write_body(connectors::ExternalRow& row, WriteBackStats& stats) {
    const connectors::BodyEdit& edit = *row.body;
    std::string refused = edit.error;
    if (refused.empty() && !edit.ops.empty()) {
        // Notion's blocks now, not the mirror's: a write that was cut short (a crash) or sent
        // already finds them changed and adds nothing twice.
        const std::string now = co_await poller_.current_content_hash(row.page_id);
        if (now != edit.based_on) {
            refused =
                "the page's body changed in Notion since the file was written: Notion's body "
                "wins, the file's version is kept in a conflict copy when Notion's replaces it";
        }
    }
    const bool versioned = client_.config().version == "2026-03-11";
    for (const auto& op : edit.ops) {
        if (refused.empty() && op.kind == connectors::BlockOp::Kind::insert && op.start &&
            !versioned) {
            refused =
                "a block added before the first one needs Notion-Version 2026-03-11 "
                "(notion.version); add it after another block, or in Notion";
        }
    }
    if (!refused.empty()) {
        ++stats.conflicts;
        row.outcome.rejected.emplace_back("body", refused);
        mirror_.log_write(target_, row.page_id, "conflict",
                          {{"property", "body"}, {"reason", refused}});
        spdlog::warn("target={} page={} body not written: {}", target_, row.page_id, refused);
        co_return;
    }
    if (edit.ops.empty()) co_return;
    const auto started = std::chrono::steady_clock::now();
    std::size_t updated = 0;
    std::size_t removed = 0;
    std::size_t inserted = 0;
    for (const auto& op : edit.ops) {
        notion::RequestContext context(notion::Priority::write_back, sync_.name);
        if (op.kind == connectors::BlockOp::Kind::update) {
            const auto& block = op.blocks.at(0).as_object();
            const std::string type(block.at("type").as_string());
            json::object body;
            body[type] = block.at(type);
            std::string id = op.block_id;
            co_await client_.update_block(std::move(id), std::move(body), std::move(context));
            ++updated;
        } else if (op.kind == connectors::BlockOp::Kind::remove) {
            std::string id = op.block_id;
            co_await client_.delete_block(std::move(id), std::move(context));
            ++removed;
        } else {
            // At most 100 children per call: each further call goes after the last one made.
            std::optional<std::string> after;
            if (op.start) after = std::string();
            if (!op.after.empty()) after = op.after;
            for (std::size_t from = 0; from < op.blocks.size(); from += 100) {
                json::array children(op.blocks.begin() + static_cast<std::ptrdiff_t>(from),
                                     op.blocks.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                             op.blocks.size(), from + 100)));
                const std::size_t count = children.size();
                std::string parent = row.page_id;
                notion::RequestContext append_context(notion::Priority::write_back, sync_.name);
                const notion::ListPage made = co_await client_.append_block_children(
                    std::move(parent), std::move(children), after, std::move(append_context));
                if (!made.results.empty() && made.results.back().is_object())
                    after = std::string(made.results.back().at("id").as_string());
                inserted += count;
            }
        }
        model::crash_point("writeback.after_block");
    }
    // The page read again: its blocks (and the event every target gets) follow the edit.
    notion::RequestContext read_context(notion::Priority::write_back, sync_.name);
    std::string id = row.page_id;
    std::vector<std::string> every_property;
    json::object page = co_await client_.retrieve_page(std::move(id), std::move(every_property),
                                                       std::move(read_context));
    co_await poller_.ingest_written(std::move(page));
    ++stats.pages_written;
    row.outcome.written.push_back("body");
    mirror_.log_write(
        target_, row.page_id, "write",
        {{"body", {{"updated", updated}, {"removed", removed}, {"added", inserted}}}});
    log::info({{"target", target_},
               {"page", row.page_id},
               {"blocks_updated", updated},
               {"blocks_removed", removed},
               {"blocks_added", inserted},
               {"duration_ms", log::ms_since(started)}},
              "target={} page={} wrote the body to Notion: {} blocks updated, {} removed, {} "
              "added",
              target_, row.page_id, updated, removed, inserted);
}

asio::awaitable<std::vector<RowPlan>> WriteBack::plan() {
    std::vector<RowPlan> out;
    std::vector<connectors::ExternalRow> rows = co_await connector_.external_changes();
    if (verify_due()) {
        WriteBackStats ignored;
        const std::vector<connectors::ExternalRow> found = co_await verify(rows, ignored);
        rows.insert(rows.end(), found.begin(), found.end());
    }
    const std::vector<std::string> held = held_by_brakes(rows, nullptr);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& row = rows[i];
        RowPlan plan = row.page_id.empty() ? planned_create(row) : decide(row);
        plan.held = held[i];
        plan.verify = row.capture.empty();
        if (row.body && !row.body->error.empty()) {
            plan.body = "conflict: " + row.body->error;
        } else if (row.body) {
            std::size_t updated = 0;
            std::size_t removed = 0;
            std::size_t added = 0;
            for (const auto& op : row.body->ops) {
                if (op.kind == connectors::BlockOp::Kind::update) ++updated;
                if (op.kind == connectors::BlockOp::Kind::remove) ++removed;
                if (op.kind == connectors::BlockOp::Kind::insert) added += op.blocks.size();
            }
            plan.body = "write: " + std::to_string(updated) + " blocks updated, " +
                        std::to_string(removed) + " removed, " + std::to_string(added) +
                        " added (if Notion's blocks are still those the file was written from)";
        }
        if (plan.restore || plan.trash || plan.create || !plan.held.empty() ||
            !plan.properties.empty() || !plan.body.empty())
            out.push_back(std::move(plan));
    }
    co_return out;
}

RowPlan WriteBack::planned_create(const connectors::ExternalRow& row) const {
    RowPlan plan{.data_source_id = row.data_source_id};
    const auto source = mirror_.source(row.data_source_id);
    if (row.deleted || !settings_.create || !source || !source->schema) return plan;
    plan.create = true;
    for (const auto& [id_key, column_value] : row.values) {
        const model::PropertyInfo* info = source->schema->by_id(std::string(id_key));
        if (info == nullptr || !model::is_writable(info->type) || column_value.is_null()) continue;
        const model::ReadBack read = model::canonical_from_column(column_value, info->type);
        if (!read.error.empty() || unknown_option(*info, read.value)) continue;
        plan.properties.push_back({.id = std::string(id_key),
                                   .name = info->name,
                                   .type = info->type,
                                   .external = read.value,
                                   .action = "create"});
    }
    return plan;
}

}  // namespace syncd::sync
