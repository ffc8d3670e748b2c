#!/usr/bin/env bash
# Runs the whole test suite on this machine: installs what is missing, then
# vitest (unit + system tests; the system tests start their own Redis and
# sandbox hosts in network namespaces and remove them). Prints the totals as
# one last line "N passed, N failed"; the exit code agrees with that line.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p .netforge
# Sandbox host ids in the suites are fixed: two runs on one machine take turns (the lock goes with this shell).
exec 9>/tmp/netforge-e2e.lock
flock 9
results=.netforge/test-results.json
rm -f "$results"
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
rc=$?
node scripts/summarize-results.mjs "$results" .netforge/leftovers.json
sum=$?
# vitest's own failure (rc) or ours (failed tests, broken suites, leftovers): either fails the run.
[ $rc -ne 0 ] && exit $rc
exit $sum
