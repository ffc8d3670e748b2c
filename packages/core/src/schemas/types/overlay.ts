/**
 * The overlay type's body (issue 17): one L2 segment over several hosts (a bridge and a VXLAN device on each
 * member), with a routed subnet whose gateway, DHCP and NAT live on one member, the gateway host. Its
 * addressing fields are the routed types' (routed.ts); what it adds is the member hosts.
 */
import { z } from "zod";
import { CidrString, HostId, IPv4, NetworkName } from "../common";
import { commonCreateFields, DhcpInput, type FieldIssue, Ipv6Input, Mtu, validationError } from "../network-fields";
import { type RoutedPart, resolveRouted } from "./routed";

const { host: _host, ...fieldsButHost } = commonCreateFields;

export const OverlayBody = z.strictObject({
  type: z.literal("overlay").describe("Network type overlay: one L2 segment over several hosts (VXLAN), its gateway on one of them"),
  ...fieldsButHost,
  cidr: CidrString,
  gateway: IPv4.optional().describe("The gateway host's address on the network (default: the subnet's first usable address)"),
  dhcp: DhcpInput.optional(),
  mtu: Mtu.optional().describe(
    "The overlay's MTU in bytes (default: the smallest member underlay MTU minus 50); at most a member's underlay MTU minus 50",
  ),
  hosts: z
    .array(HostId)
    .min(1, "give at least one member host")
    .max(64)
    .describe("The member hosts (ids): a bridge and a VXLAN device on each"),
  gatewayHost: HostId.optional().describe("The member holding the gateway address, DHCP and NAT (default: the first of hosts)"),
  nat: z.boolean().optional().describe("Masquerade to the outside on the gateway host (default true)"),
  ipv6: Ipv6Input.optional().describe(
    "IPv6 beside the IPv4 subnet: the gateway host holds its first address and sends the router advertisements (and DHCPv6); NAT66 there with nat, unless routed",
  ),
  floodLimitPps: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .optional()
    .describe(
      "Broadcast, multicast and unknown-unicast frames each VM port may send to the other members, per second (burst: twice as many); 0: no limit (default 1000)",
    ),
});
export type OverlayBody = z.infer<typeof OverlayBody>;

/** What an overlay adds to the routed part: its members, the gateway host, NAT. */
export interface OverlayPart {
  hosts: string[];
  gatewayHost: string;
  nat: boolean;
  /** Flooded frames per second each local port may send over the VXLAN device (0: no limit). */
  floodLimitPps: number;
}

/** Flooded frames a port may send to the other members per second, unless the create says otherwise. */
export const DEFAULT_FLOOD_LIMIT_PPS = 1000;

/** Check an overlay body's fields against each other and fill defaults. Throws VALIDATION_FAILED. */
export function resolveOverlay(body: OverlayBody): RoutedPart & { overlay: OverlayPart } {
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  body.hosts.forEach((h, i) => {
    if (seen.has(h)) issues.push({ path: `hosts.${i}`, message: `host '${h}' is listed twice` });
    seen.add(h);
  });
  const gatewayHost = body.gatewayHost ?? (body.hosts[0] as string);
  if (!seen.has(gatewayHost)) {
    issues.push({ path: "gatewayHost", message: `must be one of the member hosts (${body.hosts.join(", ")}): got '${gatewayHost}'` });
  }
  let routed: RoutedPart | null = null;
  try {
    // The routed types' addressing rules, as for nat (an overlay's gateway masquerades like one).
    // (With nat: false the gateway acts as an isolated network's: `ipv6.routed` is then refused as there.)
    routed = resolveRouted({
      type: body.nat === false ? "isolated" : "nat",
      name: body.name,
      cidr: body.cidr,
      ...(body.gateway === undefined ? {} : { gateway: body.gateway }),
      ...(body.dhcp === undefined ? {} : { dhcp: body.dhcp }),
      ...(body.mtu === undefined ? {} : { mtu: body.mtu }),
      ...(body.ipv6 === undefined ? {} : { ipv6: body.ipv6 }),
    });
  } catch (err) {
    const more = (err as { details?: { issues?: FieldIssue[] } }).details?.issues;
    if (!Array.isArray(more)) throw err;
    issues.push(...more);
  }
  if (issues.length > 0 || !routed) throw validationError(issues);
  return {
    ...routed,
    overlay: {
      hosts: [...body.hosts],
      gatewayHost,
      nat: body.nat ?? true,
      floodLimitPps: body.floodLimitPps ?? DEFAULT_FLOOD_LIMIT_PPS,
    },
  };
}

/** The body fields a queued overlay payload's `overlay` part stands for. */
export function overlayBodyFields(overlay: unknown, isObject: (v: unknown) => v is Record<string, unknown>): Record<string, unknown> {
  if (!isObject(overlay)) return overlay === undefined ? {} : { overlay };
  return { hosts: overlay.hosts, gatewayHost: overlay.gatewayHost, nat: overlay.nat, floodLimitPps: overlay.floodLimitPps };
}

const MemberList = (what: string) => z.array(HostId).max(64).describe(what);

/** configure-network-hosts: add and remove an overlay's member hosts in one job. */
export const ConfigureNetworkHostsBody = z.strictObject({
  name: NetworkName,
  add: MemberList("Hosts (ids) that become members: each gets its bridge, VXLAN device, guard and libvirt network").optional(),
  remove: MemberList("Member hosts (ids) whose part is removed (not the gateway host; refused while VMs are attached there)").optional(),
  gatewayHost: HostId.optional().describe(
    "Move the gateway (address, DHCP, NAT, forwards, reservations, DNS records) to this member, in a request of its own (without add or remove)",
  ),
  dryRun: z.boolean().optional().describe("Validate and plan only: nothing is queued or changed"),
});
export type ConfigureNetworkHostsBody = z.infer<typeof ConfigureNetworkHostsBody>;

/**
 * Its job's payload (the coordinator's on the gateway host, and each member's part): the body's lists (empty when
 * absent) and the member list after the change, with each member's underlay address (the door's: the added
 * hosts' from their workers' records, the others' from the spec).
 */
export const ConfigureNetworkHostsPayload = z.strictObject({
  name: NetworkName,
  add: z.array(HostId).max(64),
  remove: z.array(HostId).max(64),
  members: z
    .array(z.strictObject({ id: HostId, ip: IPv4 }))
    .min(1)
    .max(64),
  /**
   * A gateway move (the body's gatewayHost): from the gateway host to another member. `xml` is the old gateway's
   * definition, added by the coordinator to its parts' payloads: the new gateway takes the gateway's parts from it.
   */
  gateway: z
    .strictObject({
      from: HostId,
      to: HostId,
      xml: z.string().max(1_000_000).optional(),
    })
    .optional(),
});
export type ConfigureNetworkHostsPayload = z.infer<typeof ConfigureNetworkHostsPayload>;
