/**
 * The whole system on one machine, in the foreground: a local Redis (unless
 * REDIS_URL is set), a sandbox hypervisor in network namespaces (unless
 * NETFORGE_HOST=local, which runs the worker against this machine's own
 * libvirt), one worker on it, and the API. Prints the API address and a token;
 * Ctrl-C stops everything and removes the sandbox.
 *
 * Stopping never depends on the terminal: output goes through writes whose
 * failure (EPIPE when `up.sh | tee` lost its reader) is ignored, the API's and
 * the worker's output is relayed the same way, and SIGINT, SIGTERM, SIGHUP,
 * SIGPIPE, an uncaught error and the API's exit all lead to the same cleanup.
 * What it starts is recorded in <state dir>/up-state.json (scripts/dev-state.ts):
 * a start after a supervisor that died without cleaning up (SIGKILL) first stops
 * the processes recorded there that are still the same processes (pid and start
 * time) and removes its sandbox host; while a recorded supervisor still runs, a
 * second start refuses.
 *
 * Environment: NETFORGE_STATE_DIR (default .netforge), NETFORGE_SANDBOX_ID
 * (default sandbox1), PORT, HOST, REDIS_URL, NETFORGE_TOKENS, NETFORGE_HOST.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnWorker, startRedisServer, TSX_LOADER, type RedisServer, type WorkerProcess } from "@netforge/devstack";
import {
  createSandboxHost,
  destroySandboxHost,
  hostNetnsName,
  outsideNetnsName,
  processStartTime,
  type SandboxHost,
} from "@netforge/sandbox";
import { execa } from "execa";
import { readUpState, removeUpState, signalRecorded, stopRecorded, type UpState, writeUpState } from "./dev-state";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const STATE = process.env.NETFORGE_STATE_DIR ?? join(ROOT, ".netforge");
const SANDBOX_ID = process.env.NETFORGE_SANDBOX_ID ?? "sandbox1";
mkdirSync(STATE, { recursive: true });

// Output must never stop the cleanup: a write to a closed pipe fails (EPIPE, as an 'error' event on Linux
// pipes), and is then dropped; SIGPIPE is ignored (node does by default; the handler makes it explicit).
let outputGone = false;
for (const s of [process.stdout, process.stderr]) s.on("error", () => (outputGone = true));
process.on("SIGPIPE", () => (outputGone = true));
function write(text: string | Buffer): void {
  if (outputGone) return;
  try {
    process.stdout.write(text);
  } catch {
    outputGone = true;
  }
}
const log = (msg: string) => write(`[netforge] ${msg}\n`);

const state: UpState = {
  supervisor: { pid: process.pid, start: processStartTime(process.pid) ?? 0 },
  processes: [],
  sandbox: null,
};
let ownState = false;
const record = (name: string, pid: number | undefined) => {
  if (pid === undefined) return;
  const start = processStartTime(pid);
  if (start === null) return;
  state.processes.push({ name, pid, start });
  writeUpState(STATE, state);
};

/** What a supervisor that is gone left behind: its processes (if still the same ones) and its sandbox host. */
async function reclaimLeftovers(): Promise<void> {
  const old = readUpState(STATE);
  if (old) {
    if (old.supervisor.pid !== process.pid && processStartTime(old.supervisor.pid) === old.supervisor.start) {
      throw new Error(
        `another netforge start (pid ${old.supervisor.pid}) is running with state dir ${STATE}; stop it first (Ctrl-C there, or kill ${old.supervisor.pid})`,
      );
    }
    const stopped = await stopRecorded([...old.processes].reverse());
    if (stopped.length > 0) log(`stopped what an earlier start left running: ${stopped.join(", ")}`);
    if (old.sandbox) {
      await destroySandboxHost(old.sandbox.id);
      log(`removed the sandbox host ${old.sandbox.id} an earlier start left (namespaces ${old.sandbox.namespaces.join(", ")})`);
    }
  }
  ownState = true;
  writeUpState(STATE, state);
}

