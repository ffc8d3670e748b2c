/**
 * Index rebuild and drift repair: libvirt on the host is the truth. At start
 * and periodically the worker re-reads every libvirt network, writes the
 * records of netforge's networks (and their name/subnet claims) to the index,
 * and removes index entries of this host that libvirt no longer has. Entries
 * whose network lock is held (a job is running on them) are left alone.
 */
import { parseNetworkXml, modelOf, overlayGatewayMac, overlayModel, vxlanDeviceName } from "@netforge/core/model";
import {
  countWorkerEvent,
  getNetworks,
  getNetworkSpecs,
  type NetworkRecord,
  putNetwork,
  putNetworkSpec,
  putNetworkSpecIfAbsent,
  releaseNetworkClaim,
  removeNetwork,
  setHostConflicts,
  syncHostClaims,
  tryLock,
} from "@netforge/core/store";
import type { HostContext } from "./context";
import type { HostSnapshot } from "./drivers/driver";
import { driverOf } from "./drivers/registry";
import type { CatalogEntry } from "./host/network-catalog";
import { ensureLegacyAccept, needsLegacyAccept } from "./firewall/legacy-nat";
import { assertForwardedPorts } from "./handlers/port-claims";
import type { TrafficState } from "./firewall/nftables";
import { publishIpTable, readTraffic } from "./ip-table";
import { reapplyMtu } from "./mtu-drift";
import { publishOverlayParts, reapplyOverlays, restartStoppedParts } from "./drivers/overlay-drift";
import { settleLeftParts } from "./drivers/overlay-left-parts";
import { reapplyQos } from "./qos-drift";

/** Records differ in anything but updatedAt. */
function sameRecord(a: NetworkRecord, b: NetworkRecord): boolean {
  return JSON.stringify({ ...a, updatedAt: "" }) === JSON.stringify({ ...b, updatedAt: "" });
}

/** Where a round's time went, per phase (ms): what grows with the host's size (logged by the worker's loop). */
export type ReconcilePhases = Record<"catalog" | "records" | "specs" | "lostState" | "overlays" | "firewall" | "removed", number>;

