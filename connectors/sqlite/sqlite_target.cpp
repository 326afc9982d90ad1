#include "connectors/sqlite/sqlite_target.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>

#include "daemon/model/crash_point.hpp"
#include "daemon/model/json_text.hpp"
#include "daemon/model/sqlite.hpp"

namespace syncd::connectors::sqlite_target {
namespace {

namespace json = boost::json;
using syncd::sqlite::quote_identifier;

std::string column_type(const std::string& property_type) {
    if (property_type == "number") return "REAL";
    if (property_type == "checkbox") return "INTEGER";
    return "TEXT";  // text, names, ISO dates; arrays and objects as JSON
}

std::string now_iso() {
    const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return text;
}

class SqliteConnector final : public Connector {
public:
    SqliteConnector(Settings settings, ConnectorContext context)
        : settings_(std::move(settings)), context_(std::move(context)) {}

    boost::asio::awaitable<void> start() override {
        try {
            if (db_) co_return;  // started before (a two-way target is started early)
            db_ = std::make_unique<syncd::sqlite::Database>(settings_.path);
            db_->exec("PRAGMA journal_mode=WAL");
            db_->exec(
                "CREATE TABLE IF NOT EXISTS _notion_syncd_columns (table_name TEXT NOT NULL, "
                "property_id TEXT NOT NULL, column_name TEXT NOT NULL, PRIMARY KEY (table_name, "
                "property_id))");
            // property_type (since two-way): "date" marks a date held as ISO-8601 text, its end in
            // the binding "<id>/end"; empty for bindings made by earlier versions.
            auto typed = db_->prepare(
                "SELECT 1 FROM pragma_table_info('_notion_syncd_columns') WHERE name = "
                "'property_type'");
            if (!typed.step()) {
                db_->exec(
                    "ALTER TABLE _notion_syncd_columns ADD COLUMN property_type TEXT NOT NULL "
                    "DEFAULT ''");
            }
            db_->exec(
                "CREATE TABLE IF NOT EXISTS _notion_syncd_tables (base TEXT NOT NULL, "
                "data_source_id TEXT NOT NULL, table_name TEXT NOT NULL UNIQUE, PRIMARY KEY "
                "(base, data_source_id))");
            if (context_.target.two_way) {
                // Edits by other programs, captured by triggers with the row's values at that
                // moment; our own writes set the origin flag inside their transaction, which the
                // triggers check (other connections never see it set).
                db_->exec(
                    "CREATE TABLE IF NOT EXISTS _notion_syncd_dirty (table_name TEXT NOT NULL, "
                    "page_id TEXT NOT NULL, gen INTEGER NOT NULL, captured_at TEXT NOT NULL, "
                    "row_json TEXT, PRIMARY KEY (table_name, page_id))");
                db_->exec("CREATE TABLE IF NOT EXISTS _notion_syncd_origin (writer INTEGER)");
                db_->exec("DELETE FROM _notion_syncd_origin");  // a crash mid-write left it
            }
        } catch (const std::exception& e) {
            throw DeliveryError(std::string("sqlite: ") + e.what(), true);
        }
        co_return;
    }

    boost::asio::awaitable<std::vector<ExternalRow>> external_changes() override {
        std::vector<ExternalRow> out;
        if (!context_.target.two_way || !db_) co_return out;
        // Only this target's tables: another sync's target in the same file has its own.
        auto s = db_->prepare(
            "SELECT d.table_name, d.page_id, d.gen, d.captured_at, d.row_json, t.data_source_id "
            "FROM _notion_syncd_dirty d JOIN _notion_syncd_tables t ON t.table_name = "
            "d.table_name WHERE t.base = ? ORDER BY d.captured_at");
        s.bind(1, base_name());
        while (s.step()) {
            ExternalRow row{.table = s.text(0),
                            .page_id = s.text(1),
                            .capture = s.text(1),
                            .data_source_id = s.text(5),
                            .generation = s.integer(2),
                            .captured_at = parse_time(s.text(3))};
            if (row.page_id.starts_with("row:")) {  // inserted without a page_id
                row.row_key = row.page_id.substr(4);
                row.page_id.clear();
            }
            const std::string values = s.text(4);
            if (values.empty()) {
                row.deleted = true;
            } else {
                boost::system::error_code error;
                auto parsed = model::parse_json(values, error);
                if (!error && parsed.is_object()) row.values = with_dates(parsed.as_object());
            }
            out.push_back(std::move(row));
        }
        co_return out;
    }

