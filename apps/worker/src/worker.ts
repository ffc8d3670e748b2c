/**
 * A host's worker: consumes its host's queue, and keeps the cluster informed
 * about the host (heartbeat + inventory, index reconcile, live stats).
 */
import type { QueuedJobData } from "@netforge/core/contract";
import { connectRedis, isRedisUnavailableError, makeKeys, markHostOffline, watchRedisOutage } from "@netforge/core/store";
import { deniedHostPorts } from "@netforge/core/model";
import { Worker } from "bullmq";
import type { Logger } from "pino";
import type { WorkerConfig } from "./config";
import type { HostContext } from "./context";
import { BootCopy } from "./firewall/boot-copy";
import { OverlayBoot } from "./drivers/overlay-boot";
import { HostFirewall } from "./firewall/host-firewall";
import { NftBackend } from "./firewall/nftables";
import { PortWatcher } from "./firewall/port-watcher";
import { publishOverlayPartNow } from "./drivers/overlay-drift";
import { JobJournal } from "./job-journal";
import { UnicastSync } from "./drivers/overlay-unicast";
import { ExecaRunner, type CommandRunner } from "./host/command-runner";
import { NetworkCatalog } from "./host/network-catalog";
import { Virsh } from "./host/virsh";
import { refreshHost } from "./inventory";
import { DEFAULT_HOST_LEASE_MS, type HostIdInUse, HostLeaseKeeper, newLeaseOwner, takeHostLease } from "./host-lease";
import { LeaseWatcher } from "./lease-watcher";
import { failAbandonedJob, makeProcessor } from "./processor";
import { feedNewPorts, followBridgeMacs } from "./qos-drift";
import { reconcile, repairFirewallDrift } from "./reconcile";
import { StoreEpochWatch } from "./store-epoch-watch";
import { STORE_EPOCH_CHECK_MS } from "@netforge/core/store";

export interface RunningWorker {
  host: HostContext;
  close(): Promise<void>;
  /**
   * Resolves when another worker took this host id's lease while this one ran (it stopped acting: no new job,
   * no heartbeat or reconcile); the process should then exit non-zero (index.ts does).
   */
  leaseLost: Promise<HostIdInUse>;
}

