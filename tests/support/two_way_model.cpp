#include "tests/support/two_way_model.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "daemon/model/sqlite.hpp"
#include "tests/support/process.hpp"
#include "tests/support/two_way_fixture.hpp"

namespace syncd::test::two_way_model {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// The three properties both sides edit: Name (title), Estimate (number), Status (select).
constexpr int property_count = 3;
const char* const property_names[property_count] = {"Name", "Estimate", "Status"};
const char* const column_names[property_count] = {"name", "estimate", "status"};
const std::vector<std::string> statuses = {"Todo", "Doing", "Done"};

struct Values {
    std::string name = {};
    int estimate = 0;
    std::string status = {};
    bool operator==(const Values&) const = default;
};

bool same(const Values& a, const Values& b, int property) {
    switch (property) {
        case 0:
            return a.name == b.name;
        case 1:
            return a.estimate == b.estimate;
        default:
            return a.status == b.status;
    }
}

void copy(Values& to, const Values& from, int property) {
    switch (property) {
        case 0:
            to.name = from.name;
            break;
        case 1:
            to.estimate = from.estimate;
            break;
        default:
            to.status = from.status;
    }
}

// As the daemon's canonical values are compared: numbers as doubles.
json::value canonical(const Values& v, int property) {
    switch (property) {
        case 0:
            return json::value(v.name);
        case 1:
            return json::value(static_cast<double>(v.estimate));
        default:
            return json::value(v.status);
    }
}

std::string text(const Values& v, int property) {
    switch (property) {
        case 0:
            return "'" + v.name + "'";
        case 1:
            return std::to_string(v.estimate);
        default:
            return v.status;
    }
}

std::string describe(const Values& v) {
    return "{" + v.name + ", " + std::to_string(v.estimate) + ", " + v.status + "}";
}

std::string sql_text(const std::string& s) {
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'') out += '\'';
        out += c;
    }
    return out + "'";
}

// A page and its row as the oracle sees them.
struct Item {
    std::string label = {};    // p0…p4 for the first pages, n1, n2… for rows inserted by SQL
    std::string title = {};    // the base of its names (a person adds " a" or " b")
    std::string page_id = {};  // empty until its page exists
    std::int64_t rowid = 0;    // a row inserted by SQL is found by rowid until it has a page
    bool in_notion = false;    // a live page
    bool in_table = false;     // a row in the table
    Values agreed = {};        // what both sides held after the last cycle
    Values notion = {};        // what Notion holds now
    Values table = {};         // what the table holds now (what its capture holds)
};

struct ExpectedConflict {
    std::string label = {};
    std::string page_id = {};
    std::string property = {};
    json::value notion = {};
    json::value external = {};
    std::string decision = {};
};

std::string key_of(const std::string& page_id, const std::string& property, const json::value& n,
                   const json::value& e, const std::string& decision) {
    const auto number = [](const json::value& v) {
        return v.is_number() ? json::value(v.to_number<double>()) : v;
    };
    return page_id + " " + property + " notion=" + json::serialize(number(n)) +
           " external=" + json::serialize(number(e)) + " decision=" + decision;
}

// A seed's run: the world, the oracle, and the operations.
class Model {
public:
    Model(std::uint64_t seed, const Options& options, Result& result)
        : options_(options), result_(result), random_(seed) {
        if (!options.daemon.empty()) t_.daemon = options.daemon;
        // One policy per seed, or one per property.
        switch (pick(3)) {
            case 0:
                policy_ = "notion-wins";
                break;
            case 1:
                policy_ = "external-wins";
                break;
            default:
                policy_ = "notion-wins";
                field_policy_[1] = "external-wins";  // Estimate
        }
        create_ = chance(0.6);
        trash_ = chance(0.5);
        std::string block =
            "          settle: 0s\n          max_write_ratio: 1\n          policy: " + policy_ +
            "\n";
        if (field_policy_.contains(1)) block += "          fields: { Estimate: external-wins }\n";
        if (create_) block += "          create: true\n";
        if (trash_) block += "          delete: true\n";
        t_.two_way = block;
        // Brakes have their own tests: here every mass edit and mass delete goes through.
        t_.sync_settings = "    max_delete_ratio: 1\n";
        t_.notion_settings = "  budget: { per_minute: 6000, burst: 50 }\n";
        result_.settings =
            "policy: " + policy_ +
            (field_policy_.contains(1) ? ", fields: { Estimate: external-wins }" : "") +
            ", create: " + (create_ ? "true" : "false") +
            ", delete: " + (trash_ ? "true" : "false");
        for (std::size_t i = 0; i < t_.pages.size(); ++i) {
            Item item{.label = "p" + std::to_string(i),
                      .title = "Task " + std::to_string(i),
                      .page_id = t_.pages[i],
                      .in_notion = true,
                      .in_table = true};
            item.agreed = {
                .name = item.title, .estimate = static_cast<int>(i) + 1, .status = "Todo"};
            item.notion = item.table = item.agreed;
            items_.push_back(std::move(item));
        }
    }

