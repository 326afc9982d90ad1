#include "connectors/postgres/postgres_target.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "connectors/off_loop.hpp"
#include "connectors/postgres/pg.hpp"
#include "connectors/postgres/sql.hpp"
#include "daemon/model/json_text.hpp"

namespace syncd::connectors::postgres {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// Ours (and the config refuses them in a mapping); created_time is kept free for later.
const std::set<std::string> reserved = {"page_id",          "notion_url",        "created_time",
                                        "last_edited_time", "synced_at",         "deleted_at",
                                        "notion_content",   "notion_properties", "row_key"};
// The bookkeeping key of a date property's end column: "<property id>/end".
constexpr std::string_view end_suffix = "/end";
constexpr std::size_t max_rows_per_statement = 1000;

struct Binding {
    std::string column;  // empty: skipped (create_table: false and no such column)
    std::string property_type;
};

// What we know of one table; dropped whenever a transaction fails (its DDL was rolled back).
struct TableState {
    bool exists = false;
    std::map<std::string, std::string> columns;         // name -> type as format_type() spells it
    std::unordered_map<std::string, Binding> bindings;  // property id -> column
    MetaColumns meta;
    bool locked = false;    // the advisory lock is held in this transaction
    bool captured = false;  // two-way: row_key and the capture triggers checked
};

struct Property {
    std::string id;
    std::string name;
    std::string type;  // Notion's; empty when the schema does not know it
    const json::value* sample = nullptr;
};

// Rows waiting to go out, per table: upserts grouped by their column list, then deletes.
struct Row {
    const model::ChangeEvent* event = nullptr;
    std::vector<const json::value*> values;  // in the group's column order
    // Values made here (notion_properties, notion_content): on the heap, so `values` may point
    // at them while rows move.
    std::vector<std::unique_ptr<json::value>> made;
};
struct Group {
    std::vector<std::string> columns;
    std::vector<Row> rows;
};
struct Pending {
    std::map<std::string, Group> groups;                      // by column signature
    std::unordered_map<std::string, std::string> page_group;  // page -> signature
    std::vector<std::string> deletes;
    std::unordered_set<std::string> deleted;
    bool empty() const { return groups.empty() && deletes.empty(); }
};

class PostgresConnector final : public Connector {
public:
    PostgresConnector(Settings settings, ConnectorContext context)
        : settings_(std::move(settings)),
          context_(std::move(context)),
          bookkeeping_(qualified(settings_.schema, "_notion_syncd_columns")),
          table_bindings_(qualified(settings_.schema, "_notion_syncd_tables")),
          dirty_(qualified(settings_.schema, "_notion_syncd_dirty")),
          capture_function_(qualified(settings_.schema, "_notion_syncd_capture")),
          truncate_function_(qualified(settings_.schema, "_notion_syncd_capture_truncate")) {}

    asio::awaitable<void> start() override {
        if (context_.target.two_way && !settings_.create_table) {
            throw DeliveryError(
                "postgres " + context_.name +
                    ": two_way needs create_table: true (the connector installs the capture "
                    "triggers on its own tables)",
                false);
        }
        std::function<void()> job = [this] {
            guarded([this] {
                connect();
                prepare();
            });
        };
        co_await worker_.run(std::move(job));
    }

    // Tables and columns come from schema_changed events: deliver() makes them.
    asio::awaitable<void> apply_schema(ChangeBatch batch) override {
        co_await deliver(std::move(batch));
    }

    asio::awaitable<void> deliver(ChangeBatch batch) override {
        std::function<void()> job = [this, &batch] { guarded([&] { apply(batch); }); };
        co_await worker_.run(std::move(job));
    }

    asio::awaitable<std::vector<ExternalRow>> external_changes() override {
        std::vector<ExternalRow> rows;
        if (!context_.target.two_way) co_return rows;
        std::function<void()> job = [this, &rows] { guarded([&] { rows = read_dirty(); }); };
        co_await worker_.run(std::move(job));
        co_return rows;
    }

    asio::awaitable<void> acknowledge(std::vector<ExternalRow> rows) override {
        if (rows.empty()) co_return;
        std::function<void()> job = [this, &rows] { guarded([&] { remove_dirty(rows); }); };
        co_await worker_.run(std::move(job));
    }

    asio::awaitable<void> assign_page_id(ExternalRow row, std::string page_id) override {
        std::function<void()> job = [this, &row, &page_id] {
            guarded([&] { write_page_id(row, page_id); });
        };
        co_await worker_.run(std::move(job));
    }

    asio::awaitable<std::vector<ExternalRow>> all_rows() override {
        std::vector<ExternalRow> rows;
        if (!context_.target.two_way) co_return rows;
        std::function<void()> job = [this, &rows] { guarded([&] { rows = read_all(); }); };
        co_await worker_.run(std::move(job));
        co_return rows;
    }

private:
    // On the worker thread: libpq errors become DeliveryErrors; a lost connection is dropped.
    template <typename F>
    void guarded(F&& f) {
        try {
            f();
        } catch (const PgError& e) {
            if (e.connection_lost || (conn_ && !conn_->ok())) conn_.reset();
            throw DeliveryError(e.what(), e.retryable());
        }
    }

    void connect() {
        conn_.reset();
        conn_ = std::make_unique<Connection>(settings_.dsn);
        // Dates without a time go into timestamptz columns as midnight UTC, and times come back
        // in UTC: the same whatever the server's or the role's default.
        conn_->exec("SET TIME ZONE 'UTC'");
        spdlog::info("postgres {}: connected to {} (server {})", context_.name,
                     redact_dsn(settings_.dsn), conn_->server_version());
    }

