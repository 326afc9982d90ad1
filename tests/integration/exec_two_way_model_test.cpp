// Seeded random worlds for two-way exec targets (issue 13, protocol 2): notion-syncd runs the
// example program connectors/exec/examples/csv_two_way.py, a CSV sheet; a person edits its cells
// and deletes rows, and edits the same pages in Notion, often the same property; `sync-once` runs,
// sometimes SIGKILLed part way (the program with it). An oracle of notion-wins says what both sides
// hold after every completed cycle: a property only one side changed takes that side's value, a
// property both changed takes Notion's, a deleted row comes back. At the end an idle cycle writes
// nothing.
//
// SYNCD_EXEC_TWO_WAY_SEEDS=N runs seeds 1..N (default 6), SYNCD_EXEC_TWO_WAY_SEED=S one seed.
#include <doctest/doctest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/process.hpp"
#include "tests/support/two_way_fixture.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;
using test::read_file;

namespace {

// The values of the properties the model edits, as the sheet holds them.
using Values = std::map<std::string, std::string>;  // Estimate, Status, Done

const std::vector<std::string> statuses = {"Todo", "Doing", "Done"};

struct World : test::TwoWayFixture {
    World() {
        connectors = "  sheet:\n    type: exec\n    command: [python3, " +
                     std::string(SYNCD_EXEC_EXAMPLES) + "/csv_two_way.py, " +
                     path("tasks.csv").string() + "]\n    ack_timeout: 10s\n";
        targets =
            "      - connector: sheet\n        two_way:\n          settle: 0s\n"
            "          max_write_ratio: 1\n      - connector: log\n";
    }

    using Row = std::map<std::string, std::string>;

    static std::vector<std::string> cells(const std::string& line) {
        std::vector<std::string> c;
        std::string cell;
        std::istringstream s(line);
        while (std::getline(s, cell, ',')) c.push_back(cell);
        if (!line.empty() && line.back() == ',') c.emplace_back();
        return c;
    }

    std::pair<std::vector<std::string>, std::vector<Row>> sheet() const {
        std::istringstream in(read_file(path("tasks.csv")));
        std::vector<std::string> header;
        std::vector<Row> rows;
        for (std::string line; std::getline(in, line);) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (header.empty()) {
                header = cells(line);
                continue;
            }
            const auto c = cells(line);
            Row row;
            for (std::size_t i = 0; i < header.size(); ++i)
                row[header[i]] = i < c.size() ? c[i] : "";
            rows.push_back(std::move(row));
        }
        return {header, rows};
    }

    void write_sheet(const std::vector<std::string>& header, const std::vector<Row>& rows) const {
        std::string text;
        for (std::size_t i = 0; i < header.size(); ++i) text += (i ? "," : "") + header[i];
        text += "\n";
        for (const auto& row : rows) {
            for (std::size_t i = 0; i < header.size(); ++i) {
                const auto it = row.find(header[i]);
                text += (i ? "," : "") + (it == row.end() ? std::string() : it->second);
            }
            text += "\n";
        }
        std::ofstream(path("tasks.csv"), std::ios::trunc) << text;
    }

    std::optional<Values> file_values(const std::string& page) const {
        for (const auto& row : sheet().second) {
            if (row.at("page_id") != page) continue;
            return Values{{"Estimate", row.at("Estimate")},
                          {"Status", row.at("Status")},
                          {"Done", row.at("Done")}};
        }
        return std::nullopt;
    }

    bool has_row(const std::string& page) const { return file_values(page).has_value(); }

    void edit_cell(const std::string& page, const std::string& property, const std::string& text) {
        auto [header, rows] = sheet();
        for (auto& row : rows) {
            if (row["page_id"] == page) row[property] = text;
        }
        write_sheet(header, rows);
    }

    void delete_row(const std::string& page) {
        auto [header, rows] = sheet();
        std::erase_if(rows, [&](const Row& r) { return r.at("page_id") == page; });
        write_sheet(header, rows);
    }

    Values notion_values(const std::string& page) {
        const auto p = notion_page(page).at("properties").as_object();
        Values v;
        const auto& estimate = p.at("Estimate").at("number");
        v["Estimate"] =
            estimate.is_null() ? "" : std::to_string(estimate.to_number<std::int64_t>());
        const auto& status = p.at("Status").at("select");
        v["Status"] = status.is_null() ? "" : std::string(status.at("name").as_string());
        v["Done"] = p.at("Done").at("checkbox").as_bool() ? "true" : "false";
        return v;
    }

    // Notion's API body for one property set to `text`.
    static std::string notion_body(const std::string& property, const std::string& text) {
        if (property == "Estimate") return R"({"Estimate":{"number":)" + text + "}}";
        if (property == "Status") return R"({"Status":{"select":{"name":")" + text + R"("}}})";
        return R"({"Done":{"checkbox":)" + text + "}}";
    }
};

std::string text(const Values& v) {
    std::string out;
    for (const auto& [k, x] : v) out += k + "=" + x + " ";
    return out;
}

