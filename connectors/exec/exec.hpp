// `exec`: runs a program and speaks a JSON-lines protocol with it on stdin/stdout, so a connector
// can be written in any language (connectors/exec/PROTOCOL.md). The program is started at start();
// each batch waits for its ack or nack; a program that exits or stops answering is restarted with
// backoff and the batch is redelivered (a retryable DeliveryError).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "connectors/connector.hpp"

namespace syncd::connectors::exec {

struct Settings {
    std::vector<std::string> command = {};                      // argv
    std::vector<std::pair<std::string, std::string>> env = {};  // ${ENV} expanded
    std::string cwd = {};                                       // empty: the daemon's
    std::chrono::milliseconds ack_timeout{30'000};
};

Settings parse_settings(config::SettingsReader& read);
void validate(config::SettingsReader& read);
std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context);

// The program's environment: PATH, HOME, LANG, LC_ALL, LC_CTYPE, TZ, TMPDIR, USER and LOGNAME
// from the daemon's (nothing else, so no secret of the daemon leaks), NOTION_SYNCD_PROTOCOL and
// NOTION_SYNCD_CONNECTOR, then `env:` (which may override any of them).
std::vector<std::pair<std::string, std::string>> program_environment(
    const std::string& connector, const std::vector<std::pair<std::string, std::string>>& env,
    int protocol = 1);

// The wait before restart number `failures` (1, 2, …) after the program failed: 0.5 s doubling
// up to 30 s.
std::chrono::milliseconds restart_delay(int failures);

}  // namespace syncd::connectors::exec
