/** delete-network: refuse while anything is attached, stop, undefine, drop from the index and release the claim. */
import { AppError, type NetworkRefPayload } from "@netforge/core/contract";
import { releaseNetworkClaim, releasePortClaims, removeNetwork } from "@netforge/core/store";
import type { JobContext } from "../context";
import { driverFor } from "../drivers/registry";
import { assertNothingAttached, loadManaged } from "./common";
import { removeFirewall } from "./firewall-steps";

export async function deleteNetwork(ctx: JobContext, p: NetworkRefPayload): Promise<{ name: string; deleted: true }> {
  const { virsh, report, revert } = ctx;
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
    await removeFirewall(ctx, p.name);
    return finishDelete(ctx, p.name);
  }

  if (entry.active) {
    await report.step("stopping network", async () => {
      await virsh.destroy(p.name);
      revert.add("restart network", () => virsh.start(p.name), "stopping network");
      await removeFirewall(ctx, p.name);
    });
  } else {
    report.skip("stopping network");
  }

  await report.step("removing definition", async () => {
    const xml = await virsh.dumpXml(p.name);
    await virsh.undefine(p.name);
    ctx.catalog.forget(p.name);
    const spec = entry.def.spec;
    revert.add(
      "redefine network",
      async () => {
        await virsh.define(xml);
        if (entry.autostart) await virsh.setAutostart(p.name, true);
      },
      "removing definition",
    );
    // Give back what the type took on the host (the NIC of a bridge netforge created, exactly as it was).
    if (spec) await driverFor(spec.type).tearDownHost?.(ctx, spec);
  });

  return finishDelete(ctx, p.name);
}

/** The network is gone from the host: out of the index, its name, subnet and ports released. */
async function finishDelete(ctx: JobContext, name: string): Promise<{ name: string; deleted: true }> {
  await removeNetwork(ctx.redis, ctx.keys, name);
  await releaseNetworkClaim(ctx.redis, ctx.keys, name, ctx.hostId);
  await releasePortClaims(ctx.redis, ctx.keys, ctx.hostId, name);
  return { name, deleted: true };
}
