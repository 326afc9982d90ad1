// Two-way sync with a markdown target (issue 13): a person edits the front matter of a synced
// file — in place, by an editor's atomic rename, by renaming or deleting the file, by making a new
// one — and the values reach Notion typed by the schema; a value of the wrong type or a change
// Notion's side wins is never lost (a conflict copy keeps it); our own writes are not edits.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon/model/sqlite.hpp"
#include "tests/support/process.hpp"
#include "tests/support/two_way_fixture.hpp"

using namespace syncd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;
using test::read_file;

namespace {

struct MarkdownTwoWay : test::TwoWayFixture {
    explicit MarkdownTwoWay(const std::string& settings = "") {
        connectors = "  md:\n    type: markdown\n    dir: " + path("md").string() + "\n";
        sync_settings = "    content: true\n";
        targets =
            "      - connector: md\n        two_way:\n          settle: 0s\n"
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

    // The page's file (not a conflict copy), found by its notion_id as a person would grep.
    fs::path file_of(const std::string& page) const {
        for (const auto& entry : fs::directory_iterator(path("md"))) {
            const std::string name = entry.path().filename().string();
            if (!entry.is_regular_file() || !name.ends_with(".md") ||
                name.find(".conflict-") != std::string::npos)
                continue;
            if (read_file(entry.path()).find("\nnotion_id: " + page + "\n") != std::string::npos)
                return entry.path();
        }
        return {};
    }

    std::vector<fs::path> conflict_copies() const {
        std::vector<fs::path> out;
        for (const auto& entry : fs::directory_iterator(path("md"))) {
            if (entry.path().filename().string().find(".conflict-") != std::string::npos)
                out.push_back(entry.path());
        }
        return out;
    }

    // The line `key: …` of a file's front matter replaced by `line` ("" removes it), saved as an
    // editor that writes a temporary file and renames it over the original does.
    static void edit(const fs::path& file, const std::string& key, const std::string& line) {
        std::string text = read_file(file);
        const auto at = text.find("\n" + key + ":");
        REQUIRE(at != std::string::npos);
        const auto end = text.find('\n', at + 1);
        text.replace(at + 1, end - at, line.empty() ? "" : line + "\n");
        const fs::path temp = file.parent_path() / ("." + file.filename().string() + ".swp");
        std::ofstream(temp, std::ios::binary) << text;
        fs::rename(temp, file);
    }
};

std::string id8(const std::string& page) {
    std::string out;
    for (const char c : page)
        if (c != '-' && out.size() < 8) out.push_back(c);
    return out;
}

}  // namespace

TEST_CASE("markdown two-way: a front matter edit reaches Notion typed, and nothing echoes back") {
    MarkdownTwoWay t;
    REQUIRE(t.syncd().status == 0);
    const fs::path file = t.file_of(t.pages[1]);
    REQUIRE(!file.empty());
    CHECK(file.filename() == "task-1-" + id8(t.pages[1]) + ".md");
    const std::string written = read_file(file);
    INFO(written);
    CHECK(written.find("\ntitle: Task 1\nStatus: Todo\nEstimate: 2\n") != std::string::npos);
    CHECK(written.find("\nnotion:\n") != std::string::npos);
    // A second cycle with nothing changed: the daemon's own files are not edits.
    const auto writes_before = t.writes();
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before);

