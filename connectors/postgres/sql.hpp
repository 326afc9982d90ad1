// The pure parts of the `postgres` connector: names, column types, values as libpq text
// parameters, the upsert and delete statements, and DSN redaction. No libpq calls here, so all of
// it is unit tested without a server (postgres_sql_test.cpp).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace syncd::connectors::postgres {

// PostgreSQL cuts identifiers at 63 bytes (NAMEDATALEN - 1); we cut them ourselves, at a UTF-8
// character boundary, so the names we remember are the names the server uses.
constexpr std::size_t max_identifier = 63;
std::string truncate_identifier(std::string name);

// "a""b" quoting, always: property names may be keywords or hold any character.
std::string quote_identifier(std::string_view name);
// schema.table, both quoted.
std::string qualified(std::string_view schema, std::string_view table);

// The column type for a Notion property type, as format_type() spells it (so it compares with
// what the catalog says). `sample` (a canonical value) decides when the type is unknown.
//   title rich_text url email phone_number select status unique_id created_by last_edited_by
//   verification                          -> text
//   number                                -> double precision
//   checkbox                              -> boolean
//   created_time last_edited_time         -> timestamp with time zone
//   multi_select                          -> text[]
//   people relation                       -> uuid[]
//   date                                  -> date (the start; timestamptz once a value has a
//                                            time; the end in a <column>_end column)
//   files formula rollup, and others      -> jsonb
std::string column_type_for(std::string_view property_type, const boost::json::value* sample);

// Whether a column of `column_type` is the right one for a property of `property_type` (a date
// fits a date or a timestamptz column).
bool column_fits(std::string_view property_type, std::string_view column_type);

// Whether a canonical date (or one of its strings) holds a time of day, which a `date` column
// cannot keep.
bool has_time(const boost::json::value& date);

// The suffix of the new column a type change creates: `<column>_<suffix>` (count -> count_text).
std::string type_suffix(std::string_view column_type);

// A name not in `taken`: `wanted`, else wanted_2, wanted_3, … (each cut to 63 bytes).
std::string unique_name(const std::string& wanted, const std::set<std::string>& taken);

// A canonical value as the text form of a parameter for a column of `column_type` (as
// format_type() spells it); nullopt for SQL NULL. Values that cannot mean anything in that type
// (an object for a boolean) are NULL; strings are handed to the server as they are, so a string
// that does not parse is the server's error (a dead letter with its message).
std::optional<std::string> to_parameter(const boost::json::value& value,
                                        std::string_view column_type);

// {"a","b \"c\""}: a one-dimensional array literal; non-string items as their JSON text.
std::string array_literal(const boost::json::array& items);

// A number as text: integers without a fraction or exponent, others in the shortest form that
// reads back the same.
std::string number_text(const boost::json::value& number);

// The metadata columns of a table with their types (as format_type() spells them); empty when
// the table lacks one (a table the user made, with create_table: false).
struct MetaColumns {
    std::string page_id = "uuid";
    std::string notion_url = "text";
    std::string last_edited_time = "timestamp with time zone";
    std::string synced_at = "timestamp with time zone";
    std::string deleted_at = "timestamp with time zone";
};

struct Column {
    std::string name;
    std::string type;  // as format_type() spells it
};

// The upsert of many rows in one statement, whatever their number:
//   INSERT INTO <table> AS t (page_id, <meta…>, <columns…>)
//   SELECT x.c0::uuid, … FROM unnest($1::text[], $2::text[], …) AS x(c0, c1, …)
//   ON CONFLICT (page_id) DO UPDATE SET … WHERE <not older>
// One text[] parameter per column (array_literal() of the rows' text values, cast to the
// column's type by the server): the statement stays small and the same for every batch, which
// costs the server much less than a VALUES list of thousands of parameters. Parameters: page_id,
// notion_url and last_edited_time when the table has them, then `columns` in order; synced_at
// is now(), deleted_at NULL. An older event never overwrites a newer row: the update applies
// only when the stored last_edited_time is not later than the incoming one, so a redelivered or
// retried old event changes nothing.
std::string upsert_sql(const std::string& qualified_table, const MetaColumns& meta,
                       const std::vector<Column>& columns);
// Parameters of upsert_sql().
std::size_t upsert_parameters(const MetaColumns& meta, std::size_t columns);

// Builds an array literal item by item ({"a",NULL,"b \"c\""}).
class ArrayLiteral {
public:
    ArrayLiteral() : text_("{") {}
    void add(std::string_view item);
    void add_null();
    void add_or_null(const std::optional<std::string>& item) {
        if (item) {
            add(*item);
        } else {
            add_null();
        }
    }
    // The literal; the builder is empty afterwards.
    std::string finish();

private:
    std::string text_;
};

// $1 is a uuid[] of page ids. Soft: sets deleted_at where it is not set yet.
std::string delete_sql(const std::string& qualified_table, bool soft);

// A DSN for logs and messages: the password of a key=value string or of a postgresql:// URI
// (user:password@ or ?password=) replaced by "***".
std::string redact_dsn(const std::string& dsn);
// Replaces every occurrence of `secret` (if not empty) in `text` by "***".
std::string scrub(std::string text, const std::string& secret);

}  // namespace syncd::connectors::postgres