export async function reconcile(
  ctx: HostContext,
  opts: { reread?: boolean } = {},
): Promise<{ present: number; removed: string[]; phases: ReconcilePhases }> {
  const phases: ReconcilePhases = { catalog: 0, records: 0, specs: 0, lostState: 0, overlays: 0, firewall: 0, removed: 0 };
  let mark = performance.now();
  const lap = (phase: keyof ReconcilePhases) => {
    const t = performance.now();
    phases[phase] = Math.round((t - mark) * 10) / 10;
    mark = t;
  };
  // Parts of jobs spanning hosts left here while this host did not answer: settled first (the first round runs
  // before the host reports online), so what is read below no longer has them.
  await settleLeftParts(ctx);
  const firewallMark = ctx.firewall.mark(); // before reading libvirt: what jobs set after this is newer than our read
  const catalog = (await ctx.catalog.list({ reread: opts.reread ?? true })).filter((c) => c.def.managed);
  lap("catalog");
  const now = new Date().toISOString();
  const names = catalog.map((c) => c.name);
  const existing = new Map((await getNetworks(ctx.redis, ctx.keys, names)).map((r) => [r.name, r]));
  // Claims (names, subnets, forwarded ports) first: a network that shows up in the index again must already be
  // claimed, or a create of its name or an overlapping subnet slips in between (seen under load).
  // A member's part of a network spanning hosts (an overlay off its gateway host) is not this host's network in
  // the index: its name, subnet, record and spec are the gateway host's.
  const own = catalog.filter((c) => !c.def.spec || modelOf(c.def.spec).indexedHere?.(c.def.spec) !== false);
  const conflicts = await syncHostClaims(
    ctx.redis,
    ctx.keys,
    ctx.hostId,
    own.map((c) => ({
      name: c.name,
      cidr: c.def.cidr,
      cidr6: c.def.spec ? (modelOf(c.def.spec).view(c.def.spec).ipv6?.cidr ?? null) : null,
    })),
  );
  // A name another host holds is reported, never taken: that host's record, spec and IP table stay in the index.
  await setHostConflicts(
    ctx.redis,
    ctx.keys,
    ctx.hostId,
    conflicts.map((c) => c.network),
  );
  if (conflicts.length > 0 || (ctx.nameConflicts?.length ?? 0) > 0) {
    if (conflicts.length > 0) ctx.logger.warn({ conflicts }, "networks of this host whose name another host holds: kept on both, reported");
    ctx.nameConflicts = conflicts;
  }
  const conflicted = new Set(conflicts.map((c) => c.network));
  // What goes to the index (records, specs); the host's own state (firewall, lost state) is repaired for all.
  const indexed = own.filter((c) => !conflicted.has(c.name));
  await assertForwardedPorts(ctx, catalog);
  /** Index entries rewritten or removed because they differed from libvirt (the drift-repair counter of /metrics). */
  let repaired = 0;
  for (const entry of indexed) {
    const prev = existing.get(entry.name);
    const rec = driverOf(entry).record(entry, ctx.hostId, now);
    if (prev) rec.updatedAt = prev.updatedAt;
    if (prev && sameRecord(prev, rec)) continue;
    // Only write under the network's lock, from a state read under it: a job running on the network (a create
    // about to fail and undo, a stop in progress) owns its record, and our listing may predate its changes.
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
    if (!lock) continue;
    try {
      const state = await ctx.virsh.info(entry.name);
      if (!state) continue;
      const fresh = driverOf(entry).record({ ...entry, ...state }, ctx.hostId, now);
      if (prev && sameRecord(prev, fresh)) continue;
      await putNetwork(ctx.redis, ctx.keys, fresh);
      repaired += 1;
    } finally {
      await lock.release();
    }
  }
  lap("records");
  await publishSpecs(ctx, indexed);
  lap("specs");
  const live = await reapplyLostState(ctx, catalog);
  await restartDeadDhcp(ctx, catalog, live);
  await reapplyMtu(ctx, catalog);
  await reapplyQos(ctx, catalog);
  lap("lostState");
  await restartStoppedParts(ctx, catalog);
  await reapplyOverlays(ctx, catalog);
  lap("overlays");
  await syncFirewall(ctx, catalog, live, firewallMark);
  lap("firewall");

  // Index entries of this host that libvirt does not have any more.
  const removed: string[] = [];
  const present = new Set(names);
  const allNames = await ctx.redis.zrange(ctx.keys.networks, 0, -1);
  const mine = (await getNetworks(ctx.redis, ctx.keys, allNames)).filter((r) => r.host === ctx.hostId && !present.has(r.name));
  for (const r of mine) {
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(r.name), 10_000);
    if (!lock) continue;
    try {
      // Re-check under the lock: a job may have created it since our listing.
      if ((await ctx.virsh.info(r.name)) !== null) continue;
      await removeNetwork(ctx.redis, ctx.keys, r.name);
      await releaseNetworkClaim(ctx.redis, ctx.keys, r.name, ctx.hostId);
      removed.push(r.name);
      repaired += 1;
    } finally {
      await lock.release();
    }
  }
  if (repaired > 0) await countWorkerEvent(ctx.redis, ctx.keys, ctx.hostId, "drift_repairs", repaired).catch(() => undefined);
  lap("removed");
  return { present: catalog.length, removed, phases };
}

/**
 * Publish each network's spec where the index's copy differs (the API checks and plans changes from it).
 * Written under the network's lock from a fresh read, like the records: a job changing the spec publishes
 * its own, and our listing may predate it.
 */
