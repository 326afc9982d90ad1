#include "daemon/model/hash.hpp"

// The library inline (header-only): no shared-library ABI to match, and the state lives in Hasher.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <bit>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdio>
#include <new>

namespace syncd::model {

namespace {

XXH3_state_t* state_of(unsigned char* storage) { return reinterpret_cast<XXH3_state_t*>(storage); }
const XXH3_state_t* state_of(const unsigned char* storage) {
    return reinterpret_cast<const XXH3_state_t*>(storage);
}

}  // namespace

Hasher::Hasher() {
    static_assert(sizeof(XXH3_state_t) <= sizeof state_ && alignof(XXH3_state_t) <= 64);
    auto* state = new (state_) XXH3_state_t;
    XXH3_INITSTATE(state);
    XXH3_64bits_reset(state);
}

void Hasher::bytes(std::string_view data) {
    XXH3_64bits_update(state_of(state_), data.data(), data.size());
}

void Hasher::length(std::size_t n) {
    const auto v = static_cast<std::uint32_t>(n);
    const unsigned char le[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                                 static_cast<unsigned char>(v >> 16),
                                 static_cast<unsigned char>(v >> 24)};
    bytes(std::string_view(reinterpret_cast<const char*>(le), sizeof le));
}

void Hasher::string(std::string_view s) {
    tag('s');
    length(s.size());
    bytes(s);
}

void Hasher::number(double d) {
    if (!std::isfinite(d)) {  // written as null (no JSON text for it): hashed as null
        tag('n');
        return;
    }
    if (d == 0) d = 0;  // -0 and 0 are one value
    const auto bits = std::bit_cast<std::uint64_t>(d);
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(bits >> (8 * i));
    tag('d');
    bytes(std::string_view(reinterpret_cast<const char*>(le), sizeof le));
}

void Hasher::value(const boost::json::value& v) {
    switch (v.kind()) {
        case boost::json::kind::null:
            tag('n');
            break;
        case boost::json::kind::bool_:
            tag(v.get_bool() ? 't' : 'f');
            break;
        case boost::json::kind::int64:
            number(static_cast<double>(v.get_int64()));
            break;
        case boost::json::kind::uint64:
            number(static_cast<double>(v.get_uint64()));
            break;
        case boost::json::kind::double_:
            number(v.get_double());
            break;
        case boost::json::kind::string:
            string(v.get_string());
            break;
        case boost::json::kind::array:
            tag('[');
            length(v.get_array().size());
            for (const auto& item : v.get_array()) value(item);
            break;
        case boost::json::kind::object:
            tag('{');
            length(v.get_object().size());
            for (const auto& [key, member] : v.get_object()) {
                string(key);
                value(member);
            }
            break;
    }
}

std::uint64_t Hasher::digest() const { return XXH3_64bits_digest(state_of(state_)); }

std::string Hasher::hex() const {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(digest()));
    return text;
}

}  // namespace syncd::model
