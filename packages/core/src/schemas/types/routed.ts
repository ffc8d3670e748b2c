/**
 * The routed types' bodies (nat, isolated): a subnet, its gateway and DHCP, all netforge's. The two bodies have
 * the same fields; what differs between the types is their driver's (packages/core/src/drivers/routed.ts).
 */
import { z } from "zod";
import {
  type Cidr,
  cidrContains,
  defaultDhcpRange,
  formatCidr,
  formatIPv4,
  parseCidrOrThrow,
  parseIPv4,
  usableRange,
} from "../../net/ipv4";
import { CidrString, IPv4 } from "../common";
import {
  checkDhcpRange,
  commonCreateFields,
  DEFAULT_LEASE_SECONDS,
  type DhcpConfig,
  DhcpInput,
  type FieldIssue,
  Mtu,
  validationError,
} from "../network-fields";

const RoutedNetworkBody = {
  ...commonCreateFields,
  cidr: CidrString,
  gateway: IPv4.optional().describe("The host's address on the network, the VMs' gateway (default: the subnet's first usable address)"),
  dhcp: DhcpInput.optional(),
  mtu: Mtu.optional().describe(
    "The network's MTU in bytes, 576-9000: its bridge, and what its DHCP server hands out (default: none set, the host's: 1500 on a new bridge)",
  ),
};

/** The create body of routed type `type`. */
export const routedBody = <T extends "nat" | "isolated">(type: T) =>
  z.strictObject({
    type: z
      .literal(type)
      .describe(
        "Network type: nat (a subnet masqueraded to the outside), isolated (a subnet with no way out), bridge (VMs on a NIC's or host bridge's LAN), sriov (a pool of a PF's virtual functions)",
      ),
    ...RoutedNetworkBody,
  });
export const NatBody = routedBody("nat");
export const IsolatedBody = routedBody("isolated");
export type RoutedBody = z.infer<typeof NatBody> | z.infer<typeof IsolatedBody>;

/** The addressing part of a resolved routed body: subnet, gateway, DHCP. */
export interface RoutedPart {
  cidr: string;
  gateway: string;
  dhcp: DhcpConfig;
  /** The MTU asked for (absent: none set, the host's). */
  mtu?: number;
}

/**
 * Check the relations between fields of a routed (nat/isolated) body and fill defaults (gateway inside the
 * subnet, DHCP range inside and not covering the gateway...). Throws VALIDATION_FAILED listing every problem at once.
 */
export function resolveRouted(body: RoutedBody): RoutedPart {
  const issues: FieldIssue[] = [];
  const cidr: Cidr = parseCidrOrThrow(body.cidr);
  const usable = usableRange(cidr);
  const inUsable = (ip: number) => ip >= usable.first && ip <= usable.last;

  let gateway = usable.first;
  if (body.gateway !== undefined) {
    gateway = parseIPv4(body.gateway) as number;
    if (!cidrContains(cidr, gateway)) issues.push({ path: "gateway", message: `must be inside ${formatCidr(cidr)}` });
    else if (!inUsable(gateway)) issues.push({ path: "gateway", message: "must not be the network or broadcast address" });
  }

  let dhcp: DhcpConfig = { enabled: false, start: null, end: null, leaseTime: null };
  if (body.dhcp !== false) {
    const d = body.dhcp ?? {};
    const def = defaultDhcpRange(cidr, gateway);
    if ((d.start === undefined) !== (d.end === undefined)) {
      issues.push({ path: d.start === undefined ? "dhcp.start" : "dhcp.end", message: "give both start and end, or neither" });
    }
    const start = d.start !== undefined ? (parseIPv4(d.start) as number) : def.start;
    const end = d.end !== undefined ? (parseIPv4(d.end) as number) : def.end;
    issues.push(...checkDhcpRange(cidr, gateway, start, end, "dhcp."));
    dhcp = { enabled: true, start: formatIPv4(start), end: formatIPv4(end), leaseTime: d.leaseTime ?? DEFAULT_LEASE_SECONDS };
  }
  if (issues.length > 0) throw validationError(issues);
  return { cidr: formatCidr(cidr), gateway: formatIPv4(gateway), dhcp, ...(body.mtu === undefined ? {} : { mtu: body.mtu }) };
}

/** The body fields a queued routed payload's addressing stands for (its resolved DHCP back to the request's). */
export function routedBodyFields(cidr: unknown, gateway: unknown, dhcp: unknown, isObject: (v: unknown) => v is Record<string, unknown>) {
  const body: Record<string, unknown> = { cidr, gateway };
  if (isObject(dhcp)) {
    body.dhcp = dhcp.enabled === true ? { start: dhcp.start, end: dhcp.end, leaseTime: dhcp.leaseTime } : false;
  } else body.dhcp = dhcp;
  return body;
}
