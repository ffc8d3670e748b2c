/**
 * create-network: check the host, define, start, set autostart, verify DHCP.
 * Every host change registers its undo, so a failure at any step leaves the
 * host as it was.
 */
import { AppError, type CreateNetworkPayload } from "@netforge/core/contract";
import {
  type NetSpec,
  type PlanPhase,
  firewallStep,
  parseNetworkXml,
  planCreate,
  overlayGatewayMac,
  withMemberParts,
} from "@netforge/core/model";
import { type NetworkRecord, putNetwork, putNetworkSpec } from "@netforge/core/store";
import type { JobContext } from "../context";
import type { HostSnapshot } from "../drivers/driver";
import { driverFor } from "../drivers/registry";
import { type HostLink, readLinks, readRoutes } from "../host/ip";
import { readRaInterfaces } from "../host/ipv6-checks";
import type { CatalogEntry } from "../host/network-catalog";
import { readProtectedEndpoints } from "../host/protected";
import { assertPlanAsPreviewed, hostPortOf, runPhase } from "../plan-executor";
import { Revert } from "../revert";
import { planDeleteOf } from "./delete-network";
import { warnOverridingPolicies } from "./firewall-steps";
import { startMemberParts } from "./members";

export async function createNetwork(ctx: JobContext, p: CreateNetworkPayload): Promise<NetworkRecord> {
  const driver = driverFor(p.type);
  const { catalog, report, revert } = ctx;

  // An earlier delivery of this job made the network, and something is plugged into it by now: it is in use,
  // so it is kept as it is (never destroyed to start clean) and this delivery finishes from there.
  let adopted: CatalogEntry | null = null;
  // The links the check read (after a leftover's removal: read again), for the plan's facts (not read a third time).
  let checkedLinks: HostLink[] | undefined;
  const spec = await report.step("checking host", async () => {
    const [entries, firstLinks, firstRoutes, endpoints, raInterfaces] = await Promise.all([
      catalog.list(),
      readLinks(ctx.runner),
      readRoutes(ctx.runner),
      readProtectedEndpoints(ctx),
      // A network with IPv6: whether IPv6 forwarding would cost the host its RA-learned routes.
      p.ipv6 ? readRaInterfaces(ctx.runner) : Promise.resolve(undefined),
    ]);
    let links = firstLinks;
    let routes = firstRoutes;
    const existing = entries.find((c) => c.name === p.name);
    if (existing) {
      if (existing.def.uuid !== p.uuid) {
        throw new AppError("NAME_TAKEN", `a libvirt network named '${p.name}' already exists on host ${ctx.hostId}`, {
          name: p.name,
          host: ctx.hostId,
        });
      }
      // Same uuid: left behind by an interrupted earlier attempt of this very job. Start clean, unless anything
      // is attached to it (attachments are checked before any destroy).
      const leftSpec = existing.def.spec;
      const attached = existing.active ? await driver.attachments(ctx, existing) : [];
      if (attached.length > 0 && leftSpec) {
        adopted = existing;
        ctx.logger.warn(
          { network: p.name, attached: attached.map((a) => a.name) },
          "an earlier delivery of this job created the network and it is in use: kept, not recreated",
        );
        return leftSpec;
      }
      // Taken away as a delete would take it (stopped, undefined, and what its type made on the host given back:
      // a bridge network's bridge with its NIC in it, kept while it is stopped, ADR 0021): undefining it alone
      // left that bridge behind, and this create then refused it as "not netforge's" (chaos run, seed 2602).
      // Not undone if this delivery fails: the leftover is an interrupted attempt's, not a state to return to.
      await removeLeftover(ctx, existing);
      // Read the host again: the links and routes read above still show the leftover's bridge and its
      // subnet, which (no longer in the catalog) would look foreign and fail this retry with a
      // CIDR_CONFLICT against its own earlier attempt (seen after a worker was killed mid-create).
      [links, routes] = await Promise.all([readLinks(ctx.runner), readRoutes(ctx.runner)]);
    }
    checkedLinks = links;
    const snapshot: HostSnapshot = {
      links,
      routes,
      catalog: entries.filter((c) => c.name !== p.name),
      endpoints,
      ...(raInterfaces ? { raInterfaces } : {}),
    };
    return driver.prepare(ctx, p, snapshot);
  });

  if (adopted) return finishAdopted(ctx, p, adopted, spec);

  // The plan, from the spec and one read of the host's facts; exactly its host steps run below. Checked against the
  // previewed plan (with every other member's part) before any host changes anything.
  const plan = planCreate(spec, { start: p.start, autostart: p.autostart }, await driver.hostFacts(ctx, spec, checkedLinks), ctx.hostId);
  assertPlanAsPreviewed(
    ctx,
    ctx.parentJob ? plan : withMemberParts(plan, spec, "create-network", { active: p.start, autostart: p.autostart }),
    [p.uuid, p.createdAt, ...(p.overlayDoor ? [overlayGatewayMac(p.overlayDoor.vni), String(p.overlayDoor.vni)] : [])],
  );

  // A network spanning hosts (an overlay): every other member's part, by its own worker, at the same time.
  const others = ctx.parentJob ? [] : (driver.model.otherHosts?.(spec) ?? []);
  const parts =
    others.length > 0
      ? await startMemberParts(
          ctx,
          "create-network",
          others,
          (h) => ({ ...p, host: h }),
          () => ({ name: p.name }),
        )
      : null;

  const phase = (step: string): PlanPhase | undefined => plan.phases.find((ph) => ph.step === step);
  const port = hostPortOf(ctx);
  const opts = driver.executeOptions?.(ctx, spec) ?? {};
  const run = (ph: PlanPhase) => runPhase(port, revert, ph, opts);
  const defining = phase("defining network");
  if (defining) await report.step("defining network", () => run(defining));

  // Autostart is a flag on the persistent definition, independent of the running network: when the network
  // starts, libvirt sets it through another session while it starts the network (it cost 10-28 ms of a
  // ~70-120 ms create when it came after). Its own step reports its outcome (an error fails the job there).
  const autostartPhase = phase("setting autostart");
  const starting = phase("starting network");
  let autostart: Promise<unknown> | null = null;
  if (starting) {
    await report.step("starting network", async () => {
      // libvirt's start and the network's part of netforge's table at the same time (the rules match the bridge
      // by name, so they need not wait for it; the table's transaction took ~10-28 ms of a ~120 ms create when
      // it came after), with the autostart flag. If a part fails, the step fails after all settled (the
      // autostart too: the undo of the definition must not race it) and the undo takes back whichever succeeded.
      autostart = autostartPhase?.overlapsPrevious ? run(autostartPhase) : null;
      const settled = await Promise.allSettled([run(starting), autostart]);
      if (settled[0].status === "rejected") throw settled[0].reason;
      if (plan.nft !== undefined) await warnOverridingPolicies(ctx);
    });
  } else {
    report.skip("starting network");
  }

  await report.step("setting autostart", async () => void (await (autostart ?? (autostartPhase ? run(autostartPhase) : null))));

  if (p.start && driver.model.servesDhcp(spec)) {
    await report.step("verifying DHCP", () => driver.verifyStarted(ctx, spec));
  } else {
    report.skip("verifying DHCP");
  }
  await parts?.wait();

  const now = new Date().toISOString();
  const def = parseNetworkXml(plan.libvirtXml ?? driver.model.render(spec));
  const rec = driver.record({ name: p.name, active: p.start, autostart: p.autostart, persistent: true, def }, ctx.hostId, now);
  // A member's part: the coordinating job publishes the network (its index record and spec), not the part.
  if (ctx.parentJob) return rec;
  await putNetwork(ctx.redis, ctx.keys, rec);
  await putNetworkSpec(ctx.redis, ctx.keys, spec);
  return rec;
}

