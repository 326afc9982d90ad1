#include "daemon/notion/notion_client.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace syncd::notion;

TEST_CASE("the token comes from exactly one of a literal, a variable or a file") {
    CHECK(load_token(std::string("tok-literal"), std::nullopt, std::nullopt) == "tok-literal");
    setenv("SYNCD_TEST_TOKEN", "tok-from-env\n", 1);
    CHECK(load_token(std::nullopt, std::string("SYNCD_TEST_TOKEN"), std::nullopt) ==
          "tok-from-env");
    const auto file = std::filesystem::temp_directory_path() / "syncd-token-test";
    std::ofstream(file) << "tok-from-file \n";
    CHECK(load_token(std::nullopt, std::nullopt, file.string()) == "tok-from-file");
    std::filesystem::remove(file);
    CHECK_THROWS_AS(load_token(std::nullopt, std::nullopt, std::nullopt), std::invalid_argument);
    CHECK_THROWS_AS(load_token(std::string("a"), std::string("SYNCD_TEST_TOKEN"), std::nullopt),
                    std::invalid_argument);
}

TEST_CASE("token errors name where the token was looked for, never its value") {
    setenv("SYNCD_TEST_EMPTY", "   ", 1);
    try {
        load_token(std::nullopt, std::string("SYNCD_TEST_EMPTY"), std::nullopt);
        FAIL("expected an error");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("SYNCD_TEST_EMPTY") != std::string::npos);
    }
    try {
        load_token(std::nullopt, std::nullopt, std::string("/nonexistent/notion_token"));
        FAIL("expected an error");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("/nonexistent/notion_token") != std::string::npos);
    }
}