    void run() {
        const auto first = t_.run();
        ++result_.cycles;
        if (first.status != 0) {
            fail("the first sync-once exited " + std::to_string(first.status));
            return;
        }
        verify("after the first sync");
        for (int n = 0; n < options_.steps && ok(); ++n) step();
        if (!ok()) return;
        note("quiesce");
        quiesce();
        if (ok()) finish();
    }

private:
    int pick(int n) { return static_cast<int>(random_() % static_cast<std::uint64_t>(n)); }
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(random_) < p; }
    bool ok() const { return result_.failures.empty(); }
    void note(const std::string& operation) {
        if (std::getenv("SYNCD_TWO_WAY_TIMES") != nullptr) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - started_);
            result_.operations.push_back("[" + std::to_string(ms.count()) + " ms] " + operation);
            return;
        }
        result_.operations.push_back(operation);
    }
    void fail(const std::string& what) {
        const auto tail = [](const std::string& log, std::ptrdiff_t keep) {
            std::size_t from = 0;
            for (auto skip = std::count(log.begin(), log.end(), '\n') - keep; skip > 0; --skip)
                from = log.find('\n', from) + 1;
            return log.substr(from);
        };
        std::string text = what;
        if (const std::string run = read_file(t_.path("run.log")); !run.empty())
            text += "\n  (the last `run` daemon's log:)\n" + tail(run, 40);
        text +=
            "\n  (last lines of the sync-once log:)\n" + tail(read_file(t_.path("syncd.log")), 40);
        result_.failures.push_back(std::move(text));
    }
    void sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

    std::string policy_for(int property) const {
        const auto it = field_policy_.find(property);
        return it != field_policy_.end() ? it->second : policy_;
    }

    std::string where(const Item& item) const {
        return item.page_id.empty() ? "rowid = " + std::to_string(item.rowid)
                                    : "page_id = " + sql_text(item.page_id);
    }

    // New values for 1 to 3 properties of `item` (from a small set, so both sides often agree).
    std::vector<int> choose(const std::vector<int>& allowed, std::size_t at_most) {
        std::vector<int> chosen;
        for (int p : allowed) {
            if (chance(0.5)) chosen.push_back(p);
        }
        if (chosen.empty() && !allowed.empty()) chosen.push_back(allowed[pick(allowed.size())]);
        while (chosen.size() > at_most) chosen.erase(chosen.begin() + pick(chosen.size()));
        return chosen;
    }
    Values edited(const Item& item, Values values, const std::vector<int>& properties) {
        const char* const suffixes[] = {"", " a", " b"};
        for (int p : properties) {
            if (p == 0) values.name = item.title + suffixes[pick(3)];
            if (p == 1) values.estimate = pick(7);
            if (p == 2) values.status = statuses[pick(3)];
        }
        return values;
    }

    std::vector<std::size_t> candidates(bool notion, bool table, bool with_page) const {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < items_.size(); ++i) {
            const auto& item = items_[i];
            if (notion && !item.in_notion) continue;
            if (table && !item.in_table) continue;
            if (with_page && item.page_id.empty()) continue;
            out.push_back(i);
        }
        return out;
    }

    // A person in Notion (owner token).
    void notion_edit(std::size_t index, const std::vector<int>& properties, std::string prefix) {
        auto& item = items_[index];
        const Values next = edited(item, item.notion, properties);
        json::object body;
        std::string what;
        for (int p : properties) {
            if (p == 0)
                body["Name"] = {{"title", json::array{{{"text", {{"content", next.name}}}}}}};
            if (p == 1) body["Estimate"] = {{"number", next.estimate}};
            if (p == 2) body["Status"] = {{"select", {{"name", next.status}}}};
            what += std::string(" ") + property_names[p] + "=" + text(next, p);
        }
        t_.emulator.api("PATCH", "/v1/pages/" + item.page_id, json::object{{"properties", body}});
        item.notion = next;
        note(prefix + "notion " + item.label + what);
    }

    std::string update_statement(std::size_t index, const std::vector<int>& properties,
                                 std::string& what) {
        auto& item = items_[index];
        const Values next = edited(item, item.table, properties);
        std::string set;
        for (int p : properties) {
            set += std::string(set.empty() ? "" : ", ") + column_names[p] + " = " +
                   (p == 1 ? std::to_string(next.estimate)
                           : sql_text(p == 0 ? next.name : next.status));
            what += std::string(" ") + column_names[p] + "=" + text(next, p);
        }
        const std::string statement = "UPDATE tasks SET " + set + " WHERE " + where(item);
        item.table = next;
        return statement;
    }

    // Someone with the sqlite3 shell.
    void sql_edit(std::size_t index, const std::vector<int>& properties, std::string prefix) {
        std::string what;
        const std::string statement = update_statement(index, properties, what);
        t_.sql(statement);
        note(prefix + "sql " + items_[index].label + what);
    }

    void step() {
        const int r = pick(100);
        if (r < 22) {
            const auto pages = candidates(true, false, true);
            if (pages.empty()) return;
            const auto index = pages[pick(pages.size())];
            notion_edit(index, choose({0, 1, 2}, 2), "");
        } else if (r < 44) {
            const auto rows = candidates(false, true, false);
            if (rows.empty()) return;
            const auto index = rows[pick(rows.size())];
            sql_edit(index, choose({0, 1, 2}, 3), "");
        } else if (r < 52) {
            // The same property on both sides, before one cycle: a conflict or a convergence.
            const auto both = candidates(true, true, true);
            if (both.empty()) return;
            const auto index = both[pick(both.size())];
            const std::vector<int> property{pick(property_count)};
            notion_edit(index, property, "");
            sql_edit(index, property, "");
        } else if (r < 57) {
            late_commit_cycle();
        } else if (r < 63) {
            insert();
        } else if (r < 67) {
            const auto rows = candidates(false, true, false);
            if (rows.empty()) return;
            auto& item = items_[rows[pick(rows.size())]];
            t_.sql("DELETE FROM tasks WHERE " + where(item));
            item.in_table = false;
            note("sql delete " + item.label);
        } else if (r < 68) {
            // sqlite has no TRUNCATE: a DELETE without WHERE.
            t_.sql("DELETE FROM tasks");
            for (auto& item : items_) item.in_table = false;
            note("sql DELETE FROM tasks");
        } else if (r < 71) {
            plan();
        } else if (r < 74 && options_.run_segments) {
            run_segment();
        } else {
            cycle();
        }
    }

    void insert() {
        if (!create_) return;
        const int k = ++new_rows_;
        Item item{.label = "n" + std::to_string(k),
                  .title = "New " + std::to_string(k),
                  .in_table = true};
        item.table = {.name = item.title, .estimate = pick(7), .status = statuses[pick(3)]};
        sqlite::Database db(t_.path("tasks.sqlite").string());
        db.exec("INSERT INTO tasks (name, estimate, status) VALUES (" + sql_text(item.table.name) +
                ", " + std::to_string(item.table.estimate) + ", " + sql_text(item.table.status) +
                ")");
        item.rowid = db.last_insert_rowid();
        note("sql insert " + item.label + " " + describe(item.table));
        items_.push_back(std::move(item));
    }

    // A daemon step: sync-once, maybe with a fault, a crash point or a SIGKILL at a random moment.
    void cycle() {
        std::vector<std::pair<std::string, std::string>> environment;
        std::chrono::milliseconds timeout = 60s;
        std::string what = "sync";
        const int r = pick(100);
        if (r < 30) {
            what += " with " + inject_fault();
        } else if (r < 45) {
            const char* const points[] = {
                "writeback.after_patch",   "writeback.after_page",    "writeback.after_acknowledge",
                "writeback.before_create", "writeback.after_create",  "target.after_write",
                "deliver.before_cursor",   "poll.after_mirror_commit"};
            const std::string point =
                std::string(points[pick(std::size(points))]) + ":" + std::to_string(1 + pick(2));
            environment.emplace_back("NOTION_SYNCD_CRASH_AT", point);
            what += " crashing at " + point;
        } else if (r < 55) {
            timeout = std::chrono::milliseconds(20 + pick(400));
            what += " killed after " + std::to_string(timeout.count()) + " ms";
        }
        const auto finished = t_.run({"sync-once"}, environment, timeout);
        ++result_.cycles;
        note(what + " -> exit " + std::to_string(finished.status));
        if (finished.status == 128 + SIGKILL) ++result_.kills;
        if (finished.status == 0) {
            merge();
            verify("after `" + what + "`");
        } else {
            // What the cycle did is not known: the next successful one finishes it.
            quiesce();
        }
    }

    std::string inject_fault() {
        ++result_.faults;
        const json::object patch = {
            {"method", "PATCH"}, {"path_prefix", "/v1/pages"}, {"token", "connection-1"}};
        const json::object query = {
            {"method", "POST"}, {"path_prefix", "/v1/data_sources"}, {"token", "connection-1"}};
        const json::object create = {
            {"method", "POST"}, {"path_prefix", "/v1/pages"}, {"token", "connection-1"}};
        json::object fault;
        std::string what;
        int count = 1;
        switch (pick(8)) {
            case 0:
                fault = {
                    {"match", patch},
                    {"fault", {{"status", 429}, {"code", "rate_limited"}, {"retry_after", 1}}}};
                what = "429 Retry-After 1 on PATCH";
                break;
            case 1:
                fault = {
                    {"match", query},
                    {"fault", {{"status", 429}, {"code", "rate_limited"}, {"retry_after", 1}}}};
                what = "429 Retry-After 1 on the query";
                break;
            case 2:
            case 3:
                count = 1 + pick(2);
                fault = {{"match", patch},
                         {"fault", {{"status", 409}, {"code", "conflict_error"}}}};
                what = std::to_string(count) + " x 409 on PATCH";
                break;
            case 4:
                fault = {{"match", query},
                         {"fault", {{"status", 500}, {"code", "internal_server_error"}}}};
                what = "500 on the query";
                break;
            case 5:
                fault = {{"match", patch},
                         {"fault", {{"status", 500}, {"code", "internal_server_error"}}}};
                what = "500 on PATCH";
                break;
            case 6:
                fault = {{"match", patch}, {"fault", {{"commit_then_status", 503}}}};
                what = "503 after commit on PATCH";
                break;
            default:
                fault = {{"match", create}, {"fault", {{"commit_then_status", 503}}}};
                what = "503 after commit on POST /v1/pages";
        }
        fault["count"] = count;
        t_.emulator.control("faults", fault);
        return what;
    }

    // A transaction opened before a cycle and committed while it runs: the daemon waits for it
    // (sqlite has one writer), and the edit is captured with the time of its UPDATE.
    void late_commit_cycle() {
        const auto rows = candidates(false, true, false);
        if (rows.empty()) return;
        const auto index = rows[pick(rows.size())];
        std::string what;
        const std::string statement = update_statement(index, choose({0, 1, 2}, 2), what);
        const int delay = 50 + pick(600);
        note("sql late " + items_[index].label + what + " (BEGIN, sync-once, COMMIT after " +
             std::to_string(delay) + " ms)");
        sqlite::Database db(t_.path("tasks.sqlite").string());
        db.exec("BEGIN IMMEDIATE");
        db.exec(statement);
        Process daemon(t_.command({"sync-once"}), t_.path("late.log"));
        ++result_.cycles;
        sleep(delay);
        db.exec("COMMIT");
        const auto status = daemon.wait_exit(60s);
        const int code = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
        note("  -> exit " + std::to_string(code));
        if (code == 0) {
            merge();
            verify("after a late commit");
        } else {
            quiesce();
        }
    }

    void plan() {
        const auto writes = all_writes();
        const auto finished = t_.run({"plan", "--json"});
        ++result_.cycles;
        note("plan -> exit " + std::to_string(finished.status));
        if (finished.status != 0) fail("plan exited " + std::to_string(finished.status));
        if (all_writes() != writes) fail("plan wrote to Notion");
    }

    // A `run` daemon while a person and the table's users keep editing. Each property is edited
    // by one side only during the segment (else which edit was first would decide, and only the
    // daemon's timing knows that); rows committed late are not edited again in it.
    void run_segment() {
        note("run: start");
        Process daemon(t_.command({"run"}), t_.path("run.log"));
        ++result_.cycles;
        sleep(200 + pick(300));
        std::map<std::pair<std::size_t, int>, char> owner;
        for (std::size_t i = 0; i < items_.size(); ++i) {
            for (int p = 0; p < property_count; ++p) {
                const bool n = !same(items_[i].notion, items_[i].agreed, p);
                const bool e = !same(items_[i].table, items_[i].agreed, p);
                if (n || e) owner[{i, p}] = n && e ? 'x' : (n ? 'n' : 't');
            }
        }
        std::set<std::size_t> late;
        const int edits = 2 + pick(4);
        for (int k = 0; k < edits; ++k) {
            const auto both = candidates(true, true, true);
            if (both.empty()) break;
            const auto index = both[pick(both.size())];
            const int kind = pick(100);
            const char side = kind < 45 ? 'n' : 't';
            if (side == 't' && late.contains(index)) continue;
            std::vector<int> allowed;
            for (int p = 0; p < property_count; ++p) {
                const auto it = owner.find({index, p});
                if (it == owner.end() || it->second == side) allowed.push_back(p);
            }
            if (allowed.empty()) continue;
            const auto properties = choose(allowed, 2);
            for (int p : properties) owner[{index, p}] = side;
            if (side == 'n') {
                notion_edit(index, properties, "  ");
            } else if (kind < 85) {
                sql_edit(index, properties, "  ");
            } else {
                std::string what;
                const std::string statement = update_statement(index, properties, what);
                const int delay = 100 + pick(800);
                note("  sql late " + items_[index].label + what + " (committed after " +
                     std::to_string(delay) + " ms)");
                sqlite::Database db(t_.path("tasks.sqlite").string());
                db.exec("BEGIN IMMEDIATE");
                db.exec(statement);
                sleep(delay);
                db.exec("COMMIT");
                late.insert(index);
            }
            sleep(50 + pick(300));
        }
        if (daemon.wait_exit(0ms)) {
            fail("the run daemon ended on its own:\n" + read_file(t_.path("run.log")));
            return;
        }
        std::optional<int> status;
        if (chance(0.4)) {
            const int delay = pick(1000);
            sleep(delay);
            kill(daemon.pid(), SIGKILL);
            status = daemon.wait_exit(10s);
            ++result_.kills;
            note("run: SIGKILL after " + std::to_string(delay) + " ms");
        } else {
            sleep(400 + pick(600));
            kill(daemon.pid(), SIGTERM);
            status = daemon.wait_exit(30s);
            note("run: SIGTERM");
        }
        if (!status) {
            fail("the run daemon did not end");
            return;
        }
        quiesce();
    }

    // sync-once until one succeeds (no new fault; one left from before may still fire).
    void quiesce() {
        for (int attempt = 1; attempt <= 6; ++attempt) {
            const auto finished = t_.run();
            ++result_.cycles;
            if (finished.status == 0) {
                note("  sync -> exit 0");
                merge();
                verify("after a failed or killed cycle and a successful one");
                return;
            }
            note("  sync -> exit " + std::to_string(finished.status));
        }
        fail("no successful sync-once in 6 attempts");
    }

    std::size_t all_writes() { return t_.writes("PATCH") + t_.writes("POST", "/v1/pages"); }

    // The oracle: what a successful cycle makes of the edits since the last one.
    void merge() {
        for (auto it = items_.begin(); it != items_.end();) {
            Item& item = *it;
            if (item.page_id.empty()) {
                // A row inserted without a page: it becomes one (create: true), unless it left.
                if (!item.in_table) {
                    it = items_.erase(it);
                    continue;
                }
                item.page_id = t_.scalar("SELECT page_id FROM tasks WHERE rowid = " +
                                         std::to_string(item.rowid));
                if (item.page_id.empty()) {
                    fail("row " + item.label + " has no page after a successful cycle");
                    return;
                }
                item.in_notion = true;
                item.notion = item.agreed = item.table;
                ++it;
                continue;
            }
            if (!item.in_table) {
                // A deleted row: its page goes to the trash (delete: true) unless a person
                // edited it since (an edit beats a delete); else the row comes back.
                if (trash_ && item.notion == item.agreed) {
                    trashed_.push_back(item.page_id);
                    it = items_.erase(it);
                    continue;
                }
                item.in_table = true;
                item.table = item.agreed = item.notion;
                ++it;
                continue;
            }
            Values result = item.notion;
            for (int p = 0; p < property_count; ++p) {
                const bool external = !same(item.table, item.agreed, p);
                const bool notion = !same(item.notion, item.agreed, p);
                if (!external) continue;
                if (!notion || same(item.notion, item.table, p)) {
                    copy(result, item.table, p);
                    continue;
                }
                const std::string decision =
                    policy_for(p) == "external-wins" ? "external" : "notion";
                expected_.push_back({.label = item.label,
                                     .page_id = item.page_id,
                                     .property = property_names[p],
                                     .notion = canonical(item.notion, p),
                                     .external = canonical(item.table, p),
                                     .decision = decision});
                if (decision == "external") copy(result, item.table, p);
            }
            item.agreed = item.notion = item.table = result;
            ++it;
        }
    }

    static Values notion_values(const json::object& page) {
        const auto& properties = page.at("properties").as_object();
        Values v;
        for (const auto& part : properties.at("Name").at("title").as_array())
            v.name += std::string(part.at("plain_text").as_string());
        const auto& estimate = properties.at("Estimate").at("number");
        v.estimate = estimate.is_number() ? static_cast<int>(estimate.to_number<double>()) : -1;
        const auto& status = properties.at("Status").at("select");
        v.status = status.is_object() ? std::string(status.at("name").as_string()) : "";
        return v;
    }

    // Both sides hold what the oracle says, nothing is left captured, no page exists twice.
    void verify(const std::string& when) {
        if (!ok()) return;
        std::vector<std::string> problems;
        const auto listed = t_.emulator.api("POST", "/v1/data_sources/" + t_.data_source + "/query",
                                            json::parse(R"({"page_size":100})"));
        std::map<std::string, Values> in_notion;
        std::map<std::string, std::size_t> titles;
        for (const auto& page : listed.at("results").as_array()) {
            const Values v = notion_values(page.as_object());
            in_notion[std::string(page.at("id").as_string())] = v;
            ++titles[v.name];
        }
        std::map<std::string, Values> in_table;
        std::size_t without_page = 0;
        {
            sqlite::Database db(t_.path("tasks.sqlite").string());
            auto s = db.prepare("SELECT page_id, name, estimate, status FROM tasks");
            while (s.step()) {
                if (s.is_null(0)) {
                    ++without_page;
                    continue;
                }
                in_table[s.text(0)] = {.name = s.is_null(1) ? "" : s.text(1),
                                       .estimate = s.is_null(2) ? -1 : static_cast<int>(s.real(2)),
                                       .status = s.is_null(3) ? "" : s.text(3)};
            }
            auto dirty = db.prepare("SELECT COUNT(*) FROM _notion_syncd_dirty");
            dirty.step();
            if (dirty.integer(0) != 0)
                problems.push_back(std::to_string(dirty.integer(0)) + " captures left");
        }
        std::size_t expect_notion = 0;
        std::size_t expect_table = 0;
        for (const auto& item : items_) {
            if (item.in_notion) {
                ++expect_notion;
                const auto it = in_notion.find(item.page_id);
                if (it == in_notion.end()) {
                    problems.push_back(item.label + " is not a live page in Notion");
                } else if (!(it->second == item.notion)) {
                    problems.push_back(item.label + " in Notion: " + describe(it->second) +
                                       ", expected " + describe(item.notion));
                }
            }
            if (item.in_table) {
                ++expect_table;
                const auto it = in_table.find(item.page_id);
                if (it == in_table.end()) {
                    problems.push_back(item.label + " has no row in the table");
                } else if (!(it->second == item.table)) {
                    problems.push_back(item.label + " in the table: " + describe(it->second) +
                                       ", expected " + describe(item.table));
                }
            }
        }
        if (in_notion.size() != expect_notion) {
            std::string extra;
            for (const auto& [id, v] : in_notion) {
                if (std::none_of(items_.begin(), items_.end(),
                                 [&](const Item& i) { return i.page_id == id; }))
                    extra += " " + id + " " + describe(v);
            }
            problems.push_back(std::to_string(in_notion.size()) +
                               " live pages in Notion, expected " + std::to_string(expect_notion) +
                               "; not expected:" + extra);
        }
        for (const auto& [title, count] : titles) {
            if (count > 1 && title.starts_with("New "))
                problems.push_back(std::to_string(count) + " pages titled `" + title + "`");
        }
        if (in_table.size() != expect_table || without_page != 0) {
            problems.push_back(std::to_string(in_table.size()) + " rows with a page and " +
                               std::to_string(without_page) + " without, expected " +
                               std::to_string(expect_table) + " and 0");
        }
        for (const auto& id : trashed_) {
            if (t_.notion_page(id).at("in_trash") != true)
                problems.push_back("page " + id + " should be in the trash");
        }
        trashed_.clear();
        if (problems.empty()) return;
        std::string text = when + ":";
        for (const auto& p : problems) text += "\n  " + p;
        fail(text);
    }

    // Quiet at the end: nothing planned, nothing written; every losing value recorded.
    void finish() {
        const auto writes = all_writes();
        const auto planned = t_.run({"plan", "--json"});
        ++result_.cycles;
        if (planned.status != 0) {
            fail("plan exited " + std::to_string(planned.status));
            return;
        }
        if (!json::parse(planned.out).as_array().empty())
            fail("plan is not empty after quiescence: " + planned.out);
        const auto idle = t_.run();
        ++result_.cycles;
        if (idle.status != 0) fail("an idle sync-once exited " + std::to_string(idle.status));
        if (all_writes() != writes) {
            fail("an idle cycle wrote to Notion (" + std::to_string(all_writes() - writes) +
                 " requests)");
        }
        const auto listed = t_.run({"conflicts", "list", "--all", "--json"});
        std::set<std::string> recorded;
        const json::value conflicts = json::parse(listed.out);
        for (const auto& c : conflicts.as_array()) {
            recorded.insert(key_of(std::string(c.at("page_id").as_string()),
                                   std::string(c.at("property").as_string()), c.at("notion"),
                                   c.at("external"), std::string(c.at("decision").as_string())));
        }
        std::set<std::string> wanted;
        std::map<std::string, std::string> labels;
        for (const auto& c : expected_) {
            const auto key = key_of(c.page_id, c.property, c.notion, c.external, c.decision);
            wanted.insert(key);
            labels[key] = c.label;
        }
        result_.conflicts = wanted.size();
        std::string problems;
        for (const auto& key : wanted) {
            if (!recorded.contains(key))
                problems += "\n  not recorded (a lost edit): " + labels[key] + " " + key;
        }
        for (const auto& key : recorded) {
            if (!wanted.contains(key)) problems += "\n  recorded, not expected: " + key;
        }
        if (!problems.empty()) fail("conflicts:" + problems);
    }

    Options options_;
    Result& result_;
    std::mt19937_64 random_;
    TwoWayFixture t_;
    std::string policy_;
    std::map<int, std::string> field_policy_;
    bool create_ = false;
    bool trash_ = false;
    std::vector<Item> items_;
    std::vector<std::string> trashed_;
    std::vector<ExpectedConflict> expected_;
    int new_rows_ = 0;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace

std::string Result::report() const {
    std::ostringstream out;
    out << "seed " << seed << " (" << settings << "), " << operations.size()
        << " operations; replay with SYNCD_TWO_WAY_SEED=" << seed
        << " SYNCD_TWO_WAY_STEPS=" << steps << ":\n";
    for (std::size_t i = 0; i < operations.size(); ++i)
        out << "  " << (i + 1) << ". " << operations[i] << "\n";
    for (const auto& f : failures) out << "FAILED " << f << "\n";
    return out.str();
}

Result run_seed(std::uint64_t seed, const Options& options) {
    Result result{.seed = seed, .steps = options.steps};
    const auto started = std::chrono::steady_clock::now();
    try {
        Model model(seed, options, result);
        model.run();
    } catch (const std::exception& e) {
        result.failures.push_back(std::string("the test itself failed: ") + e.what());
    }
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return result;
}

}  // namespace syncd::test::two_way_model
