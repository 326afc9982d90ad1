// A thin RAII layer over the SQLite C API: one connection, prepared statements, transactions.
// Errors throw std::runtime_error with SQLite's message and what we were doing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace syncd::sqlite {

class Statement {
public:
    Statement(sqlite3* db, std::string_view sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&&) = delete;
    Statement(const Statement&) = delete;

    // Binds by 1-based index.
    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, std::int64_t number);
    Statement& bind(int index, double number);
    Statement& bind_null(int index);
    // Steps once: true when a row is available.
    bool step();
    // Runs to completion and resets for the next use.
    void run();
    void reset();
    std::string text(int column) const;
    std::int64_t integer(int column) const;
    double real(int column) const;
    bool is_null(int column) const;
    int column_count() const;

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

// A statement the Database keeps prepared for reuse; reset (bindings cleared) when this handle
// goes away, so a half-read result never holds a read transaction open.
class Cached {
public:
    explicit Cached(Statement& statement) : statement_(&statement) {}
    ~Cached() { statement_->reset(); }
    Cached(const Cached&) = delete;
    Cached& operator=(const Cached&) = delete;
    Statement* operator->() { return statement_; }
    Statement& operator*() { return *statement_; }

private:
    Statement* statement_;
};

class Database {
public:
    // Opens (creating) `path`; ":memory:" for tests.
    explicit Database(const std::string& path);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    void exec(std::string_view sql);
    Statement prepare(std::string_view sql);
    // The same statement on every call with the same text: parsed once (hot paths).
    Cached cached(std::string_view sql);
    std::int64_t last_insert_rowid() const;
    int changes() const;
    sqlite3* handle() { return db_; }
    const std::string& path() const { return path_; }

private:
    sqlite3* db_ = nullptr;
    std::string path_;
    std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// BEGIN IMMEDIATE now; COMMIT on commit(); ROLLBACK when destroyed uncommitted.
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& db_;
    bool done_ = false;
};

// Quotes an identifier for SQL ("my col" -> "\"my col\"").
std::string quote_identifier(std::string_view name);

}  // namespace syncd::sqlite
