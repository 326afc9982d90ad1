// The seeded model test of two-way sync with a sqlite target (issue 12; the model is in
// tests/support/two_way_model.hpp): random edits on both sides, daemon steps, faults and kills,
// checked against an oracle of the policy. CI runs 24 seeds in four cases (ctest runs them side by
// side); SYNCD_TWO_WAY_SEEDS=N runs seeds 1..N instead, SYNCD_TWO_WAY_SEED=S only seed S, and
// SYNCD_TWO_WAY_STEPS=K the random steps per seed (default 20). A failing seed prints
// its settings and operation list.
#include "tests/support/two_way_model.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

using namespace syncd;

namespace {

int from_environment(const char* name, int otherwise) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::atoi(value) : otherwise;
}

// Seeds first..last of the 24 CI seeds, or what the environment asks for (then only in the first
// case, so each seed runs once).
void run_seeds(int first, int last) {
    test::two_way_model::Options options;
    options.steps = from_environment("SYNCD_TWO_WAY_STEPS", options.steps);
    const int one = from_environment("SYNCD_TWO_WAY_SEED", 0);
    const int seeds = from_environment("SYNCD_TWO_WAY_SEEDS", 0);
    if (one != 0 || seeds != 0) {
        if (first != 1) return;
        first = one != 0 ? one : 1;
        last = one != 0 ? one : seeds;
    }
    for (int seed = first; seed <= last; ++seed) {
        const auto result =
            test::two_way_model::run_seed(static_cast<std::uint64_t>(seed), options);
        if (result.passed() && one != 0) {
            MESSAGE(result.report());  // a replay shows what it did
        } else if (result.passed()) {
            MESSAGE("seed " << seed << " passed: " << result.operations.size() << " operations, "
                            << result.kills << " kills, " << result.faults << " faults, "
                            << result.conflicts << " conflicts, " << result.duration.count()
                            << " ms (" << result.settings << ")");
        } else {
            FAIL_CHECK(result.report());
        }
    }
}

}  // namespace

TEST_CASE("two-way model: seeds 1 to 6 converge to the oracle, no edit lost, idle at the end") {
    run_seeds(1, 6);
}

TEST_CASE("two-way model: seeds 7 to 12 converge to the oracle, no edit lost, idle at the end") {
    run_seeds(7, 12);
}

TEST_CASE("two-way model: seeds 13 to 18 converge to the oracle, no edit lost, idle at the end") {
    run_seeds(13, 18);
}

TEST_CASE("two-way model: seeds 19 to 24 converge to the oracle, no edit lost, idle at the end") {
    run_seeds(19, 24);
}