    boost::asio::awaitable<void> assign_page_id(ExternalRow row, std::string page_id) override {
        syncd::sqlite::Transaction transaction(*db_);
        db_->exec("INSERT INTO _notion_syncd_origin VALUES (1)");
        const auto rowid = static_cast<std::int64_t>(std::stoll(row.row_key));
        // A row of its own the page may already have: delivered from Notion while this row
        // waited to be linked (the daemon was killed after the POST). It is a copy of what was
        // created from this row: this row, which may hold newer edits, takes its place.
        auto copy = db_->prepare("DELETE FROM " + quote_identifier(row.table) +
                                 " WHERE page_id = ? AND rowid != ?");
        copy.bind(1, page_id).bind(2, rowid);
        copy.run();
        auto s = db_->prepare("UPDATE " + quote_identifier(row.table) +
                              " SET page_id = ? WHERE rowid = ? AND page_id IS NULL");
        s.bind(1, page_id).bind(2, rowid);
        s.run();
        db_->exec("DELETE FROM _notion_syncd_origin");
        transaction.commit();
        co_return;
    }

    boost::asio::awaitable<void> acknowledge(std::vector<ExternalRow> rows) override {
        if (!db_) co_return;
        syncd::sqlite::Transaction transaction(*db_);
        for (const auto& row : rows) {
            auto s = db_->cached(
                "DELETE FROM _notion_syncd_dirty WHERE table_name = ? AND page_id = ? AND gen = ?");
            s->bind(1, row.table).bind(2, row.capture).bind(3, row.generation);
            s->run();
        }
        transaction.commit();
        co_return;
    }

private:
    std::string base_name() const {
        return context_.target.table.empty() ? model::snake_case(context_.target.sync)
                                             : context_.target.table;
    }

    // A date's start and end columns (captured as "<id>" and "<id>/end") as one date value.
    static json::object with_dates(json::object values) {
        std::vector<std::string> ends;
        for (const auto& [key, value] : values) {
            if (key.ends_with("/end")) ends.emplace_back(key);
        }
        for (const auto& key : ends) {
            const std::string id = key.substr(0, key.size() - 4);
            json::value end = values.at(key);
            values.erase(key);
            auto* start = values.if_contains(id);
            if (start == nullptr || start->is_null()) continue;
            *start = json::object{{"start", *start}, {"end", end}, {"time_zone", nullptr}};
        }
        return values;
    }

    static std::chrono::system_clock::time_point parse_time(const std::string& iso) {
        std::tm tm{};
        double seconds = 0;
        if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &seconds) != 6) {
            return std::chrono::system_clock::now();
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        const auto whole = std::chrono::system_clock::from_time_t(timegm(&tm));
        return whole + std::chrono::microseconds(static_cast<std::int64_t>(seconds * 1e6));
    }

    // The capture triggers of a two-way table, made again when its columns change: each holds the
    // row's values by property id (json_object takes at most 63 pairs: chunks joined by
    // json_patch).
    void ensure_triggers(const std::string& table,
                         const std::map<std::string, std::string>& columns) {
        std::string values;
        std::string chunk;
        int pairs = 0;
        for (const auto& [id, column] : columns) {
            if (id.empty()) continue;
            chunk +=
                (chunk.empty() ? "" : ", ") + sql_literal(id) + ", NEW." + quote_identifier(column);
            if (++pairs == 50) {
                values = values.empty() ? "json_object(" + chunk + ")"
                                        : "json_patch(" + values + ", json_object(" + chunk + "))";
                chunk.clear();
                pairs = 0;
            }
        }
        if (!chunk.empty() || values.empty()) {
            values = values.empty() ? "json_object(" + chunk + ")"
                                    : "json_patch(" + values + ", json_object(" + chunk + "))";
        }
        const std::string t = sql_literal(table);
        // A row without a page_id (inserted by a person, for two_way.create) is known by rowid.
        const std::string new_key = "COALESCE(NEW.page_id, 'row:' || NEW.rowid)";
        const std::string old_key = "COALESCE(OLD.page_id, 'row:' || OLD.rowid)";
        const std::string guard = " WHEN NOT EXISTS (SELECT 1 FROM _notion_syncd_origin)";
        auto capture = [&](const std::string& key, const std::string& row) {
            return "INSERT OR REPLACE INTO _notion_syncd_dirty (table_name, page_id, gen, "
                   "captured_at, row_json) VALUES (" +
                   t + ", " + key +
                   ", COALESCE((SELECT gen "
                   "FROM _notion_syncd_dirty WHERE table_name = " +
                   t + " AND page_id = " + key +
                   "), 0) + 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), " + row + ");";
        };
        const std::string prefix = "_notion_syncd_" + table;
        for (const char* what : {"insert", "update", "delete"}) {
            db_->exec("DROP TRIGGER IF EXISTS " + quote_identifier(prefix + "_" + what));
        }
        db_->exec("CREATE TRIGGER " + quote_identifier(prefix + "_insert") + " AFTER INSERT ON " +
                  quote_identifier(table) + guard + " BEGIN " + capture(new_key, values) + " END");
        db_->exec("CREATE TRIGGER " + quote_identifier(prefix + "_update") + " AFTER UPDATE ON " +
                  quote_identifier(table) + guard + " BEGIN " + capture(new_key, values) + " END");
        db_->exec("CREATE TRIGGER " + quote_identifier(prefix + "_delete") + " AFTER DELETE ON " +
                  quote_identifier(table) + guard + " BEGIN " + capture(old_key, "NULL") + " END");
    }

