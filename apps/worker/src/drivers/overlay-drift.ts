/**
 * Reconcile's overlay repair (issue 17, ADR 0051 "Slice 2"): each running overlay's part on this member gets back
 * what its spec wants and the host lost (a forwarding entry or the VXLAN device deleted by hand, the guard table
 * removed, the non-gateway member's bridge gone): its VXLAN device enslaved to the bridge with learning off, one
 * flood entry per other member (and none to a non-member), the guard table `inet netforge-vx<VNI>`. The host is
 * read without a lock in a fixed number of commands a round (links, tables, the guards' text in one `nft -f`)
 * plus one `bridge fdb show` per overlay device; a part that lost something is repaired under the network's lock
 * from its definition as it is then (repair-under-lock.ts), logged and counted like the other re-applied state.
 */
import {
  type FdbRow,
  type NetSpec,
  type OverlayNetSpec,
  type OverlayObserved,
  floodLimitTable,
  lanNetworkCounterNames,
  memberBridgeSetup,
  overlayDrift,
  overlayGuardTable,
  overlayModel,
  parseNetworkXml,
  TRAFFIC_LAN_SETS,
  unicastEntriesFromFdb,
  vxlanDeviceName,
} from "@netforge/core/model";
import {
  dropOverlayPart,
  getNetworks,
  type OverlayPartState,
  type OverlayPartTraffic,
  putOverlayParts,
  tryLock,
} from "@netforge/core/store";
import type { HostContext } from "../context";
import { type HostLink, readLinks } from "../host/ip";
import type { CatalogEntry } from "../host/network-catalog";
import type { TrafficState } from "../firewall/nftables";
import { repairUnderLock } from "../repair-under-lock";
import { bridgeNeighbourEntries, localOverlayMacs, overlayNeighboursOf } from "./overlay-unicast";

interface LinkJson {
  ifname: string;
  master?: string;
  flags?: string[];
  linkinfo?: {
    info_kind?: string;
    info_data?: { id?: number; local?: string; learning?: boolean };
    info_slave_data?: { learning?: boolean; neigh_suppress?: boolean };
  };
}

/** Read the host's side of these overlays' parts (see the module comment for the commands). */
export async function observeOverlays(ctx: HostContext, specs: readonly OverlayNetSpec[]): Promise<Map<number, OverlayObserved>> {
  const links = new Map(
    (JSON.parse((await ctx.runner.run("ip", ["-d", "-j", "link", "show"])).stdout || "[]") as LinkJson[]).map((l) => [l.ifname, l]),
  );
  // "inet <name>" (the guards) and "bridge <name>" (the flood limits).
  const tables = new Set(
    (await ctx.runner.run("nft", ["list", "tables"])).stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("table inet ") || l.startsWith("table bridge "))
      .map((l) => l.slice("table ".length)),
  );
  const texts = new Map<string, string>();
  const present = specs
    .flatMap((s) => [`inet ${overlayGuardTable(s.vni)}`, `bridge ${floodLimitTable(s.vni)}`])
    .filter((t) => tables.has(t));
  // One `nft list table` each: nft 1.0.6 fails a batch (`nft -f -`) listing two tables ("No such file or
  // directory" for the first), which read every guard as missing on a host with two overlays.
  for (const t of present) {
    const r = await ctx.runner.run("nft", ["list", "table", ...t.split(" ")], { allowFailure: true });
    if (r.exitCode === 0 && /^table (?:inet|bridge) \S+ \{/.test(r.stdout)) texts.set(t, r.stdout);
  }
  const out = new Map<number, OverlayObserved>();
  for (const s of specs) {
    const br = links.get(s.bridge);
    const dev = links.get(vxlanDeviceName(s.vni));
    const vx = dev?.linkinfo?.info_kind === "vxlan" ? dev : undefined;
    let floods: string[] = [];
    if (vx) {
      const fdb = await ctx.runner.run("bridge", ["-j", "fdb", "show", "dev", vx.ifname], { allowFailure: true });
      floods = (JSON.parse(fdb.stdout || "[]") as { mac?: string; dst?: string }[])
        .filter((e) => e.mac === "00:00:00:00:00:00" && e.dst)
        .map((e) => e.dst as string);
    }
    out.set(s.vni, {
      bridge: br ? { up: (br.flags ?? []).includes("UP") } : null,
      device: dev
        ? {
            master: dev.master ?? null,
            up: (dev.flags ?? []).includes("UP"),
            // Not a VXLAN device at all (a name taken by something else): seen as a wrong one, replaced.
            vni: vx?.linkinfo?.info_data?.id ?? null,
            local: vx?.linkinfo?.info_data?.local ?? null,
            learning: vx?.linkinfo?.info_data?.learning ?? null,
            portLearning: dev.linkinfo?.info_slave_data?.learning ?? null,
            portNeighSuppress: dev.linkinfo?.info_slave_data?.neigh_suppress ?? null,
          }
        : null,
      floods,
      guard: texts.get(`inet ${overlayGuardTable(s.vni)}`) ?? null,
      floodLimit: texts.get(`bridge ${floodLimitTable(s.vni)}`) ?? null,
    });
  }
  return out;
}

