// A thin, blocking libpq wrapper for the `postgres` connector: one connection, results that
// free themselves, and errors that say whether trying again can help. Every call blocks: the
// connector only makes them on its worker thread (postgres_target.hpp).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct pg_conn;
struct pg_result;

namespace syncd::connectors::postgres {

// A failed libpq call. `message` is the server's own ("new row for relation … violates check
// constraint …"), never the DSN's password.
class PgError : public std::runtime_error {
public:
    PgError(const std::string& what, std::string sqlstate_, bool connection_lost_)
        : std::runtime_error(what),
          sqlstate(std::move(sqlstate_)),
          connection_lost(connection_lost_) {}
    // Lost or refused connections (any error without a SQLSTATE: libpq's, not the server's), a
    // server shutting down or starting, deadlocks, serialization failures, lack of resources, lock
    // timeouts, and objects that vanished under a cache of ours (retried after the cache is
    // dropped); constraint, permission and data errors are not.
    bool retryable() const;

    std::string sqlstate;
    bool connection_lost;
};

class Result {
public:
    explicit Result(pg_result* result);
    int rows() const;
    std::string text(int row, int column) const;
    bool is_null(int row, int column) const;

private:
    std::shared_ptr<pg_result> result_;
};

// Whether `dsn` is something libpq takes as a connection string: key=value pairs, a
// postgresql:// URI, or a bare database name. `password` receives the password it holds.
bool parse_dsn(const std::string& dsn, std::string& password);

class Connection {
public:
    // Connects (blocking, at most connect_timeout, 10 s unless the DSN says otherwise); throws
    // PgError with connection_lost set.
    explicit Connection(const std::string& dsn);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // One statement (or several without parameters); throws PgError.
    Result exec(const std::string& sql);
    // One statement with text parameters (nullptr for NULL).
    Result exec(const std::string& sql, const std::vector<const char*>& parameters);
    // Whether the connection still looks usable (libpq knows of a loss after a failed call).
    bool ok() const;
    // The server's version, e.g. 150018.
    int server_version() const;

private:
    Result check(pg_result* result);
    pg_conn* conn_ = nullptr;
    std::string password_;
};

}  // namespace syncd::connectors::postgres
