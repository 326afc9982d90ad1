#include "config/environment.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace syncd::config {

bool is_loopback_host(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host == "localhost") return true;
    const std::string text(host);
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
    in6_addr v6{};
    if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
        if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] == 127;  // ::ffff:127.x.y.z
    }
    return false;
}

std::string url_host(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return {};
    std::string_view rest = url.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        return std::string(
            rest.substr(0, close == std::string_view::npos ? rest.size() : close + 1));
    }
    return std::string(rest.substr(0, rest.find(':')));
}

std::optional<std::string> ca_file_problem(const std::string& path) {
    if (::access(path.c_str(), R_OK) != 0)
        return "cannot read " + path + ": " + std::strerror(errno);
    const std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(),
                                                                        &X509_STORE_free);
    ERR_clear_error();
    if (!store || X509_STORE_load_file(store.get(), path.c_str()) != 1) {
        ERR_clear_error();
        return path +
               " holds no PEM certificate (expected the CA certificates to trust, "
               "-----BEGIN CERTIFICATE----- blocks)";
    }
    return std::nullopt;
}

std::optional<std::string> state_dir_problem(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code error;
    fs::path path = fs::absolute(dir, error);
    if (error) return "cannot resolve " + dir + ": " + error.message();
    // The directory itself, or the nearest existing parent it would be created in.
    fs::path existing = path;
    while (!fs::exists(existing, error) && existing.has_parent_path() &&
           existing != existing.parent_path()) {
        existing = existing.parent_path();
    }
    if (!fs::is_directory(existing, error)) {
        if (existing == path) return dir + " is not a directory";
        return dir + " does not exist and cannot be created: " + existing.string() +
               " is not a directory";
    }
    if (::access(existing.c_str(), W_OK | X_OK) != 0) {
        if (existing == path) {
            return dir + " is not writable by this user (" + std::strerror(errno) + ")";
        }
        return dir + " does not exist and cannot be created: " + existing.string() +
               " is not writable by this user (" + std::strerror(errno) + ")";
    }
    return std::nullopt;
}

}  // namespace syncd::config
