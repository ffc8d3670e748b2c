/**
 * Control-plane scale benchmark (BENCH_ONLY=scale npm run bench, or tsx bench/scale.ts):
 * the real API as its own process (`apps/api/src/index.ts`, LOG_LEVEL as given,
 * default info as shipped) on a private Redis, the load generator as another
 * process (bench/loadgen.ts: autocannon), no worker consuming. Measures, each
 * beside its target and beside GET /healthz on the same server in the same
 * run (the HTTP + process floor):
 *  - create-network submissions accepted per second (64 connections);
 *  - list-networks over 1,000 networks, describe-network, GET /api/jobs/<id>:
 *    median latency with one connection;
 *  - SSE: N subscribers (default 10,000; BENCH_SSE) on one API, every one gets
 *    every event of its job; extra API memory, per stream.
 * The file-descriptor limit of both processes is raised to the hard limit.
 */
import { benchNetworkRecord } from "./network-record";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HostRecord } from "@netforge/core/contract";
import { claimNetwork, commitJobEvent, connectRedis, getJob, makeKeys, putHost, putNetwork } from "@netforge/core/store";
import { startRedisServer, TSX_LOADER } from "@netforge/devstack";
import { execa } from "execa";
import { redisCommandStats, startApiProcess } from "./api-process";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const TOKEN = "bench-scale-token-0123456789";
const SSE_STREAMS = Number(process.env.BENCH_SSE ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

/** A command run with the file-descriptor limit raised to the hard limit (fixed script; argv passed through "$@"). */
function withFdLimit(argv: string[]): [string, string[]] {
  return ["sh", ["-c", 'ulimit -n "$(ulimit -Hn)" && exec "$@"', "sh", ...argv]];
}

/** A process and its children (the API's cluster processes, BENCH_API_PROCESSES > 1). */
function processTree(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone
  }
  return [pid, ...kids.flatMap(processTree)];
}

/** CPU time (user + system) of a process and its children so far, in ms (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // exited in between
    }
  }
  return total;
}

/** Resident memory of a process and its children (KB). */
function rssKb(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
    total += Number(m?.[1] ?? 0);
  }
  return total;
}

interface Load {
  cpuMs?: number;
  rps: number;
  total: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  statusCodes: Record<string, { count: number }>;
}
async function load(env: Record<string, string>): Promise<Load> {
  const [cmd, args] = withFdLimit([process.execPath, "--import", TSX_LOADER, join(ROOT, "bench/loadgen.ts")]);
  const r = await execa(cmd, args, { env: { LOAD_TOKEN: TOKEN, LOAD_SECONDS: String(SECONDS), ...env } });
  return JSON.parse(r.stdout.trim().split("\n").pop() as string) as Load;
}

const hostRecord = (id: string): HostRecord => {
  const now = new Date().toISOString();
  return {
    id,
    hostname: id,
    libvirtVersion: "10.0.0",
    interfaces: [],
    occupied: [],
    networks: 0,
    sriovPfs: [],
    startedAt: now,
    lastSeenAt: now,
  };
};

