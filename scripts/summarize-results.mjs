// Prints the run's totals as one line "N passed, N failed" and exits non-zero
// when anything failed, so the exit code always agrees with the line.
// Usage: node scripts/summarize-results.mjs <vitest json> [<leftovers json>]
import { existsSync, readFileSync } from "node:fs";

const [results, leftoversFile = ".netforge/leftovers.json"] = process.argv.slice(2);
if (!results || !existsSync(results)) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const r = JSON.parse(readFileSync(results, "utf8"));
// A suite that failed outside any test (e.g. in beforeAll) counts as one failure.
const brokenSuites = r.testResults.filter((t) => t.status === "failed" && !t.assertionResults.some((a) => a.status === "failed")).length;
// Processes or namespaces the run left behind (written by the global teardown) count as one failure.
const leftovers = existsSync(leftoversFile) ? 1 : 0;
const failed = r.numFailedTests + brokenSuites + leftovers;
// The slowest files, so CI's 30-minute budget can be watched from the log (on stderr: stdout is the one line).
const slowest = r.testResults
  .filter((t) => typeof t.name === "string" && t.endTime > t.startTime)
  .map((t) => ({ file: t.name.replace(`${process.cwd()}/`, ""), seconds: (t.endTime - t.startTime) / 1000 }))
  .sort((a, b) => b.seconds - a.seconds)
  .slice(0, 15);
for (const s of slowest) console.error(`slow file: ${s.seconds.toFixed(1).padStart(7)} s  ${s.file}`);
console.log(`${r.numPassedTests} passed, ${failed} failed`);
process.exit(failed > 0 || r.numPassedTests === 0 ? 1 : 0);
