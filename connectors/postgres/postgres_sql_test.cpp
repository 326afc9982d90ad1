// The `postgres` connector's SQL building, without a server (issue #5).
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <memory>

#include "config/settings_reader.hpp"
#include "connectors/postgres/pg.hpp"
#include "connectors/postgres/postgres_target.hpp"
#include "connectors/postgres/sql.hpp"

namespace json = boost::json;
using namespace syncd::connectors::postgres;

TEST_CASE("identifiers are quoted and cut at 63 bytes without splitting a character") {
    CHECK(quote_identifier("count") == "\"count\"");
    CHECK(quote_identifier("a\"b") == "\"a\"\"b\"");
    CHECK(qualified("public", "tasks") == "\"public\".\"tasks\"");
    CHECK(truncate_identifier(std::string(70, 'x')) == std::string(63, 'x'));
    // 62 ASCII bytes then a two-byte é: the é does not fit and goes whole.
    CHECK(truncate_identifier(std::string(62, 'x') + "\xc3\xa9" + "yy") == std::string(62, 'x'));
}

TEST_CASE("unique names count up and stay within 63 bytes") {
    CHECK(unique_name("count", {}) == "count");
    CHECK(unique_name("count", {"count"}) == "count_2");
    CHECK(unique_name("count", {"count", "count_2"}) == "count_3");
    const std::string long_name(63, 'n');
    const std::string second = unique_name(long_name, {long_name});
    CHECK(second.size() == 63);
    CHECK(second == std::string(61, 'n') + "_2");
}

TEST_CASE("column types follow the Notion property type, or the value when it is unknown") {
    CHECK(column_type_for("title", nullptr) == "text");
    CHECK(column_type_for("status", nullptr) == "text");
    CHECK(column_type_for("unique_id", nullptr) == "text");
    CHECK(column_type_for("number", nullptr) == "double precision");
    CHECK(column_type_for("checkbox", nullptr) == "boolean");
    CHECK(column_type_for("created_time", nullptr) == "timestamp with time zone");
    CHECK(column_type_for("multi_select", nullptr) == "text[]");
    CHECK(column_type_for("relation", nullptr) == "uuid[]");
    CHECK(column_type_for("people", nullptr) == "uuid[]");
    CHECK(column_type_for("date", nullptr) == "date");
    CHECK(column_fits("date", "date"));
    CHECK(column_fits("date", "timestamp with time zone"));
    CHECK_FALSE(column_fits("date", "jsonb"));
    CHECK_FALSE(column_fits("people", "text[]"));
    CHECK(column_fits("people", "uuid[]"));
    CHECK(has_time(boost::json::parse(R"({"start":"2026-06-01","end":"2026-06-02T10:00:00Z"})")));
    CHECK_FALSE(has_time(boost::json::parse(R"({"start":"2026-06-01","end":null})")));
    CHECK(column_type_for("formula", nullptr) == "jsonb");
    CHECK(column_type_for("files", nullptr) == "jsonb");
    const json::value text = "x", number = 2.5, flag = true;
    const json::value names = json::parse(R"(["a","b"])");
    const json::value object = json::parse(R"({"start":"2026-01-01"})");
    CHECK(column_type_for("", &text) == "text");
    CHECK(column_type_for("", &number) == "double precision");
    CHECK(column_type_for("", &flag) == "boolean");
    CHECK(column_type_for("", &names) == "text[]");
    CHECK(column_type_for("", &object) == "jsonb");
    CHECK(column_type_for("", nullptr) == "jsonb");
    CHECK(type_suffix("text") == "text");
    CHECK(type_suffix("double precision") == "number");
    CHECK(type_suffix("timestamp with time zone") == "time");
    CHECK(type_suffix("text[]") == "list");
    CHECK(type_suffix("character varying(20)") == "character_varying_20_");
}

TEST_CASE("values become text parameters for their column type") {
    const auto p = [](std::string_view value, std::string_view type) {
        return to_parameter(json::parse(value), type);
    };
    CHECK(!p("null", "text"));
    CHECK(p(R"("Task 1")", "text") == "Task 1");
    CHECK(p("4", "double precision") == "4");
    CHECK(p("4.0", "double precision") == "4");
    CHECK(p("2.5", "double precision") == "2.5");
    CHECK(p("1e300", "double precision") == "1e+300");
    CHECK(p("0.1", "numeric(10,2)") == "0.1");
    CHECK(p("true", "boolean") == "t");
    CHECK(p("false", "boolean") == "f");
    CHECK(!p(R"({"a":1})", "boolean"));
    CHECK(p(R"("2026-05-04T10:15:00.000Z")", "timestamp with time zone") ==
          "2026-05-04T10:15:00.000Z");
    CHECK(p(R"({"start":"2026-05-04","end":null,"time_zone":null})", "timestamp with time zone") ==
          "2026-05-04");
    CHECK(!p(R"("")", "timestamp with time zone"));
    CHECK(p(R"(["a","b \"c\"","d\\e"])", "text[]") == R"({"a","b \"c\"","d\\e"})");
    CHECK(p("[]", "text[]") == "{}");
    CHECK(p(R"("solo")", "text[]") == R"({"solo"})");
    CHECK(p(R"({"start":"2026-05-04","end":null})", "jsonb") ==
          R"({"start":"2026-05-04","end":null})");
    CHECK(p(R"("x")", "jsonb") == R"("x")");
    CHECK(p("12", "text") == "12");
    CHECK(p("true", "text") == "true");
    CHECK(p(R"(["a"])", "text") == R"(["a"])");
}

