import { defineConfig } from "vitest/config";

// The test run Stryker mutates against (npm run mutate): core's unit tests only.
// No projects and no global setup, so a mutation run never starts Redis or a
// sandbox host and never picks up the system suites in test/. No custom
// reporter either: the score is the one a default Stryker run prints.
export default defineConfig({
  test: {
    include: ["packages/core/src/**/*.test.ts"],
  },
});
