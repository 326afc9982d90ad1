// doctest's main for every test binary. Files the tests write (configurations holding test tokens
// among them) are private to the user, as notion-syncd expects of a file with a literal token.
//
// A run whose filters match no test case fails: doctest exits 0 then, and a test name that CTest
// splits or a renamed case would otherwise pass while testing nothing (commits e88fa1b, 7d7112f).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdio>

namespace {

unsigned test_cases_run = 0;
bool run_ended = false;

// Counts the test cases a (non-query) run executed.
struct RunCounter : doctest::IReporter {
    explicit RunCounter(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats& stats) override {
        run_ended = true;
        test_cases_run = stats.numTestCasesPassingFilters;
    }
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("run_counter", 1, RunCounter);

}  // namespace

int main(int argc, char** argv) {
    umask(077);
    doctest::Context context(argc, argv);
    const int result = context.run();
    if (result == 0 && run_ended && test_cases_run == 0) {
        std::fprintf(stderr,
                     "doctest_main: no test case matched the filters, so nothing was tested; "
                     "failing the run (check the test name given to --test-case)\n");
        return 1;
    }
    return result;
}
