import { defineConfig } from "vitest/config";

/**
 * Suites in test/ that drive host parts (sandbox hosts with libvirtd, namespaces, nft, tmux, a browser, API and
 * worker processes): they run one file at a time. The other suites in test/ (a real Redis, the API in process,
 * pure process checks) run one at a time too, but beside them: CI stays within its 30 minutes on two cores.
 */
const HOST_SUITES = [
  "test/e2e-*.test.ts",
  "test/sandbox*.test.ts",
  "test/virsh-*.test.ts",
  "test/nft-*.test.ts",
  "test/api-shutdown.test.ts",
  "test/docs-browser.test.ts",
  "test/host-lease.test.ts",
  "test/run-processes.test.ts",
];

// Three projects: fast pure-logic unit tests next to the sources; the host suites ("system", sequential); and
// the Redis/API suites ("api", sequential, alongside). Both system projects share one global setup (one Redis,
// one run marker, one leftover check: test/support/global-setup.ts runs once per vitest process).
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts", "scripts/**/*.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "system",
          globalSetup: ["./test/support/global-setup.ts"],
          include: HOST_SUITES,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Sandbox hosts are heavy (libvirtd each); two cores: keep files sequential.
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: "api",
          globalSetup: ["./test/support/global-setup.ts"],
          include: ["test/**/*.test.ts"],
          exclude: HOST_SUITES,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
