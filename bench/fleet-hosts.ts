/**
 * Child process of the fleet benchmark: runs one real worker (startWorker,
 * unchanged) per simulated host named in FLEET_HOSTS, each on its own
 * SimulatedHost. Prints "ready" once every worker took its queue; SIGTERM
 * closes them all. Env: REDIS_URL, NETFORGE_PREFIX, FLEET_HOSTS (comma list),
 * FLEET_STEPS (JSON StepSamples), FLEET_CONCURRENCY (default 8, the worker's default).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { WorkerConfig } from "../apps/worker/src/config";
import { type RunningWorker, startWorker } from "../apps/worker/src/worker";
import { SimulatedHost, type StepSamples } from "./simulated-host";

const hosts = (process.env.FLEET_HOSTS ?? "").split(",").filter(Boolean);
const samples = JSON.parse(process.env.FLEET_STEPS ?? "{}") as StepSamples;
// An empty directory: no leases to watch, no SR-IOV devices.
const empty = mkdtempSync(join(tmpdir(), "netforge-fleet-"));
const logger = pino({ level: "error" }, pino.destination(2));

const config = (hostId: string): WorkerConfig => ({
  redisUrl: process.env.REDIS_URL as string,
  prefix: process.env.NETFORGE_PREFIX as string,
  hostId,
  libvirtUri: "qemu:///system",
  logLevel: "error",
  concurrency: Number(process.env.FLEET_CONCURRENCY ?? 8),
  // The shipped defaults (config.ts): the periodic work of a real fleet is part of the load.
  reconcileMs: 30_000,
  firewallCheckMs: 3000,
  heartbeatMs: 5000,
  leasesDir: join(empty, "leases"),
  stalledMs: 30_000,
  lockTtlMs: 30_000,
  virshTimeoutMs: 60_000,
  sysfsRoot: empty,
  shutdownGraceMs: 5000,
  shutdownAbortMs: 2000,
});

const workers: RunningWorker[] = [];
for (let i = 0; i < hosts.length; i += 10)
  workers.push(
    ...(await Promise.all(
      hosts.slice(i, i + 10).map((h) => startWorker(config(h), logger.child({ host: h }), new SimulatedHost(samples))),
    )),
  );
process.stdout.write("ready\n");

process.on("SIGTERM", () => {
  void Promise.allSettled(workers.map((w) => w.close())).then(() => process.exit(0));
});
