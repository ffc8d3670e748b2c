/** The network actions: the job actions of the ACTIONS table (queued) and the network queries (answered from the index). */
import { AppError, JOB_ACTIONS, type JobAction, type NetworkIp, type NetworkView, upstreamVia, versionTag } from "@netforge/core/contract";
import {
  getHost,
  getNetworkConflicts,
  getNetworkIps,
  listSummaryEntriesAfter,
  getNetworkView,
  getOverlayParts,
  overlayOnlyTraffic,
  sumOverlayTraffic,
  withOverlayNetwork,
  hostStatus,
  publishedMacs,
  type SummaryEntry,
} from "@netforge/core/store";
import { macConflicts } from "@netforge/core/model";
import { Hono } from "hono";
import type { AppEnv, Services } from "../context";
import { decodeNameCursor, encodeNameCursor } from "../cursor";
import { submitJob } from "../job-submission";
import { type ActionBody, actionRoute } from "./action-route";

const DEFAULT_LIST_LIMIT = 100;
const SCAN_CHUNK = 1000;

/**
 * One page of list-networks: filters applied while walking names in order, so cursors stay stable. Answered
 * from the summaries kept beside the records, as JSON text joined (nothing parsed or serialised per network).
 */
async function listNetworksPage(s: Services, q: ActionBody<"list-networks">): Promise<string> {
  const limit = q.limit ?? DEFAULT_LIST_LIMIT;
  let after = q.cursor !== undefined ? decodeNameCursor(q.cursor) : null;
  const needle = q.name?.toLowerCase();
  const rows: SummaryEntry[] = [];
  // One extra match tells whether there is a next page.
  while (rows.length <= limit) {
    const chunk = await listSummaryEntriesAfter(s.redis, s.keys, after, SCAN_CHUNK);
    for (const n of chunk) {
      if (q.type !== undefined && n.type !== q.type) continue;
      if (q.state !== undefined && n.state !== q.state) continue;
      if (q.host !== undefined && n.host !== q.host) continue;
      if (needle !== undefined && !n.name.toLowerCase().includes(needle)) continue;
      rows.push(n);
      if (rows.length > limit) break;
    }
    if (chunk.length < SCAN_CHUNK) break;
    after = (chunk[chunk.length - 1] as SummaryEntry).name;
  }
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const nextCursor = rows.length > limit && last ? encodeNameCursor(last.name) : null;
  return `{"networks":[${page.map((r) => r.json).join(",")}],"nextCursor":${JSON.stringify(nextCursor)}}`;
}

/**
 * An overlay's member rows from each member's own worker (store/overlay-parts.ts): its part present or absent,
 * its libvirt state, VXLAN device, flood entries and connected VMs. A member that is offline or published nothing:
 * `part: "unknown"`, its last known numbers kept (with when they were seen).
 */
async function overlayMembers(s: Services, network: NetworkView): Promise<void> {
  const rows = network.overlay?.hosts ?? [];
  const ids = rows.map((r) => r.id);
  const [parts, hosts] = await Promise.all([
    getOverlayParts(s.redis, s.keys, network.name, ids),
    Promise.all(ids.map((id) => getHost(s.redis, s.keys, id))),
  ]);
  rows.forEach((row, i) => {
    const seen = parts.get(row.id);
    const host = hosts[i];
    const online = host ? hostStatus(host) === "online" : false;
    if (seen) {
      row.state = seen.state;
      row.connectedVms = seen.connectedVms;
      row.vxlanDevice = seen.vxlanDevice;
      row.floodEntries = seen.floodEntries;
      row.observedAt = seen.observedAt;
      row.localMacs = seen.macs?.length ?? null;
      row.unicastEntries = seen.unicastEntries ?? null;
      row.neighbourEntries = seen.neighbourEntries ?? null;
    } else if (seen === null) {
      // The host has no definition of it: nothing runs there.
      row.state = "inactive";
      row.connectedVms = 0;
      row.vxlanDevice = false;
      row.floodEntries = 0;
      row.observedAt = null;
      row.localMacs = 0;
      row.unicastEntries = 0;
      row.neighbourEntries = 0;
    } else {
      // Never published (an older worker, a store reset): the record's state; the gateway's VMs from its stats.
      if (row.id === network.host) row.connectedVms = network.stats.connectedVms;
      row.vxlanDevice = null;
      row.floodEntries = null;
      row.observedAt = null;
      row.localMacs = null;
      row.unicastEntries = null;
      row.neighbourEntries = null;
    }
    row.part = !online || seen === undefined ? "unknown" : seen === null ? "absent" : "present";
  });
  // A MAC two members publish at once: reported, no entry written for it (core's overlay-unicast.ts).
  const conflicts = macConflicts(new Map(ids.map((id) => [id, publishedMacs(parts.get(id))])));
  for (const row of rows) row.macConflicts = conflicts.filter((x) => x.hosts.includes(row.id)).map((x) => x.mac);
  if (network.overlay) network.overlay.macConflicts = conflicts;
  // Traffic between VMs, counted by each member (the gateway's host one of them): added to the gateway's part of
  // `network` (ADR 0044 "Overlay members counted").
  const sum = sumOverlayTraffic(parts.values());
  if (sum && network.stats.traffic) network.stats.traffic = withOverlayNetwork(network.stats.traffic, sum.network);
}