    static std::string sql_literal(const std::string& text) {
        std::string out = "'";
        for (const char c : text) {
            if (c == '\'') out += '\'';
            out += c;
        }
        return out + "'";
    }

public:
    // Tables and columns come from schema_changed events: deliver() makes them.
    boost::asio::awaitable<void> apply_schema(ChangeBatch batch) override {
        co_await deliver(std::move(batch));
    }

    boost::asio::awaitable<void> deliver(ChangeBatch batch) override {
        try {
            syncd::sqlite::Transaction transaction(*db_);
            // Our own writes are not edits to write back: the flag lives only inside this
            // transaction.
            if (context_.target.two_way) db_->exec("INSERT INTO _notion_syncd_origin VALUES (1)");
            for (const auto& event : batch.events) apply(batch, event);
            if (context_.target.two_way) db_->exec("DELETE FROM _notion_syncd_origin");
            transaction.commit();
        } catch (...) {
            // The rollback undid tables, columns and bindings these caches may already hold:
            // forget them, so the retry creates them again instead of writing to columns that
            // do not exist.
            bound_.clear();
            tables_.clear();
            dates_.clear();
            extra_columns_.clear();
            triggered_.clear();
            throw;
        }
        model::crash_point("target.after_write");
        co_return;
    }

private:
    // The table of a data source, bound on first use: renaming the data source, or a second data
    // source appearing in its database, does not move its rows to another table.
    std::string table_for(const ChangeBatch& batch, const model::ChangeEvent& event) {
        const std::string base =
            context_.target.table.empty() ? model::snake_case(batch.sync) : context_.target.table;
        const std::string key = base + "\n" + event.data_source_id;
        if (const auto it = bound_.find(key); it != bound_.end()) return it->second;
        auto find = db_->prepare(
            "SELECT table_name FROM _notion_syncd_tables WHERE base = ? AND data_source_id = ?");
        find.bind(1, base).bind(2, event.data_source_id);
        if (find.step()) return bound_[key] = find.text(0);
        std::string wanted = base;
        if (batch.several_sources) {
            const auto it = batch.schemas.find(event.data_source_id);
            const std::string title = it != batch.schemas.end() && !it->second.title.empty()
                                          ? it->second.title
                                          : event.data_source_id.substr(0, 8);
            wanted += "_" + model::snake_case(title);
        }
        std::string name = wanted;
        for (int n = 2;; ++n) {
            auto taken = db_->prepare("SELECT 1 FROM _notion_syncd_tables WHERE table_name = ?");
            taken.bind(1, name);
            if (!taken.step()) break;
            name = wanted + "_" + std::to_string(n);
        }
        auto bind = db_->prepare(
            "INSERT INTO _notion_syncd_tables (base, data_source_id, table_name) VALUES (?, ?, ?)");
        bind.bind(1, base).bind(2, event.data_source_id).bind(3, name);
        bind.run();
        return bound_[key] = name;
    }

    // Adds a metadata column (TEXT) on first use.
    void ensure_column(const std::string& table, const std::string& column) {
        if (extra_columns_.contains(table + "." + column)) return;
        auto has = db_->prepare("SELECT 1 FROM pragma_table_info(?) WHERE name = ?");
        has.bind(1, table).bind(2, column);
        if (!has.step()) {
            db_->exec("ALTER TABLE " + quote_identifier(table) + " ADD COLUMN " +
                      quote_identifier(column) + " TEXT");
        }
        extra_columns_.insert(table + "." + column);
    }

