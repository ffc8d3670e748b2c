/** delete-network: refuse while anything is attached, stop, undefine, drop from the index and release the claim. */
import { AppError, type NetworkRefPayload } from "@netforge/core/contract";
import { type JobPlan, planDelete, planStop, withMemberParts } from "@netforge/core/model";
import { releaseNetworkClaim, releasePortClaims, releaseVni, removeNetwork } from "@netforge/core/store";
import type { HostContext, JobContext } from "../context";
import type { CatalogEntry } from "../host/network-catalog";
import { driverOf } from "../drivers/registry";
import { assertNothingAttached, loadManaged } from "./common";
import { assertPlanAsPreviewed, hostPortOf, runPhase } from "../plan-executor";
import { networkFacts } from "./firewall-steps";
import { startMemberParts } from "./members";

export async function deleteNetwork(ctx: JobContext, p: NetworkRefPayload): Promise<{ name: string; deleted: true }> {
  const { report, revert } = ctx;
  const entry = await report.step("checking attachments", async () => {
    const e = await loadManaged(ctx, p.name).catch((err: unknown) => {
      // Gone, and an earlier delivery of this very job reached its removal: it did it (crashed before its
      // success record). Finish the bookkeeping below instead of failing NOT_FOUND.
      if (err instanceof AppError && err.code === "NOT_FOUND" && ctx.earlierSteps?.has("removing definition")) return null;
      throw err;
    });
    if (e) await assertNothingAttached(ctx, e, "delete");
    return e;
  });
  if (!entry) {
    ctx.logger.info({ network: p.name }, "already removed by an earlier delivery of this job: finishing it");
    report.skip("stopping network");
    report.skip("removing definition");
    // Its part of the table may still be there (the earlier delivery died before taking it out).
    const leftover = planStop(p.name, { active: false, firewall: ctx.firewall.get(p.name) });
    for (const phase of leftover.phases) await runPhase(hostPortOf(ctx), revert, phase);
    return finishDelete(ctx, p.name);
  }

  // The plan, from one read: the definition (the undo of its removal) and the host facts of the type's
  // teardown (a created bridge's NIC, given back exactly as it was).
  const spec = entry.def.spec;
  const driver = driverOf(entry);
  // A network spanning hosts (an overlay): the other members delete their parts first (each refuses while VMs
  // are attached there), then this host's; a delete is not undone (ADR 0051).
  const others = spec && !ctx.parentJob ? (driver.model.otherHosts?.(spec) ?? []) : [];
  const plan = await planDeleteOf(ctx, entry, true);
  // Checked against the previewed plan (with every other member's part) before any host changes anything.
  assertPlanAsPreviewed(
    ctx,
    ctx.parentJob ? plan : withMemberParts(plan, spec, "delete-network", { active: entry.active, autostart: false }),
  );
  if (others.length > 0) {
    const ref = () => ({ name: p.name });
    await (await startMemberParts(ctx, "delete-network", others, ref, ref)).wait();
  }
  const phase = (step: string) => plan.phases.find((ph) => ph.step === step);
  const stopping = phase("stopping network");
  if (stopping) await report.step("stopping network", () => runPhase(hostPortOf(ctx), revert, stopping));
  else report.skip("stopping network");
  const removing = phase("removing definition");
  await report.step("removing definition", async () => {
    if (removing) await runPhase(hostPortOf(ctx), revert, removing);
    ctx.catalog.forget(p.name);
  });

  return finishDelete(ctx, p.name);
}

/**
 * The delete plan of a network as the host has it: its definition (`withXml`: the undo of its removal) and the host
 * facts of its type's teardown. Also what a re-delivered create removes its own leftover with.
 */
export async function planDeleteOf(ctx: HostContext, entry: CatalogEntry, withXml: boolean): Promise<JobPlan> {
  const spec = entry.def.spec;
  return planDelete(
    spec,
    entry.name,
    await networkFacts(ctx, entry, withXml),
    spec ? await driverOf(entry).hostFacts(ctx, spec) : { links: [], pfs: [] },
  );
}

/** The network is gone from the host: out of the index, its name, subnet and ports released. */
async function finishDelete(ctx: JobContext, name: string): Promise<{ name: string; deleted: true }> {
  // A member's part of a job spanning hosts: the index and the claims are the coordinating job's.
  if (ctx.parentJob) return { name, deleted: true };
  await removeNetwork(ctx.redis, ctx.keys, name);
  await releaseNetworkClaim(ctx.redis, ctx.keys, name, ctx.hostId);
  await releasePortClaims(ctx.redis, ctx.keys, ctx.hostId, name);
  // An overlay's VXLAN id (nothing for a network that holds none).
  await releaseVni(ctx.redis, ctx.keys, name);
  return { name, deleted: true };
}
