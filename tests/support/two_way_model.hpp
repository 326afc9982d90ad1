// The seeded model test of two-way sync with a sqlite target (issue 12). One seed is one world:
// a Tasks data source, a policy, and a random sequence of operations — a person's edits in Notion
// (owner token, often in the same minute), SQL from another connection (updates, transactions that
// commit late, inserts, deletes one by one or of the whole table), daemon steps (`sync-once`,
// `plan`, a `run` daemon while people keep editing), injected faults (429 with Retry-After, 409,
// 500, 503 after commit) and SIGKILLs (at random moments and at crash points). An oracle of the
// policy says what both sides hold after every successful cycle; at the end both sides equal it,
// every losing value is a recorded conflict, no page exists twice, `plan` is empty and an idle
// cycle writes nothing.
//
// Replay one seed with SYNCD_TWO_WAY_SEED=<seed> (and SYNCD_TWO_WAY_STEPS=<n> if it ran with
// another count): the operations come from the seed alone; only where a SIGKILL lands in a cycle
// depends on timing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace syncd::test::two_way_model {

struct Options {
    int steps = 20;           // random steps per seed: an edit, a daemon step, a `run` segment…
    std::string daemon = {};  // notion-syncd; empty: the one of this build
    // `run` daemons with people editing meanwhile (each takes a few seconds).
    bool run_segments = true;
};

struct Result {
    std::uint64_t seed = 0;
    int steps = 0;
    std::string settings = {};                 // the two_way block, on one line
    std::vector<std::string> operations = {};  // as done, in order
    std::vector<std::string> failures = {};    // empty: the seed passed
    std::size_t kills = 0;                     // daemons SIGKILLed (crash points included)
    std::size_t faults = 0;                    // faults injected into the emulator
    std::size_t cycles = 0;                    // notion-syncd runs (sync-once, plan, run)
    std::size_t conflicts = 0;                 // conflicts the oracle expected
    std::chrono::milliseconds duration{};
    bool passed() const { return failures.empty(); }
    // The seed, its settings, its operations and what failed: enough to replay it.
    std::string report() const;
};

// Runs one seed; never throws for what the daemon does (that is a failure in the result).
Result run_seed(std::uint64_t seed, const Options& options);

}  // namespace syncd::test::two_way_model
