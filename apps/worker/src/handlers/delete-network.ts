/** delete-network: refuse while anything is attached, stop, undefine, drop from the index and release the claim. */
import { type NetworkRefPayload, releaseNetworkClaim, releasePortClaims, removeNetwork } from "@netforge/core";
import type { JobContext } from "../context";
import { driverFor } from "../drivers/registry";
import { assertNothingAttached, loadManaged } from "./common";
import { removeFirewall } from "./firewall-steps";

export async function deleteNetwork(ctx: JobContext, p: NetworkRefPayload): Promise<{ name: string; deleted: true }> {
  const { virsh, report, revert } = ctx;
  const entry = await report.step("checking attachments", async () => {
    const e = await loadManaged(ctx, p.name);
    await assertNothingAttached(ctx, e, "delete");
    return e;
  });

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

  await removeNetwork(ctx.redis, ctx.keys, p.name);
  await releaseNetworkClaim(ctx.redis, ctx.keys, p.name, ctx.hostId);
  await releasePortClaims(ctx.redis, ctx.keys, ctx.hostId, p.name);
  return { name: p.name, deleted: true };
}