    MarkdownTwoWay::edit(file, "Estimate", "Estimate: 8");
    MarkdownTwoWay::edit(file, "Status", "Status: Done");
    MarkdownTwoWay::edit(file, "Tags", "Tags: [a, b]");
    MarkdownTwoWay::edit(file, "Due", "Due: 2026-06-01");
    MarkdownTwoWay::edit(file, "Done", "Done: true");
    MarkdownTwoWay::edit(file, "title", "title: \"Task 1: shipped\"");
    const auto once = t.syncd();
    CHECK(once.status == 0);
    CHECK(t.writes() == writes_before + 1);  // one PATCH with every changed property
    CHECK(t.notion_value(t.pages[1], "Estimate") == 8);
    CHECK(t.notion_value(t.pages[1], "Status").at("name") == "Done");
    CHECK(t.notion_value(t.pages[1], "Tags").as_array().size() == 2);
    CHECK(t.notion_value(t.pages[1], "Due").at("start") == "2026-06-01");
    CHECK(t.notion_value(t.pages[1], "Done") == true);
    CHECK(t.notion_value(t.pages[1], "Name").as_array()[0].at("plain_text") == "Task 1: shipped");
    // The other target got the change; the file keeps its name (it is found by its notion_id)
    // and now shows what Notion computed from it.
    CHECK(t.events().back().at("properties").at("Estimate") == 8);
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before + 1);
    CHECK(t.file_of(t.pages[1]) == file);
    CHECK(read_file(file).find("\n  Double: 16\n") != std::string::npos);
    CHECK(t.conflict_copies().empty());

    // Renaming the file changes nothing in Notion; an edit of the renamed file still arrives.
    const fs::path renamed = file.parent_path() / "my-notes.md";
    fs::rename(file, renamed);
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before + 1);
    CHECK(t.notion_value(t.pages[1], "Estimate") == 8);
    MarkdownTwoWay::edit(renamed, "Estimate", "Estimate: 9.5");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[1], "Estimate") == 9.5);
    CHECK(t.file_of(t.pages[1]) == renamed);
    // A Notion change to the page lands in the renamed file.
    t.notion_set(t.pages[1], R"({"Status":{"select":{"name":"Doing"}}})");
    REQUIRE(t.syncd().status == 0);
    CHECK(read_file(renamed).find("\nStatus: Doing\n") != std::string::npos);
    CHECK(t.conflict_copies().empty());
}

TEST_CASE("markdown two-way: people and relations show names beside their ids, edits arrive") {
    MarkdownTwoWay t;
    t.emulator.api("PATCH", "/v1/data_sources/" + t.data_source,
                   json::parse(R"({"properties":{"Owner":{"people":{}},
                       "Blocked by":{"relation":{"data_source_id":")" +
                               t.data_source + R"(","single_property":{}}}}})"));
    std::string person;
    std::string person_name;
    const json::value users = t.emulator.api("GET", "/v1/users", nullptr);
    for (const auto& user : users.at("results").as_array()) {
        if (user.at("type") == "person") {
            person = std::string(user.at("id").as_string());
            person_name = std::string(user.at("name").as_string());
            break;
        }
    }
    REQUIRE(!person.empty());
    t.notion_set(t.pages[1], R"({"Owner":{"people":[{"id":")" + person +
                                 R"("}]},"Blocked by":{"relation":[{"id":")" + t.pages[2] +
                                 R"("}]}})");
    REQUIRE(t.syncd().status == 0);
    const fs::path file = t.file_of(t.pages[1]);
    REQUIRE(!file.empty());
    const std::string written = read_file(file);
    INFO(written);
    // The user's name and the related page's title, each with the id that counts.
    CHECK(written.find("\nOwner: [" + person_name + " <" + person + ">]\n") != std::string::npos);
    CHECK(written.find("\nBlocked by: [Task 2 <" + t.pages[2] + ">]\n") != std::string::npos);

    // A person points the relation at another page by its id and removes the owner.
    MarkdownTwoWay::edit(file, "Blocked by", "Blocked by: [" + t.pages[3] + "]");
    MarkdownTwoWay::edit(file, "Owner", "Owner: []");
    REQUIRE(t.syncd().status == 0);
    const json::value relation = t.notion_value(t.pages[1], "Blocked by");
    REQUIRE(relation.as_array().size() == 1);
    CHECK(relation.as_array()[0].at("id").as_string() == t.pages[3]);
    CHECK(t.notion_value(t.pages[1], "Owner").as_array().empty());
    // Notion's values come back named, and a name alone is refused with the way to fix it.
    REQUIRE(t.syncd().status == 0);
    CHECK(read_file(file).find("\nBlocked by: [Task 3 <" + t.pages[3] + ">]\n") !=
          std::string::npos);
    MarkdownTwoWay::edit(file, "Owner", "Owner: [" + person_name + "]");
    const auto refused = t.syncd();
    CHECK(refused.status == 0);
    CHECK(t.notion_value(t.pages[1], "Owner").as_array().empty());
    CHECK(read_file(t.path("syncd.log")).find("a name alone is not looked up") !=
          std::string::npos);
}