    // The column of each property id, creating the table and columns that are missing.
    std::map<std::string, std::string>& columns_of(const std::string& table,
                                                   const ChangeBatch& batch,
                                                   const model::ChangeEvent& event) {
        auto& columns = tables_[table];
        if (columns.empty()) {
            db_->exec("CREATE TABLE IF NOT EXISTS " + quote_identifier(table) +
                      " (page_id TEXT PRIMARY KEY, notion_url TEXT, last_edited_time TEXT, "
                      "synced_at TEXT, deleted_at TEXT)");
            auto s = db_->prepare(
                "SELECT property_id, column_name FROM _notion_syncd_columns WHERE table_name = ?");
            s.bind(1, table);
            while (s.step()) columns[s.text(0)] = s.text(1);
            columns[""] = "page_id";  // marks the table as loaded
            auto d = db_->prepare(
                "SELECT property_id FROM _notion_syncd_columns WHERE table_name = ? AND "
                "property_type = 'date'");
            d.bind(1, table);
            while (d.step()) dates_[table].insert(d.text(0));
        }
        std::set<std::string> taken = {"page_id",   "notion_url",     "last_edited_time",
                                       "synced_at", "notion_content", "notion_properties",
                                       "deleted_at"};
        for (const auto& [id, column] : columns) taken.insert(column);
        bool added = false;
        const model::Schema* schema = nullptr;
        if (auto it = batch.schemas.find(event.data_source_id); it != batch.schemas.end())
            schema = &it->second;
        for (const auto& [name, id_value] : event.property_ids) {
            const std::string id(id_value.as_string());
            if (columns.contains(id)) {
                const model::PropertyInfo* info = schema ? schema->by_id(id) : nullptr;
                if (info && info->type == "date" && !dates_[table].contains(id)) {
                    migrate_date(table, id, columns);
                    added = true;
                }
                continue;
            }
            std::string column;
            for (const auto& [key, mapped] : context_.target.mapping) {
                if (key == name || key == id) column = mapped;
            }
            if (column.empty() && context_.target.unmapped == "json") continue;  // in the JSON
            if (column.empty()) column = model::snake_case(std::string(name));
            const std::string wanted = column;
            for (int n = 2; taken.contains(column); ++n) column = wanted + "_" + std::to_string(n);
            const model::PropertyInfo* info = schema ? schema->by_id(id) : nullptr;
            db_->exec("ALTER TABLE " + quote_identifier(table) + " ADD COLUMN " +
                      quote_identifier(column) + " " + column_type(info ? info->type : ""));
            auto s = db_->prepare(
                "INSERT INTO _notion_syncd_columns (table_name, property_id, column_name, "
                "property_type) VALUES (?, ?, ?, ?)");
            s.bind(1, table).bind(2, id).bind(3, column).bind(4, info ? info->type : "");
            s.run();
            columns[id] = column;
            if (info && info->type == "date") dates_[table].insert(id);
            taken.insert(column);
            added = true;
        }
        if (context_.target.two_way && (added || !triggered_.contains(table))) {
            ensure_triggers(table, columns);
            triggered_.insert(table);
        }
        return columns;
    }

    // The column of a date range's end, <column>_end, added when the first range arrives.
    void ensure_end_column(const std::string& table, const std::string& id,
                           std::map<std::string, std::string>& columns) {
        const std::string key = id + "/end";
        if (columns.contains(key)) return;
        std::set<std::string> taken;
        auto names = db_->prepare("SELECT name FROM pragma_table_info(?)");
        names.bind(1, table);
        while (names.step()) taken.insert(names.text(0));
        const std::string wanted = columns.at(id) + "_end";
        std::string column = wanted;
        for (int n = 2; taken.contains(column); ++n) column = wanted + "_" + std::to_string(n);
        db_->exec("ALTER TABLE " + quote_identifier(table) + " ADD COLUMN " +
                  quote_identifier(column) + " TEXT");
        auto s = db_->prepare(
            "INSERT INTO _notion_syncd_columns (table_name, property_id, column_name, "
            "property_type) VALUES (?, ?, ?, 'date_end')");
        s.bind(1, table).bind(2, key).bind(3, column);
        s.run();
        columns[key] = column;
        if (context_.target.two_way) ensure_triggers(table, columns);
    }

