#include "tests/support/postgres.hpp"

#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "tests/support/process.hpp"

namespace syncd::test {
namespace {

namespace fs = std::filesystem;

// The newest /usr/lib/postgresql/<version>/bin holding initdb.
fs::path postgres_bin() {
    fs::path best;
    int best_version = -1;
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ignored)) {
        const auto bin = entry.path() / "bin";
        if (!fs::exists(bin / "initdb")) continue;
        const int version = std::atoi(entry.path().filename().c_str());
        if (version > best_version) {
            best_version = version;
            best = bin;
        }
    }
    if (best.empty()) {
        throw std::runtime_error(
            "no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql "
            "(scripts/install-deps)");
    }
    return best;
}

std::string shell_quoted(const std::string& text) { return "'" + text + "'"; }

struct ConnectionCloser {
    void operator()(PGconn* c) const { PQfinish(c); }
};

std::unique_ptr<PGconn, ConnectionCloser> connect(const std::string& dsn) {
    std::unique_ptr<PGconn, ConnectionCloser> conn(PQconnectdb(dsn.c_str()));
    if (PQstatus(conn.get()) != CONNECTION_OK)
        throw std::runtime_error("cannot connect to the test cluster: " +
                                 std::string(PQerrorMessage(conn.get())));
    PQsetNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    return conn;
}

}  // namespace

PostgresCluster::PostgresCluster(PostgresOptions options)
    : bin_(postgres_bin()), options_(options) {
    char pattern[] = "/tmp/syncd-pg-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    if (geteuid() == 0) {
        const passwd* user = getpwnam("postgres");
        if (user == nullptr) {
            throw std::runtime_error(
                "running as root needs the `postgres` OS user (Debian's postgresql package)");
        }
        if (chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0)
            throw std::runtime_error("cannot chown " + dir_.string());
    }
    run(shell_quoted((bin_ / "initdb").string()) + " -D " + shell_quoted((dir_ / "data").string()) +
        " -U postgres --auth=trust --no-sync -E UTF8 --locale=C");
    // A port that was free a moment ago may be taken by the time the server binds: try again.
    for (int attempt = 0;; ++attempt) {
        port_ = free_port();
        try {
            start();
            break;
        } catch (const std::exception&) {
            if (attempt == 4) throw;
        }
    }
}

PostgresCluster::~PostgresCluster() {
    try {
        if (running_) stop();
    } catch (const std::exception&) {
        // Nothing more to do: the directory goes anyway.
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
}

void PostgresCluster::run(const std::string& command) const {
    // As the postgres user when we are root; from a directory it may enter.
    const std::string as_user = geteuid() == 0 ? "runuser -u postgres -- " : "";
    const std::string line = "cd " + shell_quoted(dir_.string()) + " && " + as_user + command +
                             " >> " + shell_quoted((dir_ / "commands.log").string()) + " 2>&1";
    if (std::system(line.c_str()) != 0) {
        std::ifstream in(dir_ / "commands.log");
        std::stringstream text;
        text << in.rdbuf();
        throw std::runtime_error("failed: " + command + "\n" + text.str() + log());
    }
}

void PostgresCluster::start() {
    std::string settings = "-p " + std::to_string(port_) + " -k " + dir_.string() +
                           " -c listen_addresses=127.0.0.1 -c max_connections=40";
    if (!options_.durable)
        settings += " -c fsync=off -c full_page_writes=off";  // a crash of the server loses
                                                              // nothing, only one of the OS would
    run(shell_quoted((bin_ / "pg_ctl").string()) + " -D " + shell_quoted((dir_ / "data").string()) +
        " -l " + shell_quoted((dir_ / "server.log").string()) + " -w -t 60 -o " +
        shell_quoted(settings) + " start");
    running_ = true;
}

void PostgresCluster::stop() {
    run(shell_quoted((bin_ / "pg_ctl").string()) + " -D " + shell_quoted((dir_ / "data").string()) +
        " -m immediate -w stop");
    running_ = false;
}

std::string PostgresCluster::dsn(const std::string& user, const std::string& database) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + user + " dbname=" + database;
}

void PostgresCluster::exec(const std::string& sql, const std::string& database) const {
    auto conn = connect(dsn("postgres", database));
    std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()), PQclear);
    const auto status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        throw std::runtime_error("SQL failed: " + std::string(PQerrorMessage(conn.get())) + sql);
}

std::vector<std::vector<std::optional<std::string>>> PostgresCluster::query(
    const std::string& sql, const std::string& database) const {
    auto conn = connect(dsn("postgres", database));
    std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()), PQclear);
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK)
        throw std::runtime_error("query failed: " + std::string(PQerrorMessage(conn.get())) + sql);
    std::vector<std::vector<std::optional<std::string>>> rows;
    for (int r = 0; r < PQntuples(result.get()); ++r) {
        std::vector<std::optional<std::string>> row;
        for (int c = 0; c < PQnfields(result.get()); ++c) {
            if (PQgetisnull(result.get(), r, c)) {
                row.emplace_back(std::nullopt);
            } else {
                row.emplace_back(PQgetvalue(result.get(), r, c));
            }
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string PostgresCluster::scalar(const std::string& sql, const std::string& database) const {
    const auto rows = query(sql, database);
    if (rows.empty() || rows[0].empty() || !rows[0][0]) return "";
    return *rows[0][0];
}

std::string PostgresCluster::log() const {
    std::ifstream in(dir_ / "server.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::vector<std::string>> as_text(
    const std::vector<std::vector<std::optional<std::string>>>& rows) {
    std::vector<std::vector<std::string>> out;
    for (const auto& row : rows) {
        std::vector<std::string> r;
        for (const auto& v : row) r.push_back(v.value_or("NULL"));
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace syncd::test
