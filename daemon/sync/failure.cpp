#include "daemon/sync/failure.hpp"

#include <spdlog/spdlog.h>

#include "config/settings_reader.hpp"
#include "daemon/notion/notion_error.hpp"

namespace syncd::sync {

std::string_view to_string(FailureKind kind) {
    switch (kind) {
        case FailureKind::none:
            return "";
        case FailureKind::auth_rejected:
            return "auth_rejected";
        case FailureKind::not_found:
            return "not_found";
        case FailureKind::config:
            return "config";
        case FailureKind::unavailable:
            return "unavailable";
        case FailureKind::internal:
            return "internal";
    }
    return "internal";
}

FailureKind failure_kind_from(std::string_view text) {
    for (const auto kind : {FailureKind::auth_rejected, FailureKind::not_found, FailureKind::config,
                            FailureKind::unavailable, FailureKind::internal}) {
        if (to_string(kind) == text) return kind;
    }
    return FailureKind::none;
}

int exit_code(FailureKind kind) {
    switch (kind) {
        case FailureKind::none:
            return 0;
        case FailureKind::auth_rejected:
            return 77;  // EX_NOPERM
        case FailureKind::config:
            return 78;  // EX_CONFIG
        case FailureKind::not_found:
        case FailureKind::unavailable:
            return 69;  // EX_UNAVAILABLE
        case FailureKind::internal:
            return 70;  // EX_SOFTWARE
    }
    return 70;
}

namespace {
int rank(FailureKind kind) {
    switch (kind) {
        case FailureKind::none:
            return 0;
        case FailureKind::internal:
            return 1;
        case FailureKind::unavailable:
            return 2;
        case FailureKind::not_found:
            return 3;
        case FailureKind::config:
            return 4;
        case FailureKind::auth_rejected:
            return 5;
    }
    return 1;
}
}  // namespace

FailureKind worse(FailureKind a, FailureKind b) { return rank(a) >= rank(b) ? a : b; }

Failure classify(const std::exception& error, const std::string& token_source) {
    if (dynamic_cast<const config::Error*>(&error) != nullptr)
        return {FailureKind::config, error.what()};
    const auto* notion = dynamic_cast<const notion::NotionError*>(&error);
    if (notion == nullptr) return {FailureKind::internal, error.what()};
    if (notion->status == 401) {
        return {FailureKind::auth_rejected,
                "Notion rejected the token (401 unauthorized): it is wrong or was revoked; "
                "replace it in " +
                    token_source +
                    " with the connection's current token and reload "
                    "(systemctl reload notion-syncd)"};
    }
    if (notion->status == 403 && notion->code == "restricted_resource") {
        return {FailureKind::auth_rejected,
                "Notion refused the connection access (403 restricted_resource: " +
                    std::string(notion->what()) +
                    "); give the connection the \"Read content\" capability in its settings "
                    "(notion.so/profile/integrations), or use the token of one that has it (" +
                    token_source + ")"};
    }
    if (notion->code == "wrong_id_kind") return {FailureKind::config, notion->what()};
    if (notion->status == 404) return {FailureKind::not_found, notion->what()};
    if (notion->kind == notion::ErrorKind::permanent)
        return {FailureKind::internal, notion->what()};
    return {FailureKind::unavailable, notion->what()};
}

void AuthGate::rejected(const std::string& reason) {
    if (!rejected_ || reason != reason_) {
        spdlog::error("{} (polling stops; one probe every {} s until Notion accepts it)", reason,
                      std::chrono::duration_cast<std::chrono::seconds>(probe_every_).count());
        since_ = std::chrono::system_clock::now();
    }
    rejected_ = true;
    reason_ = reason;
    next_probe_ = std::chrono::steady_clock::now() + probe_every_;
}

void AuthGate::accepted() {
    if (rejected_) spdlog::info("Notion accepts the token again; polling resumes");
    rejected_ = false;
    reason_.clear();
    next_probe_ = {};
}

}  // namespace syncd::sync