    // The one-time migration of a date column of earlier versions (JSON text of {start, end,
    // time_zone}) to ISO-8601 text: the start in the column, a range's end in <column>_end.
    void migrate_date(const std::string& table, const std::string& id,
                      std::map<std::string, std::string>& columns) {
        const std::string t = quote_identifier(table);
        const std::string c = quote_identifier(columns.at(id));
        const std::string object =
            "CASE WHEN json_valid(" + c + ") THEN json_type(" + c + ") = 'object' ELSE 0 END";
        auto ends = db_->prepare("SELECT 1 FROM " + t + " WHERE " + object + " AND json_extract(" +
                                 c + ", '$.end') IS NOT NULL LIMIT 1");
        if (ends.step()) {
            ensure_end_column(table, id, columns);
            db_->exec("UPDATE " + t + " SET " + quote_identifier(columns.at(id + "/end")) +
                      " = json_extract(" + c + ", '$.end') WHERE " + object);
        }
        db_->exec("UPDATE " + t + " SET " + c + " = json_extract(" + c + ", '$.start') WHERE " +
                  object);
        auto s = db_->prepare(
            "UPDATE _notion_syncd_columns SET property_type = 'date' WHERE table_name = ? AND "
            "property_id = ?");
        s.bind(1, table).bind(2, id);
        s.run();
        dates_[table].insert(id);
    }

    void apply(const ChangeBatch& batch, const model::ChangeEvent& event) {
        if (event.page_id.empty() && event.kind != "schema_changed") return;
        const std::string table = table_for(batch, event);
        auto& columns = columns_of(table, batch, event);
        if (event.kind == "schema_changed") return;
        if (event.kind == "deleted" || event.kind == "access_lost") {
            if (context_.target.soft_delete) {
                auto s = db_->prepare("UPDATE " + quote_identifier(table) +
                                      " SET deleted_at = ? WHERE page_id = ?");
                s.bind(1, now_iso()).bind(2, event.page_id);
                s.run();
            } else {
                auto s =
                    db_->prepare("DELETE FROM " + quote_identifier(table) + " WHERE page_id = ?");
                s.bind(1, event.page_id);
                s.run();
            }
            return;
        }
        // created, updated, restored: the whole row, so a redelivered event changes nothing.
        std::string names = "page_id, notion_url, last_edited_time, synced_at, deleted_at";
        std::string marks = "?, ?, ?, ?, NULL";
        std::string updates =
            "notion_url = excluded.notion_url, last_edited_time = excluded.last_edited_time, "
            "synced_at = excluded.synced_at, deleted_at = NULL";
        std::vector<const json::value*> values;
        json::value content;
        if (event.content) {
            // `content: true`: the page's blocks as JSON, in a column added on first use.
            ensure_column(table, "notion_content");
            content = *event.content;
            names += ", notion_content";
            marks += ", ?";
            updates += ", notion_content = excluded.notion_content";
            values.push_back(&content);
        }
        json::value unmapped;
        if (context_.target.unmapped == "json") {
            // `unmapped: json`: what the mapping does not name goes to one JSON column.
            ensure_column(table, "notion_properties");
            json::object rest;
            for (const auto& [name, value] : event.properties) {
                const auto* id = event.property_ids.if_contains(name);
                if (id == nullptr || !columns.contains(std::string(id->as_string())))
                    rest[name] = value;
            }
            unmapped = std::move(rest);
            names += ", notion_properties";
            marks += ", ?";
            updates += ", notion_properties = excluded.notion_properties";
            values.push_back(&unmapped);
        }
        for (const auto& [name, value] : event.properties) {
            const auto* id = event.property_ids.if_contains(name);
            if (id == nullptr) continue;
            const auto column = columns.find(std::string(id->as_string()));
            if (column == columns.end()) continue;
            if (dates_[table].contains(column->first)) {
                // A date: ISO-8601 text a person can edit, the start here and a range's end in
                // <column>_end.
                static const json::value none;
                const json::object* date = value.is_object() ? &value.get_object() : nullptr;
                const json::value* start = date ? date->if_contains("start") : nullptr;
                const json::value* end = date ? date->if_contains("end") : nullptr;
                if (end && !end->is_null()) ensure_end_column(table, column->first, columns);
                const std::string q = quote_identifier(column->second);
                names += ", " + q;
                marks += ", ?";
                updates += ", " + q + " = excluded." + q;
                values.push_back(start ? start : &none);
                if (const auto e = columns.find(column->first + "/end"); e != columns.end()) {
                    const std::string qe = quote_identifier(e->second);
                    names += ", " + qe;
                    marks += ", ?";
                    updates += ", " + qe + " = excluded." + qe;
                    values.push_back(end ? end : &none);
                }
                continue;
            }
            const std::string q = quote_identifier(column->second);
            names += ", " + q;
            marks += ", ?";
            updates += ", " + q + " = excluded." + q;
            values.push_back(&value);
        }
        // Rows of one table mostly share their columns: the statement is parsed once.
        auto s =
            db_->cached("INSERT INTO " + quote_identifier(table) + " (" + names + ") VALUES (" +
                        marks + ") ON CONFLICT (page_id) DO UPDATE SET " + updates);
        s->bind(1, event.page_id).bind(3, event.last_edited_time).bind(4, now_iso());
        if (event.url.empty()) {
            s->bind_null(2);
        } else {
            s->bind(2, event.url);
        }
        int index = 5;
        for (const auto* v : values) {
            if (v->is_null()) {
                s->bind_null(index);
            } else if (v->is_bool()) {
                s->bind(index, static_cast<std::int64_t>(v->get_bool()));
            } else if (v->is_number()) {
                s->bind(index, v->to_number<double>());
            } else if (v->is_string()) {
                s->bind(index, std::string_view(v->get_string()));
            } else {
                s->bind(index, model::to_json_text(*v));
            }
            ++index;
        }
        s->run();
    }