TEST_CASE("numbers print as integers when they are whole") {
    CHECK(number_text(json::value(7)) == "7");
    CHECK(number_text(json::value(-3.0)) == "-3");
    CHECK(number_text(json::value(0.5)) == "0.5");
    CHECK(number_text(json::value(std::uint64_t{18446744073709551615ULL})) ==
          "18446744073709551615");
}

// What the upsert and delete statements do is checked on a real server in
// tests/integration/postgres_test.cpp; here only their shape.
TEST_CASE("the upsert takes one text array per column and casts each to its column type") {
    const std::string sql =
        upsert_sql("\"public\".\"tasks\"", {}, {{"name", "text"}, {"count", "double precision"}});
    CHECK(upsert_parameters({}, 2) == 5);
    CHECK(sql.find("unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])") !=
          std::string::npos);
    CHECK(sql.find("x.c4::double precision") != std::string::npos);
    CHECK(sql.find("$6") == std::string::npos);
}

TEST_CASE("the upsert of a table of ids only does nothing on conflict") {
    const MetaColumns none{.page_id = "text",
                           .notion_url = "",
                           .last_edited_time = "",
                           .synced_at = "",
                           .deleted_at = ""};
    CHECK(upsert_sql("t", none, {}) ==
          "INSERT INTO t AS t (\"page_id\") SELECT x.c0::text FROM unnest($1::text[]) AS x(c0) "
          "ON CONFLICT (page_id) DO NOTHING");
    CHECK(upsert_parameters(none, 1) == 2);
}

TEST_CASE("array literals: quoted items, NULLs, escapes") {
    ArrayLiteral a;
    CHECK(a.finish() == "{}");
    a.add("x");
    a.add_null();
    a.add_or_null(std::optional<std::string>("NULL"));
    a.add("q\"b\\s,{}");
    CHECK(a.finish() == R"({"x",NULL,"NULL","q\"b\\s,{}"})");
    a.add_or_null(std::nullopt);
    CHECK(a.finish() == "{NULL}");
}

TEST_CASE("the DSN's password never shows") {
    CHECK(redact_dsn("host=db port=5432 user=syncd password=s3cret dbname=notion") ==
          "host=db port=5432 user=syncd password=*** dbname=notion");
    CHECK(redact_dsn("password = 's3 cr\\'et' host=db") == "password = *** host=db");
    CHECK(redact_dsn("postgresql://syncd:s3cret@db:5432/notion?sslmode=require") ==
          "postgresql://syncd:***@db:5432/notion?sslmode=require");
    CHECK(redact_dsn("postgres://db/notion?user=a&password=s3cret&sslmode=require") ==
          "postgres://db/notion?user=a&password=***&sslmode=require");
    CHECK(redact_dsn("postgresql://syncd@db/notion") == "postgresql://syncd@db/notion");
    CHECK(scrub("failed for s3cret and s3cret", "s3cret") == "failed for *** and ***");
    CHECK(scrub("nothing", "") == "nothing");
    std::string password;
    CHECK(parse_dsn("host=db password=s3cret", password));
    CHECK(password == "s3cret");
    CHECK(parse_dsn("postgresql://u:p%40ss@db/x", password));
    CHECK(password == "p@ss");
    CHECK(parse_dsn("notion", password));  // a database name
    CHECK(!parse_dsn("host=db password='unterminated", password));
}

TEST_CASE("a connection refused is retryable and names no password") {
    try {
        Connection connection("host=127.0.0.1 port=1 user=x password=s3cret connect_timeout=2");
        FAIL("connected to port 1");
    } catch (const PgError& e) {
        CHECK(e.retryable());
        CHECK(e.connection_lost);
        CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
        CHECK(std::string(e.what()).find("password=***") != std::string::npos);
    }
    CHECK(PgError("x", "23514", false).retryable() == false);  // check_violation
    CHECK(PgError("x", "42501", false).retryable() == false);  // insufficient_privilege
    CHECK(PgError("x", "57P01", false).retryable());           // admin_shutdown
    CHECK(PgError("x", "40P01", false).retryable());           // deadlock
}

TEST_CASE("the config block: dsn required, schema and create_table optional") {
    const auto read = [](const std::string& yaml, std::shared_ptr<syncd::config::Problems>& p) {
        p = std::make_shared<syncd::config::Problems>();
        p->file = "c.yaml";
        syncd::config::SettingsReader reader(YAML::Load(yaml), "connectors.pg", p);
        reader.string_or("type", "");
        const Settings s = parse_settings(reader);
        reader.finish();
        return s;
    };
    std::shared_ptr<syncd::config::Problems> problems;
    const Settings s = read("type: postgres\ndsn: host=db dbname=x\n", problems);
    CHECK(problems->lines.empty());
    CHECK(s.schema == "public");
    CHECK(s.create_table);
    const Settings t =
        read("type: postgres\ndsn: dbname=x\nschema: notion\ncreate_table: false\n", problems);
    CHECK(problems->lines.empty());
    CHECK(t.schema == "notion");
    CHECK(!t.create_table);
    read("type: postgres\nschema: notion\ntable: x\n", problems);
    REQUIRE(problems->lines.size() == 2);
    CHECK(problems->lines[0].find("missing required key `dsn`") != std::string::npos);
    CHECK(problems->lines[1].find("unknown key `table`") != std::string::npos);
    read("type: postgres\ndsn: \"host=db password='s3cret\"\n", problems);
    REQUIRE(problems->lines.size() == 1);
    CHECK(problems->lines[0].find("c.yaml:2:6: connectors.pg.dsn: not a PostgreSQL") == 0);
    CHECK(problems->lines[0].find("s3cret") == std::string::npos);
}
