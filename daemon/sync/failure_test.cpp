#include "daemon/sync/failure.hpp"

#include <doctest/doctest.h>

#include "config/settings_reader.hpp"
#include "daemon/notion/notion_error.hpp"

using namespace syncd;
using sync::FailureKind;

namespace {
notion::NotionError answer(int status, const std::string& code,
                           notion::ErrorKind kind = notion::ErrorKind::permanent) {
    notion::NotionError e(kind, "GET /v1/x: " + std::to_string(status) + " " + code);
    e.status = status;
    e.code = code;
    return e;
}
}  // namespace

TEST_CASE("failures are classified for the operator: token, sharing, configuration, Notion, bugs") {
    const std::string source = "/etc/notion-syncd/notion_token (notion.token_file)";
    const auto unauthorized = sync::classify(answer(401, "unauthorized"), source);
    CHECK(unauthorized.kind == FailureKind::auth_rejected);
    CHECK(unauthorized.message.find("Notion rejected the token (401 unauthorized)") !=
          std::string::npos);
    CHECK(unauthorized.message.find("replace it in " + source) != std::string::npos);
    const auto restricted = sync::classify(answer(403, "restricted_resource"), source);
    CHECK(restricted.kind == FailureKind::auth_rejected);
    CHECK(restricted.message.find("Read content") != std::string::npos);
    CHECK(sync::classify(answer(404, "object_not_found"), source).kind == FailureKind::not_found);
    CHECK(sync::classify(answer(0, "wrong_id_kind"), source).kind == FailureKind::config);
    CHECK(sync::classify(config::Error("bad name"), source).kind == FailureKind::config);
    CHECK(sync::classify(answer(503, "service_unavailable", notion::ErrorKind::retryable), source)
              .kind == FailureKind::unavailable);
    CHECK(sync::classify(answer(400, "validation_error"), source).kind == FailureKind::internal);
    CHECK(sync::classify(std::runtime_error("oops"), source).kind == FailureKind::internal);
}

TEST_CASE("exit codes follow sysexits and the worst failure decides") {
    CHECK(sync::exit_code(FailureKind::none) == 0);
    CHECK(sync::exit_code(FailureKind::auth_rejected) == 77);
    CHECK(sync::exit_code(FailureKind::config) == 78);
    CHECK(sync::exit_code(FailureKind::not_found) == 69);
    CHECK(sync::exit_code(FailureKind::unavailable) == 69);
    CHECK(sync::exit_code(FailureKind::internal) == 70);
    CHECK(sync::worse(FailureKind::unavailable, FailureKind::auth_rejected) ==
          FailureKind::auth_rejected);
    CHECK(sync::worse(FailureKind::config, FailureKind::not_found) == FailureKind::config);
    CHECK(sync::worse(FailureKind::none, FailureKind::internal) == FailureKind::internal);
    for (const auto kind : {FailureKind::auth_rejected, FailureKind::not_found, FailureKind::config,
                            FailureKind::unavailable, FailureKind::internal}) {
        CHECK(sync::failure_kind_from(sync::to_string(kind)) == kind);  // kept in the mirror
    }
}

TEST_CASE("the auth gate holds polls until the next probe and opens on success") {
    sync::AuthGate gate(std::chrono::minutes(5));
    CHECK_FALSE(gate.is_rejected());
    const auto before = std::chrono::steady_clock::now();
    gate.rejected("Notion rejected the token");
    CHECK(gate.is_rejected());
    CHECK(gate.next_poll() >= before + std::chrono::minutes(5));
    const auto since = gate.since();
    gate.rejected("Notion rejected the token");  // the same state: not a new one
    CHECK(gate.since() == since);
    gate.accepted();
    CHECK_FALSE(gate.is_rejected());
    CHECK(gate.reason().empty());
}
