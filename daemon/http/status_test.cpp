#include "daemon/http/status.hpp"

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>

using namespace syncd;

namespace {

sync::Snapshot two_jobs() {
    sync::Snapshot s;
    for (const char* name : {"tasks", "wiki"}) {
        sync::JobSnapshot job{.name = name, .every = std::chrono::seconds(30)};
        job.state.failures = 2;
        job.targets.push_back({.target = std::string(name) + "/db", .pending = 3, .delivered = 7});
        job.targets.push_back({.target = std::string(name) + "/log", .dead_letters = 1});
        s.jobs.push_back(job);
    }
    s.budget_per_minute = 180;
    return s;
}

}  // namespace

TEST_CASE("metrics: every family's samples follow its HELP and TYPE, together") {
    const std::string text = http::render_metrics(two_jobs());
    std::istringstream in(text);
    std::string current;
    std::set<std::string> closed;
    std::map<std::string, int> samples;
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("# HELP ")) {
            const auto name = line.substr(7, line.find(' ', 7) - 7);
            CHECK_FALSE(closed.contains(name));  // announced once
            if (!current.empty()) closed.insert(current);
            current = name;
            continue;
        }
        if (line.starts_with("# ")) continue;
        const auto name = line.substr(0, line.find_first_of("{ "));
        CAPTURE(line);
        CHECK(name == current);  // a sample of the family just announced, not an earlier one
        ++samples[name];
    }
    CHECK(samples["notion_syncd_poll_failures_total"] == 2);
    CHECK(samples["notion_syncd_events_pending"] == 4);
    CHECK(text.find("notion_syncd_events_pending{target=\"wiki/db\"} 3\n") != std::string::npos);
    CHECK(text.find("notion_syncd_dead_letters{target=\"tasks/log\"} 1\n") != std::string::npos);
}

TEST_CASE("status and summary render the same snapshot") {
    const auto s = two_jobs();
    const auto status = http::render_status(s);
    CHECK(status.at("jobs").as_array().size() == 2);
    CHECK(status.at("jobs").as_array()[1].at("targets").as_array()[0].at("pending") == 3);
    CHECK(http::render_summary(s) ==
          "2 jobs, oldest poll 0 s ago, 6 events pending, 2 dead letters");
}