/** Put back what every running overlay part of this host lost; answers the networks repaired. */
export async function reapplyOverlays(ctx: HostContext, catalog: readonly CatalogEntry[]): Promise<string[]> {
  const wanted = (entry: CatalogEntry): OverlayNetSpec | null => {
    const spec = entry.def.spec;
    return entry.active && spec && overlayModel.is(spec) && spec.self === ctx.hostId ? spec : null;
  };
  const targets = catalog.flatMap((entry) => {
    const spec = wanted(entry);
    return spec ? [{ entry, spec }] : [];
  });
  const repaired: string[] = [];
  if (targets.length === 0) return repaired;
  let seen: Map<number, OverlayObserved>;
  try {
    seen = await observeOverlays(
      ctx,
      targets.map((t) => t.spec),
    );
  } catch (err) {
    ctx.logger.warn({ err }, "could not read the host's overlay devices");
    return repaired;
  }
  for (const { entry, spec } of targets) {
    const now = seen.get(spec.vni);
    if (!now || overlayDrift(spec, now).length === 0) continue;
    try {
      const done = await repairUnderLock(ctx, entry, wanted, async (fresh) => {
        const observed = (await observeOverlays(ctx, [fresh])).get(fresh.vni);
        const lost = observed ? overlayDrift(fresh, observed) : [];
        for (const piece of lost) {
          for (const c of piece.commands) {
            await ctx.runner.run(c.argv[0] as string, c.argv.slice(1), c.input === undefined ? {} : { input: c.input });
          }
        }
        return lost.map((l) => l.what);
      });
      if (done) repaired.push(entry.name);
    } catch (err) {
      ctx.logger.warn({ err, network: entry.name }, "could not re-apply the overlay's VXLAN device, entries or guard");
    }
  }
  return repaired;
}

/**
 * A non-gateway member's part that is stopped while the overlay runs (its record, the gateway host's, says
 * active): what a reboot leaves, since libvirt's autostart of a bridge network fails while netforge's bridge is
 * missing. Started again under the network's lock, the record read again under it (a stop job publishes the
 * record before it lets go): its bridge, libvirt's start, then the device, entries and guard as any repair.
 * The gateway's part is libvirt's to autostart (its bridge is libvirt's), then repaired by reapplyOverlays.
 */
export async function restartStoppedParts(ctx: HostContext, catalog: readonly CatalogEntry[]): Promise<string[]> {
  const stoppedPart = (spec: NetSpec | null | undefined): spec is OverlayNetSpec =>
    !!spec && overlayModel.is(spec) && spec.self === ctx.hostId && spec.self !== spec.gatewayHost;
  const stopped = catalog.filter((e) => !e.active && stoppedPart(e.def.spec));
  const started: string[] = [];
  if (stopped.length === 0) return started;
  const running = new Set(
    (
      await getNetworks(
        ctx.redis,
        ctx.keys,
        stopped.map((e) => e.name),
      )
    )
      .filter((r) => r.state === "active")
      .map((r) => r.name),
  );
  for (const entry of stopped) {
    if (!running.has(entry.name)) continue;
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
    if (!lock) continue; // a job is on it: the next round looks again
    try {
      const info = await ctx.virsh.info(entry.name);
      const rec = (await getNetworks(ctx.redis, ctx.keys, [entry.name]))[0];
      if (!info || info.active || rec?.state !== "active") continue;
      const spec = parseNetworkXml(await ctx.virsh.dumpXml(entry.name, { inactive: true })).spec;
      if (!stoppedPart(spec)) continue;
      const what: string[] = [];
      const before = (await observeOverlays(ctx, [spec])).get(spec.vni);
      if (!before?.bridge) {
        for (const [cmd, ...args] of memberBridgeSetup(spec)) await ctx.runner.run(cmd as string, args);
        what.push(`bridge ${spec.bridge}`);
      }
      await ctx.virsh.run(["net-start", entry.name]);
      what.push("its part started (the overlay runs)");
      const now = (await observeOverlays(ctx, [spec])).get(spec.vni);
      for (const piece of now ? overlayDrift(spec, now) : []) {
        for (const c of piece.commands)
          await ctx.runner.run(c.argv[0] as string, c.argv.slice(1), c.input === undefined ? {} : { input: c.input });
        what.push(piece.what);
      }
      ctx.logger.warn({ network: entry.name, reapplied: what }, "re-applied state the host had lost");
      await ctx.redis.hincrby(ctx.keys.reappliedCounter, ctx.hostId, what.length);
      started.push(entry.name);
    } catch (err) {
      ctx.logger.warn({ err, network: entry.name }, "could not start the overlay's part again");
    } finally {
      await lock.release();
    }
  }
  return started;
}

