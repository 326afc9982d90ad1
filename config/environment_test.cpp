#include "config/environment.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using syncd::config::ca_file_problem;
using syncd::config::is_loopback_host;
using syncd::config::state_dir_problem;
using syncd::config::url_host;
namespace fs = std::filesystem;

TEST_CASE("loopback hosts: localhost, 127.0.0.0/8, ::1 with or without brackets") {
    CHECK(is_loopback_host("localhost"));
    CHECK(is_loopback_host("127.0.0.1"));
    CHECK(is_loopback_host("127.8.9.10"));
    CHECK(is_loopback_host("::1"));
    CHECK(is_loopback_host("[::1]"));
    CHECK(is_loopback_host("::ffff:127.0.0.1"));
    CHECK_FALSE(is_loopback_host("10.0.0.1"));
    CHECK_FALSE(is_loopback_host("128.0.0.1"));
    CHECK_FALSE(is_loopback_host("localhost.example.com"));
    CHECK_FALSE(is_loopback_host("[::2]"));
    CHECK_FALSE(is_loopback_host(""));
}

TEST_CASE("the host of a URL: port, path, user info and IPv6 brackets") {
    CHECK(url_host("http://127.0.0.1:8080/x") == "127.0.0.1");
    CHECK(url_host("https://api.notion.com") == "api.notion.com");
    CHECK(url_host("http://user:pw@localhost:1/") == "localhost");
    CHECK(url_host("http://[::1]:9/v1") == "[::1]");
    CHECK(url_host("no scheme") == "");
}

TEST_CASE("CA files: the system bundle loads, a missing or non-PEM file says why") {
    CHECK_FALSE(ca_file_problem("/etc/ssl/certs/ca-certificates.crt"));
    const auto missing = ca_file_problem("/nonexistent/ca.pem");
    REQUIRE(missing);
    CHECK(missing->find("cannot read /nonexistent/ca.pem") != std::string::npos);
    const auto path = fs::temp_directory_path() / ("not_pem_" + std::to_string(::getpid()));
    std::ofstream(path) << "hello\n";
    const auto not_pem = ca_file_problem(path.string());
    REQUIRE(not_pem);
    CHECK(not_pem->find("holds no PEM certificate") != std::string::npos);
    fs::remove(path);
}

TEST_CASE("state directories: existing and writable, creatable, or why not") {
    const auto dir = fs::temp_directory_path() / ("state_dir_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    CHECK_FALSE(state_dir_problem(dir.string()));
    CHECK_FALSE(state_dir_problem((dir / "a" / "b").string()));  // would be created
    CHECK_FALSE(fs::exists(dir / "a"));                          // but is not
    std::ofstream(dir / "file") << "x";
    const auto under_file = state_dir_problem((dir / "file" / "state").string());
    REQUIRE(under_file);
    CHECK(under_file->find("does not exist and cannot be created") != std::string::npos);
    CHECK(state_dir_problem((dir / "file").string()) ==
          (dir / "file").string() + " is not a directory");
    fs::remove_all(dir);
}