TEST_CASE("markdown two-way: a value of the wrong type is not written, the person's file is kept") {
    MarkdownTwoWay t;
    REQUIRE(t.syncd().status == 0);
    const fs::path file = t.file_of(t.pages[2]);
    const auto writes_before = t.writes();
    MarkdownTwoWay::edit(file, "Estimate", "Estimate: \"8\"");
    MarkdownTwoWay::edit(file, "Status", "Status: Someday");  // not an option of Status
    const auto once = t.syncd();
    CHECK(once.status == 0);  // reported, not a failure
    CHECK(t.writes() == writes_before);
    CHECK(t.notion_value(t.pages[2], "Estimate") == 3);
    CHECK(t.notion_value(t.pages[2], "Status").at("name") == "Todo");
    const std::string log = read_file(t.path("syncd.log"));
    CHECK(log.find("\"8\" is quoted, so it is text; write the number without quotes") !=
          std::string::npos);
    CHECK(log.find("`Someday` is not an option of Status") != std::string::npos);
    const std::string history = t.syncd({"history", t.pages[2]}).out;
    CHECK(history.find("quoted, so it is text") != std::string::npos);
    // The file has Notion's values again, the person's version is beside it, marked.
    CHECK(read_file(file).find("\nEstimate: 3\n") != std::string::npos);
    const auto copies = t.conflict_copies();
    REQUIRE(copies.size() == 1);
    CHECK(copies[0].filename().string().starts_with("task-2-" + id8(t.pages[2]) + ".conflict-"));
    const std::string copy = read_file(copies[0]);
    CHECK(copy.starts_with("---\nnotion_conflict_copy: true\n"));
    CHECK(copy.find("\nEstimate: \"8\"\n") != std::string::npos);
    CHECK(copy.find("\nStatus: Someday\n") != std::string::npos);
    // A conflict copy is never synced, even edited.
    MarkdownTwoWay::edit(copies[0], "Estimate", "Estimate: 99");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == writes_before);
    CHECK(t.notion_value(t.pages[2], "Estimate") == 3);
}

