// The seeded two-way model (tests/support/two_way_model.hpp) at length: seeds 1, 2, … until
// `--operations` operations (default 10,000) were done, each seed checked against the policy's
// oracle as in the test. Prints one JSON object: the seeds it ran, operations, kills, faults,
// conflicts, cycles, duration, and the seeds that failed (their operation lists on stderr).
// Replay a seed with the test: SYNCD_TWO_WAY_SEED=<seed> SYNCD_TWO_WAY_STEPS=<steps>.
#include "tests/support/two_way_model.hpp"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <iostream>

#include "daemon/model/json_text.hpp"

namespace json = boost::json;
namespace model = syncd::test::two_way_model;

int main(int argc, char** argv) {
    umask(077);  // the configurations written hold a (test) token
    CLI::App app{"notion-syncd two-way model benchmark (one JSON object on stdout)"};
    model::Options options;
    std::size_t operations = 10'000;
    std::uint64_t first = 1;
    app.add_option("--syncd", options.daemon, "notion-syncd binary")->required();
    app.add_option("--operations", operations, "operations in all (default 10000)");
    app.add_option("--steps", options.steps, "random steps per seed (default 20)");
    app.add_option("--first-seed", first, "the first seed (default 1)");
    CLI11_PARSE(app, argc, argv);
    const auto started = std::chrono::steady_clock::now();
    json::array seeds;
    json::array failed;
    std::size_t done = 0;
    std::size_t kills = 0;
    std::size_t faults = 0;
    std::size_t conflicts = 0;
    std::size_t cycles = 0;
    for (std::uint64_t seed = first; done < operations; ++seed) {
        const model::Result result = model::run_seed(seed, options);
        seeds.push_back(seed);
        done += result.operations.size();
        kills += result.kills;
        faults += result.faults;
        conflicts += result.conflicts;
        cycles += result.cycles;
        if (!result.passed()) {
            failed.push_back(seed);
            std::cerr << result.report() << std::endl;
        }
        std::cerr << "seed " << seed << (result.passed() ? " passed" : " FAILED") << ": "
                  << result.operations.size() << " operations (" << done << " of " << operations
                  << ")" << std::endl;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << syncd::model::to_json_text(json::object{{"scenario", "two-way-model"},
                                                         {"steps_per_seed", options.steps},
                                                         {"seeds", seeds},
                                                         {"operations", done},
                                                         {"kills", kills},
                                                         {"faults", faults},
                                                         {"conflicts", conflicts},
                                                         {"cycles", cycles},
                                                         {"duration_s", seconds},
                                                         {"failed", failed}})
              << std::endl;
    return failed.empty() ? 0 : 1;
}