async function publishSpecs(ctx: HostContext, catalog: CatalogEntry[]): Promise<void> {
  const withSpec = catalog.filter((e) => e.def.spec);
  // The index's copies in a few MGETs, not one GET per network (1,000 round trips at 1,000 networks).
  const published = await getNetworkSpecs(
    ctx.redis,
    ctx.keys,
    withSpec.map((e) => e.name),
  );
  for (const e of withSpec) {
    const spec = e.def.spec;
    if (!spec) continue;
    const prev = published.get(e.name);
    if (prev && JSON.stringify(prev) === JSON.stringify(spec)) continue;
    // No spec in the index at all (the store was reset): the catalog's is published at once, even while a job
    // holds the lock, since until then the door refuses the network's changes (503). Only where still absent: a
    // job's own publish is newer and stands.
    if (prev === null || prev === undefined) {
      if (await putNetworkSpecIfAbsent(ctx.redis, ctx.keys, spec)) continue;
    }
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(e.name), 10_000);
    if (!lock) continue;
    try {
      if (!(await ctx.virsh.info(e.name))) continue;
      const fresh = parseNetworkXml(await ctx.virsh.dumpXml(e.name, { inactive: true })).spec;
      if (fresh) await putNetworkSpec(ctx.redis, ctx.keys, fresh);
    } finally {
      await lock.release();
    }
  }
}

/**
 * State netforge keeps that a running network lost (a live `net-update` undone by hand, a dnsmasq config
 * regenerated from an older definition...): compare each running network's live definition with its spec
 * and re-apply the difference, logged and counted. The comparison is pure and lock-free; only a network
 * that lost something is locked, re-read and repaired, so jobs are not slowed by reconcile rounds.
 */
async function reapplyLostState(ctx: HostContext, catalog: CatalogEntry[]): Promise<Map<string, string>> {
  const running = catalog.filter((c) => c.active && c.def.spec);
  if (running.length === 0) return new Map();
  const live = await ctx.virsh.dumpXmlMany(running.map((c) => c.name));
  for (const entry of running) {
    const driver = driverOf(entry);
    const xml = live.get(entry.name);
    if (!xml || driver.lostState(entry, xml).length === 0) continue;
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
    if (!lock) continue; // a job is changing it: the next round looks again
    try {
      // Re-read under the lock: the spec and the live state a job may have changed since the listing.
      const state = await ctx.virsh.info(entry.name);
      if (!state?.active) continue;
      const def = parseNetworkXml(await ctx.virsh.dumpXml(entry.name, { inactive: true }));
      const lost = driver.lostState({ ...entry, def }, await ctx.virsh.dumpXml(entry.name));
      for (const piece of lost) for (const cmd of piece.commands) await ctx.virsh.run(cmd);
      if (lost.length > 0) {
        ctx.logger.warn({ network: entry.name, reapplied: lost.map((l) => l.what) }, "re-applied state the host had lost");
        await ctx.redis.hincrby(ctx.keys.reappliedCounter, ctx.hostId, lost.length);
      }
    } catch (err) {
      ctx.logger.warn({ err, network: entry.name }, "could not re-apply lost state");
    } finally {
      await lock.release();
    }
  }
  return live;
}

/** libvirt's pid file of a running network's dnsmasq (the system instance's run directory). */
const dnsmasqPidFile = (name: string) => `/run/libvirt/network/${name}.pid`;
/**
 * A DNS record added and taken away again, live only, to make libvirt start a network's dnsmasq that is not
 * running: its live DNS update starts the daemon when it is gone (libvirt has no command of its own for it, and
 * a restart of the network would take every VM's port off the bridge). TEST-NET-1 and `.invalid`: no user record
 * or address collides with it (the door refuses reserved ranges).
 */
const DHCP_NUDGE = "<host ip='192.0.2.1'><hostname>netforge-dhcp-restart.invalid</hostname></host>";

/**
 * A running network whose DHCP/DNS server died (killed, crashed) gets it back: libvirt does not watch it, so
 * without this its VMs get no lease until the network is next changed (found by the chaos run's dnsmasq kill).
 * Checked from libvirt's pid file (the process must still be a dnsmasq: pids are reused); restarted under the
 * network's lock, logged and counted as re-applied state.
 */