TEST_CASE("markdown two-way: both sides changed, each policy, and a manual conflict stays put") {
    SUBCASE("notion-wins (the default): the file gets Notion's value, the person's is copied") {
        MarkdownTwoWay t;
        REQUIRE(t.syncd().status == 0);
        const fs::path file = t.file_of(t.pages[0]);
        t.notion_set(t.pages[0], R"({"Estimate":{"number":30}})");
        MarkdownTwoWay::edit(file, "Estimate", "Estimate: 50");
        MarkdownTwoWay::edit(file, "Done", "Done: true");  // not in conflict: written
        REQUIRE(t.syncd().status == 0);
        CHECK(t.notion_value(t.pages[0], "Estimate") == 30);
        CHECK(t.notion_value(t.pages[0], "Done") == true);
        const std::string text = read_file(file);
        CHECK(text.find("\nEstimate: 30\n") != std::string::npos);
        CHECK(text.find("\nDone: true\n") != std::string::npos);
        const auto copies = t.conflict_copies();
        REQUIRE(copies.size() == 1);
        CHECK(read_file(copies[0]).find("\nEstimate: 50\n") != std::string::npos);
        CHECK(t.syncd({"history", t.pages[0]}).out.find("conflict") != std::string::npos);
    }
    SUBCASE("external-wins: the file's value is written") {
        MarkdownTwoWay t("          policy: external-wins\n");
        REQUIRE(t.syncd().status == 0);
        const fs::path file = t.file_of(t.pages[0]);
        t.notion_set(t.pages[0], R"({"Estimate":{"number":30}})");
        MarkdownTwoWay::edit(file, "Estimate", "Estimate: 50");
        REQUIRE(t.syncd().status == 0);
        CHECK(t.notion_value(t.pages[0], "Estimate") == 50);
        CHECK(read_file(file).find("\nEstimate: 50\n") != std::string::npos);
        CHECK(t.conflict_copies().empty());
    }
    SUBCASE("manual: neither side is written; the file keeps the person's value until resolved") {
        MarkdownTwoWay t("          policy: manual\n");
        REQUIRE(t.syncd().status == 0);
        const fs::path file = t.file_of(t.pages[0]);
        t.notion_set(t.pages[0], R"({"Estimate":{"number":30}})");
        MarkdownTwoWay::edit(file, "Estimate", "Estimate: 50");
        REQUIRE(t.syncd().status == 0);
        CHECK(t.notion_value(t.pages[0], "Estimate") == 30);
        CHECK(read_file(file).find("\nEstimate: 50\n") != std::string::npos);
        // Notion changes another property: it arrives, the parked value stays in the file.
        t.notion_set(t.pages[0], R"({"Status":{"select":{"name":"Doing"}}})");
        REQUIRE(t.syncd().status == 0);
        const std::string text = read_file(file);
        CHECK(text.find("\nStatus: Doing\n") != std::string::npos);
        CHECK(text.find("\nEstimate: 50\n") != std::string::npos);
        CHECK(t.conflict_copies().empty());
        CHECK(t.notion_value(t.pages[0], "Estimate") == 30);
        // Resolved for the file's value: written to Notion.
        CHECK(t.syncd({"conflicts", "resolve", "1", "--take", "external"}).status == 0);
        REQUIRE(t.syncd().status == 0);
        CHECK(t.notion_value(t.pages[0], "Estimate") == 50);
        CHECK(read_file(file).find("\nEstimate: 50\n") != std::string::npos);
    }
}

TEST_CASE("markdown two-way: a deleted file is restored, or trashes its page with delete: true") {
    SUBCASE("delete: false (the default): the file comes back from Notion") {
        MarkdownTwoWay t;
        REQUIRE(t.syncd().status == 0);
        const fs::path file = t.file_of(t.pages[3]);
        fs::remove(file);
        REQUIRE(t.syncd().status == 0);
        CHECK(t.notion_page(t.pages[3]).at("in_trash") == false);
        CHECK(fs::exists(file));
        CHECK(t.syncd({"history", t.pages[3]}).out.find("restore") != std::string::npos);
    }
    SUBCASE("delete: true: the page goes to Notion's trash") {
        MarkdownTwoWay t("          delete: true\n");
        t.sync_settings += "    max_delete_ratio: 1\n";
        REQUIRE(t.syncd().status == 0);
        const fs::path file = t.file_of(t.pages[3]);
        fs::remove(file);
        REQUIRE(t.syncd().status == 0);
        CHECK(t.notion_page(t.pages[3]).at("in_trash") == true);
        CHECK(!fs::exists(file));
        // The other pages were not touched.
        CHECK(t.notion_page(t.pages[2]).at("in_trash") == false);
        REQUIRE(t.syncd().status == 0);
        CHECK(!fs::exists(file));
    }
}

TEST_CASE("markdown two-way: a new file becomes a page with create: true, once") {
    MarkdownTwoWay t("          create: true\n");
    REQUIRE(t.syncd().status == 0);
    std::ofstream(t.path("md") / "idea.md")
        << "---\ntitle: An idea\nEstimate: 5\nTags: [b]\n---\n\nSome text.\n";
    const auto posts = t.writes("POST", "/v1/pages");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes("POST", "/v1/pages") == posts + 1);
    const std::string text = read_file(t.path("md") / "idea.md");
    const auto at = text.find("notion_id: ");
    REQUIRE(at != std::string::npos);
    const std::string page = text.substr(at + 11, 36);
    CHECK(t.notion_value(page, "Estimate") == 5);
    CHECK(t.notion_value(page, "Name").as_array()[0].at("plain_text") == "An idea");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes("POST", "/v1/pages") == posts + 1);
    CHECK(t.file_of(page) == t.path("md") / "idea.md");
    // Its later edits arrive like any page's.
    MarkdownTwoWay::edit(t.path("md") / "idea.md", "Estimate", "Estimate: 6");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(page, "Estimate") == 6);
}

