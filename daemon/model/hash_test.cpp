#include "daemon/model/hash.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <vector>

using syncd::model::Hasher;

namespace {

// xxHash's sanity buffer (tests/sanity_test_vectors.h in the xxHash repository).
std::vector<char> sanity_buffer(std::size_t n) {
    std::vector<char> out(n);
    std::uint64_t gen = 2654435761U;  // PRIME32
    for (auto& b : out) {
        b = static_cast<char>(gen >> 56);
        gen *= 11400714785074694797ULL;  // PRIME64
    }
    return out;
}

std::uint64_t xxh3_of(std::string_view bytes) {
    Hasher h;
    h.bytes(bytes);
    return h.digest();
}

}  // namespace

TEST_CASE("Hasher is XXH3-64 with seed 0: xxHash's published sanity vectors") {
    // XSUM_XXH3_testdata, seed 0, one length per code path of XXH3.
    const std::pair<std::size_t, std::uint64_t> vectors[] = {
        {0, 0x2D06800538D394C2ULL},  {1, 0xC44BDFF4074EECDBULL},   {6, 0x27B56A84CD2D7325ULL},
        {12, 0xA713DAF0DFBB77E7ULL}, {24, 0xA3FE70BF9D3510EBULL},  {48, 0x397DA259ECBA1F11ULL},
        {80, 0xBCDEFBBB2C47C90AULL}, {195, 0xCD94217EE362EC3AULL}, {512, 0x617E49599013CB6BULL},
    };
    const auto buffer = sanity_buffer(4096 + 64 + 1);
    for (const auto& [length, expected] : vectors) {
        CAPTURE(length);
        CHECK(xxh3_of(std::string_view(buffer.data(), length)) == expected);
    }
    // Fed in pieces: the streaming state gives the one-shot value.
    Hasher pieces;
    pieces.bytes(std::string_view(buffer.data(), 100));
    pieces.bytes(std::string_view(buffer.data() + 100, 412));
    CHECK(pieces.digest() == 0x617E49599013CB6BULL);
    CHECK(Hasher().hex() == "2d06800538d394c2");
}

TEST_CASE("Hasher::value hashes the documented canonical encoding") {
    using namespace std::string_view_literals;
    auto encoded = [](const char* json) {
        Hasher h;
        h.value(boost::json::parse(json));
        return h.digest();
    };
    // Built by hand from hash.hpp's description, then hashed as raw bytes.
    CHECK(encoded("null") == xxh3_of("n"));
    CHECK(encoded("true") == xxh3_of("t"));
    CHECK(encoded("false") == xxh3_of("f"));
    // 3.5 = 0x400C000000000000, little-endian.
    CHECK(encoded("3.5") == xxh3_of("d\x00\x00\x00\x00\x00\x00\x0c\x40"sv));
    // The integer 4 is the double 4 (0x4010000000000000), and -0 is 0.
    CHECK(encoded("4") == xxh3_of("d\x00\x00\x00\x00\x00\x00\x10\x40"sv));
    CHECK(encoded("4") == encoded("4.0"));
    CHECK(encoded("-0.0") == encoded("0"));
    // Infinity and NaN (what Boost.JSON makes of 1e400 and 0e999) are written as null: hashed so.
    CHECK(encoded("1e400") == xxh3_of("n"));
    CHECK(encoded("0e999") == xxh3_of("n"));
    CHECK(encoded(R"("ab")") == xxh3_of("s\x02\x00\x00\x00"
                                        "ab"sv));
    CHECK(encoded(R"(["a",null])") == xxh3_of("[\x02\x00\x00\x00s\x01\x00\x00\x00"
                                              "an"sv));
    CHECK(encoded(R"({"k":true})") == xxh3_of("{\x01\x00\x00\x00s\x01\x00\x00\x00"
                                              "kt"sv));
    // Lengths keep boundaries: ["ab","c"] and ["a","bc"] differ.
    CHECK(encoded(R"(["ab","c"])") != encoded(R"(["a","bc"])"));
}
