// Checks of the machine a configuration names (DESIGN §4): what `run` would refuse,
// `check-config` refuses too, through these. Plain functions, no I/O besides the check itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace syncd::config {

// Whether `host` (a name, an IPv4 or IPv6 address, brackets allowed) is this machine's loopback:
// `localhost`, 127.0.0.0/8 or ::1. Names other than localhost are not resolved.
bool is_loopback_host(std::string_view host);

// The host of an http(s):// URL, brackets of an IPv6 literal kept; empty when there is none.
std::string url_host(std::string_view url);

// Why the PEM file of trusted CAs at `path` cannot be used (unreadable, no certificate in it);
// nullopt when it loads.
std::optional<std::string> ca_file_problem(const std::string& path);

// Why `dir` cannot hold notion-syncd's state (not a directory, not writable, cannot be
// created); nullopt when it can. Creates nothing.
std::optional<std::string> state_dir_problem(const std::string& dir);

}  // namespace syncd::config