std::string random_value(std::mt19937_64& random, const std::string& property) {
    if (property == "Estimate") return std::to_string(random() % 100);
    if (property == "Status") return statuses[random() % statuses.size()];
    return random() % 2 ? "true" : "false";
}

void run_seed(std::uint64_t seed) {
    INFO("seed " << seed << " (replay: SYNCD_EXEC_TWO_WAY_SEED=" << seed << ")");
    std::mt19937_64 random(seed);
    World w;
    const auto cycle = [&](const std::string& why) {
        const auto done = w.run({"sync-once"});
        INFO(why << "\n" << done.out << "\n" << read_file(w.path("syncd.log")));
        REQUIRE(done.status == 0);
    };
    cycle("first sync");
    const std::vector<std::string> properties = {"Estimate", "Status", "Done"};
    std::map<std::string, Values> agreed;  // both sides after the last completed cycle
    for (const auto& page : w.pages) agreed[page] = w.notion_values(page);
    std::map<std::string, Values> by_notion, by_file;  // changes since, per side
    std::set<std::string> deleted;
    std::size_t conflicts = 0;
    std::vector<std::string> log;
    const auto settle = [&] {
        // The oracle: what both sides hold now.
        for (const auto& page : w.pages) {
            Values& v = agreed[page];
            for (const auto& p : properties) {
                // A side changed a property when it holds another value than both agreed on
                // (setting the same value again is no change).
                const auto n = by_notion[page].find(p);
                const auto f = by_file[page].find(p);
                const bool notion_changed = n != by_notion[page].end() && n->second != v[p];
                const bool file_changed =
                    f != by_file[page].end() && !deleted.contains(page) && f->second != v[p];
                if (notion_changed && file_changed && n->second != f->second) {
                    ++conflicts;
                    v[p] = n->second;  // notion-wins
                } else if (file_changed) {
                    v[p] = f->second;
                } else if (notion_changed) {
                    v[p] = n->second;
                }
            }
        }
        by_notion.clear();
        by_file.clear();
        deleted.clear();
    };
    const auto check = [&](const std::string& when) {
        std::string story;
        for (const auto& line : log) story += line + "\n";
        for (const auto& page : w.pages) {
            const auto file = w.file_values(page);
            REQUIRE(file.has_value());
            const Values notion = w.notion_values(page);
            INFO(when << ", page " << page.substr(0, 8) << ": expected " << text(agreed[page])
                      << ", file " << text(*file) << ", Notion " << text(notion) << "\n"
                      << story);
            CHECK(*file == agreed[page]);
            CHECK(notion == agreed[page]);
        }
    };
    for (int step = 0; step < 20; ++step) {
        const auto roll = random() % 10;
        // Mostly two pages and two properties: both sides meet often (conflicts).
        const std::string page = w.pages[random() % 4 != 0 ? random() % 2 : random() % 5];
        const std::string property = properties[random() % 3 != 0 ? random() % 2 : random() % 3];
        if (roll < 3) {
            const std::string v = random_value(random, property);
            w.notion_set(page, World::notion_body(property, v));
            by_notion[page][property] = v;
            log.push_back("notion " + page.substr(0, 8) + " " + property + " = " + v);
        } else if (roll < 6) {
            if (!w.has_row(page) || deleted.contains(page)) continue;
            const std::string v = random_value(random, property);
            w.edit_cell(page, property, v);
            by_file[page][property] = v;
            log.push_back("sheet " + page.substr(0, 8) + " " + property + " = " + v);
        } else if (roll < 7) {
            if (!w.has_row(page)) continue;
            w.delete_row(page);
            deleted.insert(page);
            log.push_back("row of " + page.substr(0, 8) + " deleted");
        } else if (roll < 9) {
            cycle("cycle at step " + std::to_string(step));
            settle();
            log.push_back("sync-once");
            check("after step " + std::to_string(step));
        } else {
            // A daemon killed part way, then a cycle that completes.
            test::Process victim(w.command({"sync-once"}), w.path("syncd.log"));
            std::this_thread::sleep_for(std::chrono::milliseconds(random() % 400));
            kill(victim.pid(), SIGKILL);
            (void)victim.wait_exit(10s);
            log.push_back("sync-once killed");
            cycle("cycle after a kill at step " + std::to_string(step));
            settle();
            log.push_back("sync-once");
            check("after a kill at step " + std::to_string(step));
        }
    }
    cycle("last cycle");
    settle();
    check("at the end");
    const auto writes = w.writes();
    cycle("idle cycle");
    CHECK(w.writes() == writes);
    MESSAGE("seed " << seed << ": " << log.size() << " operations, " << conflicts << " conflicts");
}

}  // namespace

TEST_CASE("exec two-way model: random sheet and Notion edits, deleted rows and kills converge") {
    if (const char* one = std::getenv("SYNCD_EXEC_TWO_WAY_SEED")) {
        run_seed(std::strtoull(one, nullptr, 10));
        return;
    }
    const char* count = std::getenv("SYNCD_EXEC_TWO_WAY_SEEDS");
    const std::uint64_t seeds = count ? std::strtoull(count, nullptr, 10) : 6;
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) run_seed(seed);
}
