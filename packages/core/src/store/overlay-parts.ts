/**
 * What each member host's worker last saw of its part of an overlay (issue 17, ADR 0051 "Slice 2"): whether the
 * part runs, whether its VXLAN device is there on the bridge, how many flood entries it has and how many VMs are
 * connected there. One hash per host, replaced whole by the worker's full stats refresh (every heartbeat) and
 * written field by field after a job; describe-network reads one field per member.
 */
import type { Redis } from "ioredis";
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
}

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
