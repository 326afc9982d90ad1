#include "daemon/model/time_zone.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

namespace syncd::model {
namespace {

struct Zone {
    std::vector<std::int64_t> transitions;  // UTC seconds, ascending
    std::vector<std::int32_t> offsets;      // the offset from each transition on
    std::int32_t initial = 0;               // before the first transition
};

std::int64_t be(const unsigned char* p, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
    if (bytes == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return static_cast<std::int64_t>(v);
}

// A TZif file (RFC 8536): the version 2+ block of 64-bit transitions when there is one.
std::optional<Zone> read_zone(const std::string& name) {
    if (name.empty() || name.find("..") != std::string::npos || name.front() == '/')
        return std::nullopt;
    std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
    if (!in) return std::nullopt;
    const std::vector<unsigned char> data{std::istreambuf_iterator<char>(in), {}};
    const auto header = [&](std::size_t at, std::size_t counts[6]) {
        if (data.size() < at + 44 || data[at] != 'T' || data[at + 1] != 'Z' ||
            data[at + 2] != 'i' || data[at + 3] != 'f')
            return false;
        for (int i = 0; i < 6; ++i)
            counts[i] = static_cast<std::size_t>(be(&data[at + 20 + 4 * i], 4));
        return true;
    };
    std::size_t c[6];  // isutcnt isstdcnt leapcnt timecnt typecnt charcnt
    if (!header(0, c)) return std::nullopt;
    std::size_t at = 44;
    int time_size = 4;
    if (data[4] >= '2') {
        at += c[3] * 4 + c[3] + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
        if (!header(at, c)) return std::nullopt;
        at += 44;
        time_size = 8;
    }
    const std::size_t need = c[3] * time_size + c[3] + c[4] * 6;
    if (data.size() < at + need || c[4] == 0) return std::nullopt;
    Zone zone;
    const std::size_t types_at = at + c[3] * time_size + c[3];
    const auto offset_of = [&](std::size_t type) {
        return static_cast<std::int32_t>(be(&data[types_at + 6 * type], 4));
    };
    for (std::size_t i = 0; i < c[3]; ++i) {
        const std::size_t type = data[at + c[3] * time_size + i];
        if (type >= c[4]) return std::nullopt;
        zone.transitions.push_back(be(&data[at + i * time_size], time_size));
        zone.offsets.push_back(offset_of(type));
    }
    zone.initial = offset_of(0);
    return zone;
}

const Zone* find_zone(const std::string& name) {
    static std::mutex mutex;
    static std::map<std::string, std::optional<Zone>> zones;
    const std::lock_guard lock(mutex);
    auto it = zones.find(name);
    if (it == zones.end()) it = zones.emplace(name, read_zone(name)).first;
    return it->second ? &*it->second : nullptr;
}

}  // namespace

std::optional<std::int32_t> utc_offset(const std::string& zone, std::int64_t utc_seconds) {
    const Zone* z = find_zone(zone);
    if (z == nullptr) return std::nullopt;
    const auto it = std::upper_bound(z->transitions.begin(), z->transitions.end(), utc_seconds);
    if (it == z->transitions.begin()) return z->initial;
    // After the last transition (2037 in tzdata's files) the last offset stays.
    return z->offsets[static_cast<std::size_t>(it - z->transitions.begin()) - 1];
}

std::optional<std::int64_t> local_to_utc(const std::string& zone, std::int64_t local_seconds) {
    const auto first = utc_offset(zone, local_seconds);
    if (!first) return std::nullopt;
    // The offset at the guessed instant; once more from there settles gaps and overlaps.
    const auto second = utc_offset(zone, local_seconds - *first);
    std::int64_t utc = local_seconds - *second;
    const auto check = utc_offset(zone, utc);
    if (*check != *second) utc = local_seconds - *check;
    // An overlap (a fall-back hour): the earlier of the two instants.
    const auto earlier = local_seconds - std::max(*first, *second);
    if (utc_offset(zone, earlier) == std::max(*first, *second) && earlier < utc) utc = earlier;
    return utc;
}

}  // namespace syncd::model
