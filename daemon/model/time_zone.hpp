// UTC offsets of IANA time zones, read from the system's zoneinfo files (TZif, as tzdata
// installs them in /usr/share/zoneinfo), for Notion dates that carry a `time_zone` and a local
// time without an offset (notion-api.md §6.5): a target column that holds the instant
// (PostgreSQL timestamptz) is compared and written back through these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace syncd::model {

// The offset from UTC, in seconds, of `zone` ("America/New_York") at `utc_seconds` since the
// epoch; nullopt for an unknown zone. Thread-safe; each zone's file is read once.
std::optional<std::int32_t> utc_offset(const std::string& zone, std::int64_t utc_seconds);

// The instant of a local wall time (seconds since the epoch as if it were UTC) in `zone`; in a
// gap the later offset applies, in an overlap the earlier instant.
std::optional<std::int64_t> local_to_utc(const std::string& zone, std::int64_t local_seconds);

}  // namespace syncd::model
