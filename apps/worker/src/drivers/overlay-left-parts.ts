/**
 * A member host back from away (ADR 0051 "A member back from away"): the parts of jobs spanning hosts that their
 * coordinator gave up on while this host did not answer (keys.leftParts, written by handlers/members.ts). Such a
 * part cannot be taken back by the job that made it: its undo, queued here, runs under that job's network lock,
 * which is gone by the time the host is back. So each reconcile round (the first one before the host reports
 * online) checks every marker against the network's spec in the store:
 * - the network's spec names this host as a member, with the marker's uuid: the part is this host's (the job
 *   that failed kept the membership); reconcile repairs it as any part. The marker is dropped.
 * - otherwise (no such network, another network of that name, or this host is no member): the part goes, as a
 *   delete of it would take it away (the libvirt network, bridge, VXLAN device, guard and flood limit tables,
 *   the firewall part, the boot files), or, when the job was cut off before the definition, the devices and
 *   tables its VXLAN id names. Under the network's lock (a job on the network now: the next round), and never
 *   while anything is plugged in there (kept and reported until it leaves).
 * A store that lost its data lost the markers too: such a part then stays, as it did before this check.
 */
import { type LeftPart, clearLeftPart, getLeftParts, getNetworkSpec, tryLock } from "@netforge/core/store";
import { floodLimitTable, overlayBridgeName, overlayGuardTable, overlayModel, vxlanDeviceName } from "@netforge/core/model";
import type { HostContext } from "../context";
import { planDeleteOf } from "../handlers/delete-network";
import { readLinks } from "../host/ip";
import { hostPortOf, runPhase } from "../plan-executor";
import { Revert } from "../revert";
import { driverOf } from "./registry";

export interface LeftPartOutcome {
  network: string;
  /** removed: taken away; kept: this host's to keep; waiting: something attached or a job on it (next round). */
  outcome: "removed" | "kept" | "waiting";
  why: string;
}

/** Settle this host's left parts (see above); what became of each. */
export async function settleLeftParts(ctx: HostContext): Promise<LeftPartOutcome[]> {
  const left = await getLeftParts(ctx.redis, ctx.keys, ctx.hostId);
  const out: LeftPartOutcome[] = [];
  for (const [name, part] of left) {
    const o = await settleOne(ctx, name, part).catch((err: unknown) => {
      ctx.logger.warn({ err, network: name }, "could not settle a part a job left here; next round");
      return { network: name, outcome: "waiting" as const, why: `failed: ${err instanceof Error ? err.message : String(err)}` };
    });
    out.push(o);
    if (o.outcome !== "waiting") await clearLeftPart(ctx.redis, ctx.keys, ctx.hostId, name);
    ctx.logger[o.outcome === "removed" ? "info" : "warn"]({ ...o, job: part.job, action: part.action }, "part left by a job");
  }
  return out;
}

async function settleOne(ctx: HostContext, name: string, part: LeftPart): Promise<LeftPartOutcome> {
  const spec = await getNetworkSpec(ctx.redis, ctx.keys, name);
  if (spec && overlayModel.is(spec) && (part.uuid === undefined || spec.uuid === part.uuid)) {
    if (spec.members.some((m) => m.id === ctx.hostId))
      return { network: name, outcome: "kept", why: "this host is a member of the network" };
  }
  const lock = await tryLock(ctx.redis, ctx.keys.networkLock(name), 60_000);
  if (!lock) return { network: name, outcome: "waiting", why: "a job holds the network" };
  try {
    const catalog = await ctx.catalog.list({ reread: true });
    const entry = catalog.find((e) => e.name === name);
    if (entry) {
      const own = entry.def.spec;
      // Another network of that name (a later create here): not the part the job left.
      if (!own || !overlayModel.is(own) || (part.uuid !== undefined && entry.def.uuid !== part.uuid))
        return { network: name, outcome: "kept", why: "the network of that name here is not the one the job left" };
      const attached = entry.active ? await driverOf(entry).attachments(ctx, entry) : [];
      if (attached.length > 0)
        return { network: name, outcome: "waiting", why: `attached here: ${attached.map((a) => a.name).join(", ")}` };
      const plan = await planDeleteOf(ctx, entry, false);
      const scratch = new Revert();
      const port = hostPortOf({ ...ctx, revert: scratch });
      for (const phase of plan.phases) await runPhase(port, scratch, phase);
      ctx.catalog.forget(name);
      ctx.overlayBoot?.set(name, null);
      return { network: name, outcome: "removed", why: `its definition and devices (VNI ${own.vni})` };
    }
    // Cut off before its definition: what the VXLAN id names, unless a network here uses that id now.
    if (part.vni === undefined) return { network: name, outcome: "kept", why: "no definition here and no VXLAN id known" };
    const vni = part.vni;
    const inUse = catalog.some((e) => e.def.spec && overlayModel.is(e.def.spec) && e.def.spec.vni === vni);
    if (inUse) return { network: name, outcome: "kept", why: `VNI ${vni} belongs to another network here` };
    const links = await readLinks(ctx.runner);
    const bridge = overlayBridgeName(vni);
    const device = vxlanDeviceName(vni);
    const plugged = links.filter((l) => l.master === bridge && l.name !== device).map((l) => l.name);
    if (plugged.length > 0) return { network: name, outcome: "waiting", why: `plugged into ${bridge}: ${plugged.join(", ")}` };
    const gone: string[] = [];
    for (const dev of [device, bridge]) {
      if (!links.some((l) => l.name === dev)) continue;
      await ctx.runner.run("ip", ["link", "del", dev]);
      gone.push(dev);
    }
    for (const [family, table] of [
      ["inet", overlayGuardTable(vni)],
      ["bridge", floodLimitTable(vni)],
    ] as const) {
      const r = await ctx.runner.run("nft", ["delete", "table", family, table], { allowFailure: true });
      if (r.exitCode === 0) gone.push(`${family} ${table}`);
    }
    ctx.overlayBoot?.set(name, null);
    return { network: name, outcome: "removed", why: gone.length > 0 ? gone.join(", ") : "nothing was left" };
  } finally {
    await lock.release();
  }
}