async function restartDeadDhcp(ctx: HostContext, catalog: CatalogEntry[], live: Map<string, string>): Promise<void> {
  const withDhcp = catalog.filter((e) => {
    const xml = live.get(e.name);
    return e.active && e.def.spec && xml && /<ip\b/.test(xml);
  });
  if (withDhcp.length === 0) return;
  // One command a round for every pid file (grep -H prints "<file>:<pid>" for those that exist), then /proc.
  const dead = await deadDnsmasq(
    ctx,
    withDhcp.map((e) => e.name),
  ).catch(() => new Set<string>());
  for (const entry of withDhcp) {
    if (!dead.has(entry.name)) continue;
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
    if (!lock) continue;
    try {
      if (!(await ctx.virsh.info(entry.name))?.active || !(await deadDnsmasq(ctx, [entry.name])).has(entry.name)) continue;
      await ctx.virsh.run(["net-update", entry.name, "add-last", "dns-host", DHCP_NUDGE, "--live"]);
      await ctx.virsh.run(["net-update", entry.name, "delete", "dns-host", DHCP_NUDGE, "--live"]);
      ctx.logger.warn({ network: entry.name }, "the network's dnsmasq was not running: started again");
      await ctx.redis.hincrby(ctx.keys.reappliedCounter, ctx.hostId, 1);
    } catch (err) {
      ctx.logger.warn({ err, network: entry.name }, "could not start the network's dnsmasq again");
    } finally {
      await lock.release();
    }
  }
}

/** Of these networks, those whose dnsmasq is not running (no pid file, or its pid is no dnsmasq: pids are reused). */
async function deadDnsmasq(ctx: HostContext, names: string[]): Promise<Set<string>> {
  const r = await ctx.runner.run("grep", ["-H", "", ...names.map(dnsmasqPidFile)], { allowFailure: true });
  const pids = new Map<string, number>();
  for (const line of r.stdout.split("\n")) {
    const m = /^\/run\/libvirt\/network\/(.+)\.pid:(\d+)$/.exec(line.trim());
    if (m) pids.set(m[1] as string, Number(m[2]));
  }
  // And every pid's process name in one more: "/proc/<pid>/comm:dnsmasq".
  const comms = new Map<number, string>();
  if (pids.size > 0) {
    const c = await ctx.runner.run("grep", ["-H", "", ...[...pids.values()].map((p) => `/proc/${p}/comm`)], { allowFailure: true });
    for (const line of c.stdout.split("\n")) {
      const m = /^\/proc\/(\d+)\/comm:(.*)$/.exec(line.trim());
      if (m) comms.set(Number(m[1]), (m[2] as string).trim());
    }
  }
  const dead = new Set<string>();
  for (const name of names) {
    const pid = pids.get(name);
    if (!pid || comms.get(pid) !== "dnsmasq") dead.add(name);
  }
  return dead;
}

/**
 * netforge's nft table from libvirt's truth: the part of every running netforge network, from its spec.
 * A network still running as defined before netforge owned its rules (live <forward mode='nat'/>) keeps
 * libvirt's masquerade until its next start (ownsTypeRules false). Applied when it differs from what this
 * worker applied last (a worker restart, a network started behind our back) or when the table drifted.
 */
export async function syncFirewall(ctx: HostContext, catalog: CatalogEntry[], live: Map<string, string>, readMark: number): Promise<void> {
  const nets = catalog.flatMap((c) => {
    const spec = c.def.spec;
    if (!c.active || !spec) return [];
    const model = modelOf(spec);
    const part = model.firewall(spec);
    if (!part) return [];
    const xml = live.get(c.name);
    const mode = xml ? parseNetworkXml(xml).forwardMode : c.def.forwardMode;
    return [{ ...part, ownsTypeRules: model.ownsTypeRules(mode) }];
  });
  // Bridge networks made on a NIC: counted at it (in the bridge table), stopped or running (the NIC stays in the bridge).
  const lan = catalog.flatMap((c) => {
    const at = c.def.spec ? modelOf(c.def.spec).view(c.def.spec).shapedAt : undefined;
    return at?.uplink ? [{ name: c.name, uplink: at.uplink, bridge: at.bridge }] : [];
  });
  // Overlays with a running part here: every member (the gateway too) counts its VMs' frames with other VMs of it.
  const overlays = catalog.flatMap((c) => {
    const spec = c.def.spec;
    if (!c.active || !c.def.managed || !spec || !overlayModel.is(spec) || spec.self !== ctx.hostId) return [];
    return [{ name: c.name, bridge: spec.bridge, gatewayMac: overlayGatewayMac(spec.vni), vxlan: vxlanDeviceName(spec.vni) }];
  });
  const outcome = await ctx.firewall.sync(nets, readMark, lan, overlays);
  if (outcome === "restored") await countRestore(ctx, "reconcile");
  // Networks still on libvirt's NAT rules keep their forwards past libvirt's reject (legacy-nat.ts): a libvirtd
  // restart may have put its jumps above our accept.
  for (const n of nets) {
    if (!needsLegacyAccept(n)) continue;
    const ran = await ensureLegacyAccept(ctx.runner, n).catch((err: unknown) => {
      ctx.logger.warn({ err, network: n.name }, "could not place the iptables accept of a legacy NAT network's forwards");
      return null;
    });
    if (ran) await countRestore(ctx, `reconcile (iptables accept of ${n.name})`);
  }
}

