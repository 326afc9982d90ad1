// Why a poll failed, in the words an operator needs (DESIGN §5): one classification for the
// log, `status`, /readyz, metrics and `sync-once`'s exit code.
#pragma once

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

namespace syncd::sync {

enum class FailureKind {
    none,
    auth_rejected,  // 401 unauthorized, 403 restricted_resource: the token or its access
    not_found,      // 404: the source is not shared with the connection (or does not exist)
    config,         // the configuration does not fit Notion (wrong id kind, unknown property)
    unavailable,    // Notion unreachable or failing (after the client's retries)
    internal,       // anything else: a bug
};

std::string_view to_string(FailureKind kind);
FailureKind failure_kind_from(std::string_view text);  // none for unknown text

// The process exit status for a run that met `kind` (sysexits.h, the man page's table):
// 77 auth rejected, 78 config, 69 Notion unreachable or the source not shared, 70 internal.
int exit_code(FailureKind kind);
// Which of two failures decides the exit status: auth > config > not_found/unavailable >
// internal.
FailureKind worse(FailureKind a, FailureKind b);

struct Failure {
    FailureKind kind = FailureKind::none;
    std::string message = {};
};

// Classifies a poll's exception. `token_source` says where the token comes from
// ("/etc/notion-syncd/notion_token"), for the hint of a rejected token.
Failure classify(const std::exception& error, const std::string& token_source);

// The connection's standing with Notion, shared by every job of a Daemon: while Notion rejects
// the token, jobs do not poll; one probe goes every `probe_every`. State changes are logged
// once each.
class AuthGate {
public:
    explicit AuthGate(std::chrono::milliseconds probe_every = std::chrono::minutes(5))
        : probe_every_(probe_every) {}

    void rejected(const std::string& reason);
    void accepted();
    bool is_rejected() const { return rejected_; }
    const std::string& reason() const { return reason_; }
    std::chrono::system_clock::time_point since() const { return since_; }
    // When a poll may go while rejected: probe_every after the last rejection.
    std::chrono::steady_clock::time_point next_poll() const { return next_probe_; }

private:
    std::chrono::milliseconds probe_every_;
    bool rejected_ = false;
    std::string reason_;
    std::chrono::system_clock::time_point since_{};
    std::chrono::steady_clock::time_point next_probe_{};
};

}  // namespace syncd::sync