export async function benchScale(): Promise<string[][]> {
  const redisServer = await startRedisServer();
  const prefix = `bscale-${randomBytes(3).toString("hex")}`;
  const keys = makeKeys(prefix);
  const redis = connectRedis(redisServer.url);
  const rows: string[][] = [];
  // Hosts that look alive: bench-q takes the submissions (nobody consumes its queue), bench-r holds the read set.
  const beat = async () => {
    await putHost(redis, keys, hostRecord("bench-q"));
    await putHost(redis, keys, hostRecord("bench-r"));
  };
  await beat();
  const beating = setInterval(() => void beat(), 3_000);

  process.stderr.write("bench scale: seeding 1,000 networks...\n");
  const now = new Date().toISOString();
  for (let i = 0; i < 1000; i++) {
    const rec = benchNetworkRecord({
      name: `r${String(i).padStart(4, "0")}`,
      host: "bench-r",
      uuid: "00000000-0000-4000-8000-000000000001",
      cidr: `10.${200 + Math.floor(i / 250)}.${i % 250}.0/24`,
      gateway: null,
      dhcp: { enabled: false, start: null, end: null, leaseTime: null },
      bridge: `nf-r${i}`,
      at: now,
    });
    await claimNetwork(redis, keys, { name: rec.name, host: rec.host, cidr: rec.cidr });
    await putNetwork(redis, keys, rec);
  }

  // BENCH_API_PROF=<dir>: the API writes a V8 CPU profile there on exit (docs/benchmarks.md reads one).
  const prof = process.env.BENCH_API_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_API_PROF] : [];
  // The GC probe (bench/api-gc-probe.ts): SIGUSR2 -> full GC -> memory figures in a file, for the SSE part.
  const gcProbeOut = join(redisServer.dir, "api-memory.json");
  const api = await startApiProcess({
    redisUrl: redisServer.url,
    prefix,
    token: TOKEN,
    nodeFlags: [...prof, "--expose-gc"],
    imports: [join(ROOT, "bench/api-gc-probe.ts")],
    wrap: withFdLimit,
    env: {
      NETFORGE_SSE_MAX_PER_TOKEN: String(SSE_STREAMS + 100),
      NETFORGE_SSE_MAX_TOTAL: String(SSE_STREAMS + 100),
      NETFORGE_API_PROCESSES: process.env.BENCH_API_PROCESSES ?? "1",
      BENCH_GC_PROBE_OUT: gcProbeOut,
      // Submissions pile up with no worker consuming: far above the default quota of unfinished jobs per token.
      NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: "100000000",
    },
  });
  const base = api.base;
  const serverMedian = (path: string) => {
    const xs = [...api.serverMs(path)].sort((a, b) => a - b);
    return xs.length ? (xs[Math.floor(xs.length / 2)] as number) : Number.NaN;
  };
  // The API's own pid (sh exec'd node).
  const apiPid = api.pid;
  try {
    if (process.env.BENCH_SCALE_PARTS === "sse") return [...(await benchSse(base, apiPid, redis, keys, gcProbeOut))];
    const hzCpu0 = cpuMs(apiPid);
    const healthz = await load({ LOAD_URL: `${base}/healthz`, LOAD_MODE: "get", LOAD_CONNECTIONS: "64" });
    const hzCpuPerReq = (cpuMs(apiPid) - hzCpu0) / Math.max(1, healthz.total);
    const cmdBefore = await redisCommandStats(redis);
    const cpuBefore = { api: cpuMs(apiPid), redis: cpuMs(redisServer.pid) };
    const submit = await load({ LOAD_URL: `${base}/api/create-network`, LOAD_MODE: "submit", LOAD_CONNECTIONS: "64" });
    const cpuAfter = { api: cpuMs(apiPid), redis: cpuMs(redisServer.pid) };
    const cmdAfter = await redisCommandStats(redis);
    const accepted = submit.statusCodes["202"]?.count ?? 0;
    rows.push([
      `GET /healthz (baseline), 64 conn, ${process.env.BENCH_API_PROCESSES ?? "1"} API process(es)`,
      `${healthz.total}`,
      `${healthz.rps.toFixed(0)} req/s`,
      `p50 ${healthz.p50} ms`,
      `API CPU ${hzCpuPerReq.toFixed(3)} ms/request`,
    ]);
    rows.push([
      "create-network accepted/s, 64 conn (target >= 5,000)",
      `${submit.total}`,
      `${(accepted / SECONDS).toFixed(0)} /s`,
      `p50 ${submit.p50} ms, non-202 ${submit.total - accepted}`,
      `${((accepted / SECONDS / healthz.rps) * 100).toFixed(0)}% of healthz`,
    ]);
    // Where a submission's cost lands: CPU ms of each process per accepted submission, Redis commands per submission.
    const per = (x: number) => (accepted > 0 ? x / accepted : Number.NaN);
    const cmds = [...cmdAfter]
      .map(([name, v]) => ({ name, calls: v.calls - (cmdBefore.get(name)?.calls ?? 0), usec: v.usec - (cmdBefore.get(name)?.usec ?? 0) }))
      .filter((c) => c.calls > 0 && c.name !== "info")
      .sort((a, b) => b.usec - a.usec);
    rows.push([
      "per accepted submission: CPU of API / Redis; Redis commands (calls, in-Redis us)",
      `${accepted}`,
      `API ${per(cpuAfter.api - cpuBefore.api).toFixed(3)} ms, Redis ${per(cpuAfter.redis - cpuBefore.redis).toFixed(3)} ms, load generator ${per(submit.cpuMs ?? Number.NaN).toFixed(3)} ms`,
      `${per(cmds.reduce((a, c) => a + c.calls, 0)).toFixed(1)} commands`,
      cmds
        .slice(0, 6)
        .map((c) => `${c.name} ${per(c.calls).toFixed(1)}x ${per(c.usec).toFixed(0)} us`)
        .join(", "),
    ]);

    // BENCH_SCALE_PARTS=submit: submissions only (e.g. for a CPU profile of just that path); =reads: no SSE part.
    if (process.env.BENCH_SCALE_PARTS === "submit") return rows;
    // A job to read: one of the submitted ones.
    const jobId = await firstJobId(base);
    const f = (x: number) => x.toFixed(2);
    // Each read with both clients (see bench/loadgen.ts): fetch (undici) and node:http, the floor of each from /healthz.
    for (const client of ["fetch", "http"] as const) {
      const hz1 = await load({ LOAD_URL: `${base}/healthz`, LOAD_MODE: "latency-get", LOAD_CLIENT: client });
      const list = await load({
        LOAD_URL: `${base}/api/list-networks`,
        LOAD_MODE: "latency-post",
        LOAD_REQUESTS: "300",
        LOAD_BODY: JSON.stringify({ host: "bench-r", limit: 1000 }),
        LOAD_CLIENT: client,
      });
      const describe = await load({
        LOAD_URL: `${base}/api/describe-network`,
        LOAD_MODE: "latency-post",
        LOAD_BODY: JSON.stringify({ name: "r0500" }),
        LOAD_CLIENT: client,
      });
      const job = await load({ LOAD_URL: `${base}/api/jobs/${jobId}`, LOAD_MODE: "latency-get", LOAD_CLIENT: client });
      rows.push([`GET /healthz (baseline), 1 conn, client ${client}`, `${hz1.total}`, `${f(hz1.p50)} ms`, `p99 ${f(hz1.p99)} ms`, ""]);
      for (const [what, r, target, path] of [
        ["list-networks, 1,000 networks (target < 5 ms)", list, 5, "/api/list-networks"],
        ["describe-network (target < 1 ms)", describe, 1, "/api/describe-network"],
        ["GET /api/jobs/<id> (target < 1 ms)", job, 1, "/api/jobs/<id>"],
      ] as const) {
        const inServer = serverMedian(path);
        rows.push([
          `${what}, client ${client}`,
          `${r.total}`,
          `${f(r.p50)} ms (in server ${inServer} ms)`,
          `p99 ${f(r.p99)} ms, non-2xx ${r.non2xx}`,
          `${(r.p50 / hz1.p50).toFixed(1)}x healthz (in server ${serverMedian("/healthz")} ms); client ${r.p50 < target ? "met" : "missed"}, server ${inServer < target ? "met" : "missed"}`,
        ]);
      }
    }
    if (process.env.BENCH_SCALE_PARTS === "reads") return rows;

    rows.push(
      ...(await benchSse(base, apiPid, redis, keys, gcProbeOut).catch((err: unknown) => [
        ["SSE", "", "failed", String(err).slice(0, 200), ""],
      ])),
    );
  } finally {
    clearInterval(beating);
    await api.stop();
    redis.disconnect();
    await redisServer.stop();
  }
  return rows;
}

