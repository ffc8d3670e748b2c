/** stop-network: refuse while anything is attached, then stop (definition kept, so start restores it). */
import { AppError, type NetworkRefPayload } from "@netforge/core/contract";
import { planStop, withMemberParts } from "@netforge/core/model";
import type { NetworkRecord } from "@netforge/core/store";
import type { JobContext } from "../context";
import { assertNothingAttached, loadManaged, publishRecord } from "./common";
import { assertPlanAsPreviewed, hostPortOf, runPhase } from "../plan-executor";
import { driverOf } from "../drivers/registry";
import { startMemberParts } from "./members";

export async function stopNetwork(ctx: JobContext, p: NetworkRefPayload): Promise<NetworkRecord> {
  const { report, revert } = ctx;
  const entry = await report.step("checking attachments", async () => {
    const e = await loadManaged(ctx, p.name);
    // Inactive because an earlier delivery of this very job stopped it (crashed before its success record):
    // the target state holds; the step below finishes what that delivery may not have (the firewall).
    if (!e.active && ctx.earlierSteps?.has("stopping network")) return e;
    if (!e.active) {
      throw new AppError("INVALID_STATE", `network '${p.name}' is not active`, { name: p.name, state: "inactive" });
    }
    await assertNothingAttached(ctx, e, "stop");
    return e;
  });
  // A network spanning hosts (an overlay): every other member stops its part at the same time (ADR 0051).
  const spec = entry.def.spec;
  const others = spec && !ctx.parentJob ? (driverOf(entry).model.otherHosts?.(spec) ?? []) : [];
  const ref = () => ({ name: p.name });
  // Rules and forwards leave the kernel; they stay in the spec, so the next start restores them.
  const plan = planStop(entry.name, { active: entry.active, firewall: ctx.firewall.get(entry.name) }, entry.def.spec);
  // Checked against the previewed plan (with every other member's part) before any host changes anything.
  assertPlanAsPreviewed(
    ctx,
    ctx.parentJob ? plan : withMemberParts(plan, spec, "stop-network", { active: entry.active, autostart: false }),
  );
  const parts = others.length > 0 ? await startMemberParts(ctx, "stop-network", others, ref, ref) : null;
  await report.step("stopping network", async () => {
    for (const phase of plan.phases) await runPhase(hostPortOf(ctx), revert, phase);
  });
  await parts?.wait();
  return publishRecord(ctx, entry, false);
}
