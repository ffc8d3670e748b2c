/**
 * The chaos run's netforge: Redis as primary + replica + 3 sentinels (loopback TCP), 3 sandbox hosts each with a
 * real worker process inside, 2 API processes on fixed loopback ports (a killed one comes back on its port).
 *
 * The workers live in their hosts' network namespaces, where 127.0.0.1 is the host's own loopback: each Redis
 * port is carried into every host by socat (host netns TCP 127.0.0.1:<port> -> a unix socket in the run's dir ->
 * machine loopback 127.0.0.1:<port>), so the addresses sentinels hand out are right inside the hosts too.
 * Every process here is started by this run and stopped by its own pid.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectRedis, getHost, hostStatus, makeKeys, type Keys, type Redis } from "@netforge/core/store";
import { dataNodeArgs, freeLoopbackPort, type RedisHa, spawnWorker, startRedisHa, type WorkerProcess } from "@netforge/devstack";
import { addLanNic, createSandboxHost, destroySandboxHost, hostNetnsName, recordProcess, type SandboxHost } from "@netforge/sandbox";
import { execa, type ResultPromise } from "execa";
import { type ApiProcess, startApiProcess } from "../../bench/api-process";

export const TOKEN = "chaos-admin-token-0123456789";

export interface Proc {
  pid: number;
  done: Promise<unknown>;
  exited: boolean;
}

function track(p: ResultPromise, what: string): Proc {
  if (p.pid === undefined) throw new Error(`${what} did not start`);
  recordProcess(p.pid);
  const t: Proc = { pid: p.pid, done: p, exited: false };
  t.done = p.then(() => {
    t.exited = true;
  });
  return t;
}

async function killProc(p: Proc, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (p.exited) return;
  try {
    process.kill(p.pid, signal);
  } catch {
    return;
  }
  await p.done;
}

export interface DataNode {
  pid: number;
  kill(): Promise<void>;
}

export interface ChaosEnv {
  dir: string;
  prefix: string;
  keys: Keys;
  /** The checker's own connection (follows the sentinels). */
  redis: Redis;
  ha: RedisHa;
  hostIds: string[];
  hosts: Map<string, SandboxHost>;
  workers: Map<string, WorkerProcess>;
  apis: { port: number; base: string; proc: ApiProcess | null }[];
  /** Data nodes by port (the primary and the replica, restarted ones included): the one to kill on each port. */
  dataNodes: Map<number, DataNode>;
  /** The workers' per-network lock TTL (short, so a Redis pause can outlast it). */
  lockTtlMs: number;
  startWorker(hostId: string): Promise<void>;
  /**
   * The host's "physical" NICs for bridge networks, `lan0`.. (one per client, so clients never race for one),
   * each cabled to a LAN of its own in the host's outside namespace; added again after a reboot, as a real
   * host's NICs are still there after one.
   */
  addNics(hostId: string): Promise<void>;
  /** The Redis ports carried into a host (again after its reboot ended every process in it). */
  startForwarders(hostId: string): Promise<void>;
  /** Every Redis port (data nodes and sentinels): what a partition cuts. */
  redisPorts: number[];
  startApi(i: number): Promise<void>;
  /** A killed Redis data node back on its port (sentinels make it a replica of the current primary). */
  restartDataNode(port: number): Promise<void>;
  log(s: string): void;
  stop(opts?: { keepLogs?: boolean }): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The workers' lock TTL in the run: 5 s instead of 30, so the redis-pause fault outlasts it in seconds. */
const LOCK_TTL_MS = 5000;

