/**
 * Reconcile's QoS repair (docs/adr/0044-network-qos.md): a running network with a QoS set whose qdiscs are not
 * all there (deleted by hand; the network restarted: a new bridge has none; a VM plugged in since: its port
 * does not feed the IFB yet) gets its whole set applied
 * again, logged and counted like the other state a host lost. One `tc qdisc show` per round for every
 * network; repaired under the network's lock, from the definition as it is then.
 */
import type { QosSpec } from "@netforge/core/contract";
import {
  ifbNameFor,
  limitsDirection,
  limitsVms,
  portFeedsOf,
  renderQosAt,
  type ShapedAt,
  shapingOf,
  type TcPlan,
} from "@netforge/core/model";
import { tryLock } from "@netforge/core/store";
import type { HostContext } from "./context";
import type { CatalogEntry } from "./host/network-catalog";
import { repairUnderLock } from "./repair-under-lock";
import {
  applyTc,
  bridgePorts,
  feedPorts,
  filtersInPlace,
  planInPlace,
  portsLackingFeeds,
  qosCapabilityOf,
  uplinkQosInPlace,
  vmPortsOf,
} from "./host/qos";

interface Wanted {
  /** Where it is shaped (an overlay's member: with its VXLAN port and role). */
  at: ShapedAt;
  bridge: string;
  /** A bridge network's uplink NIC (shaped there); null: the routed types' bridge. */
  uplink: string | null;
  ifb: string;
  qos: QosSpec;
}

/** The QoS set a running network's spec holds, with where it is shaped and its IFB; null when it holds none. */
function wanted(entry: CatalogEntry): Wanted | null {
  const spec = entry.def.spec;
  if (!entry.active || !spec) return null;
  const s = shapingOf(spec);
  return s === null ? null : { at: s.at, bridge: s.at.bridge, uplink: s.at.uplink, ifb: ifbNameFor(spec.uuid), qos: s.qos };
}

/** Whether the network's shaping is all there (its bridge's ports read now: a VM plugged in since needs its feed). */
const inPlace = async (ctx: HostContext, shown: string, w: Wanted) => {
  const outbound = limitsDirection(w.qos, "outbound");
  const inbound = limitsDirection(w.qos, "inbound");
  let qdiscs: boolean;
  if (w.uplink !== null) {
    // A bridge network: its uplink's tree, and between two VMs its VM ports' feeds (never the uplink NIC's).
    const vms = { out: limitsVms(w.qos, "outbound"), in: limitsVms(w.qos, "inbound") };
    const ports = vms.out || vms.in ? await vmPortsOf(ctx.runner, w.bridge, w.uplink) : [];
    qdiscs = uplinkQosInPlace(shown, w.uplink, w.ifb, inbound, outbound, { ...vms, ports });
  } else {
    // The routed types and an overlay's member: the plan's qdiscs and the feeds it wants of each port now (an
    // overlay's VXLAN port: only the gateway's ingress feed).
    const p = planOf(w);
    const ports = p.feedPorts || p.feedPortsIn ? await bridgePorts(ctx.runner, w.bridge) : [];
    qdiscs = planInPlace(shown, p, ports);
  }
  // The qdiscs there, their filters too (a filter deleted by hand sends its VM's frames to another class).
  return qdiscs && filtersInPlace(ctx.runner, planOf(w));
};

/** The plan making the network's whole set from nothing (what reconcile applies and checks against). */
const planOf = (w: Wanted): TcPlan => renderQosAt(w.at, w.ifb, w.qos, null);

/** Whether the network's ports feed an IFB (outbound limits: their ingress; a VM's inbound limit: their egress). */
const feedsPorts = (w: Wanted) => portFeedsOf(planOf(w)) !== null;

/** Apply again the QoS set of every running network whose shaping is not in place; answers the networks repaired. */
export async function reapplyQos(ctx: HostContext, catalog: readonly CatalogEntry[]): Promise<string[]> {
  const repaired: string[] = [];
  const targets = catalog.flatMap((entry) => {
    const w = wanted(entry);
    return w ? [{ entry, w }] : [];
  });
  if (targets.length === 0) return repaired;
  let shown: string;
  try {
    if (!(await qosCapabilityOf(ctx.runner, ctx.qosQdiscs)).supported) return repaired;
    shown = (await ctx.runner.run("tc", ["qdisc", "show"])).stdout;
  } catch (err) {
    ctx.logger.warn({ err }, "could not read the host's qdiscs for the networks' bandwidth limits");
    return repaired;
  }
  for (const { entry, w } of targets) {
    if (await inPlace(ctx, shown, w)) continue;
    try {
      const done = await repairUnderLock(ctx, entry, wanted, async (fresh) => {
        if (await inPlace(ctx, (await ctx.runner.run("tc", ["qdisc", "show"])).stdout, fresh)) return [];
        await applyTc(ctx.runner, fresh.ifb, planOf(fresh));
        return ["bandwidth limits (tc)"];
      });
      if (done) repaired.push(entry.name);
    } catch (err) {
      ctx.logger.warn({ err, network: entry.name }, "could not re-apply the network's bandwidth limits");
    }
  }
  return repaired;
}

/** How long a port's feed waits for a network whose lock is busy (a job or a reconcile round holds it). */
const FEED_RETRY_MS = 200;
const FEED_RETRIES = 25;

