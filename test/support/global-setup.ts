/**
 * One private Redis for the whole test run (every suite uses its own key
 * prefix on it); its URL reaches tests as NETFORGE_TEST_REDIS_URL. At the end,
 * checks that the run left nothing behind: no namespace the run created and
 * no libvirtd, dnsmasq, qemu, virsh or redis-server process the run started
 * (see run-processes.ts: judged by the run's marker and namespaces, never by
 * "appeared meanwhile", so other programs on the machine are left alone).
 * Leftovers are killed, listed on stderr and in .netforge/leftovers.json,
 * which scripts/test.sh counts as a failure.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedisServer, WORKER_JS_ENV } from "@netforge/devstack";
import { build } from "esbuild";
import { buildOptions, TARGETS } from "../../scripts/build";
import { RUN_DIR_ENV, destroySandboxHost } from "@netforge/sandbox";
import { execa } from "execa";
import { RUN_MARKER_ENV, readRunNamespaces, runProcesses } from "./run-processes";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WORKER_TARGET = TARGETS.find((t) => t.entry === "apps/worker/src/index.ts") as (typeof TARGETS)[number];

async function existingNamespaces(): Promise<Set<string>> {
  const r = await execa("ip", ["netns", "list"], { reject: false });
  return new Set(r.stdout.split("\n").map((l) => l.split(" ")[0] ?? ""));
}

/** Set by the first setup of this vitest process: the projects that list this file share its run. */
const SHARED = Symbol.for("netforge.test.globalSetup");

export default async function setup() {
  const g = globalThis as { [SHARED]?: true };
  // A second project of the same run: the first setup's Redis, marker and leftover check serve it too (vitest
  // sets every project up before any test file runs and tears them all down after the last one).
  if (g[SHARED]) return async () => {};
  g[SHARED] = true;
  const runId = randomBytes(6).toString("hex");
  const runDir = join("/tmp", `netforge-run-${runId}`);
  mkdirSync(runDir, { recursive: true });
  // Inherited by every process this run starts (vitest workers, and through them Redis, libvirtd, workers).
  process.env[RUN_MARKER_ENV] = runId;
  process.env[RUN_DIR_ENV] = runDir;
  // The worker as production runs it (`node dist/index.js`, scripts/build.ts's bundle), built once for the run from
  // the sources as they are: every worker a test starts (hundreds a run) then skips the TypeScript loader.
  // Inside the checkout, so that its npm dependencies (left external, as in production) resolve from node_modules.
  const buildDir = join(ROOT, ".netforge", `test-build-${runId}`);
  const workerJs = join(buildDir, "worker.js");
  await build({ ...buildOptions(WORKER_TARGET), outfile: workerJs, sourcemap: false, absWorkingDir: ROOT });
  process.env[WORKER_JS_ENV] = workerJs;
  const server = await startRedisServer();
  process.env.NETFORGE_TEST_REDIS_URL = server.url;
  // One file per vitest process (scripts/test.sh runs two lanes at once, each with its own).
  const report = process.env.NETFORGE_LEFTOVERS_FILE ?? join(ROOT, ".netforge", "leftovers.json");
  mkdirSync(dirname(report), { recursive: true });
  rmSync(report, { force: true });

  return async () => {
    rmSync(buildDir, { recursive: true, force: true });
    await server.stop();
    // Give killed processes a moment to be reaped before judging.
    await new Promise((r) => setTimeout(r, 300));
    const ours = readRunNamespaces(runDir);
    const present = await existingNamespaces();
    const ns = [...ours.names].filter((n) => present.has(n));
    const procs = [...runProcesses(runId, ours)];
    rmSync(runDir, { recursive: true, force: true });
    if (ns.length === 0 && procs.length === 0) return;
    const leftovers = { namespaces: ns, processes: procs.map(([pid, comm]) => ({ pid, comm })) };
    writeFileSync(report, JSON.stringify(leftovers, null, 2));
    console.error(`test run left things behind: ${JSON.stringify(leftovers)}`);
    // Clean up anyway, so one bad run does not poison the next: only what this run created.
    for (const n of ns) {
      if (n.startsWith("nfh-")) await destroySandboxHost(n.slice(4), { graceful: false }).catch(() => undefined);
      else await execa("ip", ["netns", "del", n], { reject: false });
    }
    for (const [pid] of procs) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
}
