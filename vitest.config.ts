import { defineConfig } from "vitest/config";

/**
 * Suites in test/ that drive host parts (sandbox hosts with libvirtd, namespaces, nft, tmux, a browser, worker
 * processes): each in its own worker ("system"). The other suites in test/ (a real Redis, the API in process,
 * pure process checks) share one worker's modules ("api"): on two cores each file's fresh import of the API and
 * the worker cost ~1 s of CI's 30 minutes (measured: 131 s instead of 179 s for those 54 files).
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
  "test/chaos.test.ts",
];

/**
 * The longest host suites (about half of the host suites' time): their own project, so that scripts/test.sh can
 * run them in a second vitest process beside the rest (two lanes; each lane still runs one file at a time). On
 * two cores a lane mostly waits (for DHCP, reconcile rounds, traffic runs), so the two overlap well: one lane
 * was ~2,050 s of CI's 30 minutes; as two lanes, 1,405 s and 1,161 s (a fresh clone, 2026-12-07). The overlay
 * suite has since grown (configure-network-hosts, gateway changes, unicast entries, the members' firewall), so
 * port-security and mtu went back to the other lane (quiet fresh clone: 698 s and 887 s before that growth). Each lane has its own Redis, run marker and leftover check; sandbox ids,
 * fabrics and namespaces are per suite, so the lanes share nothing on the machine.
 */
export const HEAVY_SUITES = [
  "test/chaos.test.ts",
  "test/e2e-qos.test.ts",
  "test/e2e-overlay.test.ts",
  "test/e2e-overlay-crash.test.ts",
  "test/e2e-overlay-boot.test.ts",
  "test/e2e-reliability.test.ts",
  "test/e2e-host-input.test.ts",
  "test/e2e-apply.test.ts",
  "test/e2e-ipv6.test.ts",
  "test/e2e-firewall.test.ts",
  "test/e2e-firewall-boot.test.ts",
  "test/e2e-cli.test.ts",
];

const SYSTEM = {
  // One Redis, one run marker, one leftover check for the run (test/support/global-setup.ts runs once).
  globalSetup: ["./test/support/global-setup.ts"],
  testTimeout: 120_000,
  hookTimeout: 180_000,
  // Sandbox hosts are heavy (libvirtd each); two cores: keep files sequential.
  fileParallelism: false,
};

// Three projects: fast pure-logic unit tests next to the sources (sharing one worker's modules), and the
// cross-app suites in test/ that use a real Redis and real sandbox hosts ("api" and "system", one file at a time).
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts", "scripts/**/*.test.ts"],
          // Pure logic: one worker keeps its modules across files (measured: 17 s instead of 71 s for the unit
          // project on two cores, most of it each file's import of core).
          isolate: false,
        },
      },
      {
        extends: true,
        test: { name: "api", include: ["test/**/*.test.ts"], exclude: HOST_SUITES, isolate: false, ...SYSTEM },
      },
      {
        extends: true,
        test: { name: "system", include: HOST_SUITES, exclude: HEAVY_SUITES, ...SYSTEM },
      },
      {
        extends: true,
        test: { name: "heavy", include: HEAVY_SUITES, ...SYSTEM },
      },
    ],
  },
});
