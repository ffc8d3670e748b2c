/**
 * create-network: check the host, define, start, set autostart, verify DHCP.
 * Every host change registers its undo, so a failure at any step leaves the
 * host as it was.
 */
import { AppError, type CreateNetworkPayload } from "@netforge/core/contract";
import { type NetSpec, parseNetworkXml } from "@netforge/core/model";
import { type NetworkRecord, putNetwork, putNetworkSpec } from "@netforge/core/store";
import type { JobContext } from "../context";
import type { HostSnapshot } from "../drivers/driver";
import { driverFor } from "../drivers/registry";
import { readLinks, readRoutes } from "../host/ip";
import type { CatalogEntry } from "../host/network-catalog";
import { readProtectedEndpoints } from "../host/protected";
import { applyFirewall } from "./firewall-steps";

export async function createNetwork(ctx: JobContext, p: CreateNetworkPayload): Promise<NetworkRecord> {
  const driver = driverFor(p.type);
  const { virsh, catalog, report, revert } = ctx;

  // An earlier delivery of this job made the network, and something is plugged into it by now: it is in use,
  // so it is kept as it is (never destroyed to start clean) and this delivery finishes from there.
  let adopted: CatalogEntry | null = null;
  const spec = await report.step("checking host", async () => {
    const [entries, firstLinks, firstRoutes, endpoints] = await Promise.all([
      catalog.list(),
      readLinks(ctx.runner),
      readRoutes(ctx.runner),
      readProtectedEndpoints(ctx),
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
      if (existing.active) await virsh.destroy(p.name);
      await virsh.undefine(p.name);
      catalog.forget(p.name);
      // Read the host again: the links and routes read above still show the leftover's bridge and its
      // subnet, which (no longer in the catalog) would look foreign and fail this retry with a
      // CIDR_CONFLICT against its own earlier attempt (seen after a worker was killed mid-create).
      [links, routes] = await Promise.all([readLinks(ctx.runner), readRoutes(ctx.runner)]);
    }
    const snapshot: HostSnapshot = { links, routes, catalog: entries.filter((c) => c.name !== p.name), endpoints };
    return driver.prepare(ctx, p, snapshot);
  });

  if (adopted) return finishAdopted(ctx, p, adopted, spec);

  const xml = driver.model.render(spec);
  const def = parseNetworkXml(xml);
  await report.step("defining network", async () => {
    await driver.setUpHost?.(ctx, spec);
    await virsh.define(xml); // the catalog learns every define from Virsh itself
    revert.add(
      "undefine network",
      async () => {
        const info = await virsh.info(p.name);
        if (info?.active) await virsh.destroy(p.name);
        if (info) await virsh.undefine(p.name);
        catalog.forget(p.name);
      },
      "defining network",
    );
  });

  // Autostart is a flag on the persistent definition, independent of the running network: when the network
  // starts, libvirt sets it through another session while it starts the network (it cost 10-28 ms of a
  // ~70-120 ms create when it came after). Its own step reports its outcome (an error fails the job there).
  let autostart: Promise<void> | null = null;
  if (p.start) {
    await report.step("starting network", async () => {
      // The type's NAT/isolation and the (empty) rule set go into netforge's table while libvirt starts the
      // network: the rules match the bridge by name, so they need not wait for it (the table's nft transaction
      // took ~10-28 ms of a ~120 ms create when it came after). Each part registers its undo once it is done;
      // if either fails, the step fails after all settled (the autostart too: the undo of the definition must
      // not race it) and the undo takes back whichever succeeded.
      autostart = virsh.setAutostart(p.name, p.autostart);
      const settled = await Promise.allSettled([
        virsh.start(p.name).then(() => revert.add("stop network", () => virsh.destroy(p.name), "starting network")),
        applyFirewall(ctx, spec),
        autostart,
      ]);
      const failed = settled.slice(0, 2).find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    });
  } else {
    report.skip("starting network");
  }

  await report.step("setting autostart", () => autostart ?? virsh.setAutostart(p.name, p.autostart));

  if (p.start && driver.model.servesDhcp(spec)) {
    await report.step("verifying DHCP", () => driver.verifyStarted(ctx, spec));
  } else {
    report.skip("verifying DHCP");
  }

  const now = new Date().toISOString();
  const rec = driver.record({ name: p.name, active: p.start, autostart: p.autostart, persistent: true, def }, ctx.hostId, now);
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
    await report.step("starting network", async () => {
      await applyFirewall(ctx, spec);
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
  await putNetwork(ctx.redis, ctx.keys, rec);
  await putNetworkSpec(ctx.redis, ctx.keys, spec);
  return rec;
}