TEST_CASE("markdown two-way verify_every: an edit the stat scan cannot see is found and written") {
    MarkdownTwoWay t("          verify_every: 1h\n");
    REQUIRE(t.syncd().status == 0);
    const fs::path file = t.file_of(t.pages[4]);
    MarkdownTwoWay::edit(file, "Estimate", "Estimate: 7");
    // As if the edit happened while the capture was off (a restored state, a clock set back):
    // the state says it saw this very stat, with the old text's hash.
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    {
        sqlite::Database state((t.path("md") / ".notion-syncd" / "state.sqlite").string());
        auto update = state.prepare(
            "UPDATE files SET size = ?1, mtime_ns = ?2, ctime_ns = ?3, inode = ?4 WHERE page_id "
            "= ?5");
        update.bind(1, static_cast<std::int64_t>(st.st_size))
            .bind(2, static_cast<std::int64_t>(st.st_mtim.tv_sec * 1'000'000'000LL +
                                               st.st_mtim.tv_nsec))
            .bind(3, static_cast<std::int64_t>(st.st_ctim.tv_sec * 1'000'000'000LL +
                                               st.st_ctim.tv_nsec))
            .bind(4, static_cast<std::int64_t>(st.st_ino))
            .bind(5, t.pages[4])
            .run();
        REQUIRE(state.changes() == 1);
    }
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[4], "Estimate") == 5);  // the scan alone misses it
    t.targets.replace(t.targets.find("verify_every: 1h"), 16, "verify_every: 1s");
    std::this_thread::sleep_for(1100ms);
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[4], "Estimate") == 7);
    CHECK(read_file(file).find("\nEstimate: 7\n") != std::string::npos);
}

TEST_CASE("markdown two-way: a body edited in a file is kept in a conflict copy, not lost") {
    MarkdownTwoWay t;
    REQUIRE(t.syncd().status == 0);
    const fs::path file = t.file_of(t.pages[0]);
    std::ofstream(file, std::ios::app) << "\nA paragraph a person added.\n";
    REQUIRE(t.syncd().status == 0);
    CHECK(t.conflict_copies().empty());  // nothing replaced it yet
    CHECK(read_file(file).find("A paragraph a person added.") != std::string::npos);
    t.notion_set(t.pages[0], R"({"Estimate":{"number":11}})");
    REQUIRE(t.syncd().status == 0);
    CHECK(read_file(file).find("\nEstimate: 11\n") != std::string::npos);
    const auto copies = t.conflict_copies();
    REQUIRE(copies.size() == 1);
    CHECK(read_file(copies[0]).find("A paragraph a person added.") != std::string::npos);
}

