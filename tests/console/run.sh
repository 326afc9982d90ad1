#!/usr/bin/env bash
# Runs the console's browser tests (ctest's console_browser test) with node's test runner and
# prints "console_browser: N passed, N failed". Needs node, tests/console/node_modules (npm ci) and
# chromium (scripts/install-deps); without them a failure under CI=true, a skip (exit 77) elsewhere.
# Usage: NOTION_SYNCD=… NOTION_EMULATOR=… tests/console/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing=""
if ! command -v node >/dev/null; then
    missing="node not found"
elif [[ ! -f $here/node_modules/puppeteer-core/package.json ]]; then
    missing="tests/console/node_modules has no puppeteer-core (npm ci in tests/console)"
elif [[ ! -x ${CHROMIUM:-/usr/bin/chromium} ]]; then
    missing="chromium not found (scripts/install-deps installs it)"
fi
if [[ -n $missing ]]; then
    if [[ ${CI:-} == true ]]; then
        echo "FAIL: $missing; CI must run the console's browser tests"
        exit 1
    fi
    echo "skipped: $missing"
    exit 77
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cd "$here"
status=0
node --test --test-reporter=spec console.test.js 2>&1 | tee "$log" || status=$?
count() { sed -En "s/^(#|ℹ) $1 ([0-9]+)\$/\2/p" "$log" | tail -n 1; }
if [[ -z $(count tests) ]]; then
    echo "FAIL: node printed no test summary (exit $status)"
    exit 1
fi
echo "console_browser: $(count pass) passed, $(count fail) failed"
exit "$status"
