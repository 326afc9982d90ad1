#include "connectors/exec/protocol.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace syncd;
using namespace syncd::connectors;
using namespace syncd::connectors::exec;
namespace json = boost::json;

namespace {

ChangeBatch sample_batch() {
    ChangeBatch batch{.target = "tasks/script", .sync = "tasks"};
    model::ChangeEvent e{.seq = 3,
                         .kind = "created",
                         .sync = "tasks",
                         .data_source_id = "ds-1",
                         .page_id = "page-1"};
    e.properties = {{"Name", "two\nlines"}};
    batch.events.push_back(e);
    e.seq = 4;
    e.page_id = "page-2";
    batch.events.push_back(e);
    model::Schema schema{.data_source_id = "ds-1", .title = "Tasks"};
    schema.properties.push_back({"title", "Name", "title"});
    batch.schemas.emplace("ds-1", schema);
    return batch;
}

}  // namespace

TEST_CASE("hello names the protocol version, the target and the schemas, on one line") {
    const auto line = hello_line("script", sample_batch());
    CHECK(line.starts_with(R"({"type":"hello","protocol":1,)"));
    CHECK(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    const auto hello = json::parse(line).as_object();
    CHECK(hello.at("connector") == "script");
    CHECK(hello.at("target") == "tasks/script");
    CHECK(hello.at("sync") == "tasks");
    CHECK(hello.at("schemas").at("ds-1").at("title") == "Tasks");
    CHECK(hello.at("schemas").at("ds-1").at("properties").at(0).at("type") == "title");
}

TEST_CASE("a batch line starts with its type and id and holds every event on one line") {
    const auto line = batch_line(12, sample_batch(), false);
    CHECK(line.starts_with(R"({"type":"batch","id":12,"events":[)"));
    CHECK(line.find('\n') == line.size() - 1);
    const auto batch = json::parse(line).as_object();
    REQUIRE(batch.at("events").as_array().size() == 2);
    CHECK(batch.at("events").at(0).at("event") == "created");
    CHECK(batch.at("events").at(0).at("seq") == 3);
    CHECK(batch.at("events").at(1).at("page_id") == "page-2");
    CHECK(batch.at("events").at(0).at("properties").at("Name") == "two\nlines");
    CHECK_FALSE(batch.contains("schemas"));
    CHECK(json::parse(batch_line(13, sample_batch(), true))
              .at("schemas")
              .as_object()
              .contains("ds-1"));
}

TEST_CASE("acks and nacks are read with their id, error and retryable flag") {
    auto ack = parse_reply(R"({"type":"ack","id":12})");
    CHECK(ack.type == Reply::Type::ack);
    CHECK(ack.id == 12);
    auto nack = parse_reply(R"({"type":"nack","id":5,"error":"disk full","retryable":false})");
    CHECK(nack.type == Reply::Type::nack);
    CHECK(nack.id == 5);
    CHECK(nack.error == "disk full");
    CHECK_FALSE(nack.retryable);
    auto plain = parse_reply(R"({"id":6,"type":"nack"})");
    CHECK(plain.retryable);
    CHECK(plain.error.empty());
    CHECK(parse_reply(R"({"type":"ack","id":1,"extra":"ignored"})").type == Reply::Type::ack);
}

TEST_CASE("changes is reserved and other types are passed on by name") {
    CHECK(parse_reply(R"({"type":"changes","changes":[]})").type == Reply::Type::changes);
    const auto other = parse_reply(R"({"type":"progress","done":3})");
    CHECK(other.type == Reply::Type::other);
    CHECK(other.type_name == "progress");
}

TEST_CASE("lines that are not protocol messages are refused") {
    CHECK_THROWS_AS(parse_reply("ok"), ProtocolError);
    CHECK_THROWS_AS(parse_reply(""), ProtocolError);
    CHECK_THROWS_AS(parse_reply("[1]"), ProtocolError);
    CHECK_THROWS_AS(parse_reply(R"({"id":1})"), ProtocolError);
    CHECK_THROWS_AS(parse_reply(R"({"type":1})"), ProtocolError);
    CHECK_THROWS_AS(parse_reply(R"({"type":"ack"})"), ProtocolError);
    CHECK_THROWS_AS(parse_reply(R"({"type":"ack","id":"1"})"), ProtocolError);
    CHECK_THROWS_AS(parse_reply(R"({"type":"ack","id":1.5})"), ProtocolError);
    CHECK_THROWS_AS(parse_reply(R"({"type":"nack","id":1,"retryable":"no"})"), ProtocolError);
    CHECK_THROWS_AS(parse_reply(R"({"type":"nack","id":1,"error":42})"), ProtocolError);
}
