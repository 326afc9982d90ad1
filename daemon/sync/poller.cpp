#include "daemon/sync/poller.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <set>

#include "daemon/model/crash_point.hpp"
#include "daemon/model/json_text.hpp"

namespace syncd::sync {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using notion::Priority;
using notion::RequestContext;

// How often the list of a job's data sources is re-read when nothing asks for it.
constexpr auto sources_refresh = 10min;

std::string string_at(const json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string())
        return std::string(v->get_string());
    return {};
}

// ISO time minus a duration, for the overlap window (timestamps are minute-rounded:
// notion-api.md §0.6).
std::string minus(const std::string& iso, std::chrono::milliseconds d) {
    std::tm tm{};
    if (iso.size() < 19 || !strptime(iso.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm))
        return iso;
    const auto t = std::chrono::system_clock::from_time_t(timegm(&tm)) - d;
    const auto secs =
        std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
    char out[32];
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S.000Z", std::gmtime(&secs));
    return out;
}

std::string iso(std::chrono::system_clock::time_point t) {
    const auto secs =
        std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char out[32];
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return out;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Poller::Poller(const config::SyncSettings& settings, notion::NotionReads& client,
               mirror::Mirror& mirror, ReadLedger& ledger)
    : settings_(settings),
      client_(client),
      mirror_(mirror),
      ledger_(ledger),
      poll_context_(Priority::poll, settings.name) {}

boost::asio::awaitable<void> Poller::walk_page(std::string page_id, int depth,
                                               std::vector<std::string>& sources) {
    if (depth > 20) co_return;
    RequestContext context(Priority::schema, settings_.name);
    notion::Pager children = client_.block_children_all(page_id, context);
    for (;;) {
        std::optional<notion::ListPage> page = co_await children.next();
        if (!page) break;
        for (const auto& block : page->results) {
            const auto& b = block.as_object();
            const std::string type = string_at(b, "type");
            if (type == "child_database") {
                json::object db = co_await client_.retrieve_database(string_at(b, "id"), context);
                for (const auto& ds : db.at("data_sources").as_array()) {
                    sources.push_back(string_at(ds.as_object(), "id"));
                }
            } else if (type == "child_page") {
                tree_[string_at(b, "id")] = page_id;
                co_await walk_page(string_at(b, "id"), depth + 1, sources);
            }
        }
    }
}

std::string Poller::tree_source() const { return "page:" + settings_.source.id; }

bool Poller::is_tree(const std::string& data_source_id) const {
    return settings_.source.kind == "page" && data_source_id == tree_source();
}

void Poller::load_tree() {
    tree_.clear();
    tree_[settings_.source.id] = "";
    for (const auto& id : mirror_.live_pages(tree_source())) {
        const auto stored = mirror_.page(id);
        if (!stored) continue;
        const auto* parent = stored->record.values.if_contains("parent");
        tree_[id] = parent && parent->is_string() ? std::string(parent->get_string()) : "";
    }
}

model::Schema Poller::tree_schema() const {
    return model::Schema{
        .data_source_id = tree_source(),
        .title = "pages",
        .properties = {{"title", "title", "title"}, {"parent", "parent", "rich_text"}}};
}

void Poller::as_tree_page(json::object& page) const {
    // A plain page as a row of the tree's data source: its parent page as a text property.
    const std::string id = string_at(page, "id");
    std::string parent;
    if (const auto* p = page.if_contains("parent"); p && p->is_object())
        parent = string_at(p->get_object(), "page_id");
    if (id == settings_.source.id) parent.clear();
    page["parent"] = json::object{{"type", "data_source_id"}, {"data_source_id", tree_source()}};
    auto& properties = page["properties"];
    if (!properties.is_object()) properties = json::object{};
    auto& props = properties.as_object();
    json::object title_property = {{"id", "title"}, {"type", "title"}, {"title", json::array()}};
    for (const auto& [name, value] : props) {
        if (value.is_object() && string_at(value.get_object(), "type") == "title")
            title_property = value.get_object();
    }
    title_property["id"] = "title";
    props.clear();
    props["title"] = std::move(title_property);
    props["parent"] =
        json::object{{"id", "parent"},
                     {"type", "rich_text"},
                     {"rich_text", json::array{json::object{{"plain_text", parent}}}}};
}

boost::asio::awaitable<void> Poller::read_tree(const std::string& ds, PollStats& stats) {
    const auto state = mirror_.source(ds);
    const std::string watermark = state ? state->watermark : std::string();
    RequestContext context = poll_context_;
    json::array found;
    if (watermark.empty() || !mirror_.has_live_pages(ds)) {
        // First read: every page the crawl (resolve) found.
        // No structured bindings in this coroutine: g++ 12 mishandles them across co_await.
        std::vector<std::string> ids;
        for (const auto& entry : tree_) ids.push_back(entry.first);
        for (const auto& id : ids) {
            json::object page = co_await client_.retrieve_page(id, {}, context);
            if (!page.at("in_trash").as_bool()) found.push_back(std::move(page));
        }
    } else {
        // Edits deep in a tree do not move their parents' last_edited_time: search pages by
        // last_edited_time, newest first, down to the watermark (less the overlap); one request
        // when nothing changed. Search is not exhaustive (notion-api.md §6.1): reconcile_every
        // crawls the tree.
        const std::string from = minus(watermark, settings_.overlap);
        json::object body{
            {"filter", json::object{{"property", "object"}, {"value", "page"}}},
            {"sort", json::object{{"timestamp", "last_edited_time"}, {"direction", "descending"}}},
            {"page_size", 100}};
        notion::Pager pager = client_.search_all(std::move(body), context);
        bool done = false;
        while (!done) {
            std::optional<notion::ListPage> page = co_await pager.next();
            if (!page) break;
            for (auto& result : page->results) {
                if (string_at(result.as_object(), "last_edited_time") < from) {
                    done = true;
                    break;
                }
                found.push_back(std::move(result));
            }
        }
        // Only pages of this tree: known ones, and new ones whose parent is in it (to a fixpoint:
        // a new page may sit under another new page).
        json::array in_tree;
        for (bool grew = true; grew;) {
            grew = false;
            for (auto& candidate : found) {
                if (!candidate.is_object()) continue;
                const auto& o = candidate.as_object();
                const std::string id = string_at(o, "id");
                std::string parent;
                if (const auto* p = o.if_contains("parent"); p && p->is_object())
                    parent = string_at(p->get_object(), "page_id");
                if (!tree_.contains(id) && !(parent.size() && tree_.contains(parent))) continue;
                if (!tree_.contains(id)) tree_[id] = parent;
                in_tree.push_back(std::move(candidate));
                candidate = nullptr;
                grew = true;
            }
        }
        found = std::move(in_tree);
    }
    std::string highest = watermark;
    for (auto& page : found) {
        auto& o = page.as_object();
        highest = std::max(highest, string_at(o, "last_edited_time"));
        as_tree_page(o);
    }
    for (std::size_t at = 0; at < found.size(); at += 100) {
        json::array chunk(
            found.begin() + static_cast<std::ptrdiff_t>(at),
            found.begin() + static_cast<std::ptrdiff_t>(std::min(found.size(), at + 100)));
        const bool last = at + 100 >= found.size();
        co_await ingest(ds, chunk, stats, last ? &highest : nullptr);
    }
    if (found.empty() && highest.empty()) {
        // An empty tree still has a position, so the next read is incremental.
        mirror::Mirror::Batch batch(mirror_);
        batch.set_watermark(settings_.name, ds, "1970-01-01T00:00:00.000Z");
        batch.commit();
    }
}

boost::asio::awaitable<void> Poller::reconcile_tree(const std::string& ds, PollStats& stats) {
    // Crawl the tree again: pages it no longer holds are deleted (trashed, gone, moved out);
    // pages the crawl finds that the mirror lacks (search missed them) are read.
    tree_.clear();
    tree_[settings_.source.id] = "";
    // Not into data_sources_: poll_once is iterating it (a database found here is read after
    // the next resolve).
    std::vector<std::string> databases;
    co_await walk_page(settings_.source.id, 0, databases);
    RequestContext context(Priority::reconcile, settings_.name);
    json::array missing_pages;
    std::vector<std::string> crawled;
    for (const auto& entry : tree_) crawled.push_back(entry.first);
    for (const auto& id : crawled) {
        if (mirror_.page_digest(id)) continue;
        json::object page = co_await client_.retrieve_page(id, {}, context);
        if (page.at("in_trash").as_bool()) continue;
        as_tree_page(page);
        missing_pages.push_back(std::move(page));
    }
    if (!missing_pages.empty()) co_await ingest(ds, missing_pages, stats, nullptr);
    for (const auto& id : mirror_.live_pages(ds)) {
        if (tree_.contains(id)) continue;
        const auto stored = mirror_.page(id);
        if (!stored) continue;
        model::ChangeEvent event{.kind = "deleted",
                                 .sync = settings_.name,
                                 .data_source_id = ds,
                                 .page_id = id,
                                 .last_edited_time = stored->record.last_edited_time,
                                 .url = stored->record.url};
        for (const auto& member : stored->record.values) {
            event.properties[member.key()] = member.value();
            event.property_ids[member.key()] = member.key();
        }
        mirror::PageState state = mirror::PageState::deleted;
        try {
            const json::object page = co_await client_.retrieve_page(id, {}, context);
            (void)page;  // visible but no longer under the root: it left the tree
        } catch (const notion::NotionError& e) {
            if (e.status != 404) throw;
            event.kind = "access_lost";
            state = mirror::PageState::access_lost;
        }
        mirror::Mirror::Batch batch(mirror_);
        batch.put_page(settings_.name, stored->record, state);
        batch.add_event(std::move(event));
        batch.commit();
        ++stats.events;
    }
    mirror::Mirror::Batch batch(mirror_);
    batch.set_reconciled(ds, now_ms());
    batch.commit();
}

boost::asio::awaitable<void> Poller::resolve() {
    const auto now = std::chrono::steady_clock::now();
    if (!data_sources_.empty() && now - resolved_at_ < sources_refresh) co_return;
    const auto& source = settings_.source;
    if (data_sources_.empty() && source.kind != "data_source") {
        // A recent resolution kept in the mirror (an earlier sync-once) costs no request.
        const auto age = std::chrono::milliseconds(now_ms() - mirror_.resolved_at(settings_.name));
        auto known = mirror_.job_sources(settings_.name);
        if (!known.empty() && age >= 0ms && age < sources_refresh &&
            mirror_.resolved_source(settings_.name) == source.kind + ":" + source.id) {
            data_sources_ = std::move(known);
            resolved_at_ = now - age;
            if (source.kind == "page") load_tree();
            co_return;
        }
    }
    RequestContext context(Priority::schema, settings_.name);
    std::vector<std::string> previous = std::move(data_sources_);
    data_sources_.clear();
    if (source.kind == "data_source") {
        data_sources_.push_back(source.id);
    } else if (source.kind == "database") {
        // Every data source of the database, including ones added later.
        json::object db = co_await client_.retrieve_database(source.id, context);
        for (const auto& ds : db.at("data_sources").as_array())
            data_sources_.push_back(string_at(ds.as_object(), "id"));
    } else if (source.kind == "page") {
        // The tree's plain pages are a data source of their own ("page:<root>"); its child
        // databases' data sources are read as usual. The root must be a plain page: a database
        // row's place is its data source.
        const json::object root = co_await client_.retrieve_page(source.id, {}, context);
        std::string parent_type;
        std::string parent_source;
        if (const auto* parent = root.if_contains("parent"); parent && parent->is_object()) {
            parent_type = string_at(parent->get_object(), "type");
            parent_source = string_at(parent->get_object(), "data_source_id");
            if (parent_source.empty())
                parent_source = string_at(parent->get_object(), "database_id");
        }
        if (parent_type == "data_source_id" || parent_type == "database_id") {
            notion::NotionError error(
                notion::ErrorKind::permanent,
                "`page: " + source.id + "` (sync `" + settings_.name +
                    "`): this id is a row of a database (data source " + parent_source +
                    "), not a plain page; write `data_source: " + parent_source +
                    "` to sync the rows of that database, or give `page:` a plain page (it "
                    "syncs that page and the pages under it)");
            error.code = "wrong_id_kind";
            throw error;
        }
        tree_.clear();
        tree_[source.id] = "";
        co_await walk_page(source.id, 0, data_sources_);
        data_sources_.push_back(tree_source());
    } else {
        json::object body{
            {"filter", json::object{{"property", "object"}, {"value", "data_source"}}}};
        notion::Pager pager = client_.search_all(std::move(body), context);
        for (;;) {
            std::optional<notion::ListPage> page = co_await pager.next();
            if (!page) break;
            for (const auto& ds : page->results)
                data_sources_.push_back(string_at(ds.as_object(), "id"));
        }
    }
    for (const auto& id : data_sources_) {
        if (std::find(previous.begin(), previous.end(), id) == previous.end() &&
            !previous.empty()) {
            spdlog::info("sync={} data_source={} found; reading it", settings_.name, id);
        }
    }
    resolved_at_ = now;
    mirror_.set_job_sources(settings_.name, data_sources_, now_ms(),
                            settings_.source.kind + ":" + settings_.source.id);
}

boost::asio::awaitable<PollStats> Poller::poll_once(
    bool reconcile_now, std::chrono::steady_clock::time_point fresh_after,
    const std::set<std::string>* only) {
    std::optional<notion::NotionError> missing;
    PollStats stats;
    try {
        stats = co_await poll_sources(reconcile_now, fresh_after, only);
    } catch (const notion::NotionError& e) {
        if (!about_source(e)) throw;
        missing = e;
    }
    if (!missing) co_return stats;
    notion::NotionError explained = co_await explain_missing(*missing);
    throw explained;
}

boost::asio::awaitable<std::size_t> Poller::ingest_written(json::object page) {
    const std::string ds = notion::PageView{page}.data_source_id();
    json::array results;
    results.push_back(std::move(page));
    PollStats stats;
    co_await ingest(ds, results, stats, nullptr);
    co_return stats.events;
}

boost::asio::awaitable<std::string> Poller::current_content_hash(std::string page_id) {
    const json::array blocks = co_await fetch_blocks(std::move(page_id), 0);
    co_return model::content_hash(blocks);
}

boost::asio::awaitable<void> Poller::check() {
    std::optional<notion::NotionError> missing;
    try {
        PollStats stats;
        co_await resolve();
        for (const auto& ds : data_sources_) co_await ensure_schema(ds, stats);
        check_property_names();
    } catch (const notion::NotionError& e) {
        if (!about_source(e)) throw;
        missing = e;
    }
    if (!missing) co_return;
    notion::NotionError explained = co_await explain_missing(*missing);
    throw explained;
}

boost::asio::awaitable<void> Poller::ensure_schema(const std::string& ds, PollStats& stats) {
    // The schema is kept in the mirror: read again every `schema_every`, or when a page shows a
    // property it does not know (read_changes), not on every start.
    const auto stored = mirror_.source(ds);
    if (!stored || !stored->schema ||
        now_ms() - stored->schema_read_at >= settings_.schema_every.count() ||
        schema_stale_.contains(ds)) {
        co_await refresh_schema(ds, stats);
    } else if (!schemas_.contains(ds)) {
        schemas_[ds] = *stored->schema;
    }
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                              std::tolower(static_cast<unsigned char>(b[j - 1]));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

}  // namespace

void Poller::check_property_names() const {
    std::vector<const model::Schema*> schemas;
    for (const auto& ds : data_sources_) {
        if (const auto it = schemas_.find(ds); it != schemas_.end()) schemas.push_back(&it->second);
    }
    if (schemas.empty()) return;  // nothing to check against yet (an empty discover)
    auto known = [&](const std::string& name) {
        return std::any_of(schemas.begin(), schemas.end(), [&](const model::Schema* s) {
            return std::any_of(s->properties.begin(), s->properties.end(),
                               [&](const auto& p) { return p.name == name || p.id == name; });
        });
    };
    std::string problems;
    auto report = [&](const config::TargetSettings& target, const char* key,
                      const std::string& name) {
        std::string closest;
        std::size_t best = std::string::npos;
        std::set<std::string> names;
        for (const auto* s : schemas) {
            for (const auto& p : s->properties) {
                names.insert(p.name);
                const auto d = edit_distance(name, p.name);
                if (d < best) {
                    best = d;
                    closest = p.name;
                }
            }
        }
        problems += "\n  sync `" + settings_.name + "`, target `" + target.connector + "`: " + key +
                    " names the property `" + name + "`, which no data source of this job has";
        if (!closest.empty() && best <= std::max<std::size_t>(2, name.size() / 3)) {
            problems += "; did you mean `" + closest + "`?";
        } else {
            std::string list;
            for (const auto& n : names) list += (list.empty() ? "" : ", ") + ("`" + n + "`");
            problems += " (its properties: " + list + ")";
        }
    };
    for (const auto& target : settings_.targets) {
        for (const auto& [property, column] : target.mapping) {
            if (!known(property)) report(target, "mapping", property);
        }
        for (const auto& name : target.include) {
            if (!known(name)) report(target, "include", name);
        }
        for (const auto& name : target.exclude) {
            if (!known(name)) report(target, "exclude", name);
        }
    }
    if (!problems.empty()) {
        throw config::Error(
            "the configuration names properties Notion does not have (nothing was synced for "
            "this job; fix the names, property names are case-sensitive):" +
            problems);
    }
}

bool Poller::about_source(const notion::NotionError& error) const {
    if (error.status != 404) return false;
    const auto& kind = settings_.source.kind;
    if (kind == "data_source") {
        return error.route == "GET /v1/data_sources/{id}" ||
               error.route == "POST /v1/data_sources/{id}/query";
    }
    if (kind == "database") return error.route == "GET /v1/databases/{id}";
    if (kind == "page") {
        return error.route == "GET /v1/pages/{id}" || error.route == "GET /v1/blocks/{id}/children";
    }
    return false;
}

boost::asio::awaitable<notion::NotionError> Poller::explain_missing(notion::NotionError original) {
    // g++ 12: no conditional-expression temporaries or lambdas in the co_return expressions of
    // a coroutine; every message is built in plain statements first.
    const auto& source = settings_.source;
    const std::string key =
        "`" + source.kind + ": " + source.id + "` (sync `" + settings_.name + "`)";
    RequestContext context(Priority::schema, settings_.name);
    std::string wrong_kind;
    // Is the id another kind of object? Each probe that fails just means "not that".
    if (source.kind != "database") {
        std::optional<json::object> db;
        try {
            db = co_await client_.retrieve_database(source.id, context);
        } catch (const notion::NotionError&) {
        }
        if (db) {
            std::string choices;
            if (const auto* list = db->if_contains("data_sources"); list && list->is_array()) {
                for (const auto& ds : list->as_array()) {
                    const auto& o = ds.as_object();
                    if (!choices.empty()) choices += ", ";
                    choices += string_at(o, "id") + " (" + string_at(o, "name") + ")";
                }
            }
            std::string instead = "a data source";
            if (source.kind == "page") instead = "a page";
            wrong_kind = key + ": this id is a database, not " + instead +
                         "; write `database: " + source.id + "` to sync every data source of it";
            if (!choices.empty()) wrong_kind += ", or `data_source:` with one of: " + choices;
        }
    }
    if (wrong_kind.empty() && source.kind != "data_source") {
        std::optional<json::object> ds;
        try {
            ds = co_await client_.retrieve_data_source(source.id, context);
        } catch (const notion::NotionError&) {
        }
        if (ds) {
            wrong_kind = key + ": this id is a data source; write `data_source: " + source.id + "`";
        }
    }
    if (wrong_kind.empty() && source.kind != "page") {
        std::optional<json::object> page;
        try {
            page = co_await client_.retrieve_page(source.id, {}, context);
        } catch (const notion::NotionError&) {
        }
        if (page) {
            wrong_kind = key + ": this id is a page; write `page: " + source.id +
                         "` to sync it and the pages under it";
        }
    }
    if (!wrong_kind.empty()) {
        notion::NotionError error(notion::ErrorKind::permanent, wrong_kind);
        error.code = "wrong_id_kind";
        co_return error;
    }
    std::string what = source.kind;
    if (what == "data_source") what = "data source";
    notion::NotionError error(
        notion::ErrorKind::permanent,
        key + ": Notion does not show this " + what +
            " to the connection (404 object_not_found). Share it with the connection in Notion "
            "(••• → Connections → add the connection; sharing a page shares what is under it), "
            "or check the id: `notion-syncd discover` lists what the connection sees");
    error.status = 404;
    error.code = original.code;
    error.route = original.route;
    error.request_id = original.request_id;
    co_return error;
}

boost::asio::awaitable<PollStats> Poller::poll_sources(
    bool reconcile_now, std::chrono::steady_clock::time_point fresh_after,
    const std::set<std::string>* only) {
    PollStats stats;
    progress_at_ = std::chrono::steady_clock::now();
    progress_pages_ = 0;
    if (reconcile_requested_) {
        reconcile_now = true;
        reconcile_requested_ = false;
    }
    co_await resolve();
    stats.data_sources = data_sources_.size();
    // Every schema first: a property name of the targets that Notion does not have stops the job
    // before anything is read (a mapping typo would otherwise drop that column silently).
    for (const auto& ds : data_sources_) co_await ensure_schema(ds, stats);
    check_property_names();
    for (const auto& ds : data_sources_) {
        // A data source another job read completely since `fresh_after` is not read again: the
        // mirror is one copy, and that read's events reach this job's targets too.
        const auto read = ledger_.find(ds);
        const bool fresh = fresh_after != std::chrono::steady_clock::time_point{} &&
                           read != ledger_.end() && read->second >= fresh_after;
        // A data source never read is read whatever the schedule says.
        const bool skipped = only && !only->contains(ds) && read != ledger_.end();
        if (skipped) continue;
        if (!fresh) {
            const auto events_before = stats.events;
            const auto pages_before = stats.pages_read;
            const auto contents_before = stats.contents_read;
            const auto before = mirror_.source(ds);
            const bool first_read =
                (!before || before->watermark.empty()) && !mirror_.has_live_pages(ds);
            if (is_tree(ds)) {
                co_await read_tree(ds, stats);
            } else {
                co_await read_changes(ds, stats);
            }
            ledger_[ds] = std::chrono::steady_clock::now();
            stats.sources_read[ds] = {.events = stats.events - events_before,
                                      .requests = 1 + (stats.pages_read - pages_before) / 100 +
                                                  (stats.contents_read - contents_before)};
            if (first_read) {
                // A complete first read is as good as a reconciliation: nothing to find missing.
                mirror::Mirror::Batch batch(mirror_);
                batch.set_reconciled(ds, now_ms());
                batch.set_refreshed(ds, now_ms());
                batch.commit();
            }
        }
        const auto state = mirror_.source(ds);
        // Computed values (rollups, formulas, relation back-links) change without moving
        // last_edited_time: a budgeted whole re-read finds them.
        const bool refresh_due = settings_.refresh_every && state && state->schema &&
                                 has_computed(*state->schema) &&
                                 now_ms() - state->refreshed_at >= settings_.refresh_every->count();
        if (refresh_due) {
            co_await refresh_values(ds, stats);
            stats.refreshed = true;
        }
        const bool due = settings_.reconcile_every &&
                         (!state || state->reconciled_at == 0 ||
                          now_ms() - state->reconciled_at >= settings_.reconcile_every->count());
        if (reconcile_now || due) {
            if (is_tree(ds)) {
                co_await reconcile_tree(ds, stats);
            } else {
                co_await reconcile(ds, stats);
            }
            stats.reconciled = true;
        }
    }
    if (stats.reconciled) brake_released_ = false;
    stats.held_deletes = mirror_.held_deletes(settings_.name);
    co_return stats;
}

bool Poller::has_computed(const model::Schema& schema) {
    return std::any_of(schema.properties.begin(), schema.properties.end(), [](const auto& p) {
        return p.type == "rollup" || p.type == "formula" || p.type == "relation";
    });
}

boost::asio::awaitable<void> Poller::refresh_values(const std::string& ds, PollStats& stats) {
    // Every page, at the reconciliation priority; unchanged ones cost a hash comparison and make
    // no event, a moved rollup makes an `updated`. The watermark does not move.
    RequestContext context(Priority::reconcile, settings_.name);
    notion::Pager pager = client_.query_all(ds, json::object{{"page_size", 100}}, {}, context);
    const auto before = stats.events;
    for (;;) {
        std::optional<notion::ListPage> page = co_await pager.next();
        if (!page) break;
        co_await ingest(ds, page->results, stats, nullptr);
    }
    mirror::Mirror::Batch batch(mirror_);
    batch.set_refreshed(ds, now_ms());
    batch.commit();
    spdlog::info("sync={} data_source={} values refreshed: {} changes", settings_.name, ds,
                 stats.events - before);
}

boost::asio::awaitable<void> Poller::refresh_schema(const std::string& ds, PollStats& stats) {
    RequestContext context(Priority::schema, settings_.name);
    model::Schema schema;
    if (is_tree(ds)) {
        schema = tree_schema();  // a page tree's rows: title and parent, no request
    } else {
        json::object raw = co_await client_.retrieve_data_source(ds, context);
        schema = model::Schema::from_data_source(raw);
    }
    schema_stale_.erase(ds);
    schemas_[ds] = schema;
    const auto stored = mirror_.source(ds);
    json::array changed;
    json::object ids;
    for (const auto& p : schema.properties) {
        const model::PropertyInfo* before =
            stored && stored->schema ? stored->schema->by_id(p.id) : nullptr;
        if (stored && stored->schema &&
            (!before || before->name != p.name || before->type != p.type)) {
            changed.emplace_back(p.name);
        }
        ids[p.name] = p.id;
    }
    if (stored && stored->schema) {
        for (const auto& p : stored->schema->properties) {
            if (schema.by_id(p.id) == nullptr) changed.emplace_back(p.name);
        }
    }
    const bool first = !stored || !stored->schema;
    mirror::Mirror::Batch batch(mirror_);
    if (!first && changed.empty() && stored->schema->title == schema.title) {
        // Options of selects (two-way checks writes against them) may have changed: kept without
        // an event (targets do not hold options).
        if (model::to_json_text(stored->schema->to_json()) != model::to_json_text(schema.to_json()))
            batch.set_schema(settings_.name, schema);
        batch.set_schema_read(ds, now_ms());
        batch.commit();
        co_return;
    }
    batch.set_schema(settings_.name, schema);
    batch.set_schema_read(ds, now_ms());
    if (!first) {
        // Renames are tracked by property id: values and columns stay; only names change.
        model::ChangeEvent event{
            .kind = "schema_changed", .sync = settings_.name, .data_source_id = ds};
        event.changed = changed;
        event.property_ids = ids;
        batch.add_event(std::move(event));
        ++stats.events;
        spdlog::info("sync={} data_source={} schema changed: {}", settings_.name, ds,
                     json::serialize(changed));
    }
    batch.commit();
}

boost::asio::awaitable<void> Poller::complete(json::object& page) {
    auto* props = page.if_contains("properties");
    if (props == nullptr || !props->is_object()) co_return;
    for (auto& [name, value] : props->as_object()) {
        auto& p = value.as_object();
        if (!model::is_truncated(p)) continue;
        const std::string type = string_at(p, "type");
        json::array items;
        notion::Pager pager =
            client_.page_property_all(string_at(page, "id"), string_at(p, "id"), poll_context_);
        for (;;) {
            std::optional<notion::ListPage> chunk = co_await pager.next();
            if (!chunk) break;
            for (auto& item : chunk->results) {
                auto& io = item.as_object();
                if (io.contains(type)) items.push_back(io.at(type));
            }
        }
        p[type] = std::move(items);
        p.erase("has_more");
    }
}

boost::asio::awaitable<json::array> Poller::fetch_blocks(std::string block_id, int depth) {
    json::array out;
    notion::Pager pager =
        client_.block_children_all(block_id, RequestContext(Priority::content, settings_.name));
    for (;;) {
        std::optional<notion::ListPage> page = co_await pager.next();
        if (!page) break;
        for (auto& block : page->results) {
            auto& b = block.as_object();
            const std::string type = string_at(b, "type");
            const auto* more = b.if_contains("has_children");
            // Child pages and databases are content of their own, not of this page.
            if (more && more->is_bool() && more->get_bool() && type != "child_page" &&
                type != "child_database" && depth < 20) {
                b["children"] = co_await fetch_blocks(string_at(b, "id"), depth + 1);
            }
            out.push_back(std::move(block));
        }
    }
    co_return out;
}

boost::asio::awaitable<std::optional<Poller::FreshContent>> Poller::read_content(
    const json::object& page) {
    if (!settings_.content || (page.contains("in_trash") && page.at("in_trash") == true)) {
        co_return std::nullopt;
    }
    const std::string id = string_at(page, "id");
    const std::string edited = string_at(page, "last_edited_time");
    const auto stored = mirror_.content(id, false);
    // Unchanged when the page's (minute-rounded) time did not move and the blocks were read after
    // that minute was over: a later edit would have moved it.
    if (stored && stored->last_edited_time == edited &&
        stored->read_at >= minus(edited, -std::chrono::seconds(62))) {
        co_return std::nullopt;
    }
    FreshContent fresh;
    const auto now = client_.server_now();
    fresh.read_at = now ? iso(*now) : std::string();
    fresh.blocks = co_await fetch_blocks(id, 0);
    fresh.hash = model::content_hash(fresh.blocks);
    co_return fresh;
}

boost::asio::awaitable<void> Poller::ingest(const std::string& ds, json::array& results,
                                            PollStats& stats, const std::string* watermark) {
    std::vector<std::optional<FreshContent>> contents;
    contents.reserve(results.size());
    for (auto& result : results) {
        auto& object = result.as_object();
        if (string_at(object, "object") != "page") {
            contents.emplace_back();
            continue;
        }
        co_await complete(object);
        contents.push_back(co_await read_content(object));
        if (contents.back()) ++stats.contents_read;
    }
    // A page that shows a property the schema does not know, knows by another name or type, or
    // no longer has: the schema is read again first, so its schema_changed event comes before the
    // pages' events that use the new names (checked on unchanged pages too).
    for (const auto& result : results) {
        const auto& object = result.as_object();
        if (string_at(object, "object") == "page" && schema_differs(ds, object)) {
            co_await refresh_schema(ds, stats);
            break;
        }
    }
    mirror::Mirror::Batch batch(mirror_);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& object = results[i].as_object();
        if (string_at(object, "object") != "page") continue;
        stage(batch, object, stats, contents[i]);
        ++stats.pages_read;
    }
    // The watermark moves with the events of this page of results, in the same transaction.
    if (watermark) batch.set_watermark(settings_.name, ds, *watermark);
    batch.commit();
    model::crash_point("poll.after_mirror_commit");
    // Long reads (an initial sync) say how far they got every few seconds.
    const auto now = std::chrono::steady_clock::now();
    if (now - progress_at_ >= 5s) {
        if (progress_at_ != std::chrono::steady_clock::time_point{}) {
            const double seconds = std::chrono::duration<double>(now - progress_at_).count();
            spdlog::info("sync={} data_source={}: {} pages read, {} changes ({:.0f} pages/s)",
                         settings_.name, ds, stats.pages_read, stats.events,
                         static_cast<double>(stats.pages_read - progress_pages_) / seconds);
        }
        progress_at_ = now;
        progress_pages_ = stats.pages_read;
    }
}

