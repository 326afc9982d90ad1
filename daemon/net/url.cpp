#include "daemon/net/url.hpp"

#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <stdexcept>

#include "config/environment.hpp"

namespace syncd::net {

Url Url::parse(std::string_view text) {
    const std::string original(text);
    auto fail = [&](const std::string& why) {
        throw std::invalid_argument("invalid URL \"" + original + "\": " + why +
                                    " (expected http(s)://host[:port][/path])");
    };
    Url url;
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) fail("missing scheme");
    url.scheme = std::string(text.substr(0, scheme_end));
    if (url.scheme != "http" && url.scheme != "https") fail("scheme must be http or https");
    text.remove_prefix(scheme_end + 3);
    const auto slash = text.find('/');
    std::string_view authority = text.substr(0, slash);
    if (slash != std::string_view::npos) url.path = std::string(text.substr(slash));
    while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
    if (url.path.find_first_of("?#") != std::string::npos) fail("query or fragment not allowed");
    if (authority.find('@') != std::string_view::npos) fail("credentials in URLs are not allowed");
    url.port = url.is_tls() ? "443" : "80";
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) fail("unterminated IPv6 address");
        url.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        if (authority.starts_with(':'))
            url.port = std::string(authority.substr(1));
        else if (!authority.empty())
            fail("junk after IPv6 address");
    } else {
        const auto colon = authority.rfind(':');
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) url.port = std::string(authority.substr(colon + 1));
    }
    if (url.host.empty()) fail("missing host");
    unsigned port = 0;
    const auto r = std::from_chars(url.port.data(), url.port.data() + url.port.size(), port);
    if (r.ec != std::errc{} || r.ptr != url.port.data() + url.port.size() || port == 0 ||
        port > 65535) {
        fail("bad port");
    }
    return url;
}

bool Url::is_loopback() const { return config::is_loopback_host(host); }

std::string Url::authority() const {
    const bool default_port = (is_tls() && port == "443") || (!is_tls() && port == "80");
    const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return default_port ? h : h + ":" + port;
}

}  // namespace syncd::net