/**
 * An overlay's IP table is its gateway host's (leases and reservations), which knows the names of its own domains
 * only: a row without one gets the name of the domain that has its MAC on another member, as that member's worker
 * last published its part (store/overlay-parts.ts). One read of one field per member.
 */
async function overlayRows(s: Services, name: string, members: readonly { id: string }[], ips: NetworkIp[]): Promise<void> {
  const parts = await getOverlayParts(
    s.redis,
    s.keys,
    name,
    members.map((m) => m.id),
  );
  const owners = new Map<string, string>();
  for (const p of parts.values()) for (const [mac, vm] of Object.entries(p?.vms ?? {})) owners.set(mac, vm);
  for (const r of ips) if (r.vmName === null) r.vmName = owners.get(r.mac) ?? null;
  // Each VM's traffic with other VMs, as its members counted it by MAC, into the row of that MAC.
  const sum = sumOverlayTraffic(parts.values());
  for (const r of ips) {
    const add = sum?.vms[r.mac.toLowerCase()];
    if (add) r.traffic = r.traffic ? withOverlayNetwork(r.traffic, add) : overlayOnlyTraffic(add);
  }
}

/** A job action: checks, then queue (see job-submission). */
function registerJobAction<A extends JobAction>(app: Hono<AppEnv>, s: Services, action: A): void {
  actionRoute(app, action, (c, body, raw, opts) => submitJob(s, c, action, body, raw, opts));
}

export function networkRoutes(s: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  for (const action of JOB_ACTIONS) registerJobAction(app, s, action);

  actionRoute(app, "list-networks", async (c, body) =>
    c.body(await listNetworksPage(s, body), 200, { "Content-Type": "application/json" }),
  );

  actionRoute(app, "describe-network", async (c, body) => {
    const [network, conflicts] = await Promise.all([
      getNetworkView(s.redis, s.keys, body.name),
      getNetworkConflicts(s.redis, s.keys, body.name),
    ]);
    if (!network) throw new AppError("NOT_FOUND", `network '${body.name}' does not exist`, { name: body.name });
    if (conflicts.length > 0) network.conflicts = conflicts;
    if (network.overlay) await overlayMembers(s, network);
    if (network.ipv6?.routed) {
      // What the upstream must route, from the host's own addresses as its worker last published them.
      const host = await getHost(s.redis, s.keys, network.host);
      network.ipv6Route = { prefix: network.ipv6.cidr, via: upstreamVia(network.ipv6.cidr, host?.interfaces ?? []) };
    }
    // Its version as an ETag: what a job action's If-Match takes.
    c.header("ETag", versionTag(network.version));
    return c.json({ network });
  });

  actionRoute(app, "list-network-ips", async (c, body) => {
    const net = await getNetworkView(s.redis, s.keys, body.name);
    if (!net) throw new AppError("NOT_FOUND", `network '${body.name}' does not exist`, { name: body.name });
    // Published by the network's worker when its leases change; none yet: no leases seen, reservations come with the first publish.
    const table = await getNetworkIps(s.redis, s.keys, body.name);
    const ips = table?.ips ?? [];
    if (net.overlay) await overlayRows(s, net.name, net.overlay.hosts, ips);
    return c.json({ ips, observedAt: table?.observedAt ?? null });
  });

  return app;
}
