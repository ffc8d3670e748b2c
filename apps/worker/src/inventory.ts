/**
 * The host's inventory and heartbeat: hostname, libvirt version, interfaces,
 * the subnets its interfaces, routes and foreign libvirt networks occupy (for
 * the API's synchronous CIDR check), and how many netforge networks it runs.
 */
import { hostname } from "node:os";
import type { HostRecord } from "@netforge/core/contract";
import { putHost, putHostUnderEpoch, setOccupiedSubnets } from "@netforge/core/store";
import type { HostContext } from "./context";
import { occupiedSubnets } from "./host/host-checks";
import type { HostSnapshot } from "./drivers/driver";
import { readLinks, readRoutes } from "./host/ip";
import { findUnderlay, type UnderlayAnswer } from "./host/underlay";

/** The host record's underlay fields from findUnderlay's answer. */
function underlayFields(a: UnderlayAnswer): Pick<HostRecord, "underlay" | "underlayProblem"> {
  return a.underlay ? { underlay: a.underlay } : { underlay: null, underlayProblem: a.why };
}
import { readProtectedEndpoints } from "./host/protected";
import { listeningPorts } from "./host/listening";
import { qosCapabilityOf } from "./host/qos";
import { foreignNetworksOnPf } from "./host/foreign-pf";
import { listPfs } from "./host/sriov-sysfs";
import { refreshStats } from "./reconcile";

/**
 * One read of the host (links, routes, libvirt networks) serving the inventory and the live stats. `only`
 * (after jobs): the stats and IP tables of those networks only, and other firewalls' rules as last read (at
 * most 30 s old); every network's are the heartbeat's.
 */
export async function refreshHost(
  ctx: HostContext,
  startedAt: string,
  libvirtVersion: string | null,
  opts: { only?: ReadonlySet<string> } = {},
): Promise<HostRecord> {
  const [links, routes, catalog, endpoints] = await Promise.all([
    readLinks(ctx.runner),
    readRoutes(ctx.runner),
    ctx.catalog.list(),
    readProtectedEndpoints(ctx),
  ]);
  const snapshot: HostSnapshot = { links, routes, catalog, endpoints };
  const rec = await publishInventory(ctx, startedAt, libvirtVersion, snapshot, opts.only ? 30_000 : 0);
  const only = opts.only;
  // Every network's numbers, but an unchanged one is written again only every 30 s (its keys live 300 s).
  if (!only) await refreshStats(ctx, snapshot, 30_000);
  else if (only.size > 0) await refreshStats(ctx, { links, catalog: catalog.filter((c) => only.has(c.name)) });
  return rec;
}

/** Publish the host's record from a read of the host. */
export async function publishInventory(
  ctx: HostContext,
  startedAt: string,
  libvirtVersion: string | null,
  { links, routes, catalog, endpoints }: HostSnapshot,
  /** How old the read of other firewalls' rules may be (0: read now). */
  firewallWarningsMaxAgeMs = 0,
): Promise<HostRecord> {
  const managed = catalog.filter((c) => c.def.managed);
  // Our own networks are claimed by name in the index; only foreign things go to "occupied".
  // The addresses the host must keep reaching go along (as /32), so the door refuses a subnet containing them too.
  const occupied = occupiedSubnets(links, routes, catalog, undefined, endpoints).filter(
    (o) => !(o.network && managed.some((m) => m.name === o.network)),
  );
  const rec: HostRecord = {
    id: ctx.hostId,
    hostname: hostname(),
    libvirtVersion,
    interfaces: links.map((l) => ({
      name: l.name,
      kind: l.kind,
      mac: l.mac,
      state: l.state,
      master: l.master,
      addresses: l.addresses,
      addresses6: l.addresses6 ?? [],
      mtu: l.mtu ?? null,
      up: l.adminUp ?? l.state === "up",
      link: l.link ?? null,
    })),
    occupied: occupied.map((o) => ({ cidr: o.cidr, owner: o.owner })),
    networks: managed.length,
    sriovPfs: listPfs(ctx.sysfsRoot ?? "/sys").map((p) => ({
      pf: p.pf,
      vfsTotal: p.totalVfs,
      vfsConfigured: p.numVfs,
      vfsInUse: p.vfsInUse,
      vfsBound: p.vfsBound,
      foreignNetworks: foreignNetworksOnPf(catalog, (n) => ctx.catalog.xmlOf?.(n), p),
    })),
    allowedInterfaces: [...(ctx.allowedInterfaces ?? [])],
    firewallWarnings: [
      ...(await ctx.firewall.overridingPolicies(firewallWarningsMaxAgeMs).catch(() => [])),
      // The overlay parts' boot files, like the firewall's boot copy: a warning while one on disk is not current.
      ...(ctx.overlayBoot?.warnings() ?? []),
    ],
    // Unknown when `ss` fails: then absent, and the API refuses port forwards on this host (fail closed).
    ...(await listeningPorts(ctx.runner, ctx.ssCommand).then(
      (listening) => ({ listeningPorts: listening }),
      (err: unknown) => {
        ctx.logger.warn({ err }, "could not read listening ports; port forwards are refused until it works");
        return {};
      },
    )),
    ...(ctx.deniedHostPorts ? { deniedHostPorts: ctx.deniedHostPorts } : {}),
    // What the kernel offers for shaping (probed once per worker, on a throw-away IFB device).
    ...(await qosCapabilityOf(ctx.runner, ctx.qosQdiscs).then(
      (qos) => ({ qos }),
      (err: unknown) => {
        ctx.logger.warn({ err }, "could not probe the host's traffic shaping");
        return {};
      },
    )),
    ...(ctx.nameConflicts && ctx.nameConflicts.length > 0 ? { nameConflicts: ctx.nameConflicts } : {}),
    ...underlayFields(findUnderlay(links, routes, ctx.underlayIp ?? null)),
    startedAt,
    lastSeenAt: new Date().toISOString(),
  };
  await setOccupiedSubnets(ctx.redis, ctx.keys, ctx.hostId, rec.occupied);
  const epoch = ctx.storeEpoch ? ctx.storeEpoch.current() : undefined;
  // A worker that has not published its networks yet (starting up) does not show up as online before it has.
  if (epoch === null) return rec;
  if (epoch === undefined) await putHost(ctx.redis, ctx.keys, rec);
  // Only under the epoch this host published its networks under: after a reset the host shows up again with them.
  else if (!(await putHostUnderEpoch(ctx.redis, ctx.keys, epoch, rec))) ctx.storeEpoch?.changed();
  return rec;
}
