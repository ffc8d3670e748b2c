/**
 * Host-size benchmark (BENCH_ONLY=hostsize, or as part of the full run): does a job's cost grow with
 * the number of networks its host already holds? On its own sandbox host and worker (so the other
 * benches' host stays small), at 0, 100 and 1,000 existing networks:
 *  - create-network, stop-network, start-network, delete-network end to end (Prefer: wait);
 *  - beside raw virsh doing the same to the same netforge-rendered definition (define + start +
 *    autostart + the DHCP check, destroy, start + DHCP check, destroy + undefine), interleaved
 *    round by round, so libvirt's own growth is measured in the same run;
 *  - reconcile rounds (event-fed, and full re-reads), from the worker's own "reconcile round" log.
 * The existing networks are netforge-rendered definitions defined (not started) with raw virsh in
 * one virsh process while no worker runs; the worker finds them at its start-up. The figure against
 * the target: (netforge at N - libvirt's own growth from 0 to N) / netforge at 0, at most 1.2x.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderNetworkXml, specFromCreate } from "@netforge/core/model";
import { spawnWorker, type WorkerProcess } from "@netforge/devstack";
import { createSandboxHost, destroySandboxHost, type SandboxHost } from "@netforge/sandbox";
import { dhcpListening, median, ms, p95 } from "./stats";

type Post = (action: string, body: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;

const WAIT = { prefer: "wait=60" };
const HOST = "hsize";
const SIZES = [0, 100, 1000];
const OPS = ["create", "stop", "start", "delete"] as const;
type Op = (typeof OPS)[number];

/** A netforge definition (what create-network renders) for a network of the given /24. */
function xmlOf(name: string, cidr24: string): string {
  const base = cidr24.replace(/\.0\/24$/, "");
  return renderNetworkXml(
    specFromCreate({
      name,
      type: "nat",
      uuid: randomUUID(),
      host: HOST,
      description: "",
      cidr: cidr24,
      gateway: `${base}.1`,
      dhcp: { enabled: true, start: `${base}.128`, end: `${base}.254`, leaseTime: 3600 },
      autostart: true,
      bridge: `nf-${name}`,
      createdAt: new Date().toISOString(),
    }),
  );
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function virshOk(h: SandboxHost, line: string): Promise<void> {
  const r = await h.virsh([line]);
  if (r.exitCode !== 0) throw new Error(`virsh ${line.slice(0, 80)}: ${r.stderr}`);
}

/** Define (not start) existing networks from..to-1 in chunks, one virsh process per chunk. */
async function seed(h: SandboxHost, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 100) {
    const files: string[] = [];
    for (let j = i; j < Math.min(to, i + 100); j++) {
      const file = join(h.dir, `seed${j}.xml`);
      await writeFile(file, xmlOf(`seed${j}`, `172.${16 + (j >> 8)}.${j & 255}.0/24`));
      files.push(file);
    }
    await virshOk(h, files.map((f) => `net-define ${f}`).join(" ; "));
  }
}

interface Started {
  w: WorkerProcess;
  log: string;
}

