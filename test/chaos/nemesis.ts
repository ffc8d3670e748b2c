/**
 * The nemesis: a seeded schedule of faults (the same seed gives the same kinds, targets and gaps) and what each
 * fault does. Faults run one at a time; each leaves what it broke to netforge (a killed worker is started again,
 * as systemd would; a killed Redis primary comes back as a replica), nothing else is repaired by hand.
 */
import { readFileSync } from "node:fs";
import { netforgeFirewallBoot, netnsPids, pidComm, rebootSandboxHost, restartLibvirtd } from "@netforge/sandbox";
import { Redis as IORedis } from "ioredis";
import type { ChaosEnv } from "./env";
import { int, type Rng, shuffle } from "./rng";

export const FAULT_KINDS = [
  "worker-kill9",
  "worker-sigterm",
  "api-kill9",
  "libvirtd-restart",
  "redis-primary-kill",
  "redis-flushall",
  "redis-pause",
  "nft-flush",
  "nft-helper-kill",
  "dnsmasq-kill",
  "net-destroy",
  "worker-partition",
  "host-reboot",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  /** ms after the start of the load. */
  at: number;
  kind: FaultKind;
  /** A number the fault turns into its target (host, API, network): same seed, same choice among what exists. */
  target: number;
  /** How long a killed process stays down (ms). */
  downMs: number;
}

export interface DoneFault extends PlannedFault {
  startedAt: number;
  tookMs: number;
  detail: string;
  ok: boolean;
}