/**
 * Finish a create whose network an earlier delivery of this job made and that is in use (VMs attached): its
 * definition and running state stay; its rules are put in place again, autostart set, DHCP verified, and the
 * index record and spec published, as the first delivery would have.
 */
async function finishAdopted(ctx: JobContext, p: CreateNetworkPayload, entry: CatalogEntry, spec: NetSpec): Promise<NetworkRecord> {
  const driver = driverFor(p.type);
  const { report } = ctx;
  report.skip("defining network");
  if (entry.active) {
    // Its part of netforge's table, put in place again as planned for a running network of this spec.
    const step = firewallStep(spec);
    const fw = step ? [step] : [];
    await report.step("starting network", async () => {
      await runPhase(hostPortOf(ctx), ctx.revert, { step: "starting network", hostSteps: fw });
      if (fw.length > 0) await warnOverridingPolicies(ctx);
    });
  } else {
    report.skip("starting network");
  }
  await report.step("setting autostart", () => ctx.virsh.setAutostart(p.name, p.autostart));
  if (entry.active && driver.model.servesDhcp(spec)) {
    await report.step("verifying DHCP", () => driver.verifyStarted(ctx, spec));
  } else {
    report.skip("verifying DHCP");
  }
  const rec = driver.record(
    { name: p.name, active: entry.active, autostart: p.autostart, persistent: true, def: entry.def },
    ctx.hostId,
    new Date().toISOString(),
  );
  // A member's part: the coordinating job publishes the network (its index record and spec), not the part (as above).
  if (ctx.parentJob) return rec;
  await putNetwork(ctx.redis, ctx.keys, rec);
  await putNetworkSpec(ctx.redis, ctx.keys, spec);
  return rec;
}

/**
 * A leftover of this very job (same uuid, nothing attached): removed through the delete plan of its own spec, so
 * its part of netforge's table and everything its type made on the host (a created bridge and its NIC, an IFB)
 * go too, then forgotten by the catalog.
 */
async function removeLeftover(ctx: JobContext, entry: CatalogEntry): Promise<void> {
  const spec = entry.def.spec;
  const plan = await planDeleteOf(ctx, entry, false);
  const opts = spec ? (driverFor(spec.type).executeOptions?.(ctx, spec) ?? {}) : {};
  const scratch = new Revert();
  for (const phase of plan.phases) await runPhase(hostPortOf(ctx), scratch, phase, opts);
  ctx.catalog.forget(entry.name);
}
