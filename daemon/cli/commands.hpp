// The commands of notion-syncd besides `run` (main.cpp parses, these act): what they print and
// which exit status they return (the man page's EXIT STATUS table: exit_codes below).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "connectors/connector.hpp"
#include "daemon/mirror/mirror.hpp"

namespace syncd::cli {

// sysexits(3), as README and notion-syncd(8) list them.
namespace exit_codes {
constexpr int ok = 0;
constexpr int partial = 1;       // sync-once: a target is behind or events went to dead letters
constexpr int usage = 64;        // EX_USAGE: bad arguments, an unknown job or target
constexpr int unavailable = 69;  // EX_UNAVAILABLE: Notion unreachable, a source not shared
constexpr int internal = 70;     // EX_SOFTWARE: a bug
constexpr int busy = 75;         // EX_TEMPFAIL: another process holds the state directory
constexpr int auth = 77;         // EX_NOPERM: Notion rejects the token
constexpr int config = 78;       // EX_CONFIG: the configuration is wrong
}  // namespace exit_codes

// An exception's message for people: a system error's text without Boost's source location.
std::string describe(const std::exception& error);

// `discover [--json]`: what the connection sees, as a tree (pages, databases, data sources).
int discover(const config::Config& config, bool as_json);

// `status [--json]`: from the running daemon's control server, else from the mirror.
int status(const config::Config& config, const connectors::Registry& registry, bool as_json);

// `dead-letters list|retry|drop [--target T] [--id N] [--all]`.
int dead_letters(mirror::Mirror& mirror, const std::string& action, const std::string& target,
                 std::optional<std::int64_t> id, bool all);

// `conflicts list [--all] [--json]`: properties of two-way targets both sides changed.
int conflicts(mirror::Mirror& mirror, bool all, bool as_json);

// `conflicts show ID` and `conflicts resolve ID --take notion|external|value [--value JSON]`
// (carried out by the next cycle: a running daemon's next write-back, or sync-once).
int conflict(mirror::Mirror& mirror, const std::string& action, std::optional<std::int64_t> id,
             const std::string& take, const std::string& value);

// `plan [--json]`: the actions of Daemon::plan, as a table or JSON.
int print_plan(const boost::json::array& actions, bool as_json);

// `history PAGE`: what the write-back did for a page, oldest first.
int history(mirror::Mirror& mirror, const std::string& page_id);

// `check-config --online`: every job resolves its source and knows its property names.
int check_online(const config::Config& config, const connectors::Registry& registry);

}  // namespace syncd::cli
