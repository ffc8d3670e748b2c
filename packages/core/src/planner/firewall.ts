/**
 * A network's firewall as netforge keeps it (in the spec, so in libvirt's
 * metadata): an ordered rule list with a default per direction, and the
 * port forwards of a NAT network. Every value here was validated by the
 * schemas (schemas/firewall.ts) before it got into a spec; the nft renderer
 * still only writes fields it re-checks.
 */

import type { FirewallSpec } from "../actions/changes";
import type { FirewallBodyPart } from "../schemas/firewall";

// The firewall as kept is part of the contract (a firewall change carries it whole): actions/changes.ts.
export type { FirewallAction, FirewallProtocol, FirewallRule, FirewallSpec, HostService } from "../actions/changes";
export { type FirewallBodyPart, firewallOfBody } from "../schemas/firewall";

/**
 * A DNAT from every host address of vmIp's family (or only `hostIp`, of the same family) on hostPort to vmIp:vmPort
 * (NAT networks). One family per forward; the host port's claim is per host and protocol across both families.
 */
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

/** An address and port as people (and URLs) write them: "10.0.0.5:22", "[fd00::5]:22". */
export const addressPort = (ip: string, port: number): string => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);

/** The host address part of a forward as people read it: "198.51.100.2:2222", "[fd00:99::2]:2222" or "2222" (every address). */
export const forwardHostLabel = (f: Pick<PortForwardSpec, "hostPort" | "hostIp">): string =>
  f.hostIp === undefined ? String(f.hostPort) : addressPort(f.hostIp, f.hostPort);

/** A forward's family: its VM address's (an IPv6 forward answers on the host's IPv6 addresses). */
export const forwardFamily = (f: Pick<PortForwardSpec, "vmIp">): "ipv4" | "ipv6" => (f.vmIp.includes(":") ? "ipv6" : "ipv4");

/** What a network without a configured firewall gets: everything its type allows passes. */
export const OPEN_FIREWALL: FirewallSpec = { defaultInbound: "accept", defaultOutbound: "accept", rules: [] };

/** The firewall of a spec (specs written before the firewall existed have none: open). */
export function firewallOf(spec: { firewall?: FirewallSpec | undefined }): FirewallSpec {
  return spec.firewall ?? OPEN_FIREWALL;
}

/**
 * A kept firewall as the body that sets it (an overlay member's part of a firewall change and its undo, an added
 * member's create: each is checked by its action's schema again on the member).
 */
export function firewallBodyOf(f: FirewallSpec): FirewallBodyPart {
  return {
    defaultInbound: f.defaultInbound,
    defaultOutbound: f.defaultOutbound,
    rules: f.rules.map((r) => ({
      direction: r.direction,
      protocol: r.protocol,
      ...(r.source === null ? {} : { source: r.source }),
      ...(r.destination === null ? {} : { destination: r.destination }),
      ...(r.ports === null ? {} : { ports: r.ports }),
      action: r.action,
      ...(r.comment === null || r.comment === "" ? {} : { comment: r.comment }),
    })),
    hostServices: (f.hostServices ?? []).map((x) => ({ protocol: x.protocol, ports: x.ports })),
  };
}
