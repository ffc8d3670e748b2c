/**
 * A network's firewall as netforge keeps it (in the spec, so in libvirt's
 * metadata): an ordered rule list with a default per direction, and the
 * port forwards of a NAT network. Every value here was validated by the
 * schemas (schemas/firewall.ts) before it got into a spec; the nft renderer
 * still only writes fields it re-checks.
 */

import type { FirewallSpec } from "../actions/changes";

// The firewall as kept is part of the contract (a firewall change carries it whole): actions/changes.ts.
export type { FirewallAction, FirewallProtocol, FirewallRule, FirewallSpec, HostService } from "../actions/changes";

/** A DNAT from every host address (or only `hostIp`) on hostPort to vmIp:vmPort (NAT networks). */
export interface PortForwardSpec {
  protocol: "tcp" | "udp";
  hostPort: number;
  vmIp: string;
  vmPort: number;
  /** The one host address the forward listens on; absent: every host address. */
  hostIp?: string;
}

/** Whether two forwards of one protocol take the same host port somewhere: "all addresses" overlaps every address. */
export const forwardsOverlap = (
  a: Pick<PortForwardSpec, "protocol" | "hostPort" | "hostIp">,
  b: Pick<PortForwardSpec, "protocol" | "hostPort" | "hostIp">,
): boolean =>
  a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp);

/** The host address part of a forward as people read it: "198.51.100.2:2222" or "2222" (every address). */
export const forwardHostLabel = (f: Pick<PortForwardSpec, "hostPort" | "hostIp">): string =>
  f.hostIp === undefined ? String(f.hostPort) : `${f.hostIp}:${f.hostPort}`;

/** What a network without a configured firewall gets: everything its type allows passes. */
export const OPEN_FIREWALL: FirewallSpec = { defaultInbound: "accept", defaultOutbound: "accept", rules: [] };

/** The firewall of a spec (specs written before the firewall existed have none: open). */
export function firewallOf(spec: { firewall?: FirewallSpec | undefined }): FirewallSpec {
  return spec.firewall ?? OPEN_FIREWALL;
}
