/**
 * A host's worker: consumes its host's queue, and keeps the cluster informed
 * about the host (heartbeat + inventory, index reconcile, live stats).
 */
import { connectRedis, makeKeys, markHostOffline, type QueuedJobData } from "@netforge/core";
import { Worker } from "bullmq";
import type { Logger } from "pino";
import type { WorkerConfig } from "./config";
import type { HostContext } from "./context";
import { ExecaRunner, type CommandRunner } from "./host/command-runner";
import { NetworkCatalog } from "./host/network-catalog";
import { Virsh } from "./host/virsh";
import { publishInventory } from "./inventory";
import { makeProcessor } from "./processor";
import { reconcile, refreshStats } from "./reconcile";

export interface RunningWorker {
  host: HostContext;
  close(): Promise<void>;
}

export async function startWorker(cfg: WorkerConfig, logger: Logger, runner: CommandRunner = new ExecaRunner()): Promise<RunningWorker> {
  const redis = connectRedis(cfg.redisUrl);
  const keys = makeKeys(cfg.prefix);
  const virsh = new Virsh(runner, cfg.libvirtUri);
  const startedAt = new Date().toISOString();
  const host: HostContext = {
    hostId: cfg.hostId,
    runner,
    virsh,
    catalog: new NetworkCatalog(virsh),
    redis,
    keys,
    logger,
    leasesDir: cfg.leasesDir,
    hostChanged: () => scheduleInventory(),
  };
  // Coalesces bursts of jobs into one inventory refresh shortly after they finish.
  let inventoryTimer: NodeJS.Timeout | null = null;
  const scheduleInventory = () => {
    if (inventoryTimer) return;
    inventoryTimer = setTimeout(() => {
      inventoryTimer = null;
      Promise.all([publishInventory(host, startedAt, libvirtVersion), refreshStats(host)]).catch((err) =>
        logger.warn({ err }, "inventory refresh failed"),
      );
    }, 200);
  };
  const libvirtVersion = await virsh.daemonVersion();
  if (!libvirtVersion) logger.warn({ uri: cfg.libvirtUri }, "libvirt daemon did not answer; jobs will fail until it does");

  // Rebuild this host's part of the index before taking jobs: the index may be empty (new Redis) or stale.
  const rec = await reconcile(host);
  await publishInventory(host, startedAt, libvirtVersion);
  logger.info({ host: cfg.hostId, networks: rec.present, removed: rec.removed }, "index reconciled");

  const worker = new Worker<QueuedJobData>(keys.hostQueue(cfg.hostId), makeProcessor(host), {
    connection: connectRedis(cfg.redisUrl),
    prefix: keys.bull,
    concurrency: cfg.concurrency,
    // Lock renewals of BullMQ itself; our per-network lock is separate.
    lockDuration: 60_000,
    stalledInterval: 30_000,
    maxStalledCount: 2,
  });
  worker.on("error", (err) => logger.error({ err }, "worker error"));

  let stopping = false;
  const loop = (ms: number, what: string, fn: () => Promise<unknown>) => {
    let timer: NodeJS.Timeout;
    const tick = async () => {
      if (stopping) return;
      try {
        await fn();
      } catch (err) {
        logger.warn({ err, what }, "periodic task failed");
      }
      if (!stopping) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    return () => clearTimeout(timer);
  };
  const stopHeartbeat = loop(cfg.heartbeatMs, "heartbeat", async () => {
    await publishInventory(host, startedAt, libvirtVersion);
    await refreshStats(host);
  });
  const stopReconcile = loop(cfg.reconcileMs, "reconcile", () => reconcile(host));
  logger.info({ host: cfg.hostId, queue: keys.hostQueue(cfg.hostId), libvirtVersion }, "worker ready");

  return {
    host,
    async close() {
      stopping = true;
      if (inventoryTimer) clearTimeout(inventoryTimer);
      stopHeartbeat();
      stopReconcile();
      await worker.close();
      await markHostOffline(redis, keys, cfg.hostId).catch(() => undefined);
      redis.disconnect();
    },
  };
}
