#include "connectors/postgres/postgres_target.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "connectors/postgres/pg.hpp"
#include "connectors/postgres/sql.hpp"

namespace syncd::connectors::postgres {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// Ours (and the config refuses them in a mapping); created_time is kept free for later.
const std::set<std::string> reserved = {"page_id",          "notion_url",       "created_time",
                                        "last_edited_time", "synced_at",        "deleted_at",
                                        "notion_content",   "notion_properties"};
constexpr std::size_t max_rows_per_statement = 1000;

// One thread that runs blocking jobs; the awaiting coroutine resumes on its own executor.
class Worker {
public:
    Worker() : pool_(1) {}
    ~Worker() { pool_.join(); }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    asio::awaitable<void> run(std::function<void()> job) {
        const auto home = co_await asio::this_coro::executor;
        auto initiation = [this, home, &job](auto handler) {
            // Keeps the caller's io_context running while the job is away.
            auto tracked = asio::prefer(home, asio::execution::outstanding_work.tracked);
            asio::post(pool_, [&job, handler = std::move(handler), tracked]() mutable {
                std::exception_ptr error;
                try {
                    job();
                } catch (...) {
                    error = std::current_exception();
                }
                auto executor = asio::get_associated_executor(handler, tracked);
                asio::post(executor, [handler = std::move(handler), error, tracked]() mutable {
                    std::move(handler)(error);
                });
            });
        };
        co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
            initiation, asio::use_awaitable);
    }

private:
    asio::thread_pool pool_;
};

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
    bool locked = false;  // the advisory lock is held in this transaction
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
          table_bindings_(qualified(settings_.schema, "_notion_syncd_tables")) {}

    asio::awaitable<void> start() override {
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
            conn_->exec("COMMIT");
        } catch (...) {
            rollback();
            throw;
        }
        prepared_ = true;
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
                            " (page_id uuid PRIMARY KEY, notion_url text, last_edited_time "
                            "timestamptz, synced_at timestamptz NOT NULL DEFAULT now(), "
                            "deleted_at timestamptz)");
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
                if (column->second == type) {
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
            }
            return false;
        }
        if (lock_table(table, state)) return true;
        const std::string wanted = mapped.empty() ? model::snake_case(p.name) : mapped;
        const std::string name = truncate_identifier(wanted);
        const auto existing = state.columns.find(name);
        const bool reuse = existing != state.columns.end() && !reserved.contains(name) &&
                           !bound_elsewhere(state, name, p.id) &&
                           (!mapped.empty() || existing->second == type);
        bind(table, state, p, reuse ? name : unique_name(wanted, taken(state)), type);
        return false;
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
    std::map<std::string, std::string> bound_;  // base + data source -> table
    std::unique_ptr<Connection> conn_;
    bool prepared_ = false;
    std::map<std::string, TableState> tables_;
    std::set<std::string> warned_;  // table.column we said is missing
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
