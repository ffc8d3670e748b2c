/**
 * A Sentinel-managed Redis on loopback for tests and benches: one primary,
 * one replica and three sentinels, each its own process on a port picked
 * free by the caller's run (never 6379/26379), in a private temp directory.
 * `url` is the redis-sentinel:// REDIS_URL clients use. Processes are
 * stopped by their own pid only.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { Redis } from "ioredis";
import { recordProcess } from "@netforge/sandbox";

export interface HaProcess {
  role: "primary" | "replica" | "sentinel";
  port: number;
  pid: number;
  /** SIGKILL this process (a crash) and wait for it to exit. */
  kill(): Promise<void>;
  readonly exited: boolean;
}

export interface RedisHa {
  url: string;
  masterName: string;
  primary: HaProcess;
  replica: HaProcess;
  sentinels: HaProcess[];
  dir: string;
  /** The data node sentinels name as primary right now (port). */
  currentPrimaryPort(): Promise<number>;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (bound and released at once). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** `redis-sentinel` (Debian package redis-sentinel) when installed, else the same binary in sentinel mode. */
async function sentinelCommand(conf: string): Promise<[string, string[]]> {
  const r = await execa("sh", ["-c", "command -v redis-sentinel"], { reject: false });
  return r.exitCode === 0 && r.stdout.trim() ? [r.stdout.trim(), [conf]] : ["redis-server", [conf, "--sentinel"]];
}

async function waitPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => undefined);
    try {
      await c.connect();
      await c.ping();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis on port ${port} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      c.disconnect();
    }
  }
}

function track(role: HaProcess["role"], port: number, proc: ResultPromise): HaProcess {
  if (proc.pid === undefined) throw new Error(`${role} did not start`);
  const pid = proc.pid;
  recordProcess(pid);
  let exited = false;
  const done = proc.then(() => {
    exited = true;
  });
  return {
    role,
    port,
    pid,
    get exited() {
      return exited;
    },
    async kill() {
      if (exited) return;
      process.kill(pid, "SIGKILL");
      await done;
    },
  };
}

/**
 * The arguments of one data node of the set (primary or replica): loopback only, nothing kept on disk, no
 * eviction (a job record must never be evicted). A node started again on its port (the chaos run) uses them too.
 */
export function dataNodeArgs(port: number, dir: string): string[] {
  return [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--dbfilename",
    `dump-${port}.rdb`,
    "--maxmemory-policy",
    "noeviction",
    // Its log (role changes, syncs, lost links) next to its dump: what explains a write lost in a failover.
    "--logfile",
    join(dir, `redis-${port}.log`),
  ];
}

export async function startRedisHa(opts: { masterName?: string; downAfterMs?: number; failoverTimeoutMs?: number } = {}): Promise<RedisHa> {
  const masterName = opts.masterName ?? "netforge";
  const dir = await mkdtemp(join(tmpdir(), "netforge-redis-ha-"));
  const started: HaProcess[] = [];
  const spawn = (role: HaProcess["role"], port: number, cmd: string, args: string[]) => {
    const p = track(role, port, execa(cmd, args, { stdio: "ignore", reject: false, cleanup: true }));
    started.push(p);
    return p;
  };
  try {
    const [pPort, rPort, ...sPorts] = await Promise.all([1, 2, 3, 4, 5].map(() => freeLoopbackPort()));
    const node = (port: number, extra: string[]) => [...dataNodeArgs(port, dir), ...extra];
    const primary = spawn("primary", pPort as number, "redis-server", node(pPort as number, []));
    await waitPing(pPort as number);
    const replica = spawn("replica", rPort as number, "redis-server", node(rPort as number, ["--replicaof", "127.0.0.1", String(pPort)]));
    await waitPing(rPort as number);
    // The replica's first full sync: until it is done, WAIT confirms nothing and a failover would lose data.
    const syncDeadline = Date.now() + 15_000;
    for (;;) {
      const c = new Redis({ host: "127.0.0.1", port: rPort as number, maxRetriesPerRequest: 0 });
      const info = await c.info("replication").catch(() => "");
      c.disconnect();
      if (/master_link_status:up/.test(info)) break;
      if (Date.now() > syncDeadline) throw new Error("the replica did not sync within 15 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    const sentinels: HaProcess[] = [];
    for (const sp of sPorts) {
      const conf = join(dir, `sentinel-${sp}.conf`);
      await writeFile(
        conf,
        [
          `port ${sp}`,
          "bind 127.0.0.1",
          `dir ${dir}`,
          `logfile ${join(dir, `sentinel-${sp}.log`)}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${pPort} 2`,
          `sentinel down-after-milliseconds ${masterName} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${masterName} ${opts.failoverTimeoutMs ?? 5000}`,
          `sentinel parallel-syncs ${masterName} 1`,
          "",
        ].join("\n"),
      );
      const [cmd, args] = await sentinelCommand(conf);
      sentinels.push(spawn("sentinel", sp, cmd, args));
    }
    for (const s of sentinels) await waitPing(s.port);
    // Sentinels see the replica through the primary's INFO within a second or so; until then there is no failover.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const c = new Redis({ host: "127.0.0.1", port: sentinels[0]?.port ?? 0, maxRetriesPerRequest: 0 });
      const replicas = (await c.call("SENTINEL", "REPLICAS", masterName).catch(() => [])) as unknown[];
      c.disconnect();
      if (replicas.length > 0) break;
      if (Date.now() > deadline) throw new Error("sentinels did not discover the replica within 15 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = `redis-sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${masterName}?db=0`;
    return {
      url,
      masterName,
      primary,
      replica,
      sentinels,
      dir,
      async currentPrimaryPort() {
        const c = new Redis({ host: "127.0.0.1", port: sentinels.find((s) => !s.exited)?.port ?? 0, maxRetriesPerRequest: 0 });
        try {
          const [, port] = (await c.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)) as [string, string];
          return Number(port);
        } finally {
          c.disconnect();
        }
      },
      async stop() {
        for (const p of started.reverse()) await p.kill();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const p of started.reverse()) await p.kill().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
