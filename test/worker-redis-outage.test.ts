/**
 * A worker through a Redis outage, against a private redis-server this file
 * stops and restarts (the host side is a fake runner answering like an empty
 * host: no libvirt needed). The worker keeps retrying in the background and
 * logs the outage once when it starts and once when it ends, not once per
 * reconnect attempt; afterwards it heartbeats again.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { getHost, makeKeys } from "@netforge/core/store";
import { type RedisServer, startRedisServer } from "@netforge/devstack";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, expect, it } from "vitest";
import { type CommandResult, type CommandRunner, createWorker, type NetforgeWorker } from "@netforge/worker";

/** An empty host: no links, no routes, no libvirt networks. */
class EmptyHost implements CommandRunner {
  async run(cmd: string, args: readonly string[]): Promise<CommandResult> {
    const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
    if (cmd === "ip") return ok("[]");
    if (cmd === "virsh" && args.includes("version")) return ok("Running against daemon: 10.0.0\n");
    return ok("");
  }
}

let dir: string | undefined;
let server: RedisServer | undefined;
let worker: NetforgeWorker | undefined;
afterAll(async () => {
  await worker?.stop();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("logs a Redis outage once when it starts and once when it ends, and heartbeats again after", async () => {
  dir = await mkdtemp(join(tmpdir(), "nf-wo-"));
  server = await startRedisServer({ dir });
  const lines: { level: number; msg: string; err?: unknown }[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const prefix = `nftest-wo-${process.pid}`;
  worker = createWorker(
    {
      redisUrl: server.url,
      prefix,
      hostId: "wo-1",
      libvirtUri: "qemu:///system",
      logLevel: "info",
      concurrency: 1,
      reconcileMs: 1_000,
      firewallCheckMs: 3_000,
      heartbeatMs: 200,
      leasesDir: "/nonexistent",
      lockTtlMs: 30_000,
      virshTimeoutMs: 60_000,
      shutdownGraceMs: 1_000,
      shutdownAbortMs: 1_000,
      stalledMs: 1_000,
    },
    { logger: pino({ level: "info" }, sink), runner: new EmptyHost() },
  );
  await worker.start();
  const outageStart = lines.length;

  await server.stop();
  // ioredis retries every 50 ms, 100 ms, ... up to 2 s: a dozen attempts per connection in 3 s.
  await sleep(3_000);
  server = await startRedisServer({ dir });
  const deadline = Date.now() + 10_000;
  while (!lines.some((l) => l.msg === "redis is back")) {
    if (Date.now() > deadline) throw new Error("the worker did not log that Redis is back");
    await sleep(50);
  }
  // The store epoch is checked every second (and on a refused write): its line may follow "redis is back" by up to
  // that much on a loaded machine (CI saw it come after). Wait for it, then judge every line of the outage.
  while (!lines.some((l) => l.msg.startsWith("the store lost its data"))) {
    if (Date.now() > deadline) break;
    await sleep(50);
  }
  await sleep(300);
  const during = lines.slice(outageStart);
  const noisy = during.filter((l) => l.level >= 40);
  // This Redis keeps nothing on disk: it came back empty, which the worker also says once (and re-publishes).
  expect(noisy.map((l) => l.msg)).toEqual([
    "redis unavailable; retrying in the background (logged once until it is back)",
    "the store lost its data (its epoch changed): re-publishing this host's networks, claims and record now",
  ]);
  expect(during.filter((l) => l.msg === "redis is back")).toHaveLength(1);

  // The data went with the old server; the next heartbeat registers the host again.
  const check = new Redis({ path: server.socket });
  try {
    const keys = makeKeys(prefix);
    const until = Date.now() + 5_000;
    while (!(await getHost(check, keys, "wo-1"))) {
      if (Date.now() > until) throw new Error("no heartbeat after the outage");
      await sleep(50);
    }
  } finally {
    check.disconnect();
  }
});