bool Poller::schema_differs(const std::string& ds, const json::object& page) const {
    const auto known = schemas_.find(ds);
    const auto* listed = page.if_contains("properties");
    if (known == schemas_.end() || listed == nullptr || !listed->is_object()) return false;
    if (known->second.properties.size() != listed->get_object().size()) return true;
    for (const auto& [name, value] : listed->get_object()) {
        if (!value.is_object()) continue;
        const auto& o = value.get_object();
        const auto* property = known->second.by_id(string_at(o, "id"));
        if (property == nullptr || property->name != name || property->type != string_at(o, "type"))
            return true;
    }
    return false;
}

bool Poller::stage(mirror::Mirror::Batch& batch, const json::object& page, PollStats& stats,
                   const std::optional<FreshContent>& content) {
    model::Record record = model::to_record(page);
    const std::string& ds = record.data_source_id;
    const auto digest = mirror_.page_digest(record.page_id);
    bool content_changed = false;
    if (content) {
        const auto stored_content = mirror_.content(record.page_id, false);
        content_changed = !stored_content || stored_content->hash != content->hash;
        batch.put_content(record.page_id, record.last_edited_time, content->read_at, content->hash,
                          content->blocks);
    }
    if (digest && digest->state == mirror::PageState::live && digest->hash == record.hash &&
        digest->data_source_id == ds && !content_changed) {
        return false;  // re-read, unchanged: no event, no write
    }
    if (record.in_trash && (!digest || digest->state != mirror::PageState::live)) return false;
    const auto stored = digest ? mirror_.page(record.page_id) : std::nullopt;
    model::ChangeEvent event{.sync = settings_.name,
                             .data_source_id = ds,
                             .page_id = record.page_id,
                             .last_edited_time = record.last_edited_time,
                             .url = record.url};
    const auto& properties = page.at("properties").as_object();
    for (const auto& [name, value] : properties)
        event.property_ids[name] = string_at(value.as_object(), "id");
    mirror::PageState state = mirror::PageState::live;
    const bool moved = stored && stored->state == mirror::PageState::live &&
                       !stored->data_source_id.empty() && stored->data_source_id != ds;
    if (moved) {
        // Moved to another data source: it leaves the old one (whose jobs' targets remove it,
        // with its last values) and arrives in the new one (whose jobs' targets create it).
        model::ChangeEvent gone{.kind = "deleted",
                                .sync = settings_.name,
                                .data_source_id = stored->data_source_id,
                                .page_id = record.page_id,
                                .last_edited_time = record.last_edited_time,
                                .url = record.url};
        std::optional<model::Schema> old_schema;
        if (const auto source = mirror_.source(stored->data_source_id)) old_schema = source->schema;
        for (const auto& [id, value] : stored->record.values) {
            const auto* property = old_schema ? old_schema->by_id(std::string(id)) : nullptr;
            const std::string name = property ? property->name : std::string(id);
            gone.properties[name] = value;
            gone.property_ids[name] = id;
        }
        batch.add_event(std::move(gone));
        ++stats.events;
        spdlog::info("sync={} page={} moved from data_source={} to data_source={}", settings_.name,
                     record.page_id, stored->data_source_id, ds);
    }
    if (!stored || moved) {
        event.kind = record.in_trash ? "deleted" : "created";
        if (record.in_trash) state = mirror::PageState::deleted;
    } else if (record.in_trash) {
        event.kind = "deleted";
        state = mirror::PageState::deleted;
    } else if (stored->state != mirror::PageState::live) {
        event.kind = "restored";
    } else {
        event.kind = "updated";
        for (const auto& [name, value] : properties) {
            const std::string id = string_at(value.as_object(), "id");
            const auto* before = stored->record.values.if_contains(id);
            if (before == nullptr || *before != record.values.at(id))
                event.changed.emplace_back(name);
        }
        if (event.changed.empty() && !content_changed) {
            // Only a property that no longer exists differs (it was deleted from the schema):
            // no value changed, so no event; the record is stored with its new hash.
            batch.put_page(settings_.name, record, state);
            return false;
        }
    }
    if (settings_.content && state == mirror::PageState::live) {
        event.content_changed = content_changed;
        if (content) {
            event.content = content->blocks;
        } else if (auto stored_content = mirror_.content(record.page_id, true)) {
            event.content = std::move(stored_content->blocks);
        } else {
            event.content = json::array();
        }
    }
    batch.put_page(settings_.name, record, state);
    // The record is stored: its values move into the event (by name) instead of being copied.
    for (const auto& [name, id] : event.property_ids) {
        auto* value = record.values.if_contains(id.get_string());
        event.properties[name] = value ? std::move(*value) : json::value();
    }
    batch.add_event(std::move(event));
    ++stats.events;
    return true;
}

