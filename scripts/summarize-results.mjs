// Prints the run's totals as one line "N passed, N failed" and exits non-zero
// when anything failed, so the exit code always agrees with the line.
// Usage: node scripts/summarize-results.mjs <vitest json>[:<leftovers json>] ...
import { existsSync, readFileSync } from "node:fs";

// Each argument is "<vitest json>" or "<vitest json>:<leftovers json>" (one per vitest process of the run);
// one plain "<vitest json> <leftovers json>" pair is read as before.
let args = process.argv.slice(2);
if (args.length === 2 && !args.some((a) => a.includes(":"))) args = [`${args[0]}:${args[1]}`];
if (args.length === 0) args = [".netforge/test-results.json:.netforge/leftovers.json"];
let passed = 0;
let failed = 0;
const timed = [];
// What failed, printed last (on stderr) so that a log cut to its tail still names it.
const failures = [];
const firstLine = (text) =>
  String(text ?? "")
    .split("\n")
    .find((l) => l.trim() !== "") ?? "";
for (const arg of args) {
  const [results, leftoversFile = ".netforge/leftovers.json"] = arg.split(":");
  // A lane that wrote no results (vitest could not start) is one failure.
  if (!results || !existsSync(results)) {
    console.error(`no results: ${results}`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(results, "utf8"));
  // A suite that failed outside any test (e.g. in beforeAll) counts as one failure.
  const brokenSuites = r.testResults.filter((t) => t.status === "failed" && !t.assertionResults.some((a) => a.status === "failed")).length;
  // Processes or namespaces the run left behind (written by the global teardown) count as one failure.
  const leftovers = existsSync(leftoversFile) ? 1 : 0;
  failed += r.numFailedTests + brokenSuites + leftovers;
  for (const t of r.testResults) {
    const file = String(t.name).replace(`${process.cwd()}/`, "");
    const failedTests = t.assertionResults.filter((a) => a.status === "failed");
    for (const a of failedTests) failures.push(`FAILED ${file} > ${a.fullName}: ${firstLine(a.failureMessages?.[0])}`);
    if (t.status === "failed" && failedTests.length === 0) failures.push(`FAILED ${file} (outside any test): ${firstLine(t.message)}`);
  }
  if (leftovers) failures.push(`LEFTOVERS (${leftoversFile}): ${readFileSync(leftoversFile, "utf8").slice(0, 2000)}`);
  passed += r.numPassedTests;
  for (const t of r.testResults) {
    if (typeof t.name === "string" && t.endTime > t.startTime)
      timed.push({ file: t.name.replace(`${process.cwd()}/`, ""), seconds: (t.endTime - t.startTime) / 1000 });
  }
}
// The slowest files, so CI's 30-minute budget can be watched from the log (on stderr: stdout is the one line).
for (const s of timed.sort((a, b) => b.seconds - a.seconds).slice(0, 15))
  console.error(`slow file: ${s.seconds.toFixed(1).padStart(7)} s  ${s.file}`);
for (const f of failures) console.error(f.slice(0, 2500));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