    Settings settings_;
    ConnectorContext context_;
    std::unique_ptr<syncd::sqlite::Database> db_;
    std::set<std::string> extra_columns_;  // "table.column" known to exist
    std::set<std::string> triggered_;      // two-way tables whose triggers are current
    std::map<std::string, std::set<std::string>> dates_;  // table -> date property ids
    std::map<std::string, std::string> bound_;            // base + data source -> table
    std::map<std::string, std::map<std::string, std::string>>
        tables_;  // table -> property id -> column

public:
    // Every row of this target's tables with its values as the capture triggers record them
    // (json_object of the columns: integers, reals, text, NULL), for verify_every.
    boost::asio::awaitable<std::vector<ExternalRow>> all_rows() override {
        std::vector<ExternalRow> out;
        if (!context_.target.two_way || !db_) co_return out;
        std::vector<std::pair<std::string, std::string>> tables;  // table, data source
        auto t = db_->prepare(
            "SELECT table_name, data_source_id FROM _notion_syncd_tables WHERE base = ?");
        t.bind(1, base_name());
        while (t.step()) tables.emplace_back(t.text(0), t.text(1));
        for (const auto& [table, data_source] : tables) {
            std::vector<std::pair<std::string, std::string>> columns;  // property id, column
            auto c = db_->prepare(
                "SELECT property_id, column_name FROM _notion_syncd_columns WHERE table_name = ?");
            c.bind(1, table);
            while (c.step()) columns.emplace_back(c.text(0), c.text(1));
            std::string select = "SELECT rowid, page_id";
            for (const auto& [id, column] : columns) {
                const std::string q = quote_identifier(column);
                select += ", typeof(" + q + "), " + q;
            }
            auto s = db_->prepare(select + " FROM " + quote_identifier(table));
            while (s.step()) {
                ExternalRow row{.table = table, .data_source_id = data_source};
                if (s.is_null(1)) {
                    row.row_key = std::to_string(s.integer(0));
                } else {
                    row.page_id = s.text(1);
                }
                json::object values;
                for (std::size_t i = 0; i < columns.size(); ++i) {
                    const int at = 2 + 2 * static_cast<int>(i);
                    const std::string type = s.text(at);
                    json::value& value = values[columns[i].first];
                    if (type == "integer") {
                        value = s.integer(at + 1);
                    } else if (type == "real") {
                        value = s.real(at + 1);
                    } else if (type != "null") {
                        value = s.text(at + 1);
                    }
                }
                row.values = with_dates(std::move(values));
                out.push_back(std::move(row));
            }
        }
        co_return out;
    }
};

}  // namespace

Settings parse_settings(config::SettingsReader& read) {
    return {.path = read.required_string("path")};
}

void validate(config::SettingsReader& read) { parse_settings(read); }

std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context) {
    return std::make_unique<SqliteConnector>(parse_settings(read), context);
}

}  // namespace syncd::connectors::sqlite_target