    // The schema and the bookkeeping table, made only when missing (CREATE … IF NOT EXISTS
    // would need the privilege even when they exist).
    void prepare() {
        if (!settings_.create_table || prepared_) return;
        conn_->exec("BEGIN");
        try {
            lock("schema " + settings_.schema);
            const std::vector<const char*> schema = {settings_.schema.c_str()};
            if (conn_->exec("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema).rows() == 0)
                conn_->exec("CREATE SCHEMA " + quote_identifier(settings_.schema));
            const std::vector<const char*> name = {bookkeeping_.c_str()};
            if (conn_->exec("SELECT to_regclass($1) IS NULL", name).text(0, 0) == "t") {
                conn_->exec("CREATE TABLE " + bookkeeping_ +
                            " (table_name text NOT NULL, property_id text NOT NULL, column_name "
                            "text NOT NULL, property_type text NOT NULL DEFAULT '', PRIMARY KEY "
                            "(table_name, property_id))");
            }
            const std::vector<const char*> tables = {table_bindings_.c_str()};
            if (conn_->exec("SELECT to_regclass($1) IS NULL", tables).text(0, 0) == "t") {
                conn_->exec("CREATE TABLE " + table_bindings_ +
                            " (base text NOT NULL, data_source_id text NOT NULL, table_name text "
                            "NOT NULL UNIQUE, PRIMARY KEY (base, data_source_id))");
            }
            if (context_.target.two_way) prepare_capture();
            conn_->exec("COMMIT");
        } catch (...) {
            rollback();
            throw;
        }
        prepared_ = true;
    }

    // Two-way: the dirty set and the trigger functions that fill it (DDL only here, at start).
    // The functions run as their owner (SECURITY DEFINER, with a fixed search_path), so the
    // people who edit the tables need no privilege on the dirty set. Our own writes set
    // notion_syncd.origin for their transaction (SET LOCAL) and are not captured.
    void prepare_capture() {
        const std::vector<const char*> dirty = {dirty_.c_str()};
        if (conn_->exec("SELECT to_regclass($1) IS NULL", dirty).text(0, 0) == "t") {
            conn_->exec("CREATE TABLE " + dirty_ +
                        " (table_name text NOT NULL, row_key text NOT NULL, gen bigint NOT NULL, "
                        "captured_at timestamptz NOT NULL, row_json jsonb, PRIMARY KEY "
                        "(table_name, row_key))");
        }
        const std::string skip_own =
            "IF COALESCE(current_setting('notion_syncd.origin', true), '') = 'notion-syncd' "
            "THEN RETURN NULL; END IF; ";
        const std::string upsert =
            " ON CONFLICT (table_name, row_key) DO UPDATE SET gen = d.gen + 1, captured_at = "
            "excluded.captured_at, row_json = excluded.row_json";
        conn_->exec("CREATE OR REPLACE FUNCTION " + capture_function_ +
                    "() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = "
                    "pg_catalog, pg_temp AS $f$ DECLARE r jsonb; k text; BEGIN " +
                    skip_own +
                    "IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF; "
                    "k := COALESCE(r->>'page_id', 'row:' || (r->>'row_key')); "
                    "IF TG_OP = 'DELETE' THEN r := NULL; END IF; "
                    "INSERT INTO " +
                    dirty_ +
                    " AS d (table_name, row_key, gen, captured_at, row_json) VALUES "
                    "(TG_TABLE_NAME, k, 1, clock_timestamp(), r)" +
                    upsert + "; RETURN NULL; END $f$");
        // TRUNCATE has no rows to trigger on: every row is captured as deleted before it goes.
        conn_->exec(
            "CREATE OR REPLACE FUNCTION " + truncate_function_ +
            "() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, "
            "pg_temp AS $f$ BEGIN " +
            skip_own +
            "EXECUTE format('INSERT INTO %I._notion_syncd_dirty AS d (table_name, row_key, gen, "
            "captured_at, row_json) SELECT %L, COALESCE(r->>''page_id'', ''row:'' || "
            "(r->>''row_key'')), 1, clock_timestamp(), NULL FROM (SELECT to_jsonb(t) AS r FROM "
            "%I.%I t) x" +
            upsert +
            "', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME); RETURN NULL; "
            "END $f$");
    }

    // Two-way tables are keyed by row_key (a row a person inserts has no page yet) and hold the
    // capture triggers. Tables made before two-way was turned on get both here, once.
    void prepare_two_way_table(const std::string& table, TableState& state) {
        const std::string name = qualified(settings_.schema, table);
        if (!state.columns.contains("row_key")) {
            lock_table(table, state);
            if (!state.columns.contains("row_key")) {
                const std::vector<const char*> parameters = {name.c_str()};
                const auto pk = conn_->exec(
                    "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass($1) AND "
                    "contype = 'p'",
                    parameters);
                conn_->exec("ALTER TABLE " + name +
                            " ADD COLUMN row_key uuid NOT NULL DEFAULT gen_random_uuid()");
                if (pk.rows() > 0) {
                    conn_->exec("ALTER TABLE " + name + " DROP CONSTRAINT " +
                                quote_identifier(pk.text(0, 0)));
                }
                conn_->exec("ALTER TABLE " + name + " ADD PRIMARY KEY (row_key)");
                conn_->exec("ALTER TABLE " + name + " ADD UNIQUE (page_id)");
                spdlog::info("postgres {}: table {} is now keyed by row_key (two-way)",
                             context_.name, name);
                load(table, state);
            }
        }
        const std::vector<const char*> parameters = {name.c_str()};
        const auto triggers = conn_->exec(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname IN "
            "('_notion_syncd_capture', '_notion_syncd_capture_update', "
            "'_notion_syncd_capture_truncate')",
            parameters);
        if (triggers.text(0, 0) == "3") return;
        lock_table(table, state);
        for (const char* trigger : {"_notion_syncd_capture", "_notion_syncd_capture_update",
                                    "_notion_syncd_capture_truncate"}) {
            conn_->exec("DROP TRIGGER IF EXISTS " + std::string(trigger) + " ON " + name);
        }
        conn_->exec("CREATE TRIGGER _notion_syncd_capture AFTER INSERT OR DELETE ON " + name +
                    " FOR EACH ROW EXECUTE FUNCTION " + capture_function_ + "()");
        conn_->exec("CREATE TRIGGER _notion_syncd_capture_update AFTER UPDATE ON " + name +
                    " FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION " +
                    capture_function_ + "()");
        conn_->exec("CREATE TRIGGER _notion_syncd_capture_truncate BEFORE TRUNCATE ON " + name +
                    " FOR EACH STATEMENT EXECUTE FUNCTION " + truncate_function_ + "()");
    }

    // The base name of this target's tables (the sync's, or `table:`).
    std::string base_name() const {
        return context_.target.table.empty() ? model::snake_case(context_.target.sync)
                                             : context_.target.table;
    }

    // A captured row (to_jsonb of the row, by column name) as values by property id; a date's
    // start and end columns together make its value.
    ExternalRow external_row(const std::string& table, const std::string& data_source_id,
                             const std::string& key, const json::value& row) {
        ExternalRow out{
            .table = table, .page_id = key, .capture = key, .data_source_id = data_source_id};
        if (key.starts_with("row:")) {
            out.row_key = key.substr(4);
            out.page_id.clear();
        }
        if (!row.is_object()) {
            out.deleted = true;
            return out;
        }
        const json::object& columns = row.get_object();
        auto [it, added] = tables_.try_emplace(table);
        if (added) load(table, it->second);
        const TableState& state = it->second;
        const auto column_value = [&](const std::string& column) {
            const auto* v = columns.if_contains(column);
            return v ? *v : json::value(nullptr);
        };
        for (const auto& [id, b] : state.bindings) {
            if (b.column.empty() || id.ends_with(end_suffix)) continue;
            json::value v = column_value(b.column);
            const auto type = state.columns.find(b.column);
            if (b.property_type == "date" && type != state.columns.end() &&
                column_fits("date", type->second)) {
                if (!v.is_null()) {
                    const auto end = state.bindings.find(id + std::string(end_suffix));
                    v = json::object{
                        {"start", v},
                        {"end", end == state.bindings.end() ? json::value(nullptr)
                                                            : column_value(end->second.column)},
                        {"time_zone", nullptr}};
                }
            }
            out.values[id] = std::move(v);
        }
        return out;
    }

    // The dirty set of this target's tables. Rows an open transaction is changing are skipped
    // (SKIP LOCKED: they come with the next cycle), and a lock we still wait for gives up after
    // lock_timeout, so a person's long transaction never holds up the daemon.
    std::vector<ExternalRow> read_dirty() {
        begin();
        std::vector<ExternalRow> out;
        try {
            conn_->exec("SET LOCAL lock_timeout = '2s'");
            const std::string base = base_name();
            const std::vector<const char*> parameters = {base.c_str()};
            const auto found = conn_->exec(
                "SELECT d.table_name, d.row_key, d.gen, to_char(d.captured_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), d.row_json::text, t.data_source_id FROM " +
                    dirty_ + " d JOIN " + table_bindings_ +
                    " t ON t.table_name = d.table_name WHERE t.base = $1 ORDER BY d.captured_at "
                    "FOR UPDATE OF d SKIP LOCKED",
                parameters);
            for (int r = 0; r < found.rows(); ++r) {
                json::value row;
                if (!found.is_null(r, 4)) row = model::parse_json(found.text(r, 4));
                ExternalRow x =
                    external_row(found.text(r, 0), found.text(r, 5), found.text(r, 1), row);
                x.generation = std::stoll(found.text(r, 2));
                x.captured_at = parse_utc(found.text(r, 3));
                out.push_back(std::move(x));
            }
            conn_->exec("COMMIT");
        } catch (...) {
            tables_.clear();
            rollback();
            throw;
        }
        return out;
    }

    // Every row of this target's tables (verify_every).
    std::vector<ExternalRow> read_all() {
        begin();
        std::vector<ExternalRow> out;
        try {
            const std::string base = base_name();
            const std::vector<const char*> parameters = {base.c_str()};
            const auto tables = conn_->exec(
                "SELECT table_name, data_source_id FROM " + table_bindings_ + " WHERE base = $1",
                parameters);
            for (int t = 0; t < tables.rows(); ++t) {
                const std::string table = tables.text(t, 0);
                const std::string name = qualified(settings_.schema, table);
                const std::vector<const char*> relation = {name.c_str()};
                if (conn_->exec("SELECT to_regclass($1) IS NULL", relation).text(0, 0) == "t")
                    continue;
                const auto rows = conn_->exec(
                    "SELECT COALESCE(r->>'page_id', 'row:' || (r->>'row_key')), r::text FROM "
                    "(SELECT to_jsonb(x) AS r FROM " +
                    name + " x) y WHERE r->>'deleted_at' IS NULL");
                for (int r = 0; r < rows.rows(); ++r) {
                    out.push_back(external_row(table, tables.text(t, 1), rows.text(r, 0),
                                               model::parse_json(rows.text(r, 1))));
                }
            }
            conn_->exec("COMMIT");
        } catch (...) {
            tables_.clear();
            rollback();
            throw;
        }
        return out;
    }

    // Removes the captures handled, each only at the generation read: a row changed again since
    // (gen moved on) stays for the next cycle. Locked ones are skipped, not waited for.
    void remove_dirty(const std::vector<ExternalRow>& rows) {
        json::array tables;
        json::array keys;
        json::array gens;
        for (const auto& row : rows) {
            tables.emplace_back(row.table);
            keys.emplace_back(row.capture);
            gens.emplace_back(row.generation);
        }
        const std::string t = array_literal(tables);
        const std::string k = array_literal(keys);
        const std::string g = array_literal(gens);
        const std::vector<const char*> parameters = {t.c_str(), k.c_str(), g.c_str()};
        begin();
        try {
            conn_->exec("SET LOCAL lock_timeout = '2s'");
            conn_->exec("DELETE FROM " + dirty_ +
                            " WHERE (table_name, row_key, gen) IN (SELECT table_name, row_key, "
                            "gen FROM " +
                            dirty_ +
                            " WHERE (table_name, row_key, gen) IN (SELECT * FROM "
                            "unnest($1::text[], $2::text[], $3::bigint[])) FOR UPDATE SKIP "
                            "LOCKED)",
                        parameters);
            conn_->exec("COMMIT");
        } catch (...) {
            rollback();
            throw;
        }
    }

    // The page made for a row a person inserted, written into it as our own write.
    void write_page_id(const ExternalRow& row, const std::string& page_id) {
        const std::vector<const char*> parameters = {page_id.c_str(), row.row_key.c_str()};
        begin();
        try {
            // A row the page already has (delivered from Notion while this one waited to be
            // linked: killed after the POST) is a copy of what was created from this row, which
            // may hold newer edits and takes its place.
            conn_->exec("DELETE FROM " + qualified(settings_.schema, row.table) +
                            " WHERE page_id = $1::uuid AND row_key <> $2::uuid",
                        parameters);
            conn_->exec("UPDATE " + qualified(settings_.schema, row.table) +
                            " SET page_id = $1::uuid WHERE row_key = $2::uuid AND page_id IS NULL",
                        parameters);
            conn_->exec("COMMIT");
        } catch (...) {
            rollback();
            throw;
        }
    }

    // BEGIN on a live connection (reconnecting once if it died while idle); with two-way our
    // writes in it are marked as ours, so the triggers skip them.
    void begin() {
        if (!conn_ || !conn_->ok()) connect();
        prepare();
        try {
            conn_->exec("BEGIN");
        } catch (const PgError& e) {
            // A connection that died while idle (a server restart) shows it only now: once more.
            if (!e.connection_lost) throw;
            connect();
            prepare();
            conn_->exec("BEGIN");
        }
        // A row a person holds locked in an open transaction makes the delivery wait at most
        // this long: then it fails as retryable (lock_not_available) and is tried again later,
        // instead of holding up every other target and the write-back behind it.
        conn_->exec("SET LOCAL lock_timeout = '5s'");
        if (context_.target.two_way) conn_->exec("SET LOCAL notion_syncd.origin = 'notion-syncd'");
    }

    static std::chrono::system_clock::time_point parse_utc(const std::string& iso) {
        std::tm tm{};
        int micros = 0;
        if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &micros) < 6) {
            return std::chrono::system_clock::now();
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        return std::chrono::system_clock::from_time_t(timegm(&tm)) +
               std::chrono::microseconds(micros);
    }

    void rollback() {
        if (conn_ && conn_->ok()) {
            try {
                conn_->exec("ROLLBACK");
            } catch (const PgError&) {
                // The connection went away: nothing to roll back any more.
            }
        }
    }

    void lock(const std::string& what) {
        const std::string key = "notion-syncd " + what;
        const std::vector<const char*> parameters = {key.c_str()};
        conn_->exec("SELECT pg_advisory_xact_lock(hashtext($1))", parameters);
    }

    void apply(const ChangeBatch& batch) {
        begin();
        try {
            std::map<std::string, Pending> pending;
            for (const auto& event : batch.events) add(batch, event, pending);
            for (auto& [table, ops] : pending) flush(table, ops);
            conn_->exec("COMMIT");
        } catch (...) {
            tables_.clear();  // the transaction's DDL is gone with it: read the catalog again
            bound_.clear();
            rollback();
            throw;
        }
        for (auto& [table, state] : tables_) state.locked = false;
    }

    // The table of a data source, bound to its id on first use (in _notion_syncd_tables):
    // renaming the data source, or a second one appearing in its database, moves nothing.
    std::string table_for(const ChangeBatch& batch, const model::ChangeEvent& event) {
        const std::string base =
            context_.target.table.empty() ? model::snake_case(batch.sync) : context_.target.table;
        std::string wanted = base;
        if (batch.several_sources) {
            const auto it = batch.schemas.find(event.data_source_id);
            const std::string title = it != batch.schemas.end() && !it->second.title.empty()
                                          ? it->second.title
                                          : event.data_source_id.substr(0, 8);
            wanted += "_" + model::snake_case(title);
        }
        wanted = truncate_identifier(wanted);
        if (!settings_.create_table) return wanted;  // the user's tables, named by the config
        const std::string key = base + "\n" + event.data_source_id;
        if (const auto it = bound_.find(key); it != bound_.end()) return it->second;
        lock("tables " + settings_.schema);
        const std::vector<const char*> parameters = {base.c_str(), event.data_source_id.c_str()};
        const auto found = conn_->exec("SELECT table_name FROM " + table_bindings_ +
                                           " WHERE base = $1 AND data_source_id = $2",
                                       parameters);
        if (found.rows() > 0) return bound_[key] = found.text(0, 0);
        std::set<std::string> taken;
        const auto all = conn_->exec("SELECT table_name FROM " + table_bindings_);
        for (int r = 0; r < all.rows(); ++r) taken.insert(all.text(r, 0));
        const std::string name = unique_name(wanted, taken);
        const std::vector<const char*> row = {base.c_str(), event.data_source_id.c_str(),
                                              name.c_str()};
        conn_->exec("INSERT INTO " + table_bindings_ +
                        " (base, data_source_id, table_name) VALUES ($1, $2, $3)",
                    row);
        return bound_[key] = name;
    }

    void load(const std::string& table, TableState& state) {
        const std::string name = qualified(settings_.schema, table);
        std::vector<const char*> parameters = {name.c_str()};
        state.columns.clear();
        state.exists =
            conn_->exec("SELECT to_regclass($1) IS NOT NULL", parameters).text(0, 0) == "t";
        if (state.exists) {
            const auto columns = conn_->exec(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                "attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                parameters);
            for (int r = 0; r < columns.rows(); ++r)
                state.columns[columns.text(r, 0)] = columns.text(r, 1);
        }
        const auto type_of = [&](const std::string& column) {
            const auto it = state.columns.find(column);
            return it == state.columns.end() ? std::string() : it->second;
        };
        state.meta = {.page_id = type_of("page_id"),
                      .notion_url = type_of("notion_url"),
                      .last_edited_time = type_of("last_edited_time"),
                      .synced_at = type_of("synced_at"),
                      .deleted_at = type_of("deleted_at")};
        if (!settings_.create_table) return;  // bindings by name, in memory
        state.bindings.clear();
        parameters = {table.c_str()};
        const auto bound = conn_->exec("SELECT property_id, column_name, property_type FROM " +
                                           bookkeeping_ + " WHERE table_name = $1",
                                       parameters);
        for (int r = 0; r < bound.rows(); ++r)
            state.bindings[bound.text(r, 0)] = {bound.text(r, 1), bound.text(r, 2)};
    }

    // Takes the table's advisory lock for this transaction and reads its state again, since
    // another process may have changed it. Returns false if it was held already.
    bool lock_table(const std::string& table, TableState& state) {
        if (state.locked) return false;
        lock("table " + settings_.schema + "." + table);
        state.locked = true;
        load(table, state);
        return true;
    }

    TableState& table_state(const std::string& table) {
        auto [it, added] = tables_.try_emplace(table);
        TableState& state = it->second;
        if (added) load(table, state);
        if (!state.exists) {
            if (!settings_.create_table) {
                throw DeliveryError("postgres: table " + qualified(settings_.schema, table) +
                                        " does not exist (create_table is false)",
                                    false);
            }
            lock_table(table, state);
            if (!state.exists) {
                conn_->exec("CREATE TABLE " + qualified(settings_.schema, table) +
                            (context_.target.two_way
                                 ? " (row_key uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY "
                                   "KEY, page_id uuid UNIQUE, "
                                 : " (page_id uuid PRIMARY KEY, ") +
                            "notion_url text, last_edited_time timestamptz, synced_at "
                            "timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz)");
                spdlog::info("postgres {}: created table {}", context_.name,
                             qualified(settings_.schema, table));
                load(table, state);
            }
        }
        if (!state.columns.contains("page_id")) {
            throw DeliveryError(
                "postgres: table " + qualified(settings_.schema, table) + " has no page_id column",
                false);
        }
        if (context_.target.two_way && !state.captured) {
            prepare_two_way_table(table, state);
            state.captured = true;
        }
        return state;
    }

    std::string mapped_column(const std::string& name, const std::string& id) const {
        std::string column;
        for (const auto& [key, mapped] : context_.target.mapping) {
            if (key == name || key == id) column = mapped;
        }
        return column.empty() ? column : truncate_identifier(column);
    }

    std::set<std::string> taken(const TableState& state) const {
        std::set<std::string> out = reserved;
        for (const auto& [name, type] : state.columns) out.insert(name);
        for (const auto& [id, b] : state.bindings) out.insert(b.column);
        return out;
    }

    bool bound_elsewhere(const TableState& state, const std::string& column,
                         const std::string& id) const {
        for (const auto& [other, b] : state.bindings) {
            if (other != id && b.column == column) return true;
        }
        return false;
    }

    void bind(const std::string& table, TableState& state, const Property& p,
              const std::string& column, const std::string& type) {
        if (!state.columns.contains(column)) {
            conn_->exec("ALTER TABLE " + qualified(settings_.schema, table) + " ADD COLUMN " +
                        quote_identifier(column) + " " + type);
            state.columns[column] = type;
        }
        const std::vector<const char*> parameters = {table.c_str(), p.id.c_str(), column.c_str(),
                                                     p.type.c_str()};
        conn_->exec("INSERT INTO " + bookkeeping_ +
                        " (table_name, property_id, column_name, property_type) VALUES ($1, $2, "
                        "$3, $4) ON CONFLICT (table_name, property_id) DO UPDATE SET column_name "
                        "= excluded.column_name, property_type = excluded.property_type",
                    parameters);
        state.bindings[p.id] = {column, p.type};
    }

    // The column a type change moves a property to: an unbound column of the right type named
    // after the same root (count, count_number, …), else a new `<root>_<suffix>`.
    std::string column_after_type_change(const TableState& state, const std::string& column,
                                         const std::string& type) const {
        std::string root = column;
        const auto current = state.columns.find(column);
        if (current != state.columns.end()) {
            const std::string suffix = "_" + type_suffix(current->second);
            if (root.size() > suffix.size() &&
                root.compare(root.size() - suffix.size(), suffix.size(), suffix) == 0)
                root.resize(root.size() - suffix.size());
        }
        const std::string candidate = truncate_identifier(root + "_" + type_suffix(type));
        for (const auto& name : {root, candidate}) {
            const auto it = state.columns.find(name);
            if (it != state.columns.end() && it->second == type && !reserved.contains(name) &&
                !bound_elsewhere(state, name, ""))
                return name;
        }
        return unique_name(candidate, taken(state));
    }

    // Makes sure property `p` has a column; true if that needed a change under the table lock
    // (the caller then looks again with the lock held).
    bool ensure(const std::string& table, TableState& state, const Property& p) {
        const std::string mapped = mapped_column(p.name, p.id);
        const auto found = state.bindings.find(p.id);
        // `unmapped: json`: a property the mapping does not name has no column of its own.
        if (mapped.empty() && found == state.bindings.end() && context_.target.unmapped == "json")
            return false;
        if (!settings_.create_table) {
            if (found != state.bindings.end()) return false;
            const std::string wanted = mapped.empty() ? model::snake_case(p.name) : mapped;
            if (state.columns.contains(wanted) && !reserved.contains(wanted)) {
                state.bindings[p.id] = {wanted, p.type};
            } else {
                spdlog::warn(
                    "postgres {}: table {} has no column `{}` for property `{}` "
                    "(create_table is false): its values are skipped",
                    context_.name, qualified(settings_.schema, table), wanted, p.name);
                state.bindings[p.id] = {"", p.type};
            }
            return false;
        }
        const std::string type = column_type_for(p.type, p.sample);
        if (found != state.bindings.end()) {
            const Binding b = found->second;
            const auto column = state.columns.find(b.column);
            if (!mapped.empty() && mapped != b.column) {
                if (lock_table(table, state)) return true;
                const auto existing = state.columns.find(mapped);
                const std::string target =
                    existing == state.columns.end() || !bound_elsewhere(state, mapped, p.id)
                        ? mapped
                        : unique_name(mapped, taken(state));
                spdlog::info("postgres {}: property `{}` moves from column {} to {} (mapping)",
                             context_.name, p.name, b.column, target);
                bind(table, state, p, target, type);
            } else if (column == state.columns.end()) {
                // Dropped by someone: made again.
                if (lock_table(table, state)) return true;
                bind(table, state, p, b.column, type);
            } else if (!p.type.empty() && p.type != b.property_type) {
                if (lock_table(table, state)) return true;
                if (column_fits(p.type, column->second)) {
                    bind(table, state, p, b.column, type);  // same column type: only noted
                } else {
                    const std::string moved = column_after_type_change(state, b.column, type);
                    spdlog::warn(
                        "postgres {}: property `{}` changed type from {} to {}: table {} column "
                        "{} ({}) keeps its values; new values go to column {} ({})",
                        context_.name, p.name,
                        b.property_type.empty() ? "unknown" : b.property_type, p.type,
                        qualified(settings_.schema, table), b.column, column->second, moved, type);
                    bind(table, state, p, moved, type);
                }
            } else if (!p.type.empty() && p.type == b.property_type &&
                       !column_fits(p.type, column->second) &&
                       !kept_.contains(table + "." + b.column) &&
                       ((p.type == "date" && column->second == "jsonb") ||
                        ((p.type == "people" || p.type == "relation") &&
                         column->second == "text[]"))) {
                if (lock_table(table, state)) return true;
                migrate(table, state, p.id);
            }
            return false;
        }
        if (lock_table(table, state)) return true;
        const std::string wanted = mapped.empty() ? model::snake_case(p.name) : mapped;
        const std::string name = truncate_identifier(wanted);
        const auto existing = state.columns.find(name);
        const bool reuse = existing != state.columns.end() && !reserved.contains(name) &&
                           !bound_elsewhere(state, name, p.id) &&
                           (!mapped.empty() || column_fits(p.type, existing->second));
        bind(table, state, p, reuse ? name : unique_name(wanted, taken(state)), type);
        return false;
    }

    // Changes a column's type in place. A two-way table's update trigger compares whole rows,
    // which PostgreSQL does not allow while a column changes type: it is made again after.
    void alter_type(const std::string& table, TableState& state, const std::string& column,
                    const std::string& type, const std::string& using_expression) {
        const std::string name = qualified(settings_.schema, table);
        if (context_.target.two_way)
            conn_->exec("DROP TRIGGER IF EXISTS _notion_syncd_capture_update ON " + name);
        conn_->exec("ALTER TABLE " + name + " ALTER COLUMN " + quote_identifier(column) + " TYPE " +
                    type + " USING " + using_expression);
        load(table, state);
        if (context_.target.two_way) prepare_two_way_table(table, state);
    }

    // The one-time migration of columns made by earlier versions to the types a person can
    // edit: a date from jsonb to date (or timestamptz when a value has a time) plus <column>_end
    // for ranges; people and relations from text[] to uuid[]. Under the table lock, in the
    // delivery's transaction: all or nothing.
    void migrate(const std::string& table, TableState& state, const std::string& id) {
        const Binding b = state.bindings.at(id);
        const std::string name = qualified(settings_.schema, table);
        const std::string c = quote_identifier(b.column);
        const auto yes = [&](const std::string& sql) { return conn_->exec(sql).text(0, 0) == "t"; };
        if (b.property_type == "people" || b.property_type == "relation") {
            if (!yes(
                    "SELECT NOT EXISTS (SELECT 1 FROM " + name + " x, unnest(x." + c +
                    ") v WHERE v !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]"
                    "{12}$')")) {
                spdlog::warn(
                    "postgres {}: table {} column {} holds values that are not ids: it stays "
                    "text[]",
                    context_.name, name, b.column);
                kept_.insert(table + "." + b.column);
                return;
            }
            alter_type(table, state, b.column, "uuid[]", c + "::uuid[]");
            spdlog::info("postgres {}: table {} column {} migrated from text[] to uuid[]",
                         context_.name, name, b.column);
            return;
        }
        const std::string object = "jsonb_typeof(" + c + ") = 'object'";
        const bool times =
            yes("SELECT EXISTS (SELECT 1 FROM " + name + " WHERE " + object + " AND (strpos(" + c +
                "->>'start', 'T') > 0 OR strpos(COALESCE(" + c + "->>'end', ''), 'T') > 0))");
        const bool ends = yes("SELECT EXISTS (SELECT 1 FROM " + name + " WHERE " + object +
                              " AND " + c + "->>'end' IS NOT NULL)");
        const std::string type = times ? "timestamp with time zone" : "date";
        if (ends) {
            const std::string end = unique_name(b.column + "_end", taken(state));
            bind(table, state, {id + std::string(end_suffix), "", "date_end", nullptr}, end, type);
            conn_->exec("UPDATE " + name + " SET " + quote_identifier(end) + " = (" + c +
                        "->>'end')::" + type + " WHERE " + object);
        }
        alter_type(table, state, b.column, type,
                   "CASE WHEN " + object + " THEN (" + c + "->>'start')::" + type +
                       " WHEN jsonb_typeof(" + c + ") = 'string' THEN (" + c + "#>>'{}')::" + type +
                       " END");
        spdlog::info("postgres {}: table {} column {} migrated from jsonb to {}{}", context_.name,
                     name, b.column, type, ends ? " with an _end column" : "");
    }

    // A date value needs what its columns may lack: a time (the date column becomes
    // timestamptz, with its end column) or an end (a <column>_end column is added).
    void date_columns(const std::string& table, TableState& state, const std::string& id, bool time,
                      bool end) {
        lock_table(table, state);
        const Binding b = state.bindings.at(id);
        const std::string end_id = id + std::string(end_suffix);
        std::string type = state.columns.at(b.column);
        if (time && type == "date") {
            type = "timestamp with time zone";
            alter_type(table, state, b.column, type, quote_identifier(b.column) + "::" + type);
            if (const auto e = state.bindings.find(end_id); e != state.bindings.end()) {
                const std::string column = e->second.column;
                alter_type(table, state, column, type, quote_identifier(column) + "::" + type);
            }
            spdlog::info("postgres {}: table {} column {} now holds times (timestamptz)",
                         context_.name, qualified(settings_.schema, table), b.column);
        }
        if (end && !state.bindings.contains(end_id)) {
            const std::string column = unique_name(b.column + "_end", taken(state));
            bind(table, state, {end_id, "", "date_end", nullptr}, column, type);
        }
    }

    // Whether property `id` is a date held in typed columns (start, and end when bound).
    static bool typed_date(const TableState& state, const Binding& b) {
        if (b.property_type != "date") return false;
        const auto type = state.columns.find(b.column);
        return type != state.columns.end() && column_fits("date", type->second);
    }

    // A jsonb column of ours added on first use (notion_properties, notion_content); false when
    // it is missing and may not be made (create_table: false: its values are skipped).
    bool special_column(const std::string& table, TableState& state, const std::string& column) {
        if (state.columns.contains(column)) return true;
        if (!settings_.create_table) {
            if (warned_.insert(table + "." + column).second) {
                spdlog::warn(
                    "postgres {}: table {} has no column {} (create_table is false): "
                    "those values are skipped",
                    context_.name, qualified(settings_.schema, table), column);
            }
            return false;
        }
        lock_table(table, state);
        if (!state.columns.contains(column)) {
            conn_->exec("ALTER TABLE " + qualified(settings_.schema, table) + " ADD COLUMN " +
                        quote_identifier(column) + " jsonb");
            state.columns[column] = "jsonb";
        }
        return true;
    }

    void ensure_all(const std::string& table, TableState& state, const std::vector<Property>& ps) {
        for (std::size_t i = 0; i < ps.size(); ++i) {
            if (ensure(table, state, ps[i])) i = static_cast<std::size_t>(-1);  // again, locked
        }
    }

    void add(const ChangeBatch& batch, const model::ChangeEvent& event,
             std::map<std::string, Pending>& pending) {
        if (event.page_id.empty() && event.kind != "schema_changed") return;
        const std::string table = table_for(batch, event);
        TableState& state = table_state(table);
        const auto schema_it = batch.schemas.find(event.data_source_id);
        const model::Schema* schema =
            schema_it == batch.schemas.end() ? nullptr : &schema_it->second;

        // The event's properties, as the dispatcher filtered them (include, exclude, unmapped:
        // skip); schema_changed carries every property of the new schema.
        std::vector<Property> properties;
        for (const auto& [name, id] : event.property_ids) {
            if (!id.is_string()) continue;
            const std::string property_id(id.get_string());
            const model::PropertyInfo* info = schema ? schema->by_id(property_id) : nullptr;
            properties.push_back({property_id, std::string(name), info ? info->type : "",
                                  event.properties.if_contains(name)});
        }
        ensure_all(table, state, properties);
        if (event.kind == "schema_changed") return;

        Pending& ops = pending[table];
        if (event.kind == "deleted" || event.kind == "access_lost") {
            if (ops.page_group.contains(event.page_id)) flush(table, ops);
            if (ops.deleted.insert(event.page_id).second) ops.deletes.push_back(event.page_id);
            return;
        }
        // created, updated, restored: the whole row.
        Row row{.event = &event, .values = {}, .made = {}};
        std::vector<std::string> columns;
        std::string signature;
        const auto add_column = [&](const std::string& column, const json::value* value) {
            columns.push_back(column);
            signature += column;
            signature.push_back('\x1f');
            row.values.push_back(value);
        };
        // Dates first: a value with a time, or with an end, may need its columns changed (DDL)
        // before the row is built.
        for (const auto& [name, value] : event.properties) {
            const auto* id = event.property_ids.if_contains(name);
            if (id == nullptr || !id->is_string()) continue;
            const std::string pid(id->get_string());
            const auto b = state.bindings.find(pid);
            if (b == state.bindings.end() || !typed_date(state, b->second)) continue;
            const bool time = has_time(value) && state.columns.at(b->second.column) == "date";
            const auto* end = value.is_object() ? value.get_object().if_contains("end") : nullptr;
            const bool needs_end =
                end && !end->is_null() && !state.bindings.contains(pid + std::string(end_suffix));
            if (time || needs_end) date_columns(table, state, pid, time, needs_end);
        }
        const bool unmapped_json = context_.target.unmapped == "json";
        json::object unmapped;
        for (const auto& [name, value] : event.properties) {
            const auto* id = event.property_ids.if_contains(name);
            const auto b = id && id->is_string()
                               ? state.bindings.find(std::string(id->get_string()))
                               : state.bindings.end();
            if (b == state.bindings.end() || b->second.column.empty()) {
                if (unmapped_json) unmapped[name] = value;
                continue;
            }
            if (std::find(columns.begin(), columns.end(), b->second.column) != columns.end())
                continue;  // two names for one id: the first wins
            if (typed_date(state, b->second)) {
                // The start in the column, the end in <column>_end (when there is one).
                const json::object* date = value.is_object() ? &value.get_object() : nullptr;
                const auto part = [&](const char* key) {
                    const json::value* v = date ? date->if_contains(key) : nullptr;
                    return std::make_unique<json::value>(v ? *v : json::value(nullptr));
                };
                row.made.push_back(part("start"));
                add_column(b->second.column, row.made.back().get());
                const auto e = state.bindings.find(b->first + std::string(end_suffix));
                if (e != state.bindings.end() && !e->second.column.empty()) {
                    row.made.push_back(part("end"));
                    add_column(e->second.column, row.made.back().get());
                }
                continue;
            }
            add_column(b->second.column, &value);
        }
        // `unmapped: json`: what the mapping does not name, in one jsonb column.
        if (unmapped_json && special_column(table, state, "notion_properties")) {
            row.made.push_back(std::make_unique<json::value>(std::move(unmapped)));
            add_column("notion_properties", row.made.back().get());
        }
        // `content: true`: the page's blocks.
        if (event.content && special_column(table, state, "notion_content")) {
            row.made.push_back(std::make_unique<json::value>(*event.content));
            add_column("notion_content", row.made.back().get());
        }
        if (ops.deleted.contains(event.page_id)) flush(table, ops);
        if (const auto it = ops.page_group.find(event.page_id); it != ops.page_group.end()) {
            if (it->second != signature) {
                flush(table, ops);
            } else {
                // A later event of the same page in the same statement: it replaces the row
                // (one statement cannot update a row twice).
                for (auto& r : ops.groups[signature].rows) {
                    if (r.event->page_id == event.page_id) r = std::move(row);
                }
                return;
            }
        }
        Group& group = ops.groups[signature];
        if (group.rows.empty()) group.columns = std::move(columns);
        group.rows.push_back(std::move(row));
        ops.page_group[event.page_id] = signature;
    }

    void flush(const std::string& table, Pending& ops) {
        const TableState& state = tables_.at(table);
        const std::string name = qualified(settings_.schema, table);
        for (const auto& [signature, group] : ops.groups) {
            std::vector<Column> columns;
            for (const auto& c : group.columns) columns.push_back({c, state.columns.at(c)});
            const std::string sql = upsert_sql(name, state.meta, columns);
            const bool url = !state.meta.notion_url.empty();
            const bool edited = !state.meta.last_edited_time.empty();
            std::vector<ArrayLiteral> arrays(upsert_parameters(state.meta, columns.size()));
            std::vector<std::string> texts(arrays.size());
            std::vector<const char*> parameters(arrays.size());
            for (std::size_t start = 0; start < group.rows.size();
                 start += max_rows_per_statement) {
                const std::size_t end = std::min(group.rows.size(), start + max_rows_per_statement);
                for (std::size_t i = start; i < end; ++i) {
                    const Row& row = group.rows[i];
                    const model::ChangeEvent& e = *row.event;
                    std::size_t a = 0;
                    arrays[a++].add(e.page_id);
                    if (url) {
                        if (e.url.empty()) {
                            arrays[a++].add_null();
                        } else {
                            arrays[a++].add(e.url);
                        }
                    }
                    if (edited) {
                        if (e.last_edited_time.empty()) {
                            arrays[a++].add_null();
                        } else {
                            arrays[a++].add(e.last_edited_time);
                        }
                    }
                    for (std::size_t c = 0; c < row.values.size(); ++c)
                        arrays[a++].add_or_null(to_parameter(*row.values[c], columns[c].type));
                }
                for (std::size_t a = 0; a < arrays.size(); ++a) {
                    texts[a] = arrays[a].finish();
                    parameters[a] = texts[a].c_str();
                }
                conn_->exec(sql, parameters);
            }
        }
        if (!ops.deletes.empty()) {
            if (context_.target.soft_delete && state.meta.deleted_at.empty()) {
                throw DeliveryError(
                    "postgres: table " + name + " has no deleted_at column (soft_delete is on)",
                    false);
            }
            json::array ids;
            for (const auto& id : ops.deletes) ids.emplace_back(id);
            const std::string literal = array_literal(ids);
            const std::vector<const char*> parameters = {literal.c_str()};
            conn_->exec(delete_sql(name, context_.target.soft_delete), parameters);
        }
        ops = Pending{};
    }

    Settings settings_;
    ConnectorContext context_;
    std::string bookkeeping_;
    std::string table_bindings_;
    std::string dirty_;                         // two-way: the captured edits
    std::string capture_function_;              // two-way: the row trigger's function
    std::string truncate_function_;             // two-way: the TRUNCATE trigger's function
    std::map<std::string, std::string> bound_;  // base + data source -> table
    std::unique_ptr<Connection> conn_;
    bool prepared_ = false;
    std::map<std::string, TableState> tables_;
    std::set<std::string> warned_;  // table.column we said is missing
    std::set<std::string> kept_;    // table.column left in its old type (values not migratable)
    Worker worker_;  // last: joined first, while everything its jobs use still exists
};

}  // namespace

Settings parse_settings(config::SettingsReader& read) {
    Settings settings{.dsn = read.required_string("dsn"),
                      .schema = read.string_or("schema", "public"),
                      .create_table = read.bool_or("create_table", true)};
    std::string password;
    if (!settings.dsn.empty() && !parse_dsn(settings.dsn, password)) {
        // libpq's own message may quote the string, password included: ours does not.
        read.problem("not a PostgreSQL connection string (key=value pairs or a postgresql:// URI)",
                     "dsn");
    } else if (!password.empty()) {
        // A password in the DSN makes it a secret; written literally (not ${ENV}) the file
        // must not be world-readable.
        const std::string raw = read.raw_string("dsn").value_or("");
        std::string raw_password;
        read.secret("dsn",
                    parse_dsn(raw, raw_password) && !raw_password.empty() ? raw_password : raw);
    }
    if (read.has("schema") && settings.schema.empty()) read.problem("must not be empty", "schema");
    return settings;
}

void validate(config::SettingsReader& read) { parse_settings(read); }

std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context) {
    return std::make_unique<PostgresConnector>(parse_settings(read), context);
}

}  // namespace syncd::connectors::postgres
