// Every connector this binary ships: a new one is a folder and a line here.
#include "connectors/connector.hpp"
#include "connectors/exec/exec.hpp"
#include "connectors/jsonl/jsonl.hpp"
#include "connectors/markdown/markdown.hpp"
#include "connectors/off_loop.hpp"
#include "connectors/postgres/postgres_target.hpp"
#include "connectors/sqlite/sqlite_target.hpp"
#include "connectors/webhook/webhook.hpp"

namespace syncd::connectors {

namespace {
// A connector whose calls block (files, SQLite), run on a thread of its own.
template <auto make>
std::unique_ptr<Connector> make_off_loop(config::SettingsReader& settings,
                                         const ConnectorContext& context) {
    return off_loop(make(settings, context));
}
}  // namespace

void add_builtin_connectors(Registry& registry) {
    // exec and webhook are asynchronous on the loop; postgres has its own worker thread.
    registry.add("exec", exec::validate, exec::make_connector);
    registry.add("jsonl", jsonl::validate, make_off_loop<jsonl::make_connector>);
    registry.add("markdown", markdown::validate, make_off_loop<markdown::make_connector>);
    registry.add("postgres", postgres::validate, postgres::make_connector);
    registry.add("sqlite", sqlite_target::validate, make_off_loop<sqlite_target::make_connector>);
    registry.add("webhook", webhook::validate, webhook::make_connector);
}

}  // namespace syncd::connectors
