/**
 * A vitest reporter for mutation runs only (vitest.mutation.config.ts).
 *
 * Stryker's vitest runner (9.6.1, and 10.x) builds a mutant's result from the
 * tests vitest collected. A mutant in module-level code that makes the module
 * throw while loading (say `z.discriminatedUnion("", …)`) leaves the test files
 * importing it with no tests at all, so no test failed and Stryker scores the
 * mutant "survived", although every ordinary test run fails on it
 * (stryker-js#6150). This reporter gives each test file that failed without
 * collecting a single test one failed test carrying the load error, so such a
 * mutant counts as killed. Files that loaded are left untouched.
 */
import type { Reporter, TestModule, Vitest } from "vitest/node";

type RawFile = ReturnType<Vitest["state"]["getFiles"]>[number];
type RawTest = RawFile["tasks"][number];

export default class LoadFailureAsFailedTest implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(_modules: ReadonlyArray<TestModule>): void {
    for (const file of this.vitest?.state.getFiles() ?? []) {
      if (file.result?.state !== "fail" || file.tasks.length > 0) continue;
      const errors = file.result.errors ?? [{ message: "test file failed to load", name: "Error" }];
      // A complete test task (vitest's reporters iterate annotations and artifacts of every test), with no context:
      // nothing runs it.
      const name = "test file failed to load";
      const test = {
        type: "test",
        id: `${file.id}_load`,
        name,
        fullName: `${file.name} > ${name}`,
        fullTestName: name,
        mode: "run",
        file,
        suite: file,
        meta: {},
        timeout: 0,
        annotations: [],
        artifacts: [],
        tags: [],
        result: { state: "fail", errors, duration: 0 },
      } as unknown as RawTest;
      file.tasks.push(test);
    }
  }
}
