#include "daemon/mirror/state_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace syncd::mirror {

StateLock::StateLock(const std::string& state_dir)
    : path_((std::filesystem::path(state_dir) / "lock").string()) {
    std::error_code ignored;
    std::filesystem::create_directories(state_dir, ignored);
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) {
        throw std::runtime_error("cannot open the lock file " + path_ + ": " +
                                 std::strerror(errno) + " (is state.dir writable by this user?)");
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        char text[32] = {};
        const auto n = ::pread(fd_, text, sizeof text - 1, 0);
        std::string pid(text, n > 0 ? static_cast<std::size_t>(n) : 0);
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        ::close(fd_);
        fd_ = -1;
        if (error != EWOULDBLOCK) {
            throw std::runtime_error("cannot lock " + path_ + ": " + std::strerror(error));
        }
        throw StateLocked("another notion-syncd (PID " + (pid.empty() ? "unknown" : pid) +
                          ") is using the state directory " + state_dir + " (lock " + path_ +
                          "); stop it first (systemctl stop notion-syncd), or let it do the "
                          "work: `status`, `dead-letters list` and `discover` run beside it");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
        // The lock holds without the PID; only the message of a second process is poorer.
    }
}

StateLock::~StateLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace syncd::mirror