async function firstJobId(base: string): Promise<string> {
  const r = await fetch(`${base}/api/list-jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ limit: 1 }),
  });
  const body = (await r.json()) as { jobs: { id: string }[] };
  const id = body.jobs[0]?.id;
  if (!id) throw new Error("no job to read");
  return id;
}

/** N SSE subscribers (in a child process), JOBS jobs each advanced through 3 events; memory of the API before/after. */
async function benchSse(
  base: string,
  apiPid: number,
  redis: ReturnType<typeof connectRedis>,
  keys: ReturnType<typeof makeKeys>,
  gcProbeOut: string,
): Promise<string[][]> {
  /** RSS (KB) of the API after a full GC in it (the probe answers SIGUSR2), and its V8 heap in use. */
  const afterGc = async (): Promise<{ rssKb: number; heapUsedKb: number }> => {
    rmSync(gcProbeOut, { force: true });
    process.kill(apiPid, "SIGUSR2");
    for (let i = 0; i < 1200 && !existsSync(gcProbeOut); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 100));
    const m = JSON.parse(readFileSync(gcProbeOut, "utf8")) as { rss: number; heapUsed: number };
    return { rssKb: m.rss / 1024, heapUsedKb: m.heapUsed / 1024 };
  };
  const jobs = Math.max(1, Math.floor(SSE_STREAMS / 100));
  const ids: string[] = [];
  for (let i = 0; i < jobs; i++) {
    const r = await fetch(`${base}/api/create-network`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `sse${i}`, type: "nat", cidr: `10.250.${i}.0/24`, host: "bench-q" }),
    });
    const b = (await r.json()) as { job?: { id: string } };
    if (!b.job) throw new Error(`SSE job not created: ${r.status} ${JSON.stringify(b)}`);
    ids.push(b.job.id);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssKb(apiPid);
  const beforeGc = await afterGc();
  const [cmd, args] = withFdLimit([process.execPath, "--import", TSX_LOADER, join(ROOT, "bench/sse-subscribers.ts")]);
  const subs = execa(cmd, args, {
    env: { SSE_BASE: base, SSE_TOKEN: TOKEN, SSE_JOBS: ids.join(","), SSE_STREAMS: String(SSE_STREAMS) },
    stdout: "pipe",
    buffer: false,
  });
  let subsOut = "";
  subs.stdout?.on("data", (d: Buffer) => {
    subsOut += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (subsOut.includes("connected")) {
        clearInterval(t);
        resolve();
      }
      if (subs.exitCode !== undefined && subs.exitCode !== null) reject(new Error(`subscribers exited: ${subsOut}`));
    }, 100);
  });
  await new Promise((r) => setTimeout(r, 2000));
  const during = rssKb(apiPid);
  const duringGc = await afterGc();
  // Every job: two progress events and the terminal one, written the way the worker writes them.
  for (const id of ids) {
    const rec = await getJob(redis, keys, id);
    if (!rec) throw new Error(`job ${id} missing`);
    rec.state = "running";
    rec.attempts = 1;
    await commitJobEvent(redis, keys, rec, "progress");
    await commitJobEvent(redis, keys, rec, "progress");
    rec.state = "succeeded";
    rec.finishedAt = new Date().toISOString();
    await commitJobEvent(redis, keys, rec, "succeeded");
  }
  await subs;
  process.stderr.write(`bench scale: subscribers: ${subsOut.trim().split("\n").pop()}\n`);
  const result = JSON.parse(subsOut.trim().split("\n").pop() as string) as {
    streams: number;
    complete: number;
    events: number;
    ms: number;
    retries: number;
  };
  const extraMb = (during - before) / 1024;
  const extraGcMb = (duringGc.rssKb - beforeGc.rssKb) / 1024;
  const heapKbPerStream = (duringGc.heapUsedKb - beforeGc.heapUsedKb) / result.streams;
  return [
    [
      `SSE ${result.streams} subscribers, ${jobs} jobs (target <= 250 MB extra, all events), RSS as is`,
      `${result.streams}`,
      `+${extraMb.toFixed(0)} MB`,
      `${((during - before) / result.streams).toFixed(1)} KB/stream`,
      `${result.complete}/${result.streams} got all ${result.events} events, delivered in ${result.ms} ms; ${result.retries} opens retried (503/reset)`,
    ],
    [
      "  same streams, RSS after a full GC in the API (before and during)",
      `${result.streams}`,
      `+${extraGcMb.toFixed(0)} MB`,
      `${((duringGc.rssKb - beforeGc.rssKb) / result.streams).toFixed(1)} KB/stream`,
      `V8 heap in use +${((duringGc.heapUsedKb - beforeGc.heapUsedKb) / 1024).toFixed(0)} MB (${heapKbPerStream.toFixed(1)} KB/stream)`,
    ],
  ];
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  benchScale().then(
    (rows) => {
      for (const r of rows) console.log(`| ${r.join(" | ")} |`);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