export async function startChaosEnv(o: { seed: number; hosts?: number; nics?: number; log?: (s: string) => void }): Promise<ChaosEnv> {
  const log = o.log ?? ((s: string) => process.stderr.write(`chaos: ${s}\n`));
  const dir = mkdtempSync(join(tmpdir(), "netforge-chaos-"));
  mkdirSync(join(dir, "logs"), { recursive: true });
  const prefix = `chaos-${o.seed}-${process.pid}`;
  const keys = makeKeys(prefix);
  const hostIds = Array.from({ length: o.hosts ?? 3 }, (_, i) => `chaos${i + 1}`);
  const forwarders: Proc[] = [];
  const hosts = new Map<string, SandboxHost>();
  const workers = new Map<string, WorkerProcess>();
  const dataNodes = new Map<number, DataNode>();
  const restarted: Proc[] = [];
  const apis: ChaosEnv["apis"] = [];

  log("starting Redis (primary, replica, 3 sentinels)");
  const ha = await startRedisHa({ downAfterMs: 1000, failoverTimeoutMs: 5000 });
  const redis = connectRedis(ha.url);
  redis.on("error", () => undefined); // failovers and FLUSHALLs are expected; its commands retry
  const ports = [ha.primary.port, ha.replica.port, ...ha.sentinels.map((s) => s.port)];
  const sock = (port: number) => join(dir, `redis-${port}.sock`);
  for (const port of ports) {
    forwarders.push(
      track(
        execa("socat", [`UNIX-LISTEN:${sock(port)},fork,unlink-early`, `TCP:127.0.0.1:${port}`], { stdio: "ignore", reject: false }),
        "socat",
      ),
    );
  }

  const env: ChaosEnv = {
    dir,
    prefix,
    keys,
    redis,
    ha,
    hostIds,
    hosts,
    workers,
    apis,
    dataNodes,
    lockTtlMs: LOCK_TTL_MS,
    redisPorts: ports,
    log,
    async startForwarders(hostId) {
      for (const port of ports) {
        forwarders.push(
          track(
            execa(
              "ip",
              [
                "netns",
                "exec",
                hostNetnsName(hostId),
                "socat",
                `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`,
                `UNIX-CONNECT:${sock(port)}`,
              ],
              {
                stdio: "ignore",
                reject: false,
              },
            ),
            "socat",
          ),
        );
      }
      await sleep(300);
    },
    async addNics(hostId) {
      const h = hosts.get(hostId);
      if (!h) throw new Error(`no host ${hostId}`);
      for (let i = 0; i < (o.nics ?? 3); i++)
        await addLanNic(h, { hostIfname: `lan${i}`, outsideIfname: `lan${i}p`, outsideCidr: `10.200.${i}.1/24` });
    },
    async startWorker(hostId) {
      const h = hosts.get(hostId);
      if (!h) throw new Error(`no host ${hostId}`);
      const prev = (await getHost(redis, keys, hostId).catch(() => null))?.startedAt ?? null;
      const w = spawnWorker({
        hostId,
        redisUrl: ha.url,
        prefix,
        enter: h.nsenterPrefix,
        logFile: join(dir, "logs", `worker-${hostId}.log`),
        env: {
          NETFORGE_HEARTBEAT_MS: "1000",
          NETFORGE_RECONCILE_MS: "5000",
          NETFORGE_FIREWALL_CHECK_MS: "3000",
          NETFORGE_STALLED_MS: "5000",
          NETFORGE_LOCK_TTL_MS: String(LOCK_TTL_MS),
          LOG_LEVEL: "info",
        },
      });
      recordProcess(w.pid);
      workers.set(hostId, w);
      // Online under a new start (a store that was just emptied may hold it back until it re-published).
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        if (w.exited) throw new Error(`worker ${hostId} exited; see ${join(dir, "logs", `worker-${hostId}.log`)}`);
        const rec = await getHost(redis, keys, hostId).catch(() => null);
        if (rec && rec.startedAt !== prev && hostStatus(rec) === "online") return;
        await sleep(200);
      }
      log(`worker ${hostId} not online within 30 s of its start (left running)`);
    },
    async startApi(i) {
      const a = apis[i];
      if (!a) throw new Error(`no API ${i}`);
      a.proc = await startApiProcess({
        redisUrl: ha.url,
        prefix,
        token: TOKEN,
        env: { PORT: String(a.port) },
      });
      recordProcess(a.proc.pid);
    },
    async restartDataNode(port) {
      const p = execa("redis-server", dataNodeArgs(port, ha.dir), { stdio: "ignore", reject: false });
      const t = track(p, "redis-server");
      restarted.push(t);
      dataNodes.set(port, { pid: t.pid, kill: () => killProc(t) });
    },
    async stop(opts = {}) {
      for (const w of workers.values()) await w.stop(3000).catch(() => undefined);
      for (const a of apis) await a.proc?.stop().catch(() => undefined);
      const errs: unknown[] = [];
      for (const h of hosts.values()) await destroySandboxHost(h, { graceful: false }).catch((e: unknown) => errs.push(e));
      for (const f of forwarders) await killProc(f);
      for (const n of restarted) await killProc(n);
      redis.disconnect();
      // Kept with the run's logs: the Redis nodes' and sentinels' own logs (failovers, syncs, lost links).
      if (opts.keepLogs) {
        for (const f of readdirSync(ha.dir).filter((n) => n.endsWith(".log"))) {
          try {
            copyFileSync(join(ha.dir, f), join(dir, "logs", f));
          } catch {
            // a log that went with its node: nothing to keep
          }
        }
      }
      await ha.stop();
      // The logs of a run that found something are kept: its workers' and clients' logs explain the violation.
      if (!opts.keepLogs) rmSync(dir, { recursive: true, force: true });
      if (errs.length > 0) throw new AggregateError(errs, "sandbox cleanup failed");
    },
  };
  dataNodes.set(ha.primary.port, ha.primary);
  dataNodes.set(ha.replica.port, ha.replica);

  try {
    for (const id of hostIds) {
      await destroySandboxHost(id).catch(() => undefined); // a previous run's leftover of the same id
      log(`creating sandbox host ${id}`);
      const h = await createSandboxHost({ id });
      hosts.set(id, h);
      await env.addNics(id);
      await env.startForwarders(id);
    }
    for (const id of hostIds) {
      log(`starting worker ${id}`);
      await env.startWorker(id);
    }
    for (let i = 0; i < 2; i++) {
      apis.push({ port: await freeLoopbackPort(), base: "", proc: null });
      await env.startApi(i);
      (apis[i] as { base: string }).base = `http://127.0.0.1:${apis[i]?.port}`;
    }
  } catch (err) {
    await env.stop().catch((e: unknown) => log(`cleanup after a failed start: ${String(e)}`));
    throw err;
  }
  return env;
}

export { killProc };