boost::asio::awaitable<void> Poller::read_changes(const std::string& ds, PollStats& stats) {
    // Incremental: last_edited_time on_or_after (watermark - overlap), ascending, so the watermark
    // can advance with every committed API page. A read that hits the 10,000 cap is simply
    // continued from the advanced watermark.
    const auto state = mirror_.source(ds);
    const std::string watermark = state ? state->watermark : std::string();
    // The first round starts an overlap before the watermark (edits can land in a minute already
    // read, and the query index lags a little); a round after one cut at the cap goes on from the
    // highest time it saw: every page before that minute was read in order.
    std::string from = watermark.empty() ? std::string() : minus(watermark, settings_.overlap);
    // The previous complete read saw every edit made before it began (less the overlap), so
    // pages edited long ago but near the watermark (a bulk import's minute) are not read again.
    if (!from.empty() && state && !state->read_from.empty()) {
        from = std::max(from, minus(state->read_from, settings_.overlap));
    }
    const auto started = client_.server_now();
    auto finished = [&] {
        if (!started) return;
        mirror::Mirror::Batch batch(mirror_);
        batch.set_read_from(ds, iso(*started));
        batch.commit();
    };
    std::string highest = watermark;
    for (int round = 0; round < 1000; ++round) {
        json::object body{{"sorts", json::array{json::object{{"timestamp", "last_edited_time"},
                                                             {"direction", "ascending"}}}},
                          {"page_size", 100}};
        if (!from.empty()) {
            body["filter"] =
                json::object{{"timestamp", "last_edited_time"},
                             {"last_edited_time", json::object{{"on_or_after", from}}}};
        }
        std::string lowest;
        notion::Pager pager = client_.query_all(ds, std::move(body), {}, poll_context_);
        for (;;) {
            std::optional<notion::ListPage> page = co_await pager.next();
            if (!page) break;
            for (const auto& result : page->results) {
                const std::string edited = string_at(result.as_object(), "last_edited_time");
                highest = std::max(highest, edited);
                if (lowest.empty() || edited < lowest) lowest = edited;
            }
            co_await ingest(ds, page->results, stats, &highest);
        }
        if (!pager.incomplete()) {
            finished();
            co_return;
        }
        if (lowest != highest) {
            from = highest;
            continue;
        }
        {
            // 10,000 pages edited in one minute (a bulk import): read that minute by created_time.
            const std::string minute = highest;
            spdlog::warn(
                "sync={} data_source={} more than 10,000 pages share the edit minute {}; reading "
                "them by created_time",
                settings_.name, ds, minute);
            std::string created_from;
            std::string windowed_highest = highest;
            for (int window = 0; window < 1000; ++window) {
                json::object b{{"sorts", json::array{json::object{{"timestamp", "created_time"},
                                                                  {"direction", "ascending"}}}},
                               {"page_size", 100}};
                json::array conditions{
                    json::object{{"timestamp", "last_edited_time"},
                                 {"last_edited_time", json::object{{"on_or_after", minute}}}}};
                if (!created_from.empty()) {
                    conditions.push_back(json::object{
                        {"timestamp", "created_time"},
                        {"created_time", json::object{{"on_or_after", created_from}}}});
                }
                b["filter"] = json::object{{"and", conditions}};
                notion::Pager windowed = client_.query_all(ds, std::move(b), {}, poll_context_);
                std::string last_created = created_from;
                for (;;) {
                    std::optional<notion::ListPage> page = co_await windowed.next();
                    if (!page) break;
                    for (const auto& result : page->results) {
                        const auto& object = result.as_object();
                        last_created = std::max(last_created, string_at(object, "created_time"));
                        windowed_highest =
                            std::max(windowed_highest, string_at(object, "last_edited_time"));
                    }
                    co_await ingest(ds, page->results, stats, nullptr);
                }
                if (!windowed.incomplete()) {
                    // Everything since the watermark was read: it may move now.
                    mirror::Mirror::Batch batch(mirror_);
                    batch.set_watermark(settings_.name, ds, windowed_highest);
                    batch.commit();
                    finished();
                    break;
                }
                if (last_created == created_from) {
                    spdlog::error(
                        "sync={} data_source={} more than 10,000 pages were created and edited in "
                        "the same minute; some of them cannot be listed through the API",
                        settings_.name, ds);
                    break;
                }
                created_from = last_created;
            }
            co_return;
        }
    }
}

