// Hashes of canonical values (page records, page content) with XXH3-64 from libxxhash: stable
// across runs, builds and machines, so mirrors can store them.
//
// The bytes hashed are a canonical encoding of the JSON value, fed to the hash as they are made
// (no string is built): null 'n'; true 't'; false 'f'; a number 'd' + its value as an IEEE-754
// double, 8 bytes little-endian (-0 as 0, integers converted); a string 's' + its length (u32
// little-endian) + its UTF-8 bytes; an array '[' + item count (u32) + the items; an object
// '{' + member count (u32) + each key (as a string) and value, in the object's order.
#pragma once

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace syncd::model {

class Hasher {
public:
    Hasher();
    Hasher(const Hasher&) = delete;
    Hasher& operator=(const Hasher&) = delete;

    // Raw bytes, as they are (for the encoding below and for tests against XXH3's vectors).
    void bytes(std::string_view data);
    void tag(char c) { bytes(std::string_view(&c, 1)); }
    void length(std::size_t n);
    void string(std::string_view s);
    void number(double d);
    // A JSON value in the canonical encoding above.
    void value(const boost::json::value& v);
    // The XXH3-64 of everything fed so far.
    std::uint64_t digest() const;
    // digest() as 16 lowercase hex digits (what mirrors store).
    std::string hex() const;

private:
    // XXH3's streaming state, kept inline (no allocation per hash); hash.cpp checks the size.
    alignas(64) unsigned char state_[576];
};

}  // namespace syncd::model
