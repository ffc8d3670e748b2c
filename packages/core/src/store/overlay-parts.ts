/**
 * What each member host's worker last saw of its part of an overlay (issue 17, ADR 0051 "Slice 2"): whether the
 * part runs, whether its VXLAN device is there on the bridge, how many flood entries it has and how many VMs are
 * connected there. One hash per host, replaced whole by the worker's full stats refresh (every heartbeat) and
 * written field by field after a job; describe-network reads one field per member.
 */
import type { Redis } from "ioredis";
import type { TrafficCounts } from "../schemas/common";
import type { NetworkState } from "../schemas/network";
import type { Keys } from "./keys";

export interface OverlayPartState {
  state: NetworkState;
  /** The VXLAN device exists and is a port of the overlay's bridge. */
  vxlanDevice: boolean;
  /** The device's flood (all-zero) forwarding entries: one per other member when whole. */
  floodEntries: number;
  connectedVms: number;
  observedAt: string;
  /**
   * MAC -> name of this host's running libvirt domains with an interface on the overlay (list-network-ips names
   * the VMs of every member by it: the gateway's leases carry only MACs). Absent: none (or an older worker).
   */
  vms?: Record<string, string>;
  /**
   * The unicast MACs behind this member's own ports of the overlay's bridge (what its bridge learned there, its
   * domains' interfaces on the overlay, the gateway's own bridge address), sorted: every other member writes a
   * static entry toward this host for each one no third member also has. Absent: an older worker (none).
   */
  macs?: string[];
  /** The VXLAN device's static unicast entries (toward the member that has each MAC). */
  unicastEntries?: number;
  /**
   * The gateway's part only: IPv4 address -> MAC of what its DHCP leased and reserved, and its own gateway address:
   * every member writes its bridge's ARP-suppression entries from it (drivers/overlay-neighbours.ts).
   */
  neighbours?: Record<string, string>;
  /** The bridge's ARP-suppression entries (permanent neighbour entries netforge wrote) on this member. */
  neighbourEntries?: number;
  /**
   * What this member counted of the overlay's VM-to-VM traffic (ADR 0044 "Overlay members counted"): its VMs' frames
   * with other VMs of the overlay (not with the gateway's MAC), out where a VM sends, in where one receives; the
   * network's totals (`network`) and per VM by MAC (`vms`). They only grow (kept across renders and restarts by the
   * worker). Absent: not counted here (an older worker, or not counted yet).
   */
  traffic?: OverlayPartTraffic;
}

/** A member's VM-to-VM counts of an overlay (OverlayPartState.traffic). */
export interface OverlayPartTraffic {
  network: TrafficCounts;
  /** MAC (lower case) -> that VM's counts on this member. */
  vms: Record<string, TrafficCounts>;
}

const addCounts = (a: TrafficCounts, b: TrafficCounts): TrafficCounts => ({
  bytesIn: a.bytesIn + b.bytesIn,
  bytesOut: a.bytesOut + b.bytesOut,
  packetsIn: a.packetsIn + b.packetsIn,
  packetsOut: a.packetsOut + b.packetsOut,
});
const ZERO: TrafficCounts = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };

/**
 * The overlay's VM-to-VM traffic summed over its members' published parts (each frame is counted out at the
 * sender's member and in at the receiver's, the gateway host being a member like the others): the network's
 * totals and per MAC. Null: no member published any.
 */
export function sumOverlayTraffic(parts: Iterable<OverlayPartState | null | undefined>): OverlayPartTraffic | null {
  let network: TrafficCounts | null = null;
  const vms: Record<string, TrafficCounts> = {};
  for (const p of parts) {
    const t = p?.traffic;
    if (!t) continue;
    network = addCounts(network ?? ZERO, t.network);
    for (const [mac, c] of Object.entries(t.vms)) {
      const k = mac.toLowerCase();
      vms[k] = addCounts(vms[k] ?? ZERO, c);
    }
  }
  return network ? { network, vms } : null;
}

/**
 * Traffic counts with an overlay's members' VM-to-VM counts (`add`) added to the `network` peer (describe-network's
 * `stats.traffic`, a list-network-ips row's `traffic`, a /metrics row): the gateway's counters have only its
 * input/output part of `network` (its bridged VM-to-VM rules are left out for overlays). The totals and `outside`
 * stay the edge's. Counts without `peers` (a gateway not counting by peer) are returned as they are.
 */
export function withOverlayNetwork<T extends TrafficCounts & { peers?: { network: TrafficCounts } }>(t: T, add: TrafficCounts): T {
  if (!t.peers) return t;
  return { ...t, peers: { ...t.peers, network: addCounts(t.peers.network, add) } };
}

/** A list-network-ips row's traffic with no edge traffic yet and `network` counted by the members. */
export const overlayOnlyTraffic = (network: TrafficCounts) => ({ ...ZERO, peers: { outside: { ...ZERO }, network: { ...network } } });

/** The hash lives this long without a refresh (a host gone for good leaves no state forever). */
export const OVERLAY_PARTS_TTL_S = 300;
const AT = "_at";

