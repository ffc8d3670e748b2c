/**
 * The shared base of the two routed types (nat and isolated): a bridge owned
 * by libvirt carrying the gateway address, dnsmasq for DHCP/DNS. They differ
 * only in libvirt's <forward mode='nat'/> (and the firewall rules libvirt
 * derives from it), which the renderer handles from the spec's type.
 */
import { renderNetworkXml, type CreateNetworkPayload, type NetworkSpec } from "@netforge/core";
import type { JobContext } from "../context";
import { waitForDhcp } from "../host/dhcp-probe";
import { assertNoOverlap, freeBridgeName, occupiedSubnets } from "../host/host-checks";
import type { HostSnapshot, NetworkDriver } from "./driver";

export function routedDriver(type: "nat" | "isolated"): NetworkDriver {
  return {
    type,
    prepare(ctx: JobContext, p: CreateNetworkPayload, host: HostSnapshot): NetworkSpec {
      if (!p.cidr) throw new Error(`${type} network without cidr`);
      assertNoOverlap(p.cidr, ctx.hostId, occupiedSubnets(host.links, host.routes, host.catalog, p.name));
      const bridge = freeBridgeName(host.links, p.name, host.catalog);
      const { start: _start, ...spec } = p;
      return { ...spec, bridge };
    },
    render: renderNetworkXml,
    async verifyStarted(ctx, s) {
      if (s.dhcpEnabled && s.bridge) await waitForDhcp(ctx.runner, s.bridge);
    },
  };
}
