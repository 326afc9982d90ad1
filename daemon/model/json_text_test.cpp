#include "daemon/model/json_text.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace json = boost::json;
using syncd::model::append_json_text;
using syncd::model::parse_json;
using syncd::model::to_json_text;

namespace {

std::string number(double d) { return to_json_text(json::value(d)); }

}  // namespace

TEST_CASE("an integral number is written without fraction or exponent") {
    CHECK(number(180.0) == "180");
    CHECK(number(0.0) == "0");
    CHECK(number(-0.0) == "0");
    CHECK(number(-3.0) == "-3");
    CHECK(number(2.5e5) == "250000");
    CHECK(number(9007199254740992.0) == "9007199254740992");
    CHECK(number(123456789012345680000.0) == "123456789012345680000");
    CHECK(to_json_text(json::value(std::int64_t{-3})) == "-3");
    CHECK(to_json_text(json::value(std::numeric_limits<std::int64_t>::min())) ==
          "-9223372036854775808");
    CHECK(to_json_text(json::value(std::numeric_limits<std::uint64_t>::max())) ==
          "18446744073709551615");
}

TEST_CASE("a fraction is the shortest decimal that reads back to the same double") {
    CHECK(number(1234.5) == "1234.5");
    CHECK(number(0.1) == "0.1");
    CHECK(number(-0.5) == "-0.5");
    CHECK(number(0.1 + 0.2) == "0.30000000000000004");
    CHECK(number(0.000001) == "0.000001");
    CHECK(number(0.0000012345) == "0.0000012345");
    CHECK(number(1.5e20) == "150000000000000000000");
    for (const double d :
         {1234.5, 0.1, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 1e-300, 6.02214076e23,
          std::numeric_limits<double>::max(), std::numeric_limits<double>::denorm_min()}) {
        CAPTURE(d);
        CHECK(std::strtod(number(d).c_str(), nullptr) == d);
    }
}

TEST_CASE("beyond 1e21 and below 1e-6 a number has an exponent as in JavaScript") {
    CHECK(number(1e21) == "1e+21");
    CHECK(number(-1e21) == "-1e+21");
    CHECK(number(1.5e300) == "1.5e+300");
    CHECK(number(1e-7) == "1e-7");
    CHECK(number(1.25e-7) == "1.25e-7");
    CHECK(number(std::numeric_limits<double>::denorm_min()) == "5e-324");
    CHECK(number(std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
}

TEST_CASE("NaN and infinities are written as null") {
    CHECK(number(std::numeric_limits<double>::quiet_NaN()) == "null");
    CHECK(number(std::numeric_limits<double>::infinity()) == "null");
    CHECK(number(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("nested arrays and objects are written compactly in their order") {
    json::object o;
    o["b"] = json::array{1.8e2, json::object{{"x", 0.5}, {"y", nullptr}}, json::array{}};
    o["a"] = json::object{};
    o["t"] = true;
    o["f"] = false;
    o["n"] = nullptr;
    o["s"] = "text";
    CHECK(to_json_text(o) == R"({"b":[180,{"x":0.5,"y":null},[]],"a":{},"t":true,"f":false,)"
                             R"("n":null,"s":"text"})");
    CHECK(to_json_text(json::value(o)) == to_json_text(o));
    CHECK(to_json_text(json::array{1, "2", 3.25}) == R"([1,"2",3.25])");

    std::string out = "x=";
    append_json_text(out, json::value(json::array{2e0}));
    CHECK(out == "x=[2]");
}

TEST_CASE("strings are escaped exactly as json::serialize escapes them") {
    std::string every_byte;
    for (int c = 1; c < 256; ++c) every_byte += static_cast<char>(c);
    every_byte += '\0';
    for (const std::string& s :
         {every_byte, std::string("plain"), std::string(""),
          std::string("quote \" backslash \\ slash / tab \t"), std::string("naïve ✓ 😀")}) {
        const json::value v(s);
        CHECK(to_json_text(v) == json::serialize(v));
        const json::object keyed{{s, s}};
        CHECK(to_json_text(keyed) == json::serialize(keyed));
    }
}

TEST_CASE("any JSON without fractions reads back equal to what json::serialize wrote") {
    const auto text = R"({"id":"a","n":[1,-2,18446744073709551615,{"deep":[[true,false,null]]}],)"
                      R"("s":"line\nbreak \u0001"})";
    const auto v = json::parse(text);
    CHECK(to_json_text(v) == json::serialize(v));
    CHECK(json::parse(to_json_text(json::value(1234.5))) == json::value(1234.5));
}

TEST_CASE("parse_json reads every double exactly, where Boost 1.81 is one ulp off") {
    // Boost's parse reads this as -97570.19231092370 (a neighbour).
    CHECK(parse_json("-97570.19231092371").get_double() == -97570.19231092371);
    CHECK(parse_json("[0.30000000000000004]").as_array()[0].get_double() == 0.30000000000000004);
    // Written (shortest digits) and read again, any double is itself: 200,000 seeded ones.
    std::mt19937_64 random(16);
    std::size_t wrong = 0;
    for (int i = 0; i < 200000; ++i) {
        double d = 0;
        if (i % 2 == 0) {
            const std::uint64_t bits = random();
            std::memcpy(&d, &bits, sizeof d);
            if (!std::isfinite(d)) continue;
        } else {
            d = std::uniform_real_distribution<double>(-1e6, 1e6)(random);
        }
        const auto back = parse_json(to_json_text(json::value(d)));
        if (back.to_number<double>() != d) ++wrong;
    }
    CHECK(wrong == 0);
}

TEST_CASE("parse_json keeps boost::json::parse's kinds, errors and limits") {
    const auto v = parse_json(R"({"i":-3,"u":18446744073709551615,"d":1.5,"s":"x","n":null})");
    CHECK(v.at("i").is_int64());
    CHECK(v.at("u").is_uint64());
    CHECK(v.at("d").is_double());
    CHECK(v == json::parse(R"({"i":-3,"u":18446744073709551615,"d":1.5,"s":"x","n":null})"));
    CHECK(parse_json("1e400").get_double() == json::parse("1e400").get_double());  // infinity
    boost::system::error_code error;
    CHECK(parse_json("{", error).is_null());
    CHECK(error);
    CHECK(parse_json("1 2", error).is_null());
    CHECK(error == json::error::extra_data);
    CHECK(parse_json(" [1] ", error) == json::value(json::array{1}));
    CHECK_FALSE(error);
    CHECK_THROWS_AS(parse_json("[1,"), boost::system::system_error);
    CHECK_THROWS_AS(parse_json(std::string(40, '[') + std::string(40, ']')),
                    boost::system::system_error);  // deeper than 32, as json::parse refuses
}