/** Every kind once per round, in a seeded order, with seeded gaps: a short run still sees every kind. */
export function schedule(r: Rng, durationMs: number, gapMs: [number, number]): PlannedFault[] {
  const out: PlannedFault[] = [];
  let at = int(r, 2000, 5000);
  while (at < durationMs) {
    for (const kind of shuffle(r, FAULT_KINDS)) {
      if (at >= durationMs) break;
      out.push({ at, kind, target: int(r, 0, 1_000_000), downMs: int(r, 300, 3000) });
      at += int(r, gapMs[0], gapMs[1]);
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function waitUntil(fn: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return true;
    await sleep(200);
  }
  return false;
}

async function redisAt(port: number): Promise<IORedis> {
  const c = new IORedis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  c.on("error", () => undefined);
  await c.connect();
  return c;
}

/** Inject one fault; returns what was hit. Throws only on a harness failure (a fault that could not be made). */
export async function inject(env: ChaosEnv, f: PlannedFault): Promise<string> {
  const hostId = env.hostIds[f.target % env.hostIds.length] as string;
  const host = env.hosts.get(hostId);
  if (!host) throw new Error(`no host ${hostId}`);
  switch (f.kind) {
    case "worker-kill9": {
      const w = env.workers.get(hostId);
      await w?.kill();
      await sleep(f.downMs);
      await env.startWorker(hostId);
      return `${hostId} worker pid ${w?.pid} SIGKILL, down ${f.downMs} ms`;
    }
    case "worker-sigterm": {
      const w = env.workers.get(hostId);
      await w?.stop(15_000);
      await sleep(f.downMs);
      await env.startWorker(hostId);
      return `${hostId} worker pid ${w?.pid} SIGTERM, down ${f.downMs} ms`;
    }
    case "api-kill9": {
      const i = f.target % env.apis.length;
      const a = env.apis[i];
      if (!a?.proc) throw new Error(`API ${i} not running`);
      const pid = a.proc.pid;
      process.kill(pid, "SIGKILL");
      await a.proc.stop();
      a.proc = null;
      await sleep(f.downMs);
      await env.startApi(i);
      return `API ${i} (port ${a.port}) pid ${pid} SIGKILL, down ${f.downMs} ms`;
    }
    case "libvirtd-restart": {
      const before = host.libvirtdPid;
      const h = await restartLibvirtd(host);
      env.hosts.set(hostId, h);
      return `${hostId} libvirtd ${before} -> ${h.libvirtdPid}`;
    }
    case "redis-primary-kill": {
      const port = await env.ha.currentPrimaryPort();
      const node = env.dataNodes.get(port);
      if (!node) throw new Error(`no data node on port ${port}`);
      await node.kill();
      const failed = await waitUntil(async () => (await env.ha.currentPrimaryPort()) !== port, 30_000);
      const next = await env.ha.currentPrimaryPort().catch(() => 0);
      await sleep(f.downMs);
      await env.restartDataNode(port);
      // Back as a replica in sync before the next fault may kill the new primary.
      const synced = await waitUntil(async () => {
        const c = await redisAt(port);
        try {
          return /master_link_status:up/.test(await c.info("replication"));
        } finally {
          c.disconnect();
        }
      }, 30_000);
      return `primary ${port} (pid ${node.pid}) SIGKILL; failover ${failed ? `to ${next}` : "NOT seen in 30 s"}; ${port} back ${synced ? "as a synced replica" : "NOT synced in 30 s"}`;
    }
    case "redis-flushall": {
      const port = await env.ha.currentPrimaryPort();
      const c = await redisAt(port);
      try {
        const before = await c.dbsize();
        await c.flushall();
        return `FLUSHALL on primary ${port} (${before} keys)`;
      } finally {
        c.disconnect();
      }
    }
    case "redis-pause": {
      // A primary stopped (SIGSTOP, as a long GC pause or a frozen VM would) for longer than the workers' lock
      // TTL: the sentinels fail it over meanwhile, and when it wakes it still believes it is the primary until
      // they demote it. Locks taken before the pause have expired by then; writes queued on its sockets run on
      // a primary that no longer is one.
      const port = await env.ha.currentPrimaryPort();
      const node = env.dataNodes.get(port);
      if (!node) throw new Error(`no data node on port ${port}`);
      const ms = env.lockTtlMs + f.downMs;
      process.kill(node.pid, "SIGSTOP");
      try {
        await sleep(ms);
      } finally {
        process.kill(node.pid, "SIGCONT");
      }
      const next = await env.ha.currentPrimaryPort().catch(() => 0);
      // Settled: the woken node is a synced replica of the new primary, or the primary still (no failover).
      const settled = await waitUntil(async () => {
        if ((await env.ha.currentPrimaryPort()) === port) return true;
        const c = await redisAt(port);
        try {
          return /role:slave[\s\S]*master_link_status:up/.test(await c.info("replication"));
        } finally {
          c.disconnect();
        }
      }, 30_000);
      return `primary ${port} (pid ${node.pid}) SIGSTOP for ${ms} ms (lock TTL ${env.lockTtlMs}); primary after: ${next}; ${port} ${settled ? "settled" : "NOT settled in 30 s"}`;
    }
    case "nft-helper-kill": {
      // The worker's long-lived libnftables session (ADR 0026): a python3 whose program calls nft_run_cmd_from_buffer.
      const pids: number[] = [];
      for (const pid of await netnsPids(host.netns)) {
        try {
          if (pidComm(pid)?.startsWith("python") && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("nft_run_cmd_from_buffer"))
            pids.push(pid);
        } catch {
          /* exited meanwhile */
        }
      }
      if (pids.length === 0) return `${hostId}: no nft helper running (nothing killed)`;
      const pid = pids.sort((a, b) => a - b)[f.target % pids.length] as number;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        return `${hostId}: nft helper ${pid} already gone`;
      }
      return `${hostId}: nft helper ${pid} SIGKILL`;
    }
    case "nft-flush": {
      const r = await host.exec(["nft", "flush", "table", "inet", "netforge"], { reject: false });
      return `${hostId}: nft flush table inet netforge (exit ${r.exitCode}${r.exitCode ? `: ${r.stderr.trim()}` : ""})`;
    }
    case "dnsmasq-kill": {
      const pids = (await netnsPids(host.netns)).filter((p) => pidComm(p) === "dnsmasq").sort((a, b) => a - b);
      if (pids.length === 0) return `${hostId}: no dnsmasq running (nothing killed)`;
      const pid = pids[f.target % pids.length] as number;
      let cmd = "";
      try {
        cmd =
          readFileSync(`/proc/${pid}/cmdline`, "utf8")
            .split("\0")
            .find((a) => a.startsWith("--conf-file")) ?? "";
      } catch {
        /* gone already */
      }
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        return `${hostId}: dnsmasq ${pid} already gone`;
      }
      return `${hostId}: dnsmasq ${pid} SIGKILL ${cmd}`;
    }
    case "net-destroy": {
      const r = await host.virsh(["net-list", "--name"], { reject: false });
      const nets = r.stdout
        .split("\n")
        .map((s) => s.trim())
        .filter((s) => /^k\d+n\d+$/.test(s))
        .sort();
      if (nets.length === 0) return `${hostId}: no active netforge network (nothing destroyed)`;
      const name = nets[f.target % nets.length] as string;
      const d = await host.virsh(["net-destroy", name], { reject: false });
      return `${hostId}: virsh net-destroy ${name} (exit ${d.exitCode})`;
    }
    case "worker-partition": {
      // The host's traffic to every Redis port dropped (its worker's connections hang, then time out), for 2-18 s:
      // a table of the run's own beside netforge's, made of port numbers only.
      const ms = f.downMs * 6;
      const rules = `table inet nfchaos {\n\tchain out {\n\t\ttype filter hook output priority -10; policy accept;\n\t\ttcp dport { ${env.redisPorts.join(", ")} } drop\n\t}\n}\n`;
      await host.exec(["nft", "-f", "-"], { input: rules });
      await sleep(ms);
      await host.exec(["nft", "delete", "table", "inet", "nfchaos"]);
      return `${hostId}: traffic to Redis dropped for ${ms} ms`;
    }
    case "host-reboot": {
      // As an operator's reboot: the worker goes down with the host (SIGTERM by systemd), the host boots with
      // netforge-firewall.service before libvirtd, then the worker starts again.
      const w = env.workers.get(hostId);
      await w?.stop(15_000);
      const r = await rebootSandboxHost(host, { boot: netforgeFirewallBoot(hostId) });
      env.hosts.set(hostId, r.host);
      await env.addNics(hostId);
      await env.startForwarders(hostId);
      await env.startWorker(hostId);
      const failed = r.boot.filter((b) => b.exitCode !== 0);
      return `${hostId}: rebooted (libvirtd ${host.libvirtdPid} -> ${r.host.libvirtdPid}; boot commands ${r.boot.length}, failed ${failed.length}${failed.length ? `: ${failed.map((b) => b.stderr).join("; ")}` : ""})`;
    }
  }
}