/** This host's running domains' interfaces (network name, MAC), for the parts' VM names; none when unreadable (logged). */
async function domainSources(ctx: HostContext): Promise<{ domain: string; source: string; mac: string }[]> {
  return ctx.virsh.runningDomainSources().catch((err: unknown) => {
    ctx.logger.warn({ err }, "could not read the domains' interfaces for the overlay parts' VM names");
    return [];
  });
}

/** What describe-network shows of one part (its flood entries read now: one `bridge fdb show`), and its VMs' names by MAC. */
async function partState(
  ctx: HostContext,
  spec: OverlayNetSpec,
  active: boolean,
  links: readonly HostLink[],
  at: string,
  sources: readonly { domain: string; source: string; mac: string }[],
  traffic: TrafficState | null,
): Promise<OverlayPartState> {
  const dev = vxlanDeviceName(spec.vni);
  const bridge = links.find((l) => l.name === spec.bridge);
  const gateway = spec.self === spec.gatewayHost;
  // The reads are independent: made at the same time (one after another they were most of a member part's time
  // after its last step under load: ADR 0051, "Benchmarks", 2026-12-08).
  const [entries, macs, neighbours, neighbourEntries] = await Promise.all([
    links.some((l) => l.name === dev)
      ? ctx.runner.run("bridge", ["-j", "fdb", "show", "dev", dev], { allowFailure: true }).then((fdb) => {
          const rows = JSON.parse(fdb.stdout || "[]") as FdbRow[];
          return { flood: rows.filter((f) => f.mac === "00:00:00:00:00:00" && f.dst).length, unicast: unicastEntriesFromFdb(rows).length };
        })
      : { flood: 0, unicast: 0 },
    // What the other members write their unicast entries toward this host from (overlay-unicast.ts).
    active ? localOverlayMacs(ctx, spec, links, sources) : [],
    // What every member writes its ARP-suppression entries from (overlay-neighbours.ts): the gateway knows the addresses.
    gateway && active ? overlayNeighboursOf(ctx, spec, bridge?.mac ?? null) : null,
    bridge ? bridgeNeighbourEntries(ctx, spec.bridge).then((e) => e.length) : 0,
  ]);
  return {
    state: active ? "active" : "inactive",
    vxlanDevice: links.some((l) => l.name === dev && l.master === spec.bridge),
    floodEntries: entries.flood,
    connectedVms: active ? overlayConnectedVms(spec, links) : 0,
    observedAt: at,
    ...vmsOf(spec.name, active, sources),
    macs,
    unicastEntries: entries.unicast,
    ...(neighbours ? { neighbours } : {}),
    neighbourEntries,
    ...(traffic && active ? { traffic: overlayPartTraffic(spec.name, spec.bridge, traffic) } : {}),
  };
}

/**
 * What this member counted of overlay `name` (ADR 0044 "Overlay members counted", pure): its two `_lan-network-*`
 * counters and its VMs' elements of the `traffic-lan-network-*` sets under the overlay's bridge, by MAC.
 */