async function main() {
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log("stopping...");
    let clean = true;
    for (const c of cleanups.reverse()) {
      try {
        await c.run();
      } catch (e) {
        clean = false;
        log(`cleanup of ${c.name}: ${e instanceof Error ? e.message : e}`);
      }
    }
    // Whatever a failed step left (recorded processes still alive) goes now; the state stays for the next start if not clean.
    const left = await stopRecorded(state.processes).catch(() => []);
    if (left.length > 0) log(`stopped: ${left.join(", ")}`);
    if (ownState && clean) removeUpState(STATE);
    log("stopped.");
    process.exit(code);
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => void stop(sig === "SIGHUP" ? 129 : 0));
  process.on("uncaughtException", (err) => {
    log(`error: ${err.stack ?? err.message}`);
    void stop(1);
  });
  process.on("unhandledRejection", (err) => {
    log(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void stop(1);
  });
  // Last resort when the process ends some other way (process.exit from elsewhere): no async work is possible
  // here, so the recorded processes are signalled; the namespaces are left to the next start (the state stays).
  process.on("exit", () => {
    if (!stopping) for (const p of state.processes) signalRecorded(p, "SIGTERM");
  });

  try {
    await reclaimLeftovers();
    const prefix = process.env.NETFORGE_PREFIX ?? "netforge";
    // Redis: the configured one, or a private one keeping its data in <state>/redis (AOF on).
    let redisUrl = process.env.REDIS_URL;
    if (!redisUrl) {
      const dir = join(STATE, "redis");
      mkdirSync(dir, { recursive: true });
      const server: RedisServer = await startRedisServer({ dir, appendonly: true, detached: true });
      record("redis-server", server.pid);
      cleanups.push({ name: "redis-server", run: () => server.stop() });
      redisUrl = server.url;
      log(`Redis started (${redisUrl}, data in ${dir})`);
    }

    // Tokens: configured, or one admin token kept across runs in <state>/tokens.
    let tokens = process.env.NETFORGE_TOKENS;
    let shownToken: string | null = null;
    if (!tokens) {
      const file = join(STATE, "tokens");
      if (!existsSync(file)) writeFileSync(file, `${randomBytes(18).toString("base64url")}:admin\n`, { mode: 0o600 });
      tokens = file;
      shownToken = readFileSync(file, "utf8").trim().split(":")[0] ?? null;
    }

    // The hypervisor: a sandbox host in namespaces, or this machine's libvirt when asked for explicitly.
    const hostMode = process.env.NETFORGE_HOST ?? "sandbox";
    const hostId = process.env.HOST_ID ?? (hostMode === "local" ? undefined : SANDBOX_ID);
    let enter: string[] = [];
    if (hostMode !== "local") {
      const namespaces = [hostNetnsName(SANDBOX_ID), outsideNetnsName(SANDBOX_ID)];
      log(`creating sandbox hypervisor '${SANDBOX_ID}' (network namespaces ${namespaces.join(" + ")}, own libvirtd)...`);
      await destroySandboxHost(SANDBOX_ID).catch(() => undefined); // leftovers of an interrupted run
      // Recorded before it exists: a supervisor killed half-way through the creation leaves it to the next start.
      state.sandbox = { id: SANDBOX_ID, namespaces };
      writeUpState(STATE, state);
      cleanups.push({ name: `sandbox host ${SANDBOX_ID}`, run: () => destroySandboxHost(SANDBOX_ID) });
      const sandbox: SandboxHost = await createSandboxHost({ id: SANDBOX_ID });
      enter = sandbox.nsenterPrefix;
      log(`sandbox host ready (libvirt ${sandbox.libvirtUri})`);
    }

    const worker: WorkerProcess = spawnWorker({
      hostId: hostId ?? "",
      redisUrl,
      prefix,
      enter,
      env: hostId ? {} : { HOST_ID: "" },
      detached: true,
      onOutput: write,
    });
    record("worker", worker.pid);
    cleanups.push({ name: "worker", run: () => worker.stop() });

    const port = process.env.PORT ?? "8080";
    const host = process.env.HOST ?? "127.0.0.1";
    const api = execa(process.execPath, ["--import", TSX_LOADER, join(ROOT, "apps/api/src/index.ts")], {
      cwd: ROOT,
      stdin: "ignore",
      // Relayed (never straight to the terminal): a closed pipe must not take the API down with EPIPE.
      stdout: "pipe",
      stderr: "pipe",
      reject: false,
      // Children get their own process groups: Ctrl-C reaches only this script, which stops them in order
      // (API, worker, sandbox, then Redis) instead of Redis vanishing under a worker that is still closing.
      detached: true,
      env: { REDIS_URL: redisUrl, NETFORGE_PREFIX: prefix, PORT: port, HOST: host, NETFORGE_TOKENS: tokens },
    });
    api.stdout?.on("data", write);
    api.stderr?.on("data", write);
    record("api", api.pid);
    cleanups.push({
      name: "api",
      run: async () => {
        api.kill("SIGTERM");
        const t = setTimeout(() => api.kill("SIGKILL"), 10_000);
        await api;
        clearTimeout(t);
      },
    });
    void api.then((r) => {
      if (!stopping) {
        log(`API exited (code ${r.exitCode})`);
        void stop(1);
      }
    });

    const base = `http://${host}:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await fetch(`${base}/readyz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ready) break;
      if (stopping) return;
      if (Date.now() > deadline) throw new Error(`API not ready at ${base}/readyz within 60 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const tok = shownToken ?? "<a token from NETFORGE_TOKENS>";
    log(`netforge is up: API ${base}  (docs ${base}/docs)`);
    log(`token: ${tok}`);
    log(`try:   curl -s -H 'Authorization: Bearer ${tok}' -H 'Prefer: wait=30' -H 'Content-Type: application/json' \\`);
    log(`         -d '{"name":"web","type":"nat","cidr":"192.168.100.0/24"}' ${base}/api/create-network`);
    log("Ctrl-C stops everything.");
  } catch (err) {
    log(`failed: ${err instanceof Error ? err.message : err}`);
    // A start refused because another one runs must leave that one's state alone.
    await stop(1);
  }
}

void main();
