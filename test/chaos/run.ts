/**
 * netforge's chaos run: `npm run chaos -- --minutes N --seed S [--clients C]` (ADR 0048, docs/testing.md).
 * Random valid and invalid requests from client processes against 2 API processes, 3 sandbox hosts with real
 * workers and a Sentinel-managed Redis, while a seeded nemesis injects faults; then, after the faults stop and a
 * bounded settle time, the checker counts every invariant. Exit 1 on any violation (2: the harness failed).
 */
import { join } from "node:path";
import { TSX_LOADER } from "@netforge/devstack";
import { execa, type ResultPromise } from "execa";
import { check, type Invariant, readHistory, readSeenJobs } from "./checker";
import { startChaosEnv, TOKEN } from "./env";
import { type DoneFault, FAULT_KINDS, type FaultKind, inject, schedule } from "./nemesis";
import { rng } from "./rng";

export interface ChaosOptions {
  minutes: number;
  seed: number;
  clients: number;
  /** Gap between two faults (ms), drawn from this range. */
  gapMs: [number, number];
  /**
   * Inject every planned fault even after the load is over (the short run: each kind at least once however late
   * the schedule runs); otherwise what is still planned when the load ends is left out.
   */
  finishSchedule?: boolean;
  /** Bridge networks among the clients' creates (default true; `--no-bridges`). */
  bridges?: boolean;
  /** Longest wait for accepted jobs to end after the load (ms). */
  settleMs: number;
  /**
   * The checker's own check: one more fault of this kind right before checking, with no settle time after it, so
   * the invariants must see it (a run with it must fail).
   */
  finalFault?: FaultKind;
  log?: (s: string) => void;
}

