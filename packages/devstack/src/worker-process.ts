/**
 * Runs a worker as its own process, the way an operator runs one per
 * hypervisor. For a sandbox host the process is started inside the host's
 * namespaces (`nsenter -t <libvirtd pid> -m -n`), so it sees that host
 * exactly as a worker on a real hypervisor sees its own: qemu:///system,
 * its interfaces, its firewall. It reaches Redis through a unix socket.
 */
import { createWriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { execa, type ResultPromise } from "execa";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** tsx's ESM loader as a file URL. */
export const TSX_LOADER = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist", "loader.mjs"),
).href;

/** Names a compiled worker (`npm run build`'s apps/worker/dist/index.js or the test run's build) to run instead of the sources. */
export const WORKER_JS_ENV = "NETFORGE_WORKER_JS";

export interface WorkerProcessOptions {
  hostId: string;
  redisUrl: string;
  prefix: string;
  /** Command prefix entering the host (a sandbox host's nsenterPrefix); [] runs on this machine. */
  enter?: string[];
  /** Command prefix run inside the host, before node (e.g. setpriv with a unit's capabilities); [] none. */
  wrap?: string[];
  logFile?: string;
  /** Receives the worker's stdout and stderr (instead of the terminal) when there is no logFile. */
  onOutput?: (chunk: Buffer) => void;
  env?: Record<string, string>;
  /** Own process group: a terminal's Ctrl-C does not reach it, so the caller stops it in order (before Redis). */
  detached?: boolean;
}

export interface WorkerProcess {
  pid: number;
  hostId: string;
  /** SIGTERM (graceful), SIGKILL after a grace period. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now: a crash, for reliability tests. */
  kill(): Promise<void>;
  readonly exited: boolean;
}

export function spawnWorker(opts: WorkerProcessOptions): WorkerProcess {
  const enter = opts.enter ?? [];
  // The compiled worker when one is named (the test run builds it once, as production runs it: `node dist/index.js`,
  // which starts in about a third of the time the TypeScript loader takes, ~1.5 s less per start); else the sources
  // through tsx. Absolute loader URL: nsenter starts the process in "/", where a bare "tsx" would not resolve.
  const compiled = process.env[WORKER_JS_ENV];
  const entry = compiled ? [compiled] : ["--import", TSX_LOADER, join(ROOT, "apps/worker/src/index.ts")];
  const argv = [...enter, ...(opts.wrap ?? []), process.execPath, ...entry];
  const [cmd, ...args] = argv as [string, ...string[]];
  const proc: ResultPromise = execa(cmd, args, {
    cwd: ROOT,
    reject: false,
    cleanup: true,
    detached: opts.detached ?? false,
    stdin: "ignore",
    stdout: opts.logFile || opts.onOutput ? "pipe" : "inherit",
    stderr: opts.logFile || opts.onOutput ? "pipe" : "inherit",
    env: {
      REDIS_URL: opts.redisUrl,
      NETFORGE_PREFIX: opts.prefix,
      HOST_ID: opts.hostId,
      LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
      ...opts.env,
    },
  });
  if (opts.logFile) {
    const out = createWriteStream(opts.logFile, { flags: "a" });
    proc.stdout?.pipe(out);
    proc.stderr?.pipe(out);
  } else if (opts.onOutput) {
    proc.stdout?.on("data", opts.onOutput);
    proc.stderr?.on("data", opts.onOutput);
  }
  let exited = false;
  const done = proc.then(() => {
    exited = true;
  });
  if (proc.pid === undefined) throw new Error("worker process did not start");
  const pid = proc.pid;
  return {
    pid,
    hostId: opts.hostId,
    get exited() {
      return exited;
    },
    async stop(graceMs = 5000) {
      if (exited) return;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await done;
      clearTimeout(t);
    },
    async kill() {
      if (exited) return;
      proc.kill("SIGKILL");
      await done;
    },
  };
}
