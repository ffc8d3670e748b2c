/**
 * netforge soak (npm run soak; not part of the test suite). Proves Redis
 * state stays bounded: a private Redis, a sandbox host with a real worker and
 * the API in-process, job retention set short (SOAK_RETENTION_SECONDS for
 * finished jobs, 3x that for unfinished ones). It runs a few warm-up cycles,
 * waits until everything they left has expired, measures; then runs
 * SOAK_CYCLES (default 1,000) create+delete cycles, waits the same way,
 * measures again. "Waits the same way" = the longest retention passed, then
 * one probe cycle (so BullMQ's age-based trimming and the index cleaning,
 * which run on writes, have run), then the claim/index sweep. Both
 * measurements therefore hold the same probe's records. Exit code 1 when key
 * count or used memory ends more than 10% above where it started.
 *
 * Takes /tmp/netforge-e2e.lock (through the npm script: sandbox host ids are
 * fixed, and tests on this machine use the same lock).
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createApp } from "@netforge/api";
import { connectRedis, makeKeys, type Redis } from "@netforge/core/store";
import { spawnWorker, startRedisServer } from "@netforge/devstack";
import { createSandboxHost, destroySandboxHost } from "@netforge/sandbox";
import pino from "pino";

const CYCLES = Number(process.env.SOAK_CYCLES ?? 1000);
const WARMUP = Number(process.env.SOAK_WARMUP_CYCLES ?? 50);
const FINISHED_S = Number(process.env.SOAK_RETENTION_SECONDS ?? 20);
const UNFINISHED_S = FINISHED_S * 3;
const TOLERANCE = 0.1;
const TOKEN = "soak-token-0123456789";
const HOST_ID = "soak1";

// Read by the in-process API and handed to the worker: short retention for this run only.
process.env.NETFORGE_JOB_RETENTION_SECONDS = String(FINISHED_S);
process.env.NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS = String(UNFINISHED_S);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`soak: ${s}\n`);

interface Sample {
  keys: number;
  usedMemory: number;
  byPattern: Map<string, number>;
}

async function sample(redis: Redis): Promise<Sample> {
  const keys = await redis.dbsize();
  const info = await redis.info("memory");
  const usedMemory = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
  // Key shapes (ids and names replaced), to show what a difference is made of.
  const byPattern = new Map<string, number>();
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "COUNT", 1000);
    cursor = next;
    for (const k of batch) {
      const p = k
        .replace(/^soak-[0-9a-f]+/, "<prefix>")
        .replace(/j_[A-Za-z0-9_-]{20}/g, "<job>")
        .replace(/soak-\d+/g, "<net>")
        .replace(/:\d+$/, ":<n>");
      byPattern.set(p, (byPattern.get(p) ?? 0) + 1);
    }
  } while (cursor !== "0");
  return { keys, usedMemory, byPattern };
}

async function main() {
  const redisServer = await startRedisServer();
  const prefix = `soak-${randomBytes(3).toString("hex")}`;
  const keys = makeKeys(prefix);
  const redis = connectRedis(redisServer.url);
  const api = createApp({
    redis,
    keys,
    logger: pino({ level: "silent" }),
    tokens: new Map([[TOKEN, "admin" as const]]),
    config: { rateLimitPerSecond: 0, claimSweepIntervalMs: 10_000 },
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: api.app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = async (action: string, body: unknown) => {
    const r = await fetch(`${base}/api/${action}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", prefer: "wait=60" },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  const cycle = async (name: string, i: number) => {
    const c = await post("create-network", { name, type: "nat", cidr: `10.150.${i % 250}.0/24` });
    if (c.status !== 200) throw new Error(`create ${name}: ${c.status} ${JSON.stringify(c.body)}`);
    const d = await post("delete-network", { name });
    if (d.status !== 200) throw new Error(`delete ${name}: ${d.status} ${JSON.stringify(d.body)}`);
  };
  /** Let everything expire, then one probe cycle and a sweep, then measure. */
  const settleAndSample = async (): Promise<Sample> => {
    const waitS = UNFINISHED_S + FINISHED_S + 5;
    log(`waiting ${waitS} s for retention to pass...`);
    await sleep(waitS * 1000);
    await cycle("soak-probe", 0);
    await api.sweepClaims();
    await sleep(1_000);
    return sample(redis);
  };

  log("creating sandbox host...");
  const h = await createSandboxHost({ id: `sk${randomBytes(2).toString("hex")}` });
  const worker = spawnWorker({
    hostId: HOST_ID,
    redisUrl: redisServer.url,
    prefix,
    enter: h.nsenterPrefix,
    env: {
      LOG_LEVEL: "warn",
      NETFORGE_JOB_RETENTION_SECONDS: String(FINISHED_S),
      NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS: String(UNFINISHED_S),
    },
  });
  let start: Sample;
  let end: Sample;
  let seconds = 0;
  try {
    for (let i = 0; i < 300; i++) {
      if (await fetch(`${base}/readyz`).then((r) => r.ok)) break;
      await sleep(100);
    }
    log(`warm-up: ${WARMUP} cycles`);
    for (let i = 0; i < WARMUP; i++) await cycle(`soak-w${i}`, i);
    start = await settleAndSample();
    log(`start: ${start.keys} keys, ${start.usedMemory} bytes; running ${CYCLES} cycles`);
    const t0 = performance.now();
    for (let i = 0; i < CYCLES; i++) {
      await cycle(`soak-${i}`, i);
      if ((i + 1) % 100 === 0) {
        const s = await sample(redis);
        log(`${i + 1}/${CYCLES} cycles, ${((performance.now() - t0) / 1000).toFixed(0)} s; now ${s.keys} keys, ${s.usedMemory} bytes`);
      }
    }
    seconds = (performance.now() - t0) / 1000;
    end = await settleAndSample();
  } finally {
    await worker.stop();
    await api.close();
    server.close();
    await destroySandboxHost(h);
    redis.disconnect();
    await redisServer.stop();
  }

  const pct = (a: number, b: number) => `${(((b - a) / a) * 100).toFixed(1)}%`;
  const rows = [
    ["Redis keys (DBSIZE)", String(start.keys), String(end.keys), pct(start.keys, end.keys)],
    ["Redis used_memory (bytes)", String(start.usedMemory), String(end.usedMemory), pct(start.usedMemory, end.usedMemory)],
  ];
  const header = ["measure", "start", "end", "change"];
  const widths = header.map((hd, i) => Math.max(hd.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  console.log(
    `${CYCLES} create+delete cycles in ${seconds.toFixed(0)} s (${((seconds / CYCLES) * 1000).toFixed(0)} ms/cycle), ` +
      `retention ${FINISHED_S} s finished / ${UNFINISHED_S} s unfinished`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
  const shapes = new Set([...start.byPattern.keys(), ...end.byPattern.keys()]);
  const changed = [...shapes].filter((p) => (start.byPattern.get(p) ?? 0) !== (end.byPattern.get(p) ?? 0));
  if (changed.length > 0) {
    console.log("key shapes whose count changed (start -> end):");
    for (const p of changed.sort()) console.log(`  ${p}: ${start.byPattern.get(p) ?? 0} -> ${end.byPattern.get(p) ?? 0}`);
  }
  const ok = end.keys <= start.keys * (1 + TOLERANCE) && end.usedMemory <= start.usedMemory * (1 + TOLERANCE);
  console.log(ok ? "PASS: key count and memory within 10% of the start" : "FAIL: state grew more than 10%");
  if (!ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
