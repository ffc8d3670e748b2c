/**
 * The real API as its own process for the benches (never in the bench's own
 * event loop), and what the benches read from it: its URL, and the in-server
 * time of every request (the request log's "ms", from the first middleware to
 * the response) per path, which is the server's share of a latency without the
 * load generator's HTTP client. Also Redis's per-command counters, read before
 * and after a window.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Redis } from "@netforge/core/store";
import { TSX_LOADER } from "@netforge/devstack";
import { execa, type ResultPromise } from "execa";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface ApiProcess {
  base: string;
  /** The pid execa started (the API itself, or the `sh` that exec'd it: the same process). */
  pid: number;
  /** In-server ms of each request so far, per path (`/api/jobs/<id>` for every job). */
  serverMs(path: string): number[];
  stop(): Promise<void>;
}

export interface ApiProcessOptions {
  redisUrl: string;
  prefix: string;
  token: string;
  /** Node flags before the loader (profiling, --expose-gc). */
  nodeFlags?: string[];
  /** Modules imported before the API (e.g. bench/api-gc-probe.ts). */
  imports?: string[];
  /** More environment for the API. */
  env?: Record<string, string>;
  /** Wraps the final argv into the command actually run (e.g. a raised fd limit). */
  wrap?: (argv: string[]) => [string, string[]];
}

/** Start the API (LOG_LEVEL info as shipped, unless BENCH_API_LOG_LEVEL) and wait for its URL in its log. */
export async function startApiProcess(o: ApiProcessOptions): Promise<ApiProcess> {
  const argv = [
    process.execPath,
    ...(o.nodeFlags ?? []),
    "--import",
    TSX_LOADER,
    ...(o.imports ?? []).flatMap((m) => ["--import", m]),
    join(ROOT, "apps/api/src/index.ts"),
  ];
  const [cmd, args] = o.wrap ? o.wrap(argv) : [argv[0] as string, argv.slice(1)];
  const api: ResultPromise = execa(cmd, args, {
    reject: false,
    cleanup: true,
    env: {
      REDIS_URL: o.redisUrl,
      NETFORGE_PREFIX: o.prefix,
      PORT: "0",
      HOST: "127.0.0.1",
      NETFORGE_TOKENS: `${o.token}:admin`,
      NETFORGE_RATE_LIMIT: "0",
      LOG_LEVEL: process.env.BENCH_API_LOG_LEVEL ?? "info",
      ...o.env,
    },
  });
  // Read (and drop) the API's log, or a full pipe would stall it; the first lines carry its URL.
  let head = "";
  let partial = "";
  const byPath = new Map<string, number[]>();
  api.stdout?.on("data", (d: Buffer) => {
    const text = d.toString();
    if (head.length < 20_000) head += text;
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) {
      if (!l.includes('"msg":"request"')) continue;
      try {
        const r = JSON.parse(l) as { path: string; ms: number };
        const path = r.path.startsWith("/api/jobs/") ? "/api/jobs/<id>" : r.path;
        const xs = byPath.get(path) ?? [];
        xs.push(r.ms);
        byPath.set(path, xs);
      } catch {
        // not a log line
      }
    }
  });
  const base = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`API did not start: ${head.slice(0, 500)}`)), 30_000);
    const check = setInterval(() => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(head);
      if (m?.[1]) {
        clearTimeout(t);
        clearInterval(check);
        resolve(m[1]);
      }
    }, 50);
  });
  return {
    base,
    pid: api.pid as number,
    serverMs: (path) => byPath.get(path) ?? [],
    async stop() {
      api.kill("SIGTERM");
      await api;
    },
  };
}

/** Redis's calls and time per command so far (INFO commandstats); subtract two readings for a window. */
export async function redisCommandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const m of (await redis.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  return out;
}
