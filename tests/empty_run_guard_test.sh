#!/usr/bin/env bash
# A unit test binary run with a filter that matches nothing must fail, and a filter that matches
# one test case must pass having run exactly one. Usage: empty_run_guard_test.sh TEST_BINARY CASE
set -uo pipefail
binary="$1"
existing="$2"
failures=0
out=$("$binary" --test-case="no test case has this name" 2>&1)
status=$?
if ((status == 0)); then
    echo "FAIL: a run of zero test cases exited 0"; failures=$((failures + 1))
elif ! grep -q "no test case matched the filters" <<<"$out"; then
    echo "FAIL: a run of zero test cases failed without saying why: $out"; failures=$((failures + 1))
else
    echo "ok: a run of zero test cases fails ($status)"
fi
out=$("$binary" --test-case="$existing" 2>&1)
status=$?
if ((status != 0)) || ! grep -Eq "test cases: +1 [|] +1 passed" <<<"$out"; then
    echo "FAIL: a run of one test case: status $status: $out"; failures=$((failures + 1))
else
    echo "ok: a run of one test case passes"
fi
echo "$((2 - failures)) passed, $failures failed"
((failures == 0))