/** The fast drift check (every few seconds): the table is what we applied, else put it back. */
export async function repairFirewallDrift(ctx: HostContext): Promise<void> {
  if (await ctx.firewall.repairDrift()) await countRestore(ctx, "drift check");
}

async function countRestore(ctx: HostContext, by: string): Promise<void> {
  ctx.logger.warn({ by }, "netforge's nft table was changed or removed on the host: restored");
  await ctx.redis.hincrby(ctx.keys.reappliedCounter, ctx.hostId, 1);
}

/**
 * Live numbers for describe-network and the IP tables of list-network-ips, from one read of the host shared
 * with the inventory: connected VMs = ports on the bridge, allocated IPs = unexpired DHCP leases.
 */
export async function refreshStats(
  ctx: HostContext,
  { catalog, links }: Pick<HostSnapshot, "catalog" | "links">,
  /** Skip networks whose numbers did not change since a publish this recent (see publishIpTable). */
  unchangedForMs?: number,
): Promise<void> {
  // One read of the host's counters for both the overlay parts and the IP tables below, made when the first needs it
  // (a host without networks reads nothing). The kept maps it returns are the firewall's own, so the forgetting of
  // deleted networks' counters below shows in it as in a read after it.
  let counts: Promise<TrafficState | null> | null = null;
  const readCounts = () => {
    counts ??= readTraffic(ctx);
    return counts;
  };
  // Each overlay part of this host, for describe-network's members (a member's part is in no index record).
  await publishOverlayParts(ctx, catalog, links, unchangedForMs !== undefined, readCounts).catch((err: unknown) =>
    ctx.logger.warn({ err }, "could not publish this host's overlay parts"),
  );
  const conflicted = new Set((ctx.nameConflicts ?? []).map((c) => c.network));
  // A network whose name another host holds: the IP table under that name is the other host's.
  // A member's part of a network spanning hosts: the stats and IP table under its name are its gateway host's.
  const entries = catalog.filter(
    (c) => c.def.managed && !conflicted.has(c.name) && (!c.def.spec || modelOf(c.def.spec).indexedHere?.(c.def.spec) !== false),
  );
  if (entries.length === 0) return;
  const owners = await ctx.virsh.domainMacOwners();
  // A full refresh (the catalog holds every network of the host): forget the counters of deleted networks.
  if (unchangedForMs !== undefined && catalog.length > 0) {
    await ctx.firewall
      ?.forgetTrafficExcept(new Set(catalog.map((c) => c.name)), new Set(catalog.flatMap((c) => (c.def.bridge ? [c.def.bridge] : []))))
      .catch((err: unknown) => ctx.logger.warn({ err }, "could not drop the traffic counters of deleted networks"));
  }
  // The traffic counters of every network, one read of the host's table.
  const trafficState = await readCounts();
  for (const e of entries) {
    const connectedVms = e.active ? driverOf(e).connectedVms(ctx, e, links) : 0;
    await publishIpTable(ctx, e, { owners, connectedVms, trafficState, ...(unchangedForMs !== undefined ? { unchangedForMs } : {}) });
  }
}
