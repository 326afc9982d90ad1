#!/usr/bin/env bash
# Runs one conformance file with node's test runner (ctest's sdk_conformance.* tests) and prints
# "sdk_conformance NAME: N passed, N failed, …"; a run in which no test passed or failed fails.
# Without node or node_modules it is a failure under CI=true and a skip (exit 77) elsewhere.
# Usage: tests/conformance/run.sh FILE.test.js
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
file="$(realpath "$1")"
name="$(basename "$file" .test.js)"

missing=""
if ! command -v node >/dev/null; then
    missing="node not found"
elif [[ ! -f $here/node_modules/@notionhq/client/package.json ]]; then
    missing="tests/conformance/node_modules has no @notionhq/client"
fi
if [[ -n $missing ]]; then
    if [[ ${CI:-} == true ]]; then
        echo "FAIL: $missing; CI must run the SDK conformance suite (npm ci in tests/conformance)"
        exit 1
    fi
    echo "skipped: $missing; run npm ci in tests/conformance"
    exit 77
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cd "$here"
status=0
node --test --test-reporter=spec "$file" 2>&1 | tee "$log" || status=$?
count() { sed -En "s/^(#|ℹ) $1 ([0-9]+)\$/\2/p" "$log" | tail -n 1; }
if [[ -z $(count tests) ]]; then
    echo "FAIL: node printed no test summary (exit $status)"
    exit 1
fi
passed="$(count pass)"
failed="$(count fail)"
echo "sdk_conformance $name: $passed passed, $failed failed, $(count skipped) skipped," \
    "$(count todo) todo"
# node 20 reports a file that declares no test as one passing test named after the file.
if ((passed + failed == 0)) || grep -qF -- "✔ $file (" "$log"; then
    echo "FAIL: $file ran no test"
    exit 1
fi
exit "$status"
