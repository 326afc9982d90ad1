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

TEST_CASE("changes are read as such and other types are passed on by name") {
    CHECK(parse_reply(R"({"type":"changes","id":1,"changes":[]})").type == Reply::Type::changes);
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

TEST_CASE("protocol 2: collect, snapshot and result lines, changes read one by one") {
    CHECK(collect_line(12) == "{\"type\":\"collect\",\"id\":12}\n");
    CHECK(snapshot_line(13) == "{\"type\":\"snapshot\",\"id\":13}\n");
    CHECK(hello_line("sheet", sample_batch(), 2).starts_with(R"({"type":"hello","protocol":2,)"));

    const Reply changes = parse_reply(R"({"type":"changes","id":12,"changes":[
        {"page_id":"p1","properties":{"Estimate":8},"based_on":{"seq":42}},
        {"page_id":"p2","deleted":true},
        {"external_key":"row-17","properties":{"Name":"New"},"data_source_id":"ds-1"},
        {"properties":{"Name":"no row named"}},
        {"page_id":"p3","external_key":"both"},
        {"page_id":"p4","properties":[1]},
        {"page_id":"p5","deleted":"yes"},
        {"external_key":"k","deleted":true},
        7]})");
    CHECK(changes.type == Reply::Type::changes);
    CHECK(changes.id == 12);
    REQUIRE(changes.changes.size() == 9);
    CHECK(changes.changes[0].error.empty());
    CHECK(changes.changes[0].properties.at("Estimate") == 8);
    CHECK(changes.changes[0].based_on.at("seq") == 42);
    CHECK(changes.changes[1].deleted);
    CHECK(changes.changes[2].external_key == "row-17");
    CHECK(changes.changes[2].data_source_id == "ds-1");
    CHECK(changes.changes[3].error ==
          "a change names its row by page_id or by external_key (one of them)");
    CHECK(changes.changes[4].error ==
          "a change names its row by page_id or by external_key (one of them)");
    CHECK(changes.changes[5].error ==
          "\"properties\" must be an object (property name or id -> value)");
    CHECK(changes.changes[6].error == "\"deleted\" must be true or false");
    CHECK(changes.changes[7].error == "a row without a page cannot be deleted in Notion");
    CHECK(changes.changes[8].error == "a change must be a JSON object");
    CHECK(changes.changes[8].index == 8);

    CHECK_THROWS_WITH_AS(parse_reply(R"({"type":"changes","changes":[]})"),
                         "changes without an integer \"id\"", ProtocolError);
    CHECK_THROWS_WITH_AS(parse_reply(R"({"type":"changes","id":1})"),
                         "changes without a \"changes\" list", ProtocolError);
    const Reply snapshot = parse_reply(
        R"({"type":"snapshot","id":13,"rows":[{"page_id":"p1","properties":{"A":1}},{}],"more":true})");
    CHECK(snapshot.type == Reply::Type::snapshot);
    CHECK(snapshot.more);
    REQUIRE(snapshot.changes.size() == 2);
    CHECK(snapshot.changes[0].error.empty());
    CHECK(snapshot.changes[1].error == "a snapshot row needs its page_id");

    ExternalRow::Outcome outcome;
    outcome.written = {"Status"};
    outcome.rejected = {{"Estimate", "conflict: Notion's value wins (notion-wins)"}, {"", "why"}};
    const auto result = json::parse(result_line(12, changes.changes[0], "rejected", outcome));
    CHECK(result == json::parse(R"j({"type":"result","id":12,"index":0,"page_id":"p1",
        "status":"rejected","written":["Status"],"rejected":[
        {"reason":"conflict: Notion's value wins (notion-wins)","property":"Estimate"},
        {"reason":"why"}]})j"));
    ExternalRow::Outcome created;
    created.page_id = "new-page";
    const auto made = json::parse(result_line(12, changes.changes[2], "applied", created));
    CHECK(made.at("external_key") == "row-17");
    CHECK(made.at("page_id") == "new-page");
}
