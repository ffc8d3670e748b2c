/**
 * The contract's per-type schema files (routed.ts for nat and isolated, bridge.ts, sriov.ts, l2.ts for the
 * device types' request): the network types, the create body as one schema per type, and the per-type parts of
 * resolving a body, of reading a queued payload back and of the subnet pool check. The only place in the
 * contract that names the types (packages/core/src/drivers/no-type-switches.test.ts); a new type adds its file
 * and its line in each switch below.
 */
import { z } from "zod";
import type { DhcpConfig, Ipv6Config } from "../network-fields";
import { BridgeBody, bridgeRequest } from "./bridge";
import { type L2Request, l2BodyFields } from "./l2";
import { IsolatedBody, NatBody, resolveRouted, routedBodyFields } from "./routed";
import { SriovBody, sriovRequest } from "./sriov";
import { OverlayBody, type OverlayPart, overlayBodyFields, resolveOverlay } from "./overlay";

export type { L2Request } from "./l2";

/** The network types of the module. */
export const NETWORK_TYPES = ["nat", "bridge", "isolated", "sriov", "overlay"] as const;
export const NetworkType = z.enum(NETWORK_TYPES);
export type NetworkType = z.infer<typeof NetworkType>;

/** Network types this version can run (the others are rejected with UNSUPPORTED_FOR_TYPE). */
export const IMPLEMENTED_TYPES: ReadonlySet<NetworkType> = new Set<NetworkType>(["nat", "isolated", "bridge", "sriov", "overlay"]);

/** Body of create-network, one shape per type. */
export const CreateNetworkBody = z.discriminatedUnion("type", [NatBody, IsolatedBody, BridgeBody, SriovBody, OverlayBody], {
  // In the operator's words, not the validation library's ("Invalid discriminator value").
  error: (issue) => {
    // A body that is no object at all keeps the library's own words ("expected object").
    if (issue.code !== "invalid_union") return undefined;
    const given = (issue.input as { type?: unknown } | undefined)?.type;
    const choices = NETWORK_TYPES.join(", ");
    return given === undefined
      ? `a network type is required: one of ${choices}`
      : `${JSON.stringify(given)} is not a network type: one of ${choices}`;
  },
});
export type CreateNetworkBody = z.infer<typeof CreateNetworkBody>;

/** The type's part of a resolved create body: its addressing, or (device types) none and what it attaches to. */
export type TypePart =
  | { cidr: string; gateway: string; dhcp: DhcpConfig; mtu?: number; ipv6?: Ipv6Config }
  | { cidr: string; gateway: string; dhcp: DhcpConfig; mtu?: number; ipv6?: Ipv6Config; overlay: OverlayPart }
  | { cidr: null; gateway: null; dhcp: DhcpConfig; l2: L2Request };

const NO_DHCP = (): DhcpConfig => ({ enabled: false, start: null, end: null, leaseTime: null });

/** Check the type's own fields of a create body and fill their defaults. Throws VALIDATION_FAILED. */
export function resolveTypePart(body: CreateNetworkBody): TypePart {
  switch (body.type) {
    case "nat":
    case "isolated":
      return resolveRouted(body);
    case "bridge":
      return { cidr: null, gateway: null, dhcp: NO_DHCP(), l2: bridgeRequest(body) };
    case "sriov":
      return { cidr: null, gateway: null, dhcp: NO_DHCP(), l2: sriovRequest(body) };
    case "overlay":
      return resolveOverlay(body);
  }
}

/**
 * The type's body fields a queued create payload stands for (payload-parse.ts): a routed payload's addressing,
 * any other's `l2` request (whatever its type: the body schema refuses what does not fit).
 */
export function typeBodyFields(
  p: { type?: unknown; cidr?: unknown; gateway?: unknown; dhcp?: unknown; l2?: unknown; ipv6?: unknown; overlay?: unknown },
  isObject: (v: unknown) => v is Record<string, unknown>,
): Record<string, unknown> {
  if (p.type === "nat" || p.type === "isolated") return routedBodyFields(p.cidr, p.gateway, p.dhcp, isObject, p.ipv6);
  if (p.type === "overlay")
    return { ...routedBodyFields(p.cidr, p.gateway, p.dhcp, isObject, p.ipv6), ...overlayBodyFields(p.overlay, isObject) };
  return l2BodyFields(p.l2, isObject);
}

/** The subnet a create body asks for (what the operator's subnet pools check); null for a type that takes none. */
export function subnetOfBody(body: CreateNetworkBody): string | null {
  switch (body.type) {
    case "nat":
    case "isolated":
    case "overlay":
      return body.cidr;
    case "bridge":
    case "sriov":
      return null;
  }
}

/**
 * An example create body of each type (the OpenAPI document's examples; a type without one does not compile),
 * each parsed with CreateNetworkBody by the API's openapi test.
 */
export const CREATE_EXAMPLES: { [T in NetworkType]: { summary: string; value: z.input<typeof CreateNetworkBody> } } = {
  nat: {
    summary: "nat: a routed subnet with DHCP, masqueraded to the outside",
    value: {
      name: "web",
      type: "nat",
      host: "hv1",
      cidr: "192.168.100.0/24",
      gateway: "192.168.100.1",
      dhcp: { start: "192.168.100.100", end: "192.168.100.200", leaseTime: 3600 },
      description: "frontend VMs",
    },
  },
  isolated: {
    summary: "isolated: VMs reach each other and the gateway only; DHCP over the default range",
    value: { name: "backend", type: "isolated", cidr: "10.20.0.0/24", autostart: true },
  },
  bridge: {
    summary: 'bridge: VMs on the physical LAN through an unconfigured NIC (or an existing bridge: "bridge": "br0")',
    value: { name: "lan", type: "bridge", host: "hv1", interface: "eth1" },
  },
  sriov: {
    summary: "sriov: a pool of 8 VFs of a PF, tagged VLAN 100",
    value: { name: "fast", type: "sriov", host: "hv1", pf: "enp3s0f0", vfs: 8, vlan: 100 },
  },
  overlay: {
    summary: "overlay: one L2 segment over three hosts (VXLAN), gateway, DHCP and NAT on hv1",
    value: { name: "tenant-a", type: "overlay", cidr: "10.50.0.0/24", hosts: ["hv1", "hv2", "hv3"], gatewayHost: "hv1" },
  },
};