export function overlayPartTraffic(name: string, bridge: string, state: TrafficState): OverlayPartTraffic {
  const c = lanNetworkCounterNames(name);
  const cin = state.counters.get(c.in);
  const cout = state.counters.get(c.out);
  const vms: OverlayPartTraffic["vms"] = {};
  const row = (mac: string) => {
    vms[mac] ??= { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
    return vms[mac];
  };
  for (const [set, dir] of [
    [TRAFFIC_LAN_SETS.networkIn, "In"],
    [TRAFFIC_LAN_SETS.networkOut, "Out"],
  ] as const) {
    for (const [key, v] of state.vms.get(set) ?? []) {
      const [br, mac] = key.split("/");
      if (br !== bridge || !mac) continue;
      const r = row(mac.toLowerCase());
      r[`bytes${dir}`] += v.bytes;
      r[`packets${dir}`] += v.packets;
    }
  }
  return {
    network: { bytesIn: cin?.bytes ?? 0, bytesOut: cout?.bytes ?? 0, packetsIn: cin?.packets ?? 0, packetsOut: cout?.packets ?? 0 },
    vms,
  };
}

/** The part's `vms`: MAC -> domain of the running domains whose interface is on network `name` (absent: none). */
function vmsOf(name: string, active: boolean, sources: readonly { domain: string; source: string; mac: string }[]) {
  const mine = active ? sources.filter((s) => s.source === name && s.mac !== "") : [];
  return mine.length > 0 ? { vms: Object.fromEntries(mine.map((s) => [s.mac, s.domain])) } : {};
}

/**
 * Publish this host's overlay parts for describe-network (store/overlay-parts.ts): each part's libvirt state,
 * its VXLAN device on the bridge, its flood entries and the VMs connected here. `whole`: the catalog is every
 * network of the host (the hash is replaced).
 */
export async function publishOverlayParts(
  ctx: HostContext,
  catalog: readonly CatalogEntry[],
  links: readonly HostLink[],
  whole: boolean,
  /** The host's counters read now (refreshStats shares its one read with the IP tables'). */
  readCounts: () => Promise<TrafficState | null> = async () => (await ctx.firewall?.trafficCounts().catch(() => null)) ?? null,
): Promise<void> {
  const parts = new Map<string, OverlayPartState>();
  const at = new Date().toISOString();
  const mine = catalog.filter((e) => e.def.managed && e.def.spec && overlayModel.is(e.def.spec) && e.def.spec.self === ctx.hostId);
  // The whole catalog: the boot files say exactly the parts running here now (a part deleted or stopped leaves them).
  if (whole) ctx.overlayBoot?.replaceAll(new Map(mine.filter((e) => e.active).map((e) => [e.name, e.def.spec as OverlayNetSpec])));
  // (Read only on a host with a running part: a host without overlays pays nothing.)
  const sources = mine.some((e) => e.active) ? await domainSources(ctx) : [];
  // The counters as read now (one nft read of both tables; a host without a running part reads nothing).
  const traffic = mine.some((e) => e.active) ? await readCounts() : null;
  for (const e of mine) {
    const spec = e.def.spec as OverlayNetSpec;
    parts.set(e.name, await partState(ctx, spec, e.active, links, at, sources, traffic));
  }
  if (!whole && parts.size === 0) return;
  await putOverlayParts(ctx.redis, ctx.keys, ctx.hostId, parts, whole, at);
}

/**
 * The part of overlay `name` on this host as it is right after a job (read from libvirt and the links now, not
 * the event-kept catalog, which may not have seen the job's last change yet); gone: removed from the hash.
 */
export async function publishOverlayPartNow(ctx: HostContext, name: string): Promise<void> {
  // Its state, definition and the host's links read at once (the definition's read fails when libvirt has no such
  // network: then info says so too, and the failure is only thrown for a network info found).
  const [info, xml, links] = await Promise.all([
    ctx.virsh.info(name),
    ctx.virsh.dumpXml(name, { inactive: true }).then(
      (x) => ({ x }),
      (err: unknown) => ({ err }),
    ),
    readLinks(ctx.runner),
  ]);
  if (info && "err" in xml) throw xml.err;
  const spec = info && "x" in xml ? parseNetworkXml(xml.x).spec : null;
  ctx.overlayBoot?.set(name, info?.active && spec && overlayModel.is(spec) && spec.self === ctx.hostId ? spec : null);
  if (!info || !spec || !overlayModel.is(spec) || spec.self !== ctx.hostId) {
    await dropOverlayPart(ctx.redis, ctx.keys, ctx.hostId, name);
    return;
  }
  const at = new Date().toISOString();
  const sources = info.active ? await domainSources(ctx) : [];
  // (The counters as last read: a job's publish pays no nft read.)
  const traffic = info.active ? ((await ctx.firewall?.trafficCounts({ fresh: false }).catch(() => null)) ?? null) : null;
  const part = await partState(ctx, spec, info.active, links, at, sources, traffic);
  await putOverlayParts(ctx.redis, ctx.keys, ctx.hostId, new Map([[name, part]]), false, at);
}

/** Ports of the overlay's bridge but its VXLAN device: the VMs connected on this host. */
export const overlayConnectedVms = (spec: OverlayNetSpec, links: readonly HostLink[]): number =>
  links.filter((l) => l.master === spec.bridge && l.name !== vxlanDeviceName(spec.vni)).length;
