// Base URLs of the HTTP(S) peers we talk to (Notion, webhooks).
#pragma once

#include <string>
#include <string_view>

namespace syncd::net {

struct Url {
    std::string scheme = "https";  // "http" or "https"
    std::string host = {};
    std::string port = "443";
    std::string path = {};  // without a trailing slash; "" for the root

    // Parses "https://host[:port][/path]". Throws std::invalid_argument saying what is wrong.
    static Url parse(std::string_view text);
    bool is_tls() const { return scheme == "https"; }
    // 127.0.0.0/8, ::1 or "localhost".
    bool is_loopback() const;
    // "host" or "host:port" when the port is not the scheme's default (the Host header).
    std::string authority() const;
};

}  // namespace syncd::net