namespace {

// The page's top-level blocks as Notion holds them: (id, type, plain text).
std::vector<std::tuple<std::string, std::string, std::string>> blocks_of(test::TwoWayFixture& t,
                                                                         const std::string& page) {
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    const json::value list = t.emulator.api("GET", "/v1/blocks/" + page + "/children", nullptr);
    for (const auto& b : list.at("results").as_array()) {
        const std::string type(b.at("type").as_string());
        std::string text;
        if (const auto* rich = b.at(type).as_object().if_contains("rich_text")) {
            for (const auto& item : rich->as_array())
                text += std::string(item.at("plain_text").as_string());
        }
        out.emplace_back(std::string(b.at("id").as_string()), type, text);
    }
    return out;
}

// The file with `from` replaced by `to` (the first occurrence), saved in place.
void replace_in(const fs::path& file, const std::string& from, const std::string& to) {
    std::string text = read_file(file);
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("markdown body two-way: edited text reaches Notion as block changes, ids kept") {
    MarkdownTwoWay t("          body: two-way\n");
    t.emulator.api("PATCH", "/v1/blocks/" + t.pages[1] + "/children", json::parse(R"({"children":[
        {"type":"paragraph","paragraph":{"rich_text":[{"text":{"content":"Hello"}}]}},
        {"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[{"text":{"content":"one"}}]}},
        {"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[{"text":{"content":"two"}}]}},
        {"type":"toggle","toggle":{"rich_text":[{"text":{"content":"More"}}],"children":[
          {"type":"paragraph","paragraph":{"rich_text":[{"text":{"content":"inside"}}]}}]}}]})"));
    REQUIRE(t.syncd().status == 0);
    const fs::path file = t.file_of(t.pages[1]);
    REQUIRE(!file.empty());
    CHECK(
        read_file(file).ends_with("# Task 1\n\nHello\n\n- one\n- two\n\n<details>\n"
                                  "<summary>More</summary>\n\ninside\n\n</details>\n"));
    const auto before = blocks_of(t, t.pages[1]);
    REQUIRE(before.size() == 4);

    // A word made bold, an item added at the end of the list, a paragraph before everything.
    replace_in(file, "\nHello\n", "\nHello **world**\n");
    replace_in(file, "- two\n", "- two\n- three\n");
    replace_in(file, "# Task 1\n\n", "# Task 1\n\nFirst things first.\n\n");
    const std::string edited = read_file(file);
    const auto writes = t.writes("PATCH", "/v1/blocks/{id}");
    const auto appends = t.writes("PATCH", "/v1/blocks/{id}/children");
    // `plan` tells what the next cycle does to the body, and does nothing.
    const json::array plan = json::parse(t.syncd({"plan", "--json"}).out).as_array();
    bool planned = false;
    for (const auto& action : plan) {
        planned = planned || (action.at("kind") == "body" &&
                              action.at("decision")
                                  .as_string()
                                  .starts_with("write: 1 blocks updated, 0 removed, 2 added"));
    }
    CHECK(planned);
    CHECK(t.writes("PATCH", "/v1/blocks/{id}/children") == appends);
    REQUIRE(t.syncd().status == 0);
    const auto after = blocks_of(t, t.pages[1]);
    REQUIRE(after.size() == 6);
    CHECK(after[0] == std::make_tuple(std::get<0>(after[0]), std::string("paragraph"),
                                      std::string("First things first.")));
    // The edited paragraph is the same block (its id, and so its comments, kept).
    CHECK(after[1] == std::make_tuple(std::get<0>(before[0]), std::string("paragraph"),
                                      std::string("Hello world")));
    CHECK(after[2] == before[1]);
    CHECK(after[3] == before[2]);
    CHECK(std::get<2>(after[4]) == "three");
    CHECK(after[5] == before[3]);  // the toggle and its child untouched
    CHECK(t.writes("PATCH", "/v1/blocks/{id}") == writes + 1);
    CHECK(t.writes("PATCH", "/v1/blocks/{id}/children") == appends + 2);
    // Notion's blocks come back as the very text the person wrote (below the front matter, whose
    // notion.last_edited_time moved): no conflict, no more writes.
    const auto body_of = [](const std::string& text) { return text.substr(text.find("\n# ")); };
    REQUIRE(t.syncd().status == 0);
    CHECK(body_of(read_file(file)) == body_of(edited));
    CHECK(t.conflict_copies().empty());
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes("PATCH", "/v1/blocks/{id}") == writes + 1);
    CHECK(t.writes("PATCH", "/v1/blocks/{id}/children") == appends + 2);
    CHECK(t.writes("DELETE", "/v1/blocks/{id}") == 0);

    // An item removed: one DELETE of that block.
    replace_in(file, "- one\n", "");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes("DELETE", "/v1/blocks/{id}") == 1);
    CHECK(blocks_of(t, t.pages[1]).size() == 5);
}

TEST_CASE("markdown body two-way: text that does not map to blocks is a conflict, file kept") {
    MarkdownTwoWay t("          body: two-way\n");
    t.emulator.api("PATCH", "/v1/blocks/" + t.pages[2] + "/children", json::parse(R"({"children":[
        {"type":"paragraph","paragraph":{"rich_text":[{"text":{"content":"Plain"}}]}}]})"));
    REQUIRE(t.syncd().status == 0);
    const fs::path file = t.file_of(t.pages[2]);
    REQUIRE(!file.empty());
    // A table and a nested list: Markdown the file cannot turn into blocks losslessly.
    replace_in(file, "\nPlain\n", "\nPlain\n\n| a | b |\n|---|---|\n\n- x\n    - nested\n");
    const std::string edited = read_file(file);
    const auto before = blocks_of(t, t.pages[2]);
    const auto writes = t.writes("PATCH", "/v1/blocks/{id}/children");
    REQUIRE(t.syncd().status == 0);
    CHECK(blocks_of(t, t.pages[2]) == before);
    CHECK(t.writes("PATCH", "/v1/blocks/{id}/children") == writes);
    CHECK(read_file(file) == edited);  // left as the person saved it
    CHECK(read_file(t.path("syncd.log")).find("body not round-trippable") != std::string::npos);
    {
        // `history` shows it: the write-back log in the mirror.
        sqlite::Database mirror((t.path("state") / "mirror.sqlite3").string());
        auto logged = mirror.prepare(
            "SELECT count(*) FROM writeback_log WHERE action = 'conflict' AND detail LIKE "
            "'%round-trippable%'");
        REQUIRE(logged.step());
        CHECK(logged.integer(0) == 1);
    }