export async function startWorker(cfg: WorkerConfig, logger: Logger, runner: CommandRunner = new ExecaRunner()): Promise<RunningWorker> {
  const redis = connectRedis(cfg.redisUrl);
  const keys = makeKeys(cfg.prefix);
  // One running worker per host id: taken before anything of the host is read or published (a second worker
  // with this HOST_ID refuses here, naming the owner); see host-lease.ts.
  const leaseOwner = newLeaseOwner();
  const leaseMs = cfg.hostLeaseMs ?? DEFAULT_HOST_LEASE_MS;
  try {
    await takeHostLease(redis, keys, cfg.hostId, leaseOwner, leaseMs, logger);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  let onLeaseLost: (err: HostIdInUse) => void = () => undefined;
  const leaseLost = new Promise<HostIdInUse>((resolve) => {
    onLeaseLost = resolve;
  });
  let running: RunningWorker | null = null;
  let lostTo: HostIdInUse | null = null;
  const stopForLostLease = (w: RunningWorker, err: HostIdInUse) => void w.close().finally(() => onLeaseLost(err));
  // Set once the host context exists: a lease found gone is the first sign of an emptied store.
  let storeMaybeReset: () => void = () => undefined;
  const lease = new HostLeaseKeeper(
    redis,
    keys,
    cfg.hostId,
    leaseOwner,
    leaseMs,
    logger,
    (err) => {
      // Another worker owns the host id now: stop acting at once (its host record is not ours to write).
      lostTo = err;
      if (running) stopForLostLease(running, err);
    },
    () => storeMaybeReset(),
  );
  // Renewed with the heartbeat (at least three times per TTL), on its own timer so a slow inventory read
  // cannot delay it.
  lease.start(Math.max(100, Math.min(cfg.heartbeatMs, Math.floor(leaseMs / 3))));
  const virsh = new Virsh(runner, cfg.libvirtUri, { commandTimeoutMs: cfg.virshTimeoutMs });
  const startedAt = new Date().toISOString();
  const catalog = new NetworkCatalog(virsh, { logger });
  const bootCopy = cfg.firewallBootFile ? new BootCopy(cfg.firewallBootFile, logger) : null;
  const nft = new NftBackend(runner, bootCopy);
  const overlayBoot = cfg.overlayBootDir ? new OverlayBoot(cfg.overlayBootDir, logger) : null;
  nft.warm();
  const host: HostContext = {
    hostId: cfg.hostId,
    runner,
    virsh,
    catalog,
    firewall: new HostFirewall(nft, logger),
    redis,
    keys,
    logger,
    ...(overlayBoot ? { overlayBoot } : {}),
    leasesDir: cfg.leasesDir,
    sysfsRoot: cfg.sysfsRoot,
    resolvConf: cfg.resolvConf,
    allowedInterfaces: cfg.allowedInterfaces ?? [],
    deniedHostPorts: cfg.deniedHostPorts ?? deniedHostPorts(undefined),
    ...(cfg.ssCommand ? { ssCommand: cfg.ssCommand } : {}),
    ...(cfg.qosQdiscs ? { qosQdiscs: cfg.qosQdiscs } : {}),
    ...(cfg.underlayIp ? { underlayIp: cfg.underlayIp } : {}),
    ...(cfg.memberPartTimeoutMs ? { memberPartTimeoutMs: cfg.memberPartTimeoutMs } : {}),
    ...(cfg.jobJournal ? { journal: new JobJournal(cfg.jobJournal, logger) } : {}),
    hostChanged: (network) => scheduleInventory(network),
    publishHostNow: async () => void (await inventory()),
    storeEpoch: { current: () => epochWatch.current(), changed: () => storeMaybeReset() },
  };
  // Reads and publishes of the host's record one after the other, in the order they were asked for: two
  // overlapping reads (a link event's, the heartbeat's, a job's) could otherwise publish the older read last,
  // and a dry run would plan from a host state that is gone.
  let inventoryChain: Promise<unknown> = Promise.resolve();
  const inventory = (only?: ReadonlySet<string>) => {
    const next = inventoryChain.then(() => refreshHost(host, startedAt, libvirtVersion, only ? { only } : {}));
    inventoryChain = next.catch(() => undefined);
    return next;
  };
  // The store's epoch (ADR 0047): this host's whole part of the index is re-published at once after a reset.
  const epochWatch = new StoreEpochWatch(host, async () => {
    const rec = await reconcile(host, { reread: !catalog.stats().live });
    await inventory();
    logger.info({ networks: rec.present, removed: rec.removed }, "index reconciled");
  });
  let stopping = false;
  /** Set when the shutdown grace is over: running jobs stop before their next step (see ProcessorOptions). */
  let interrupting = false;
  // Host-record writes in flight (heartbeat, post-job refresh): close() lets them land before it marks the host
  // offline, and none start once stopping; otherwise a late heartbeat showed a cleanly stopped host online again
  // for HOST_OFFLINE_AFTER_MS.
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    const done = () => inFlight.delete(p);
    p.then(done, done);
    return p;
  };
  // After jobs, the host's record (interfaces, networks, listening ports) is republished once the host is quiet:
  // 250 ms after the last job of a burst, and at most 2 s after the first, so back-to-back jobs do not each
  // pay for (and wait behind) a read of the whole host. It is the light refresh: the stats and IP tables of
  // the networks the jobs changed only (every network's, O(networks) Redis writes, and a fresh read of other
  // firewalls' rules stay with the heartbeat).
  let inventoryTimer: NodeJS.Timeout | null = null;
  let inventoryDueBy = 0;
  let changedNetworks = new Set<string>();
  const scheduleInventory = (network?: string) => {
    if (stopping) return;
    if (network) changedNetworks.add(network);
    const now = Date.now();
    if (!inventoryTimer) inventoryDueBy = now + 2_000;
    else clearTimeout(inventoryTimer);
    inventoryTimer = setTimeout(
      () => {
        inventoryTimer = null;
        const only = changedNetworks;
        changedNetworks = new Set();
        void track(inventory(only).catch((err) => logger.warn({ err }, "inventory refresh failed")));
      },
      Math.max(0, Math.min(250, inventoryDueBy - now)),
    );
  };
  const libvirtVersion = await virsh.daemonVersion();
  if (!libvirtVersion) logger.warn({ uri: cfg.libvirtUri }, "libvirt daemon did not answer; jobs will fail until it does");

  // Port security's port sets follow the bridges' ports (link events), from before the first apply on.
  const portWatcher = new PortWatcher(runner, host.firewall, logger);
  host.firewall.onPortSecuredChange = () => portWatcher.schedule();
  // Bandwidth limits: a port plugged into a shaped bridge feeds its ingress to the network's IFB at once.
  // A bridge network's uplink filters follow its bridge's MAC, which a port joining or leaving can change.
  portWatcher.onPorts = async (ports) => {
    await feedNewPorts(host, ports);
    await followBridgeMacs(host, ports);
  };
  // Host facts at the door are fresh: a NIC or address added or removed is published within ~250 ms.
  portWatcher.onLinkChange = () => scheduleInventory();
  portWatcher.start();
  // Follow libvirt's events from here on (one full read of the host once the stream is up).
  await catalog.start(runner);
  // Overlays: this member's local MACs published as its bridges learn them, the others' written as unicast entries.
  const unicast = new UnicastSync(host, (name) => publishOverlayPartNow(host, name));
  unicast.start();
  // Rebuild this host's part of the index before taking jobs: the index may be empty (new Redis) or stale.
  await epochWatch.start();

  const bullConnection = connectRedis(cfg.redisUrl);
  // Both connections retry forever in the background; an outage is logged once when it starts and once when it ends.
  const outage = watchRedisOutage([redis, bullConnection], logger, `worker ${cfg.hostId}`);
  const worker = new Worker<QueuedJobData>(
    keys.hostQueue(cfg.hostId),
    makeProcessor(host, { lockTtlMs: cfg.lockTtlMs, interrupted: () => interrupting }),
    {
      connection: bullConnection,
      prefix: keys.bull,
      concurrency: cfg.concurrency,
      // Lock renewals of BullMQ itself; our per-network lock is separate. A dead worker's job is moved back
      // to wait once its lock (2x stalledMs) has expired, by the next stalled check (every stalledMs).
      lockDuration: cfg.stalledMs * 2,
      stalledInterval: cfg.stalledMs,
      maxStalledCount: 2,
    },
  );
  worker.on("error", (err) => {
    // Connection failures of BullMQ's connections (one per reconnect attempt) are the outage already logged.
    if (isRedisUnavailableError(err)) return;
    logger.error({ err }, "worker error");
  });
  worker.on("failed", (job, err) => {
    if (job)
      void track(failAbandonedJob(host, job, err.message, { lockTtlMs: cfg.lockTtlMs, stopping: () => stopping })).catch((e) =>
        logger.warn({ err: e }, "could not record abandoned job"),
      );
  });

  const loop = (ms: number, what: string, fn: () => Promise<unknown>) => {
    let timer: NodeJS.Timeout;
    const tick = async () => {
      if (stopping) return;
      try {
        await track(fn());
      } catch (err) {
        if (outage.down && isRedisUnavailableError(err)) logger.debug({ err, what }, "periodic task failed (redis unavailable)");
        else logger.warn({ err, what }, "periodic task failed");
      }
      if (!stopping) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    return () => clearTimeout(timer);
  };
  // IP tables are published when leases change (inotify); the heartbeat re-arms the watch if the directory
  // appeared only later, and its stats refresh also republishes every table (expired leases drop out).
  const leaseWatcher = new LeaseWatcher(host);
  leaseWatcher.ensure();
  const stopHeartbeat = loop(cfg.heartbeatMs, "heartbeat", () => {
    leaseWatcher.ensure();
    portWatcher.schedule();
    return inventory();
  });
  // Rounds work from the event-kept catalog; every resyncMs one re-reads every definition (what emits no event).
  let lastFullRead = Date.now();
  const stopReconcile = loop(cfg.reconcileMs, "reconcile", async () => {
    const reread = Date.now() - lastFullRead >= (cfg.resyncMs ?? 300_000);
    if (reread) lastFullRead = Date.now();
    const t0 = performance.now();
    const r = await reconcile(host, { reread });
    // What a round costs at this host's size (bench/host-size.ts reads these lines).
    const ms = Math.round((performance.now() - t0) * 10) / 10;
    logger.debug({ ms, reread, networks: r.present, phases: r.phases }, "reconcile round");
  });
  // A store that lost its data is noticed within a second (and at once by a refused host-record write or a lease
  // found gone), not at the next reconcile round.
  const stopEpochCheck = loop(Math.min(cfg.heartbeatMs, STORE_EPOCH_CHECK_MS), "store epoch check", () => epochWatch.check());
  storeMaybeReset = () => {
    if (!stopping) void track(epochWatch.check()).catch((err: unknown) => logger.warn({ err }, "store epoch check failed"));
  };
  // Someone flushing netforge's table (or a firewall tool replacing the ruleset) is repaired within seconds.
  const stopFirewallCheck = loop(cfg.firewallCheckMs, "firewall check", () => repairFirewallDrift(host));
  logger.info({ queue: keys.hostQueue(cfg.hostId), libvirtVersion }, "worker ready");

  const self: RunningWorker = {
    host,
    leaseLost,
    async close() {
      stopping = true;
      if (inventoryTimer) clearTimeout(inventoryTimer);
      stopHeartbeat();
      stopReconcile();
      stopFirewallCheck();
      stopEpochCheck();
      leaseWatcher.close();
      portWatcher.close();
      // A worker that lost the host id leaves the host record to the new owner (not marked offline).
      const owned = () => !lease.isLost;
      // Going offline first: placement stops choosing this host while its running jobs finish.
      if (owned()) await markHostOffline(redis, keys, cfg.hostId).catch(() => undefined);
      // BullMQ's close takes no new job and resolves once the running ones are done.
      const drained = worker.close();
      logger.info({ graceMs: cfg.shutdownGraceMs }, "stopping: no new jobs, waiting for running ones");
      let graceTimer: NodeJS.Timeout | undefined;
      let abortTimer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        drained.then(() => "drained" as const),
        new Promise<"forced">((resolve) => {
          graceTimer = setTimeout(() => {
            // Grace over: each running job stops before its next step, undoes and requeues itself.
            interrupting = true;
            logger.warn({ abortMs: cfg.shutdownAbortMs }, "shutdown grace over: running jobs stop at their next step and requeue");
            abortTimer = setTimeout(() => resolve("forced"), cfg.shutdownAbortMs);
          }, cfg.shutdownGraceMs);
        }),
      ]);
      clearTimeout(graceTimer);
      clearTimeout(abortTimer);
      if (outcome === "forced") {
        // A job caught in one host command past grace + abort: exit anyway. Its BullMQ lock and network lock
        // expire; BullMQ's stalled check hands it to this host's next worker, which resumes it (start-up reconcile).
        logger.error({}, "jobs still running after the shutdown grace and abort time; leaving them to the stalled check");
        void worker.close(true).catch(() => undefined);
      }
      unicast.close();
      catalog.close();
      virsh.close();
      await Promise.allSettled([...inFlight]);
      nft.close();
      // The boot copy of the last apply is on disk before the process goes (its writes run off the jobs' path).
      await bootCopy?.settled();
      await overlayBoot?.settled();
      if (owned()) await markHostOffline(redis, keys, cfg.hostId).catch(() => undefined);
      // Last: the next worker of this host id may start at once, and nothing of ours writes after it does.
      await lease.release().catch((err: unknown) => logger.warn({ err }, "could not release the host-id lease; it expires"));
      redis.disconnect();
      bullConnection.disconnect();
    },
  };
  // Closed once: a close for a lost lease and the caller's own close share the one shutdown.
  const closeOnce = self.close;
  let closed: Promise<void> | null = null;
  self.close = () => {
    closed ??= closeOnce();
    return closed;
  };
  running = self;
  // Lost while starting up (the keeper found another holder before `running` existed).
  if (lostTo) stopForLostLease(self, lostTo);
  return self;
}
