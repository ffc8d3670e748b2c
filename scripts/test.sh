#!/usr/bin/env bash
# Runs the whole test suite on this machine: installs what is missing, then
# vitest (unit + system tests; the system tests start their own Redis and
# sandbox hosts in network namespaces and remove them). Prints the totals as
# one last line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
mkdir -p .netforge
results=.netforge/test-results.json
rm -f "$results"
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
rc=$?
if [ -f "$results" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    // A suite that failed outside any test (e.g. in beforeAll) counts as one failure.
    const brokenSuites = r.testResults.filter(t => t.status === "failed" && !t.assertionResults.some(a => a.status === "failed")).length;
    // Processes or namespaces a run left behind (written by the global teardown) count as one failure.
    const leftovers = require("fs").existsSync(".netforge/leftovers.json") ? 1 : 0;
    const failed = r.numFailedTests + brokenSuites + leftovers;
    console.log(`${r.numPassedTests} passed, ${failed} failed`);
  ' "$results"
else
  echo "0 passed, 1 failed"
  [ $rc -eq 0 ] && rc=1
fi
exit $rc