    // Notion's body changes meanwhile: Notion's replaces the file's, the person's version is
    // kept in a conflict copy, and nothing was written to Notion from the file.
    t.emulator.api("PATCH", "/v1/blocks/" + t.pages[2] + "/children", json::parse(R"({"children":[
        {"type":"paragraph","paragraph":{"rich_text":[{"text":{"content":"From Notion"}}]}}]})"));
    REQUIRE(t.syncd().status == 0);
    CHECK(read_file(file).ends_with("\nPlain\n\nFrom Notion\n"));
    const auto copies = t.conflict_copies();
    REQUIRE(copies.size() == 1);
    CHECK(read_file(copies[0]).find("- x\n    - nested\n") != std::string::npos);
    CHECK(t.writes("PATCH", "/v1/blocks/{id}/children") == writes);
}

TEST_CASE(
    "markdown two-way added later: files a one-way target wrote are adopted, then edits flow") {
    MarkdownTwoWay t;
    const std::string two_way_targets = t.targets;
    t.targets = "      - connector: md\n      - connector: log\n";  // one-way first
    REQUIRE(t.syncd().status == 0);
    const fs::path file = t.file_of(t.pages[3]);
    REQUIRE(!file.empty());
    // A person edits while the target is still one-way: nothing is sent (it is not two-way).
    MarkdownTwoWay::edit(file, "Estimate", "Estimate: 40");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[3], "Estimate") == 4);
    // Two-way from now on: the files there are adopted where they are, and the first full
    // comparison (verify) finds what differs from Notion — that edit — and writes it, once; no
    // page is made, nothing else is written, no conflict copy.
    t.targets = two_way_targets;
    const auto patches = t.writes();
    const auto posts = t.writes("POST", "/v1/pages");
    const auto turned = t.syncd();
    REQUIRE(turned.status == 0);
    CHECK(turned.out.find("1 differed without a capture") != std::string::npos);
    CHECK(t.notion_value(t.pages[3], "Estimate") == 40);
    CHECK(t.writes() == patches + 1);
    CHECK(t.writes("POST", "/v1/pages") == posts);
    CHECK(t.conflict_copies().empty());
    CHECK(t.file_of(t.pages[3]) == file);
    REQUIRE(t.syncd().status == 0);
    CHECK(t.writes() == patches + 1);
    // Edits from now on reach Notion as captures.
    MarkdownTwoWay::edit(file, "Estimate", "Estimate: 41");
    REQUIRE(t.syncd().status == 0);
    CHECK(t.notion_value(t.pages[3], "Estimate") == 41);
    CHECK(t.writes() == patches + 2);
    CHECK(t.writes("POST", "/v1/pages") == posts);
}
