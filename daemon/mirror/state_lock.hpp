// One process at a time per state directory (DESIGN §5): `run`, `sync-once`, `resync` and
// `dead-letters retry|drop` hold an flock(2) on <state.dir>/lock, which names the holder's PID.
// Read-only commands (`status`, `dead-letters list`, `discover`, `check-config`) take none.
#pragma once

#include <stdexcept>
#include <string>

namespace syncd::mirror {

// Another process holds the lock (its PID in the message).
class StateLocked : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class StateLock {
public:
    // Takes the lock at once or throws StateLocked naming the holder; std::runtime_error when the
    // lock file cannot be opened. The lock is released by the destructor (or by the process
    // ending, however it ends).
    explicit StateLock(const std::string& state_dir);
    ~StateLock();
    StateLock(const StateLock&) = delete;
    StateLock& operator=(const StateLock&) = delete;

    const std::string& path() const { return path_; }

private:
    std::string path_;
    int fd_ = -1;
};

}  // namespace syncd::mirror
