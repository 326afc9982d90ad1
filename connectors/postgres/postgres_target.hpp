// `postgres`: a typed table per data source in a real PostgreSQL server, through libpq (issue #5,
// DESIGN §3 Connectors).
//
// Threading: libpq is used in its blocking form, on ONE dedicated worker thread per connector
// (an asio::thread_pool of one thread). start() and deliver() hand their whole job to that
// thread and suspend; the result (or the exception) is posted back to the coroutine's own
// executor, which meanwhile keeps serving everything else. No libpq call ever runs on the event
// loop, and the connection and the table caches are only touched by the worker.
//
// Config block: `type: postgres`, `dsn` (libpq key=value string or postgresql:// URI; use
// ${ENV}), `schema` (default public), `create_table` (default true). Per target (core): `table`,
// `mapping`, `soft_delete`. The DSN's password never appears in logs or errors.
//
// Tables: `<table>` (default: the sync's name), `<table>_<data source title in snake_case>` when
// the sync reads several data sources. Columns: page_id uuid primary key, notion_url text,
// last_edited_time timestamptz, synced_at timestamptz, deleted_at timestamptz, then one column
// per Notion property, typed as column_type_for() in sql.hpp says (text, double precision,
// boolean, date or timestamptz, text[], uuid[], jsonb). A date is its start in `<column>` (date,
// widened in place to timestamptz when a value with a time arrives) and a range's end in
// `<column>_end` (bound as "<property id>/end"). Columns of earlier versions (a date as jsonb,
// ids as text[]) are migrated in place once (migrate()).
//
// Two-way (`two_way:` on the target; needs create_table): the table is keyed by row_key uuid
// (gen_random_uuid()) with page_id unique and nullable; capture triggers (one trigger function
// per schema, SECURITY DEFINER) record other sessions' inserts, updates, deletes and TRUNCATEs
// into `<schema>._notion_syncd_dirty (table_name, row_key, gen, captured_at, row_json)`; our own
// transactions SET LOCAL notion_syncd.origin = 'notion-syncd', which the triggers skip. The
// dirty set is read with FOR UPDATE SKIP LOCKED under a lock_timeout and acknowledged per
// generation.
//
// `<schema>._notion_syncd_columns (table_name, property_id, column_name, property_type)` binds
// each column to a property id: a rename keeps the column; a new property adds a column
// (ALTER TABLE … ADD COLUMN); a mapping entry names the column (and moves the property to it
// when the mapping changes).
//
// Per-target `unmapped: json`: properties the mapping does not name go to one jsonb column
// notion_properties (name -> value) instead of their own columns; `include`, `exclude` and
// `unmapped: skip` are applied by the dispatcher, so this connector never sees those properties.
// With `content: true` on the sync, the page's blocks go to a jsonb column notion_content.
//
// Type changes: when a property's new type needs another column type, the old column keeps the
// values it has and is no longer written; the property is bound to a new column
// `<column>_<suffix>` (suffix from the new column type: text, number, bool, time, list, json), or
// back to an existing unbound column of the right type of that family. A warning says so. A
// type change within the same column type (select -> status) changes nothing.
//
// Delivery: one transaction per batch. Upserts go out as
// INSERT … SELECT … FROM unnest(<one text[] per column>) ON CONFLICT (page_id) DO UPDATE, up to
// 1,000 rows per statement (see upsert_sql() in sql.hpp), never overwriting a row with an older
// last_edited_time, so a batch delivered twice changes nothing. deleted and
// access_lost delete the row, or with soft_delete set deleted_at (an upsert clears it).
// schema_changed adds the columns. DDL runs in the same transaction, under an advisory lock per
// table, so a failed batch leaves no half-made table.
//
// create_table: false: no DDL at all. The table must exist (with a unique page_id); properties
// go to the columns of the same name (or mapped) that exist, others are skipped with a warning;
// metadata columns that the table lacks are left out.
//
// Errors: a lost or refused connection, a server shutting down, deadlocks and the like throw a
// retryable DeliveryError (the next delivery reconnects); constraint, permission and data
// errors a non-retryable one with the server's message (so the event becomes a dead letter).
#pragma once

#include "connectors/connector.hpp"

namespace syncd::connectors::postgres {

struct Settings {
    std::string dsn = {};
    std::string schema = "public";
    bool create_table = true;
};

Settings parse_settings(config::SettingsReader& read);
void validate(config::SettingsReader& read);
std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context);

}  // namespace syncd::connectors::postgres
