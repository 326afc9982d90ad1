// Two-way sync with an exec program, protocol 2 (issue 13), end to end: notion-syncd runs the
// example connectors/exec/examples/csv_two_way.py, a CSV file people edit; their edits reach
// Notion through the merge every two-way target uses, and the program learns each change's fate.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/support/process.hpp"
#include "tests/support/two_way_fixture.hpp"

using namespace syncd;
namespace json = boost::json;
namespace fs = std::filesystem;
using test::read_file;

namespace {

struct ExecTwoWay : test::TwoWayFixture {
    explicit ExecTwoWay(const std::string& settings = "") {
        connectors = "  sheet:\n    type: exec\n    command: [python3, " +
                     std::string(SYNCD_EXEC_EXAMPLES) + "/csv_two_way.py, " +
                     path("tasks.csv").string() + "]\n    ack_timeout: 10s\n";
        targets =
            "      - connector: sheet\n        two_way:\n          settle: 0s\n"
            "          max_write_ratio: 1\n" +
            settings + "      - connector: log\n";
    }

    test::Finished syncd(const std::vector<std::string>& args = {"sync-once"}) const {
        const auto log_size = read_file(path("syncd.log")).size();
        auto finished = run(args);
        MESSAGE(finished.out);
        MESSAGE(read_file(path("syncd.log")).substr(log_size));
        return finished;
    }

    // The CSV as rows of cells by column name.
    std::vector<std::map<std::string, std::string>> rows() const {
        std::vector<std::map<std::string, std::string>> out;
        std::istringstream in(read_file(path("tasks.csv")));
        std::string line;
        std::vector<std::string> header;
        const auto cells = [](const std::string& l) {
            std::vector<std::string> c;
            std::string cell;
            std::istringstream s(l);
            while (std::getline(s, cell, ',')) c.push_back(cell);
            if (!l.empty() && l.back() == ',') c.emplace_back();
            return c;
        };
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (header.empty()) {
                header = cells(line);
                continue;
            }
            const auto c = cells(line);
            std::map<std::string, std::string> row;
            for (std::size_t i = 0; i < header.size(); ++i)
                row[header[i]] = i < c.size() ? c[i] : "";
            out.push_back(std::move(row));
        }
        return out;
    }

    void write_rows(const std::vector<std::map<std::string, std::string>>& rows) const {
        const std::string header =
            read_file(path("tasks.csv")).substr(0, read_file(path("tasks.csv")).find('\n'));
        std::string text = header + "\n";
        std::vector<std::string> columns;
        std::istringstream h(header.back() == '\r' ? header.substr(0, header.size() - 1) : header);
        for (std::string c; std::getline(h, c, ',');) columns.push_back(c);
        for (const auto& row : rows) {
            std::string line;
            for (std::size_t i = 0; i < columns.size(); ++i) {
                if (i > 0) line += ",";
                const auto it = row.find(columns[i]);
                if (it != row.end()) line += it->second;
            }
            text += line + "\n";
        }
        std::ofstream(path("tasks.csv"), std::ios::trunc) << text;
    }

    // Sets `column` of the row of `page` as a person editing the sheet would.
    void edit(const std::string& page, const std::string& column, const std::string& value) {
        auto all = rows();
        bool found = false;
        for (auto& row : all) {
            if (row["page_id"] == page) {
                row[column] = value;
                found = true;
            }
        }
        REQUIRE(found);
        write_rows(all);
    }

    std::string cell(const std::string& page, const std::string& column) const {
        for (auto& row : rows()) {
            if (row.at("page_id") == page) return row.at(column);
        }
        return "(no row)";
    }
};

}  // namespace

TEST_CASE("exec two-way: an edit in the program's sheet reaches Notion and its result comes back") {
    ExecTwoWay t;
    REQUIRE(t.syncd().status == 0);
    REQUIRE(t.rows().size() == 5);
    CHECK(t.cell(t.pages[1], "Estimate") == "2");
    const auto writes_before = t.writes();
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before);  // nothing changed: nothing written, no echo

    t.edit(t.pages[1], "Estimate", "8");
    t.edit(t.pages[1], "Status", "Done");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before + 1);
    CHECK(t.notion_value(t.pages[1], "Estimate") == 8);
    CHECK(t.notion_value(t.pages[1], "Status").at("name") == "Done");
    CHECK(read_file(t.path("syncd.log")).find("result: applied " + t.pages[1]) !=
          std::string::npos);
    CHECK(t.events().back().at("properties").at("Estimate") == 8);
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before + 1);
}

