// Test support: a throwaway PostgreSQL cluster (issue #5). initdb and pg_ctl from
// /usr/lib/postgresql/<newest>/bin on a temp dir and a free loopback port, run as the `postgres`
// OS user when we are root (the server refuses to run as root); trust authentication on
// 127.0.0.1 only. Stopped (pg_ctl stop -m immediate) and removed on destruction. Never uses a
// server that happens to be running.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace syncd::test {

struct PostgresOptions {
    // Tests trade durability for speed; the benchmark keeps PostgreSQL's defaults.
    bool durable = false;
};

class PostgresCluster {
public:
    explicit PostgresCluster(PostgresOptions options = {});
    ~PostgresCluster();
    PostgresCluster(const PostgresCluster&) = delete;
    PostgresCluster& operator=(const PostgresCluster&) = delete;

    // pg_ctl stop -m immediate: connections drop, as in a crash.
    void stop();
    // Starts it again on the same port.
    void start();
    bool running() const { return running_; }

    int port() const { return port_; }
    // A libpq key=value DSN for `user` and `database` on 127.0.0.1.
    std::string dsn(const std::string& user = "postgres",
                    const std::string& database = "postgres") const;

    // Runs SQL as the superuser (several statements allowed); throws with the server's message.
    void exec(const std::string& sql, const std::string& database = "postgres") const;
    // The rows of a query as text (NULL as nullopt).
    std::vector<std::vector<std::optional<std::string>>> query(
        const std::string& sql, const std::string& database = "postgres") const;
    // The first column of the first row ("" when there is none or it is NULL).
    std::string scalar(const std::string& sql, const std::string& database = "postgres") const;

    // The server log (what went wrong when a test fails).
    std::string log() const;

private:
    void run(const std::string& command) const;
    std::filesystem::path dir_;
    std::filesystem::path bin_;
    PostgresOptions options_;
    int port_ = 0;
    bool running_ = false;
};

// Rows as text for comparisons in tests (NULL as "NULL").
std::vector<std::vector<std::string>> as_text(
    const std::vector<std::vector<std::optional<std::string>>>& rows);

}  // namespace syncd::test
