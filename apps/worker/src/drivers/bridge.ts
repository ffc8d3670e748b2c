/**
 * Bridge networks: VMs are ports of a Linux bridge that carries the physical
 * LAN (<forward mode='bridge'/>): no address, no dnsmasq, no NAT; the LAN's
 * DHCP server addresses them and the LAN reaches them directly. The bridge is
 * either the host's own (used as it is, never changed or removed) or one
 * netforge creates for an unconfigured NIC: created with the NIC enslaved
 * before the definition is written (and again before a start, after a host
 * reboot removed it), and on delete the NIC is given back exactly as the spec
 * recorded it (no master, its MTU, up or down) and the bridge removed.
 */
import { AppError } from "@netforge/core/contract";
import {
  type BridgeNetSpec,
  type BridgeUser,
  bridgeModel,
  bridgeSetUpSteps,
  bridgeTearDownSteps,
  chooseBridge,
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

async function ip(ctx: JobContext, args: string[]): Promise<void> {
  await ctx.runner.run("ip", args);
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
    return { type: bridgeModel.type, name: p.name, uuid: p.uuid, description: p.description, createdAt: p.createdAt, ...choice };
  },
  async verifyStarted() {},
  async setUpHost(ctx, spec) {
    const links = new Map((await readLinks(ctx.runner)).map((l) => [l.name, l]));
    if (!spec.created) {
      // The host's bridge (or the NIC's): it must still be there; it is never changed.
      const br = links.get(spec.bridge);
      if (br?.kind !== "bridge") {
        throw new AppError("INVALID_STATE", `bridge ${spec.bridge} of network '${spec.name}' is missing on host ${ctx.hostId}`, {
          name: spec.name,
          bridge: spec.bridge,
        });
      }
      return;
    }
    const nicName = spec.interface as string;
    const nic = links.get(nicName);
    if (!nic) {
      throw new AppError("INVALID_STATE", `interface ${nicName} of network '${spec.name}' is missing on host ${ctx.hostId}`, {
        name: spec.name,
        interface: nicName,
      });
    }
    const steps = bridgeSetUpSteps(spec, { bridgeExists: links.has(spec.bridge), nicMaster: nic.master, nicUp: nic.adminUp ?? false });
    for (const step of steps) {
      await ip(ctx, step.ip);
      const undo = step.undo;
      if (undo === "restore-nic") ctx.revert.add(`undo: ${step.name}`, () => restoreNic(ctx, spec));
      else if (undo) ctx.revert.add(`undo: ${step.name}`, () => ip(ctx, undo));
    }
  },
  async tearDownHost(ctx, spec) {
    if (!spec.created) return; // a host bridge is never touched
    await giveBack(ctx, spec, true);
  },
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

/** Give the NIC back as the spec recorded it (out of the bridge, its MTU, its link state); with `removeBridge`, delete the bridge too. */
async function giveBack(ctx: JobContext, spec: BridgeNetSpec, removeBridge: boolean): Promise<void> {
  const links = await readLinks(ctx.runner);
  const nic = links.find((l) => l.name === spec.interface);
  const steps = bridgeTearDownSteps(
    spec,
    {
      bridgeExists: links.some((l) => l.name === spec.bridge),
      nic: nic ? { master: nic.master, mtu: nic.mtu ?? null, up: nic.adminUp ?? false } : null,
    },
    { removeBridge },
  );
  for (const step of steps) await ip(ctx, step.ip);
}

const restoreNic = (ctx: JobContext, spec: BridgeNetSpec) => giveBack(ctx, spec, false);