/**
 * Publish this host's overlay parts. `whole`: these are all of them (the hash is replaced, so a part removed
 * since is gone from it); else only these are written (after a job on them).
 */
export async function putOverlayParts(
  redis: Redis,
  keys: Keys,
  host: string,
  parts: ReadonlyMap<string, OverlayPartState>,
  whole: boolean,
  at: string,
): Promise<void> {
  const key = keys.overlayParts(host);
  const fields: string[] = [AT, at];
  for (const [name, p] of parts) fields.push(name, JSON.stringify(p));
  const m = redis.multi();
  if (whole) m.del(key);
  m.hset(key, ...fields);
  m.expire(key, OVERLAY_PARTS_TTL_S);
  await m.exec();
}

/** This host has no part of overlay `name` (any more): its field removed (after a job that deleted it). */
export async function dropOverlayPart(redis: Redis, keys: Keys, host: string, name: string): Promise<void> {
  await redis.hdel(keys.overlayParts(host), name);
}

/**
 * Each host's part of overlay `name`: its state, null when the host published and has no such part, undefined
 * when the host has published nothing (lately).
 */
export async function getOverlayParts(
  redis: Redis,
  keys: Keys,
  name: string,
  hosts: readonly string[],
): Promise<Map<string, OverlayPartState | null | undefined>> {
  const p = redis.pipeline();
  for (const h of hosts) p.hmget(keys.overlayParts(h), AT, name);
  const res = (await p.exec()) ?? [];
  const out = new Map<string, OverlayPartState | null | undefined>();
  hosts.forEach((h, i) => {
    const [at, raw] = ((res[i]?.[1] as (string | null)[] | undefined) ?? [null, null]) as [string | null, string | null];
    out.set(h, at === null ? undefined : raw === null ? null : (JSON.parse(raw) as OverlayPartState));
  });
  return out;
}

/** The MACs a member's part publishes for unicast entries: none unless it runs (null/undefined: none known). */
export const publishedMacs = (part: OverlayPartState | null | undefined): string[] => (part?.state === "active" ? (part.macs ?? []) : []);

/** The addresses the gateway's part publishes for ARP suppression (none unless it runs). */
export const publishedNeighbours = (part: OverlayPartState | null | undefined): Record<string, string> =>
  part?.state === "active" ? (part.neighbours ?? {}) : {};

/** Every overlay part each of `hosts` published (host -> network -> part), for /metrics: one read per host. */
export async function getAllOverlayParts(
  redis: Redis,
  keys: Keys,
  hosts: readonly string[],
): Promise<Map<string, Map<string, OverlayPartState>>> {
  const p = redis.pipeline();
  for (const h of hosts) p.hgetall(keys.overlayParts(h));
  const res = (await p.exec()) ?? [];
  const out = new Map<string, Map<string, OverlayPartState>>();
  hosts.forEach((h, i) => {
    const all = (res[i]?.[1] as Record<string, string> | undefined) ?? {};
    const parts = new Map<string, OverlayPartState>();
    for (const [name, raw] of Object.entries(all)) {
      if (name === AT) continue;
      try {
        parts.set(name, JSON.parse(raw) as OverlayPartState);
      } catch {
        // a field this version cannot read: left out
      }
    }
    out.set(h, parts);
  });
  return out;
}

/**
 * A member's part that the coordinator of a job spanning hosts gave up on while that host was away (its part, or
 * the undo of it, did not finish in time): the job that left it, its action, and the network's uuid and VXLAN id
 * when the part's payload carried them (a create's and an added member's do). ADR 0051 "A member back from away".
 */
export interface LeftPart {
  job: string;
  action: string;
  uuid?: string;
  vni?: number;
}

/** Mark `host`'s part of `name` as left by a job (the host's worker checks it when back, before it reports online). */
export async function markLeftPart(redis: Redis, keys: Keys, host: string, name: string, left: LeftPart): Promise<void> {
  await redis.hset(keys.leftParts(host), name, JSON.stringify(left));
}

/** `host`'s parts left by jobs, by network name (a marker that does not parse is dropped: it could name no part). */
export async function getLeftParts(redis: Redis, keys: Keys, host: string): Promise<Map<string, LeftPart>> {
  const raw = await redis.hgetall(keys.leftParts(host));
  const out = new Map<string, LeftPart>();
  for (const [name, v] of Object.entries(raw)) {
    try {
      const p: unknown = JSON.parse(v);
      if (p && typeof p === "object" && "job" in p && typeof p.job === "string" && "action" in p && typeof p.action === "string") {
        out.set(name, {
          job: p.job,
          action: p.action,
          ...("uuid" in p && typeof p.uuid === "string" ? { uuid: p.uuid } : {}),
          ...("vni" in p && typeof p.vni === "number" ? { vni: p.vni } : {}),
        });
        continue;
      }
    } catch {
      // dropped below
    }
    await redis.hdel(keys.leftParts(host), name);
  }
  return out;
}

/** The left part of `name` on `host` is settled (removed, or found to be the host's to keep). */
export async function clearLeftPart(redis: Redis, keys: Keys, host: string, name: string): Promise<void> {
  await redis.hdel(keys.leftParts(host), name);
}
