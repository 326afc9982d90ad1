#include "connectors/postgres/pg.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include "connectors/postgres/sql.hpp"

namespace syncd::connectors::postgres {
namespace {

// A libpq or server message on one line: "a\n\tb\n" -> "a b".
std::string trimmed(const char* text) {
    std::string out;
    for (const char* c = text ? text : ""; *c != '\0'; ++c) {
        const bool space = *c == '\n' || *c == '\t' || *c == ' ';
        if (space && (out.empty() || out.back() == ' ')) continue;
        out.push_back(space ? ' ' : *c);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

bool is_uri(const std::string& dsn) {
    return dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0;
}

}  // namespace

bool PgError::retryable() const {
    if (connection_lost) return true;
    const std::string klass = sqlstate.substr(0, 2);
    return klass == "08" || klass == "53" || sqlstate == "57P01" || sqlstate == "57P02" ||
           sqlstate == "57P03" || sqlstate == "40001" || sqlstate == "40P01" ||
           sqlstate == "55P03" || sqlstate == "42P01" || sqlstate == "42703";
}

Result::Result(pg_result* result) : result_(result, PQclear) {}

int Result::rows() const { return PQntuples(result_.get()); }

std::string Result::text(int row, int column) const {
    return PQgetvalue(result_.get(), row, column);
}

bool Result::is_null(int row, int column) const {
    return PQgetisnull(result_.get(), row, column) != 0;
}

bool parse_dsn(const std::string& dsn, std::string& password) {
    password.clear();
    if (dsn.find('=') == std::string::npos && !is_uri(dsn)) return !dsn.empty();  // a db name
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
    if (options == nullptr) {
        PQfreemem(error);
        return false;
    }
    for (auto* o = options; o->keyword != nullptr; ++o) {
        if (std::string_view(o->keyword) == "password" && o->val != nullptr) password = o->val;
    }
    PQconninfoFree(options);
    return true;
}

Connection::Connection(const std::string& dsn) {
    parse_dsn(dsn, password_);
    // Defaults first: what the DSN (expanded from dbname, last) says wins. A server that vanishes
    // without closing the connection is noticed within about a minute (keepalives, TCP user
    // timeout) instead of blocking the worker for hours; a lock held elsewhere fails the batch
    // after 30 s (55P03, retried) instead of holding it forever.
    const char* keywords[] = {"connect_timeout",
                              "application_name",
                              "client_encoding",
                              "keepalives_idle",
                              "keepalives_interval",
                              "keepalives_count",
                              "tcp_user_timeout",
                              "options",
                              "dbname",
                              nullptr};
    const char* values[] = {"10",    "notion-syncd",        "UTF8",      "30",   "10", "3",
                            "60000", "-c lock_timeout=30s", dsn.c_str(), nullptr};
    conn_ = PQconnectdbParams(keywords, values, 1);
    if (conn_ == nullptr) throw PgError("postgres: out of memory connecting", "", true);
    if (PQstatus(conn_) != CONNECTION_OK) {
        const std::string message = scrub(trimmed(PQerrorMessage(conn_)), password_);
        PQfinish(conn_);
        conn_ = nullptr;
        throw PgError("postgres: cannot connect to " + redact_dsn(dsn) + ": " + message, "", true);
    }
    // Notices ("relation … already exists, skipping") go to the debug log, not to stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char* message) { spdlog::debug("postgres: {}", trimmed(message)); },
        nullptr);
}

Connection::~Connection() {
    if (conn_ != nullptr) PQfinish(conn_);
}

bool Connection::ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

int Connection::server_version() const { return PQserverVersion(conn_); }

Result Connection::check(pg_result* raw) {
    Result result(raw);
    const auto status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    std::string sqlstate;
    std::string message;
    if (raw != nullptr) {
        sqlstate = trimmed(PQresultErrorField(raw, PG_DIAG_SQLSTATE));
        message = trimmed(PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY));
        const std::string detail = trimmed(PQresultErrorField(raw, PG_DIAG_MESSAGE_DETAIL));
        if (!detail.empty()) message += " (" + detail + ")";
    }
    if (message.empty()) message = trimmed(PQerrorMessage(conn_));
    // Errors from the server carry a SQLSTATE; one without is libpq's own: the connection broke
    // (which libpq does not always mark as CONNECTION_BAD, e.g. after a failed send).
    const bool lost = PQstatus(conn_) != CONNECTION_OK || sqlstate.empty();
    std::string what = "postgres: " + scrub(message, password_);
    if (!sqlstate.empty()) what += " [SQLSTATE " + sqlstate + "]";
    throw PgError(what, sqlstate, lost);
}

Result Connection::exec(const std::string& sql) { return check(PQexec(conn_, sql.c_str())); }

Result Connection::exec(const std::string& sql, const std::vector<const char*>& parameters) {
    return check(PQexecParams(conn_, sql.c_str(), static_cast<int>(parameters.size()), nullptr,
                              parameters.data(), nullptr, nullptr, 0));
}

}  // namespace syncd::connectors::postgres
