/**
 * The real API as its own process (`node apps/api/src/index.ts`, LOG_LEVEL info) against a test's Redis, with
 * its stdout log kept for the test to read, and a wait for its "netforge api listening" lines.
 */
import { join } from "node:path";
import { TSX_LOADER } from "@netforge/devstack";
import { execa, type ResultPromise } from "execa";

const ROOT = join(import.meta.dirname, "..", "..");

export interface ApiChild {
  proc: ResultPromise;
  /** Everything the API wrote to stdout so far. */
  output(): string;
  /** The URLs of the "listening" lines once there are at least `count` (one per API process); rejects if it exits first. */
  listening(count?: number, timeoutMs?: number): Promise<string[]>;
  /** SIGKILL it if it still runs (a test's cleanup). */
  kill(): void;
}

export function spawnApi(o: {
  redisUrl: string;
  prefix: string;
  token: string;
  env?: Record<string, string>;
  /** Command prefix before node (e.g. setpriv with a unit's capabilities). */
  wrap?: string[];
}): ApiChild {
  const argv: string[] = [...(o.wrap ?? []), process.execPath, "--import", TSX_LOADER, join(ROOT, "apps/api/src/index.ts")];
  const [cmd, ...args] = argv as [string, ...string[]];
  const proc = execa(cmd, args, {
    cwd: ROOT,
    reject: false,
    env: {
      REDIS_URL: o.redisUrl,
      NETFORGE_PREFIX: o.prefix,
      PORT: "0",
      HOST: "127.0.0.1",
      NETFORGE_TOKENS: `${o.token}:admin`,
      NETFORGE_RATE_LIMIT: "0",
      LOG_LEVEL: "info",
      ...o.env,
    },
  });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return {
    proc,
    output: () => out,
    listening(count = 1, timeoutMs = 30_000) {
      return new Promise<string[]>((resolve, reject) => {
        const done = (err: Error | null, urls: string[] = []) => {
          clearTimeout(timer);
          clearInterval(check);
          if (err) reject(err);
          else resolve(urls);
        };
        const timer = setTimeout(() => done(new Error(`API did not start: ${out}`)), timeoutMs);
        const check = setInterval(() => {
          const found = [...out.matchAll(/"url":"(http:\/\/[^"]+)"[^\n]*netforge api listening/g)];
          if (found.length >= count)
            done(
              null,
              found.map((m) => m[1] as string),
            );
        }, 50);
        void proc.then((r) => done(new Error(`API exited ${r.exitCode}: ${out}${String(r.stderr)}`)));
      });
    },
    kill() {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}
