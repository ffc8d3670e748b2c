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
  type Ipv6Config,
  Ipv6Input,
  MIN_MTU_IPV6,
  Mtu,
  validationError,
} from "../network-fields";
import { cidr6Contains, formatCidr6, formatIPv6, parseCidr6, parseIPv6, reservedReason6 } from "../../net/ipv6";

const RoutedNetworkBody = {
  ...commonCreateFields,
  cidr: CidrString,
  gateway: IPv4.optional().describe("The host's address on the network, the VMs' gateway (default: the subnet's first usable address)"),
  dhcp: DhcpInput.optional(),
  mtu: Mtu.optional().describe(
    "The network's MTU in bytes, 576-9000: its bridge, and what its DHCP server hands out (default: none set, the host's: 1500 on a new bridge)",
  ),
  ipv6: Ipv6Input.optional(),
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
  /** IPv6 beside the IPv4 subnet (absent: none). */
  ipv6?: Ipv6Config;
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
  const ipv6 = body.ipv6 === undefined ? undefined : resolveIpv6(body.ipv6, issues);
  if (body.type === "isolated" && body.ipv6?.routed === true) {
    issues.push({ path: "ipv6.routed", message: "an isolated network reaches nothing outside: routed is for nat networks" });
  }
  if (ipv6 !== undefined && body.mtu !== undefined && body.mtu < MIN_MTU_IPV6) {
    issues.push({ path: "mtu", message: `must be at least ${MIN_MTU_IPV6} on a network with IPv6` });
  }
  if (issues.length > 0) throw validationError(issues);
  return {
    cidr: formatCidr(cidr),
    gateway: formatIPv4(gateway),
    dhcp,
    ...(body.mtu === undefined ? {} : { mtu: body.mtu }),
    ...(ipv6 === undefined ? {} : { ipv6 }),
  };
}

/** The default DHCPv6 range: ::100 to ::ffff of the prefix (a prefix too small for it needs its range given). */
const DEFAULT_V6_START = 0x100n;
const DEFAULT_V6_END = 0xffffn;

/**
 * Check `ipv6` of a routed body and fill its defaults (gateway: the prefix's first address; dhcpv6's range), in the
 * operator's words; problems go to `issues` (the result is then not used).
 */
export function resolveIpv6(v6: Ipv6Input, issues: FieldIssue[]): Ipv6Config | undefined {
  const at = (f: string) => `ipv6.${f}`;
  const r = parseCidr6(v6.cidr);
  if (!r.ok) {
    const message =
      r.reason === "host-bits"
        ? `host bits must be zero: did you mean ${r.hint}?`
        : r.reason === "prefix"
          ? "the prefix length must be 0-128"
          : "must be an IPv6 prefix like fd12:3456:789a:1::/64";
    issues.push({ path: at("cidr"), message });
    return undefined;
  }
  const c = r.cidr;
  const reserved = reservedReason6(c);
  if (reserved !== null) {
    issues.push({ path: at("cidr"), message: `${formatCidr6(c)} cannot be a network's prefix: it ${reserved}` });
    return undefined;
  }
  if (v6.mode === "slaac" && c.prefix !== 64) {
    issues.push({
      path: at("cidr"),
      message: `SLAAC needs a /64 (guests make their address from 64 bits); ${formatCidr6(c)} is a /${c.prefix}`,
    });
    return undefined;
  }
  if (c.prefix < 48 || c.prefix > 120) {
    issues.push({ path: at("cidr"), message: `must be a /48 to a /120 (a /64 for SLAAC); ${formatCidr6(c)} is a /${c.prefix}` });
    return undefined;
  }
  const gateway = c.network + 1n;
  let dhcp: Ipv6Config["dhcp"] = null;
  if (v6.mode === "slaac") {
    if (v6.dhcp !== undefined)
      issues.push({ path: at("dhcp"), message: 'a DHCPv6 range needs mode "dhcpv6" (in slaac mode guests make their own address)' });
  } else {
    let start: bigint | null;
    let end: bigint | null;
    if (v6.dhcp !== undefined) {
      start = parseIPv6(v6.dhcp.start);
      end = parseIPv6(v6.dhcp.end);
      if (start === null) issues.push({ path: at("dhcp.start"), message: "must be an IPv6 address like fd12:3456:789a:1::100" });
      if (end === null) issues.push({ path: at("dhcp.end"), message: "must be an IPv6 address like fd12:3456:789a:1::1ff" });
    } else {
      start = c.network + DEFAULT_V6_START;
      end = c.network + DEFAULT_V6_END;
      if (end > c.last) {
        issues.push({
          path: at("dhcp"),
          message: `${formatCidr6(c)} is too small for the default range (::100-::ffff): give start and end`,
        });
        return undefined;
      }
    }
    if (start === null || end === null) return undefined;
    const where = formatCidr6(c);
    if (!cidr6Contains(c, start) || start === c.network)
      issues.push({ path: at("dhcp.start"), message: `must be an address of ${where} (not its first, the subnet-router anycast)` });
    if (!cidr6Contains(c, end) || end === c.network)
      issues.push({ path: at("dhcp.end"), message: `must be an address of ${where} (not its first, the subnet-router anycast)` });
    if (start > end) issues.push({ path: at("dhcp.end"), message: "must not be below start" });
    else if (gateway >= start && gateway <= end)
      issues.push({ path: at("dhcp.start"), message: `range must not include the gateway ${formatIPv6(gateway)}` });
    dhcp = { start: formatIPv6(start), end: formatIPv6(end), leaseTime: v6.dhcp?.leaseTime ?? DEFAULT_LEASE_SECONDS };
  }
  return { cidr: formatCidr6(c), gateway: formatIPv6(gateway), mode: v6.mode, dhcp, routed: v6.routed ?? false };
}

/** The body fields a queued routed payload's addressing stands for (its resolved DHCP back to the request's). */
export function routedBodyFields(
  cidr: unknown,
  gateway: unknown,
  dhcp: unknown,
  isObject: (v: unknown) => v is Record<string, unknown>,
  ipv6?: unknown,
) {
  const body: Record<string, unknown> = { cidr, gateway };
  if (isObject(dhcp)) {
    body.dhcp = dhcp.enabled === true ? { start: dhcp.start, end: dhcp.end, leaseTime: dhcp.leaseTime } : false;
  } else body.dhcp = dhcp;
  // The resolved IPv6 back to the request's (its gateway is derived: left out).
  if (isObject(ipv6)) {
    const { gateway: _g, dhcp: d6, ...rest } = ipv6;
    body.ipv6 = d6 === null ? rest : { ...rest, dhcp: d6 };
  } else if (ipv6 !== undefined) body.ipv6 = ipv6;
  return body;
}