export interface ChaosResult {
  seed: number;
  invariants: Invariant[];
  faults: DoneFault[];
  violations: number;
  requests: number;
  report: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? ((s: string) => process.stderr.write(`chaos: ${s}\n`));
  const env = await startChaosEnv({ seed: o.seed, nics: o.clients, log });
  // Ctrl-C (or a SIGTERM) mid-run: everything the run started is stopped by its pid and its sandbox hosts removed.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping the run's processes and sandbox hosts`);
    for (const c of clients) if (c.exitCode === undefined && c.pid) c.kill("SIGKILL");
    void env
      .stop()
      .catch((e: unknown) => log(`cleanup failed: ${String(e)}`))
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const faults: DoneFault[] = [];
  let keepLogs = false;
  const lines: string[] = [];
  const clients: ResultPromise[] = [];
  try {
    const durationMs = Math.round(o.minutes * 60_000);
    const plan = schedule(rng(o.seed), durationMs, o.gapMs);
    log(`seed ${o.seed}: ${plan.length} faults planned over ${(durationMs / 1000).toFixed(0)} s`);
    const t0 = Date.now();
    const logs = Array.from({ length: o.clients }, (_, i) => join(env.dir, `client-${i}.jsonl`));
    for (let i = 0; i < o.clients; i++) {
      const cfg = {
        client: i,
        seed: o.seed,
        apis: env.apis.map((a) => a.base),
        token: TOKEN,
        hosts: env.hostIds,
        untilMs: t0 + durationMs,
        log: logs[i],
        bridges: o.bridges ?? true,
      };
      clients.push(
        execa(process.execPath, ["--import", TSX_LOADER, join(import.meta.dirname, "client.ts"), JSON.stringify(cfg)], {
          reject: false,
          stdio: ["ignore", "inherit", "inherit"],
        }),
      );
    }
    for (const f of plan) {
      // A fault takes seconds (a worker waits to be online again), so on a loaded machine the schedule runs late:
      // what is still planned when the load is over is left out, not injected into a cluster nobody uses.
      if (!o.finishSchedule && Date.now() >= t0 + durationMs) {
        log(`load over: ${plan.length - faults.length} planned faults left out`);
        break;
      }
      const wait = t0 + f.at - Date.now();
      if (wait > 0) await sleep(wait);
      const startedAt = Date.now();
      let detail: string;
      let ok = true;
      try {
        detail = await inject(env, f);
      } catch (err) {
        ok = false;
        detail = `harness failure: ${(err as Error).message}`;
      }
      const done: DoneFault = { ...f, startedAt, tookMs: Date.now() - startedAt, detail, ok };
      faults.push(done);
      log(`+${((startedAt - t0) / 1000).toFixed(1)}s ${f.kind}: ${detail} (${done.tookMs} ms)`);
    }
    await Promise.all(clients);
    log("load over; settling");
    // Everything up again (a fault's own restart may have failed).
    for (const id of env.hostIds) if (env.workers.get(id)?.exited) await env.startWorker(id);
    for (let i = 0; i < env.apis.length; i++) if (!env.apis[i]?.proc) await env.startApi(i);

    const ops = readHistory(logs);
    // Bounded settle: accepted jobs end, the store is not rebuilding, then two reconcile rounds.
    const settleStart = Date.now();
    const { getJob, isTerminal } = await import("@netforge/core/store");
    const ids = [...new Set(ops.filter((x) => x.jobId && !x.dryRun).map((x) => x.jobId as string))];
    for (;;) {
      let open = 0;
      for (const id of ids) {
        const rec = await getJob(env.redis, env.keys, id).catch(() => null);
        if (rec && !isTerminal(rec.state)) open++;
      }
      const rebuilding = await env.redis.zcard(env.keys.storeRebuilding).catch(() => 1);
      if ((open === 0 && rebuilding === 0) || Date.now() - settleStart > o.settleMs) break;
      await sleep(1000);
    }
    await sleep(12_000);
    const settledMs = Date.now() - settleStart;
    log(`settled in ${(settledMs / 1000).toFixed(1)} s; checking`);

    if (o.finalFault) {
      const f = { at: Date.now() - t0, kind: o.finalFault, target: 0, downMs: 0 };
      const detail = await inject(env, f);
      faults.push({ ...f, startedAt: Date.now(), tookMs: 0, detail, ok: true });
      log(`final fault (checked at once): ${o.finalFault}: ${detail}`);
    }
    const invariants = await check(env, ops, faults, readSeenJobs(logs));
    const violations = invariants.reduce((n, i) => n + i.violations.length, 0);
    keepLogs = violations > 0;
    lines.push(
      `chaos run: seed ${o.seed}, ${o.minutes} min, ${o.clients} clients, ${ops.length} requests, ${faults.length} faults, settle ${(settledMs / 1000).toFixed(1)} s`,
    );
    lines.push("faults injected:");
    for (const k of FAULT_KINDS) lines.push(`  ${k.padEnd(20)} ${faults.filter((f) => f.kind === k).length}`);
    lines.push("invariants:");
    for (const i of invariants) {
      const counts = Object.entries(i.counts)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ");
      lines.push(`  ${i.violations.length === 0 ? "ok  " : "FAIL"} ${i.name}: ${counts}; violations ${i.violations.length}`);
    }
    lines.push("schedule:");
    for (const f of faults) lines.push(`  +${((f.startedAt - t0) / 1000).toFixed(1)}s ${f.kind}${f.ok ? "" : " (FAILED)"}: ${f.detail}`);
    if (violations > 0) {
      lines.push(`VIOLATIONS (seed ${o.seed}; replay: npm run chaos -- --minutes ${o.minutes} --seed ${o.seed}):`);
      for (const i of invariants) for (const v of i.violations.slice(0, 20)) lines.push(`  [${i.name}] ${v}`);
    }
    return { seed: o.seed, invariants, faults, violations, requests: ops.length, report: lines.join("\n") };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    for (const c of clients) if (c.exitCode === undefined && c.pid) c.kill("SIGKILL");
    await env.stop({ keepLogs }).catch((e: unknown) => log(`cleanup failed: ${String(e)}`));
    if (keepLogs) log(`logs kept in ${env.dir} (workers' logs in logs/, clients' requests and seen jobs in client-*.jsonl)`);
  }
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
}

if (import.meta.filename === process.argv[1]) {
  const minutes = Number(arg("minutes", "2"));
  const seed = Number(arg("seed", String(Math.floor(Math.random() * 1e6))));
  runChaos({
    minutes,
    seed,
    clients: Number(arg("clients", "3")),
    gapMs: [Number(arg("min-gap-ms", "5000")), Number(arg("max-gap-ms", "12000"))],
    settleMs: Number(arg("settle-s", "90")) * 1000,
    bridges: !process.argv.includes("--no-bridges"),
    ...(process.argv.includes("--final-fault") ? { finalFault: arg("final-fault", "") as FaultKind } : {}),
  })
    .then((r) => {
      console.log(r.report);
      // Exit now: a child that outlived its stop (none should) must not keep the run waiting.
      process.exit(r.violations > 0 ? 1 : 0);
    })
    .catch((err) => {
      console.error(err);
      process.exit(2);
    });
}
