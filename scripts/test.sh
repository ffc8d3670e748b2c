#!/usr/bin/env bash
# Runs the whole test suite on this machine: installs what is missing, then
# vitest (unit + system tests; the system tests start their own Redis and
# sandbox hosts in network namespaces and remove them). Prints the totals as
# one last line "N passed, N failed"; the exit code agrees with that line.
#
# Two vitest processes run side by side ("lanes", vitest.config.ts): the unit,
# api and system projects in one, the longest host suites (project "heavy") in
# the other; each runs one file at a time, with its own Redis, run marker and
# leftover check. Arguments (e.g. a file filter) run one vitest as before.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p .netforge
# Sandbox host ids in the suites are fixed: two runs on one machine take turns (the lock goes with this shell).
exec 9>/tmp/netforge-e2e.lock
flock 9
rm -f .netforge/test-results*.json .netforge/leftovers*.json
if [ $# -gt 0 ]; then
  npx vitest run --reporter=default --reporter=json --outputFile.json=.netforge/test-results.json "$@"
  rc=$?
  node scripts/summarize-results.mjs .netforge/test-results.json:.netforge/leftovers.json
  sum=$?
  [ $rc -ne 0 ] && exit $rc
  exit $sum
fi
lane() {
  local name=$1
  shift
  NETFORGE_LEFTOVERS_FILE=.netforge/leftovers-$name.json npx vitest run --reporter=default --reporter=json \
    --outputFile.json=.netforge/test-results-$name.json "$@"
}
# The heavy lane's output goes to a file (printed after), the other lane's to the terminal as it runs.
lane heavy --project heavy > .netforge/test-heavy.log 2>&1 &
heavy=$!
lane main --project unit --project api --project system
rc_main=$?
wait $heavy
rc_heavy=$?
echo "---- lane heavy (the longest host suites, run beside the above) ----"
cat .netforge/test-heavy.log
node scripts/summarize-results.mjs .netforge/test-results-main.json:.netforge/leftovers-main.json \
  .netforge/test-results-heavy.json:.netforge/leftovers-heavy.json
sum=$?
# vitest's own failure (rc) or ours (failed tests, broken suites, leftovers): either fails the run.
[ $rc_main -ne 0 ] && exit $rc_main
[ $rc_heavy -ne 0 ] && exit $rc_heavy
exit $sum