TEST_CASE("exec two-way: rejected changes say why, and Notion's value comes back to the sheet") {
    ExecTwoWay t;
    REQUIRE(t.syncd().status == 0);
    const auto writes_before = t.writes();
    t.edit(t.pages[2], "Estimate", "eight");  // not a number
    t.notion_set(t.pages[3], R"({"Estimate":{"number":40}})");
    t.edit(t.pages[3], "Estimate", "50");  // changed on both sides: Notion wins by default
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before);
    const std::string log = read_file(t.path("syncd.log"));
    CHECK(log.find("result: rejected " + t.pages[2] + " (Estimate: expected a number)") !=
          std::string::npos);
    CHECK(log.find("result: rejected " + t.pages[3] +
                   " (Estimate: conflict: Notion's value wins (notion-wins))") !=
          std::string::npos);
    CHECK(t.notion_value(t.pages[2], "Estimate") == 3);
    CHECK(t.notion_value(t.pages[3], "Estimate") == 40);
    // Notion's values are delivered back into the sheet.
    CHECK(t.cell(t.pages[2], "Estimate") == "3");
    CHECK(t.cell(t.pages[3], "Estimate") == "40");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before);
}

TEST_CASE("exec two-way: a new row becomes a page once, a deleted row is restored") {
    ExecTwoWay t("          create: true\n");
    REQUIRE(t.syncd().status == 0);
    auto all = t.rows();
    all.push_back({{"Name", "From the sheet"}, {"Estimate", "6"}});
    std::string gone;
    for (auto it = all.begin(); it != all.end(); ++it) {
        if ((*it)["page_id"] == t.pages[4]) {
            all.erase(it);
            break;
        }
    }
    t.write_rows(all);
    const auto posts = t.writes("POST", "/v1/pages");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes("POST", "/v1/pages") == posts + 1);
    std::string created;
    for (auto& row : t.rows()) {
        if (row["Name"] == "From the sheet") created = row["page_id"];
    }
    REQUIRE(created.size() == 36);
    CHECK(t.notion_value(created, "Estimate") == 6);
    // delete: false (the default): the page stays, its row comes back.
    CHECK(t.notion_page(t.pages[4]).at("in_trash") == false);
    CHECK(t.cell(t.pages[4], "Name") == "Task 4");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes("POST", "/v1/pages") == posts + 1);
    CHECK(t.rows().size() == 6);
}

TEST_CASE("exec two-way: a version 1 program on a two-way target is told, and nothing is lost") {
    ExecTwoWay t;
    t.connectors = "  sheet:\n    type: exec\n    command: [python3, " +
                   std::string(SYNCD_EXEC_EXAMPLES) + "/append_events.py, " +
                   t.path("out.jsonl").string() + "]\n    ack_timeout: 5s\n";
    const auto once = t.syncd();
    CHECK(once.status != 0);
    CHECK(read_file(t.path("syncd.log")).find("protocol 2 is not supported") != std::string::npos);
    CHECK(t.notion_value(t.pages[0], "Estimate") == 1);
}

TEST_CASE("exec two-way verify_every: a snapshot finds an edit the program never sent") {
    ExecTwoWay t("          verify_every: 1h\n");
    REQUIRE(t.syncd().status == 0);
    // The sheet and the program's own record both changed: no change is sent, as when a program
    // missed an edit. Only the comparison with a snapshot finds it.
    t.edit(t.pages[0], "Estimate", "9");
    auto base = json::parse(read_file(t.path("tasks.csv.base.json"))).as_object();
    base[t.pages[0]].as_object()["Estimate"] = "9";
    std::ofstream(t.path("tasks.csv.base.json"), std::ios::trunc) << json::serialize(base);
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[0], "Estimate") == 1);  // not found without a comparison
    t.targets.replace(t.targets.find("verify_every: 1h"), 16, "verify_every: 1s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[0], "Estimate") == 9);
    CHECK(read_file(t.path("syncd.log")).find("verify: tasks/sheet: 5 rows compared, 1 differed") !=
          std::string::npos);
}
