import {
  type BridgeNetSpec,
  type BridgeUser,
  bridgeModel,
  bridgeTearDownSteps,
  chooseBridge,
  type LinkFact,
  type NetSpec,
} from "@netforge/core/model";
import type { HostContext, JobContext } from "../context";
import type { Attachment } from "../host/attachments";
import { type HostLink, readLinks } from "../host/ip";
import type { CatalogEntry } from "../host/network-catalog";
import { recordFromCatalog } from "../network-record";
import type { NetworkDriver } from "./driver";
import { noAddressingChanges } from "./no-addressing";

const asBridge = (spec: NetSpec | null | undefined): BridgeNetSpec | null => (spec && bridgeModel.is(spec) ? spec : null);

/** Ports that are VMs of this network: every port but the NIC on a bridge netforge made; libvirt's taps of this network on a host bridge. */
async function attachmentsOf(ctx: HostContext, entry: CatalogEntry): Promise<Attachment[]> {
  const spec = asBridge(entry.def.spec);
  if (!spec || !entry.active) return [];
  const ports = (await readLinks(ctx.runner)).filter((l) => l.master === spec.bridge && l.name !== spec.interface).map((l) => l.name);
  const sources = await ctx.virsh.runningDomainSources();
  const owners = new Map(sources.filter((s) => s.ifname !== null).map((s) => [s.ifname as string, s]));
  const out: Attachment[] = [];
  for (const p of ports) {
    const o = owners.get(p);
    if (o) out.push({ kind: "domain", name: o.domain, interface: p });
    // On the host's own bridge, its other ports (uplinks, other hypervisor tooling) are not this network's.
    else if (spec.created) out.push({ kind: "device", name: p, interface: p });
  }
  // Domains of this network whose port the listing above did not see (e.g. a port being set up).
  for (const s of sources) {
    if (s.source === entry.name && !out.some((a) => a.kind === "domain" && a.name === s.domain)) {
      out.push({ kind: "domain", name: s.domain, interface: s.ifname ?? "-" });
    }
  }
  return out;
}

export const bridgeDriver: NetworkDriver<BridgeNetSpec> = {
  model: bridgeModel,
  prepare(ctx, p, host) {
    // Every other libvirt network (netforge's or not) holds its bridge; bridge networks also their NIC.
    const users: BridgeUser[] = host.catalog.map((c) => ({
      name: c.name,
      bridge: c.def.bridge,
      interface: c.def.spec && "interface" in c.def.spec ? c.def.spec.interface : null,
    }));
    const choice = chooseBridge(p.l2, p.name, ctx.hostId, host.links, users, ctx.allowedInterfaces ?? []);
    return {
      type: bridgeModel.type,
      name: p.name,
      uuid: p.uuid,
      description: p.description,
      createdAt: p.createdAt,
      ...(p.managedBy === undefined ? {} : { managedBy: p.managedBy }),
      ...choice,
    };
  },
  async verifyStarted() {},
  async hostFacts(ctx) {
    return { links: (await readLinks(ctx.runner)).map(linkFact), pfs: [] };
  },
  executeOptions: (ctx, spec) => ({ restoreNic: () => restoreNic(ctx, spec) }),
  attachments: attachmentsOf,
  connectedVms(_ctx, entry, links: HostLink[]) {
    const spec = asBridge(entry.def.spec);
    if (!spec || !entry.active) return 0;
    // Without a domain listing here: on the host's bridge only libvirt's taps (tun devices) count.
    return links.filter((l) => l.master === spec.bridge && l.name !== spec.interface && (spec.created || l.kind === "tun")).length;
  },
  ...noAddressingChanges,
  record(entry, host, updatedAt) {
    const rec = recordFromCatalog(entry, host, updatedAt);
    const spec = asBridge(entry.def.spec);
    return { ...rec, type: bridgeModel.type, bridge: { name: spec?.bridge ?? entry.def.bridge, interface: spec?.interface ?? null } };
  },
};

/** A link as plans read it (core's LinkFact). */
export const linkFact = (l: HostLink): LinkFact => ({
  name: l.name,
  master: l.master,
  mtu: l.mtu ?? null,
  up: l.adminUp ?? false,
  kind: l.kind ?? null,
});

/**
 * Undo of enslaving a created bridge's NIC: give the NIC back as the spec recorded it (out of the bridge, its
 * MTU, its link state), from the links as they are when the job reverts; the bridge itself is removed by the
 * undo of its own creation.
 */
async function restoreNic(ctx: JobContext, spec: BridgeNetSpec): Promise<void> {
  const facts = { links: (await readLinks(ctx.runner)).map(linkFact), pfs: [] };
  const steps = bridgeTearDownSteps(
    spec,
    {
      bridgeExists: facts.links.some((l) => l.name === spec.bridge),
      nic: facts.links.find((l) => l.name === spec.interface) ?? null,
    },
    { removeBridge: false },
  );
  for (const step of steps) await ctx.runner.run("ip", step.ip);
}