boost::asio::awaitable<void> Poller::reconcile(const std::string& ds, PollStats& stats) {
    // A complete listing of ids, in created_time windows past the 10,000 cap.
    RequestContext context(Priority::reconcile, settings_.name);
    std::set<std::string> listed;
    std::string created_from;
    bool listing_complete = true;
    try {
        for (int window = 0; window < 1000; ++window) {
            json::object body{{"sorts", json::array{json::object{{"timestamp", "created_time"},
                                                                 {"direction", "ascending"}}}},
                              {"page_size", 100}};
            if (!created_from.empty()) {
                body["filter"] =
                    json::object{{"timestamp", "created_time"},
                                 {"created_time", json::object{{"on_or_after", created_from}}}};
            }
            std::vector<std::string> only_title{"title"};
            notion::Pager pager =
                client_.query_all(ds, std::move(body), std::move(only_title), context);
            std::string last_created = created_from;
            for (;;) {
                std::optional<notion::ListPage> page = co_await pager.next();
                if (!page) break;
                for (const auto& result : page->results) {
                    listed.insert(string_at(result.as_object(), "id"));
                    last_created =
                        std::max(last_created, string_at(result.as_object(), "created_time"));
                }
            }
            if (!pager.incomplete()) break;
            if (last_created == created_from) {
                // More than 10,000 pages created in one minute: absence cannot be proven.
                listing_complete = false;
                break;
            }
            created_from = last_created;
        }
    } catch (const notion::NotionError& e) {
        spdlog::warn("sync={} data_source={} reconciliation listing failed, nothing deleted: {}",
                     settings_.name, ds, e.what());
        co_return;
    }
    if (!listing_complete) co_return;
    const auto live = mirror_.live_pages(ds);
    // A person's decisions on deletes the brake held (console, POST /v1/held-deletes): approved
    // ones go past the brake, kept ones stay in the targets while Notion does not list them. A
    // page listed again needs no decision any more.
    const auto decisions = mirror_.delete_decisions(settings_.name);
    std::vector<std::string> missing;   // to delete, unless the brake holds them
    std::vector<std::string> approved;  // to delete whatever the brake says
    for (const auto& id : live) {
        const auto decision = decisions.find(id);
        if (listed.contains(id)) {
            if (decision != decisions.end()) mirror_.forget_delete_decision(settings_.name, id);
        } else if (decision == decisions.end()) {
            missing.push_back(id);
        } else if (decision->second == "approve") {
            approved.push_back(id);
        }
    }
    // A delete the brake held waits for a person (or for the page to come back) even when the
    // deletes still missing fall under the ratio: deciding some of a mass delete does not
    // release the rest.
    std::map<std::string, std::string> was_held;  // page id -> held since
    for (const auto& h : mirror_.held_delete_pages(settings_.name))
        was_held.emplace(h.page_id, h.detected_at);
    std::vector<std::string> still_held;
    if (!brake_released_) {
        std::erase_if(missing, [&](const std::string& id) {
            if (!was_held.contains(id)) return false;
            still_held.push_back(id);
            return true;
        });
    }
    {
        mirror::Mirror::Batch batch(mirror_);
        batch.clear_held(settings_.name, ds);
        for (const auto& id : still_held) batch.hold_delete(settings_.name, id, was_held.at(id));
        batch.commit();
    }
    if (!missing.empty() && !brake_released_ &&
        static_cast<double>(missing.size() + still_held.size()) >
            settings_.max_delete_ratio * static_cast<double>(live.size())) {
        // The delete brake: hold the deletes of this cycle instead of applying them.
        spdlog::warn(
            "sync={} data_source={} holding {} deletes of {} pages (over max_delete_ratio {}); "
            "check the sharing of this data source; to apply them run `notion-syncd sync-once "
            "--job {} --apply-held-deletes`, or decide per page in the console",
            settings_.name, ds, missing.size(), live.size(), settings_.max_delete_ratio,
            settings_.name);
        mirror::Mirror::Batch batch(mirror_);
        for (const auto& id : missing) batch.hold_delete(settings_.name, id);
        batch.commit();
        missing.clear();
    }
    missing.insert(missing.end(), approved.begin(), approved.end());
    std::optional<model::Schema> schema;  // names for the last known values of deleted pages
    if (const auto known = schemas_.find(ds); known != schemas_.end()) {
        schema = known->second;
    } else if (const auto source = mirror_.source(ds)) {
        schema = source->schema;
    }
    for (const auto& id : missing) {
        const auto stored = mirror_.page(id);
        if (!stored) continue;
        model::Record record = stored->record;
        model::ChangeEvent event{.sync = settings_.name,
                                 .data_source_id = ds,
                                 .page_id = id,
                                 .last_edited_time = record.last_edited_time,
                                 .url = record.url};
        // The last known values, so a consumer can say what was deleted ("Ship it" was deleted).
        for (const auto& [property_id, value] : record.values) {
            const auto* property = schema ? schema->by_id(std::string(property_id)) : nullptr;
            const std::string name = property ? property->name : std::string(property_id);
            event.properties[name] = value;
            event.property_ids[name] = property_id;
        }
        mirror::PageState state = mirror::PageState::deleted;
        try {
            json::object page = co_await client_.retrieve_page(id, {}, context);
            if (!page.at("in_trash").as_bool()) {
                const std::string now_in = notion::PageView{page}.data_source_id();
                if (now_in == ds) continue;  // listed late; the next poll reads it
                // Moved elsewhere: an update with the new parent.
                co_await complete(page);
                const auto content = co_await read_content(page);
                mirror::Mirror::Batch batch(mirror_);
                stage(batch, page, stats, content);
                batch.commit();
                continue;
            }
            event.kind = "deleted";
        } catch (const notion::NotionError& e) {
            if (e.status != 404) throw;
            event.kind = "access_lost";
            state = mirror::PageState::access_lost;
        }
        mirror::Mirror::Batch batch(mirror_);
        batch.put_page(settings_.name, record, state);
        batch.add_event(std::move(event));
        mirror_.forget_delete_decision(settings_.name, id);
        batch.commit();
        ++stats.events;
        model::crash_point("reconcile.after_delete");
    }
    mirror::Mirror::Batch batch(mirror_);
    batch.set_reconciled(ds, now_ms());
    batch.commit();
}

}  // namespace syncd::sync