/** The ports of `bridge` in `ports` that lack a feed the network's limits need, per `qdisc show`'s lines. */
const lackingFeeds = (w: Wanted, ports: readonly string[], shown: readonly string[]): string[] =>
  portsLackingFeeds(planOf(w), ports, shown);

/**
 * Called on every link change with the bridges' ports (the port watcher's `ip -o monitor link`): a port on the
 * bridge of a running network with outbound limits whose ingress does not feed the IFB yet (or, a VM having an
 * inbound limit, whose egress does not feed the inbound IFB yet) gets its feeds at once, under the network's lock (a job taking the limits away meanwhile must not be raced into feeding a
 * removed IFB). Cheap when no network has outbound limits: the cached catalog only. A network whose lock is busy
 * is tried again every 200 ms for up to 5 s, in the background (not at the next reconcile round: 30 s in
 * production, far past the 1 s a new port may go unshaped); under the lock, what is lacking is read again, since
 * the holder (a reconcile round's repair, a QoS job) may have fed the port meanwhile.
 */
export async function feedNewPorts(ctx: HostContext, ports: ReadonlyMap<string, readonly string[]>, attempt = 0): Promise<string[]> {
  const fed: string[] = [];
  const targets = (await ctx.catalog.list()).flatMap((entry) => {
    const w = wanted(entry);
    return w && feedsPorts(w) && (ports.get(w.bridge)?.length ?? 0) > 0 ? [{ entry, w }] : [];
  });
  if (targets.length === 0) return fed;
  const shown = (await ctx.runner.run("tc", ["qdisc", "show"])).stdout.split("\n");
  const busy = new Map<string, readonly string[]>();
  for (const { entry, w } of targets) {
    if (lackingFeeds(w, ports.get(w.bridge) ?? [], shown).length === 0) continue;
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
    if (!lock) {
      busy.set(w.bridge, ports.get(w.bridge) ?? []);
      continue;
    }
    try {
      const now = ctx.catalog.get(entry.name);
      const fresh = now ? wanted(now) : null;
      if (!fresh || !feedsPorts(fresh)) continue;
      const lacking = lackingFeeds(
        fresh,
        ports.get(fresh.bridge) ?? [],
        (await ctx.runner.run("tc", ["qdisc", "show"])).stdout.split("\n"),
      );
      if (lacking.length === 0) continue;
      const feeds = portFeedsOf(planOf(fresh));
      if (!feeds) continue;
      const done = await feedPorts(ctx.runner, fresh.bridge, feeds);
      ctx.logger.info({ network: entry.name, ports: lacking, attempt }, "new ports fed to the bandwidth limits' IFB");
      fed.push(...done.filter((p) => lacking.includes(p)));
    } finally {
      await lock.release();
    }
  }
  if (busy.size > 0 && attempt < FEED_RETRIES) {
    const again = setTimeout(() => {
      feedNewPorts(ctx, busy, attempt + 1).catch((err: unknown) => ctx.logger.warn({ err }, "could not feed new ports to the IFB"));
    }, FEED_RETRY_MS);
    again.unref();
  }
  return fed;
}

/** Each bridge network's bridge MAC as last seen by followBridgeMacs. */
const seenMacs = new Map<string, string>();

/**
 * Called on every link change (with the bridges' ports): a bridge network's bridge may have taken another MAC (a
 * Linux bridge whose MAC was not set takes its lowest port's, so a port joining, leaving or changing its own can
 * change it), and its uplink's filters that keep the host's own frames out of the VMs' classes hold the old one.
 * When the bridge's MAC is not the one last seen, the filters are checked (filtersInPlace) and, when they no longer
 * match, the set is applied again at once under the network's lock, without waiting for reconcile's round (which
 * checks the same and is the fallback: a network whose lock is busy is left to it). One `ip link show` per bridge
 * network per link change.
 */
export async function followBridgeMacs(ctx: HostContext, ports: ReadonlyMap<string, readonly string[]>): Promise<string[]> {
  const fixed: string[] = [];
  const targets = (await ctx.catalog.list()).flatMap((entry) => {
    const w = wanted(entry);
    return w && w.uplink !== null && ports.has(w.bridge) ? [{ entry, w }] : [];
  });
  for (const { entry, w } of targets) {
    const r = await ctx.runner.run("ip", ["-j", "link", "show", "dev", w.bridge], { allowFailure: true });
    const mac = r.exitCode === 0 ? (JSON.parse(r.stdout) as { address?: string }[])[0]?.address : undefined;
    if (!mac || seenMacs.get(w.bridge) === mac) continue;
    seenMacs.set(w.bridge, mac);
    if (await filtersInPlace(ctx.runner, planOf(w))) continue;
    const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
    if (!lock) continue;
    try {
      const cur = ctx.catalog.get(entry.name);
      const fresh = cur ? wanted(cur) : null;
      if (!fresh || fresh.uplink === null) continue;
      const plan = planOf(fresh);
      if (await filtersInPlace(ctx.runner, plan)) continue;
      await applyTc(ctx.runner, fresh.ifb, plan);
      ctx.logger.info({ network: entry.name, bridge: fresh.bridge, mac }, "the bridge's MAC changed: the uplink's filters follow it");
      fixed.push(entry.name);
    } finally {
      await lock.release();
    }
  }
  return fixed;
}
