/**
 * Index rebuild and drift repair: libvirt on the host is the truth. At start
 * and periodically the worker re-reads every libvirt network, writes the
 * records of netforge's networks (and their name/subnet claims) to the index,
 * and removes index entries of this host that libvirt no longer has. Entries
 * whose network lock is held (a job is running on them) are left alone.
 */
import {
  countWorkerEvent,
  getNetworks,
  type NetworkRecord,
  putNetwork,
  putNetworkStats,
  releaseNetworkClaim,
  removeNetwork,
  syncHostClaims,
  tryLock,
} from "@netforge/core";
import type { HostContext } from "./context";
import { readLeases } from "./host/leases";
import type { HostSnapshot } from "./drivers/driver";
import { recordFromCatalog } from "./network-record";

/** Records differ in anything but updatedAt. */
function sameRecord(a: NetworkRecord, b: NetworkRecord): boolean {
  return JSON.stringify({ ...a, updatedAt: "" }) === JSON.stringify({ ...b, updatedAt: "" });
}

export async function reconcile(ctx: HostContext, opts: { reread?: boolean } = {}): Promise<{ present: number; removed: string[] }> {
  const catalog = (await ctx.catalog.list({ reread: opts.reread ?? true })).filter((c) => c.def.managed);
  const now = new Date().toISOString();
  const names = catalog.map((c) => c.name);
  const existing = new Map((await getNetworks(ctx.redis, ctx.keys, names)).map((r) => [r.name, r]));
  /** Index entries rewritten or removed because they differed from libvirt (the drift-repair counter of /metrics). */
  let repaired = 0;
  for (const entry of catalog) {
    const prev = existing.get(entry.name);
    const rec = recordFromCatalog(entry, ctx.hostId, now);
    if (prev) rec.updatedAt = prev.updatedAt;
    if (prev && sameRecord(prev, rec)) continue;
    // Only write under the network's lock, from a state read under it: a job running on the network (a create
    // about to fail and undo, a stop in progress) owns its record, and our listing may predate its changes.
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
    if (!lock) continue;
    try {
      const state = await ctx.virsh.info(entry.name);
      if (!state) continue;
      const fresh = recordFromCatalog({ ...entry, ...state }, ctx.hostId, now);
      if (prev && sameRecord(prev, fresh)) continue;
      await putNetwork(ctx.redis, ctx.keys, fresh);
      repaired += 1;
    } finally {
      await lock.release();
    }
  }
  await syncHostClaims(
    ctx.redis,
    ctx.keys,
    ctx.hostId,
    catalog.map((c) => ({ name: c.name, cidr: c.def.cidr })),
  );

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
  return { present: catalog.length, removed };
}

/**
 * Live numbers for describe-network: connected VMs = ports on the bridge,
 * allocated IPs = unexpired DHCP leases, from a read of the host shared with the inventory.
 */
export async function refreshStats(ctx: HostContext, { catalog, links }: Pick<HostSnapshot, "catalog" | "links">): Promise<void> {
  const entries = catalog.filter((c) => c.def.managed);
  const observedAt = new Date().toISOString();
  for (const e of entries) {
    const bridge = e.def.bridge;
    const ports = bridge && e.active ? links.filter((l) => l.master === bridge).length : 0;
    const leases = bridge && e.active ? await readLeases(bridge, ctx.leasesDir) : [];
    await putNetworkStats(ctx.redis, ctx.keys, e.name, { connectedVms: ports, allocatedIps: leases.length, observedAt });
  }
}
