/**
 * overlay networks (issue 17), the host half on one member: the checks before anything is made (the subnet on
 * the gateway host, the bridge and VXLAN device names free, this host's underlay address still the one the API
 * gave its members), the spec of this member's part (core's drivers/overlay.ts plans its steps), the proof
 * that the gateway's DHCP answers, and what is attached (every port of the bridge but the VXLAN device).
 */
import { AppError } from "@netforge/core/contract";
import { type NetSpec, type OverlayNetSpec, overlayBridgeName, overlayModel, overlaySpecFor, vxlanDeviceName } from "@netforge/core/model";
import { bridgeAttachments } from "../host/attachments";
import { waitForDhcp } from "../host/dhcp-probe";
import { assertNoOverlap, occupiedSubnets } from "../host/host-checks";
import { assertIpv6ForwardingSafe, assertNoOverlap6 } from "../host/ipv6-checks";
import { readLinks } from "../host/ip";
import { findUnderlay } from "../host/underlay";
import { recordFromCatalog } from "../network-record";
import { overlayConnectedVms, publishOverlayPartNow } from "./overlay-drift";
import { linkFact } from "./bridge";
import { lostAddressing } from "./routed";
import type { NetworkDriver } from "./driver";

const asOverlay = (spec: NetSpec | null | undefined): OverlayNetSpec | null => (spec && overlayModel.is(spec) ? spec : null);

export const overlayDriver: NetworkDriver<OverlayNetSpec> = {
  model: overlayModel,
  prepare(ctx, p, host) {
    const o = p.overlay;
    const door = p.overlayDoor;
    if (!o || !door || !p.cidr || !p.gateway) {
      throw new AppError("VALIDATION_FAILED", "an overlay network needs its members, VXLAN id and subnet from the API", {
        issues: [{ path: "overlay", message: "required" }],
      });
    }
    if (!o.hosts.includes(ctx.hostId)) {
      throw new AppError("INVALID_STATE", `host ${ctx.hostId} is not a member of overlay '${p.name}' (${o.hosts.join(", ")})`, {
        name: p.name,
        host: ctx.hostId,
      });
    }
    // This host's underlay must still be the address the API gave the other members (they send to it).
    const mine = findUnderlay(host.links, host.routes, ctx.underlayIp ?? null);
    const want = door.underlay[ctx.hostId];
    if (!mine.underlay || mine.underlay.ip !== want) {
      const now = mine.underlay ? mine.underlay.ip : `unknown (${mine.why})`;
      throw new AppError(
        "INVALID_STATE",
        `host ${ctx.hostId}'s underlay address is ${now}, not ${want} as the API planned: retry the create`,
        { host: ctx.hostId, underlay: mine.underlay?.ip ?? null, planned: want ?? null },
      );
    }
    const bridge = overlayBridgeName(door.vni);
    const device = vxlanDeviceName(door.vni);
    for (const name of [bridge, device]) {
      if (host.links.some((l) => l.name === name)) {
        throw new AppError("INVALID_STATE", `interface ${name} already exists on host ${ctx.hostId}: overlay '${p.name}' needs that name`, {
          host: ctx.hostId,
          interface: name,
          permanent: true,
        });
      }
    }
    if (ctx.hostId === o.gatewayHost) {
      assertNoOverlap(p.cidr, ctx.hostId, occupiedSubnets(host.links, host.routes, host.catalog, p.name, host.endpoints));
      // IPv6 as a nat network's (ADR 0045): the prefix free on the host, and no route the forwarding would lose.
      if (p.ipv6) {
        assertNoOverlap6(p.ipv6.cidr, ctx.hostId, host.links, host.catalog, p.name);
        assertIpv6ForwardingSafe(host.raInterfaces ?? [], ctx.hostId);
      }
    }
    return overlaySpecFor(p, ctx.hostId);
  },
  async verifyStarted(ctx, s) {
    if (overlayModel.servesDhcp(s)) await waitForDhcp(ctx.runner, s.bridge, 3000, s.name);
  },
  async hostFacts(ctx, _spec, links) {
    return { links: (links ?? (await readLinks(ctx.runner))).map(linkFact), pfs: [] };
  },
  connectedVms(_ctx, entry, links) {
    const spec = asOverlay(entry.def.spec);
    if (!spec || !entry.active) return 0;
    return overlayConnectedVms(spec, links);
  },
  async attachments(ctx, entry) {
    const spec = asOverlay(entry.def.spec);
    if (!spec || !entry.active) return [];
    const device = vxlanDeviceName(spec.vni);
    return (await bridgeAttachments(ctx.runner, ctx.virsh, spec.bridge)).filter((a) => a.interface !== device);
  },
  // The gateway host's DHCP range, reservations and DNS records, as a nat network's (the other members have none).
  lostState(entry, liveXml) {
    const spec = asOverlay(entry.def.spec);
    const part = spec && entry.active ? overlayModel.addressing(spec) : null;
    return part ? lostAddressing(part, liveXml) : [];
  },
  afterJob: publishOverlayPartNow,
  record(entry, host, updatedAt) {
    const rec = recordFromCatalog(entry, host, updatedAt);
    const spec = asOverlay(entry.def.spec);
    if (!spec) return rec;
    // Each member as the last job left it (all-or-nothing: the network's state); VMs counted on this host only
    // (describe-network adds this host's from its stats).
    return {
      ...rec,
      overlay: {
        vni: spec.vni,
        gatewayHost: spec.gatewayHost,
        hosts: spec.members.map((m) => ({ id: m.id, state: rec.state, connectedVms: 0 })),
      },
    };
  },
};
