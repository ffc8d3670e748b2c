/** start-network: start an inactive network and prove DHCP answers; stopped again if that proof fails. */
import { AppError, type NetworkRefPayload } from "@netforge/core/contract";
import { firewallStep, planStart, withMemberParts } from "@netforge/core/model";
import type { NetworkRecord } from "@netforge/core/store";
import type { JobContext } from "../context";
import { driverOf } from "../drivers/registry";
import { assertNoOverlap, occupiedSubnets } from "../host/host-checks";
import { readLinks, readRoutes } from "../host/ip";
import { readProtectedEndpoints } from "../host/protected";
import { loadManaged, publishRecord } from "./common";
import { assertPlanAsPreviewed, hostPortOf, runPhase } from "../plan-executor";
import { networkFacts, warnOverridingPolicies } from "./firewall-steps";
import { startMemberParts } from "./members";

export async function startNetwork(ctx: JobContext, p: NetworkRefPayload): Promise<NetworkRecord> {
  const { virsh, report, revert } = ctx;
  // One read of the host serves the state check and the overlap check.
  const [catalog, links, routes, endpoints] = await Promise.all([
    ctx.catalog.list(),
    readLinks(ctx.runner),
    readRoutes(ctx.runner),
    readProtectedEndpoints(ctx),
  ]);
  const entry = await loadManaged(ctx, p.name, catalog);
  // Active because an earlier delivery of this very job started it (crashed before its success record): the
  // target state holds; its firewall is put in place again and DHCP verified, as a first delivery would.
  const startedEarlier = entry.active && ctx.earlierSteps?.has("starting network") === true;
  if (entry.active && !startedEarlier) {
    throw new AppError("INVALID_STATE", `network '${p.name}' is already active`, { name: p.name, state: "active" });
  }
  const driver = driverOf(entry);
  const spec = entry.def.spec;
  // A network spanning hosts (an overlay): every other member starts its part at the same time (ADR 0051).
  const others = spec && !ctx.parentJob ? (driver.model.otherHosts?.(spec) ?? []) : [];
  const ref = () => ({ name: p.name });
  // A definition from before netforge owned its rules (<forward mode='nat'/>, or none for isolated) is
  // redefined from its spec (mode 'open') while it is down, so libvirt adds no rules of its own from now on;
  // its current definition is read only then (it is that step's undo).
  const redefine = spec ? driver.model.redefineBeforeStart(entry.def.forwardMode) : false;
  const plan =
    spec && !startedEarlier
      ? planStart(spec, await networkFacts(ctx, entry, redefine), await driver.hostFacts(ctx, spec), ctx.hostId)
      : null;
  // Checked against the previewed plan (with every other member's part) before any host changes anything.
  if (plan)
    assertPlanAsPreviewed(ctx, ctx.parentJob ? plan : withMemberParts(plan, spec, "start-network", { active: true, autostart: false }));
  const parts = others.length > 0 ? await startMemberParts(ctx, "start-network", others, ref, ref) : null;
  await report.step("starting network", async () => {
    if (startedEarlier) {
      revert.add("stop network", () => virsh.destroy(p.name), "starting network");
      const fw = spec ? firewallStep(spec) : null;
      if (fw) await runPhase(hostPortOf(ctx), revert, { step: "starting network", hostSteps: [fw] });
      if (fw) await warnOverridingPolicies(ctx);
      return;
    }
    // Something may have taken the subnet while the network was down: say so clearly instead of libvirt's message.
    if (entry.def.cidr) assertNoOverlap(entry.def.cidr, ctx.hostId, occupiedSubnets(links, routes, catalog, p.name, endpoints));
    if (!spec || !plan) {
      // A definition without netforge's spec (made by hand with netforge's marker): libvirt's start alone.
      await runPhase(hostPortOf(ctx), revert, {
        step: "starting network",
        hostSteps: [{ kind: "virsh", name: "start network", args: ["net-start", p.name], undo: ["net-destroy", p.name], live: true }],
      });
      return;
    }
    for (const phase of plan.phases) await runPhase(hostPortOf(ctx), revert, phase, driver.executeOptions?.(ctx, spec));
    if (redefine)
      ctx.logger.info({ network: p.name }, "definition moved to forward mode 'open': netforge's table carries its NAT/isolation");
    if (plan.nft !== undefined) await warnOverridingPolicies(ctx);
  });
  if (spec && driver.model.servesDhcp(spec)) {
    await report.step("verifying DHCP", () => driver.verifyStarted(ctx, spec));
  } else {
    report.skip("verifying DHCP");
  }
  await parts?.wait();
  return publishRecord(ctx, entry, true);
}
