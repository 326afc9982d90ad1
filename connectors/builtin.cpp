// Every connector this binary ships: a new one is a folder and a line here.
#include "connectors/connector.hpp"
#include "connectors/exec/exec.hpp"
#include "connectors/jsonl/jsonl.hpp"
#include "connectors/markdown/markdown.hpp"
#include "connectors/postgres/postgres_target.hpp"
#include "connectors/sqlite/sqlite_target.hpp"
#include "connectors/webhook/webhook.hpp"

namespace syncd::connectors {

void add_builtin_connectors(Registry& registry) {
    registry.add("exec", exec::validate, exec::make_connector);
    registry.add("jsonl", jsonl::validate, jsonl::make_connector);
    registry.add("markdown", markdown::validate, markdown::make_connector);
    registry.add("postgres", postgres::validate, postgres::make_connector);
    registry.add("sqlite", sqlite_target::validate, sqlite_target::make_connector);
    registry.add("webhook", webhook::validate, webhook::make_connector);
}

}  // namespace syncd::connectors
