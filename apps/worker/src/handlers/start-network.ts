/** start-network: start an inactive network and prove DHCP answers; stopped again if that proof fails. */
import { AppError, type NetworkRefPayload } from "@netforge/core/contract";
import type { NetworkRecord } from "@netforge/core/store";
import type { JobContext } from "../context";
import { driverOf } from "../drivers/registry";
import { assertNoOverlap, occupiedSubnets } from "../host/host-checks";
import { readLinks, readRoutes } from "../host/ip";
import { readProtectedEndpoints } from "../host/protected";
import { loadManaged, publishRecord } from "./common";
import { applyFirewall, migrateDefinition } from "./firewall-steps";

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
  await report.step("starting network", async () => {
    if (startedEarlier) {
      revert.add("stop network", () => virsh.destroy(p.name), "starting network");
      if (spec) await applyFirewall(ctx, spec);
      return;
    }
    // Something may have taken the subnet while the network was down: say so clearly instead of libvirt's message.
    if (entry.def.cidr) assertNoOverlap(entry.def.cidr, ctx.hostId, occupiedSubnets(links, routes, catalog, p.name, endpoints));
    // A network defined before netforge owned its rules (<forward mode='nat'/>, or none for isolated) is
    // redefined from its spec (mode 'open') while it is down, so libvirt adds no rules of its own from now on.
    if (spec && driver.model.redefineBeforeStart(entry.def.forwardMode)) await migrateDefinition(ctx, entry);
    // What the network needs on the host besides libvirt (a bridge a host reboot removed, the PF's VFs).
    if (spec) await driver.setUpHost?.(ctx, spec);
    await virsh.start(p.name);
    revert.add("stop network", () => virsh.destroy(p.name), "starting network");
    if (spec) await applyFirewall(ctx, spec);
  });
  if (spec && driver.model.servesDhcp(spec)) {
    await report.step("verifying DHCP", () => driver.verifyStarted(ctx, spec));
  } else {
    report.skip("verifying DHCP");
  }
  return publishRecord(ctx, entry, true);
}