/** A worker for the host; resolves once it logged "worker ready" (start-up full list + reconcile done). */
async function startWorker(h: SandboxHost, redisUrl: string, prefix: string, env: Record<string, string>): Promise<Started> {
  const log = join(h.dir, `worker-${randomBytes(3).toString("hex")}.log`);
  const w = spawnWorker({ hostId: HOST, redisUrl, prefix, enter: h.nsenterPrefix, logFile: log, env: { LOG_LEVEL: "debug", ...env } });
  for (let i = 0; i < 1200; i++) {
    const text = await readFile(log, "utf8").catch(() => "");
    if (text.includes('"msg":"worker ready"')) return { w, log };
    if (w.exited) throw new Error(`bench worker exited; see ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`bench worker not ready; see ${log}`);
}

/** The worker's "reconcile round" log lines: duration and whether it re-read every definition. */
interface Round {
  ms: number;
  reread: boolean;
  phases: Record<string, number>;
}
async function reconcileRounds(log: string): Promise<Round[]> {
  const out: Round[] = [];
  for (const line of (await readFile(log, "utf8")).split("\n")) {
    if (!line.includes('"msg":"reconcile round"')) continue;
    const j = JSON.parse(line) as Round;
    out.push({ ms: j.ms, reread: j.reread, phases: j.phases ?? {} });
  }
  return out;
}

export async function benchHostSize(post: Post, redisUrl: string, prefix: string, rounds: number): Promise<string[][]> {
  const h = await createSandboxHost({ id: `hs${randomBytes(2).toString("hex")}` });
  const nf = new Map<string, number[]>();
  const raw = new Map<string, number[]>();
  const rec = new Map<string, number[]>();
  const steps = new Map<string, number[]>();
  const recPhases = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  let seeded = 0;
  let running: Started | null = null;
  try {
    for (const size of SIZES) {
      process.stderr.write(`bench hostsize: ${size} existing networks\n`);
      if (running) await running.w.stop();
      running = null;
      const t0 = performance.now();
      await seed(h, seeded, size);
      seeded = size;
      if (size > 0) process.stderr.write(`  seeded to ${size} in ${ms(performance.now() - t0)}\n`);
      // Jobs, with the reconcile period of a real deployment (30 s): its rounds are measured separately below.
      running = await startWorker(h, redisUrl, prefix, {});
      for (let i = 0; i < rounds + 2; i++) {
        const warm = i < 2;
        const tag = `${size}`;
        // raw libvirt: the same definition netforge renders, the same proof that DHCP answers.
        const rname = `r${size}x${i}`;
        const rfile = join(h.dir, `${rname}.xml`);
        await writeFile(rfile, xmlOf(rname, `10.78.${i}.0/24`));
        const r: Record<Op, number> = {
          create: await timed(async () => {
            await virshOk(h, `net-define ${rfile} ; net-start ${rname} ; net-autostart ${rname}`);
            await dhcpListening(h, `nf-${rname}`);
          }),
          stop: await timed(() => virshOk(h, `net-destroy ${rname}`)),
          start: await timed(async () => {
            await virshOk(h, `net-start ${rname}`);
            await dhcpListening(h, `nf-${rname}`);
          }),
          delete: await timed(() => virshOk(h, `net-destroy ${rname} ; net-undefine ${rname}`)),
        };
        // netforge, end to end through the API.
        const name = `n${size}x${i}`;
        const call = async (action: string, body: unknown) => {
          const res = await post(action, body, WAIT);
          if (res.status !== 200) throw new Error(`${action} ${name}: ${res.status} ${JSON.stringify(res.body)}`);
          // Where the time went, from the job's own step timings (what grows with the host's size).
          if (!warm)
            for (const st of res.body.job?.progress?.steps ?? [])
              if (st.startedAt && st.finishedAt)
                push(steps, `${action}|${st.name}@${size}`, Date.parse(st.finishedAt) - Date.parse(st.startedAt));
        };
        const n: Record<Op, number> = {
          create: await timed(() => call("create-network", { name, type: "nat", host: HOST, cidr: `10.79.${i}.0/24` })),
          stop: await timed(() => call("stop-network", { name })),
          start: await timed(() => call("start-network", { name })),
          delete: await timed(() => call("delete-network", { name })),
        };
        if (!warm)
          for (const op of OPS) {
            push(raw, `${op}@${tag}`, r[op]);
            push(nf, `${op}@${tag}`, n[op]);
          }
      }
      await running.w.stop();
      // Reconcile rounds at this size: a worker with a short period (2 s) and a full re-read every 3rd round.
      running = await startWorker(h, redisUrl, prefix, { NETFORGE_RECONCILE_MS: "2000", NETFORGE_RESYNC_MS: "5900" });
      for (let i = 0; i < 300; i++) {
        const rounds = await reconcileRounds(running.log);
        if (rounds.filter((x) => x.reread).length >= 3 && rounds.filter((x) => !x.reread).length >= 3) {
          for (const x of rounds) {
            const kind = x.reread ? "full" : "event";
            push(rec, `${kind}@${size}`, x.ms);
            for (const [ph, v] of Object.entries(x.phases)) push(recPhases, `${kind}|${ph}@${size}`, v);
          }
          break;
        }
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  } finally {
    await running?.w.stop().catch(() => undefined);
    await destroySandboxHost(h);
  }

  const rows: string[][] = [];
  const med = (m: Map<string, number[]>, k: string) => median(m.get(k) ?? [Number.NaN]);
  for (const op of OPS) {
    for (const size of SIZES) {
      const a = nf.get(`${op}@${size}`) ?? [];
      rows.push([`${op}-network e2e, host with ${size} networks`, `${a.length}`, ms(median(a)), ms(p95(a)), ""]);
      const b = raw.get(`${op}@${size}`) ?? [];
      rows.push([`  raw virsh ${op}, ${size} networks`, `${b.length}`, ms(median(b)), ms(p95(b)), ""]);
    }
    for (const size of SIZES.slice(1)) {
      const nf0 = med(nf, `${op}@0`);
      const growth = med(raw, `${op}@${size}`) - med(raw, `${op}@0`);
      const adjusted = (med(nf, `${op}@${size}`) - growth) / nf0;
      const plain = med(nf, `${op}@${size}`) / nf0;
      rows.push([
        `  ${op} at ${size} vs 0, minus libvirt's growth (${growth >= 0 ? "+" : ""}${growth.toFixed(0)} ms)`,
        "",
        "",
        "",
        `${adjusted.toFixed(2)}x (target <= 1.2x; plain ${plain.toFixed(2)}x)`,
      ]);
    }
  }
  // Step medians per action at each size: "checking host" is what used to list the whole host.
  const stepNames = [...new Set([...steps.keys()].map((k) => k.slice(0, k.lastIndexOf("@"))))];
  for (const k of stepNames) {
    const [action, step] = k.split("|");
    const at = SIZES.map((size) => {
      const a = steps.get(`${k}@${size}`);
      return a ? `${median(a).toFixed(0)}` : "-";
    });
    rows.push([`  step ${action}: ${step} (ms at ${SIZES.join(" / ")})`, "", at.join(" / "), "", ""]);
  }
  for (const kind of ["event", "full"]) {
    for (const size of SIZES) {
      const a = rec.get(`${kind}@${size}`) ?? [];
      rows.push([
        `reconcile round (${kind === "event" ? "event-kept catalog" : "full re-read"}), ${size} networks`,
        `${a.length}`,
        a.length ? ms(median(a)) : "-",
        a.length ? ms(p95(a)) : "-",
        size > 0 && a.length ? `${(median(a) / med(rec, `${kind}@0`)).toFixed(2)}x vs 0` : "",
      ]);
    }
    const phaseNames = [
      ...new Set([...recPhases.keys()].filter((k) => k.startsWith(`${kind}|`)).map((k) => k.slice(kind.length + 1, k.lastIndexOf("@")))),
    ];
    for (const ph of phaseNames) {
      const at = SIZES.map((size) => {
        const a = recPhases.get(`${kind}|${ph}@${size}`);
        return a ? median(a).toFixed(1) : "-";
      });
      rows.push([`  phase ${ph} (ms at ${SIZES.join(" / ")})`, "", at.join(" / "), "", ""]);
    }
  }
  return rows;
}
