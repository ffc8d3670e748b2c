/**
 * The parts of the network schemas every type's body and spec share (schemas/network.ts re-exports them all):
 * the DHCP input and settings, the fields of every create body, the interface-name check, and the
 * VALIDATION_FAILED of the cross-field checks. A leaf of schemas/network.ts and the per-type schema files
 * (schemas/types/), so neither imports the other to get them.
 */
import { z } from "zod";
import { AppError } from "../errors";
import { type Cidr, formatCidr, formatIPv4, usableRange } from "../net/ipv4";
import { Description, HostId, IPv4, ManagedBy, NetworkName } from "./common";

export const MIN_LEASE_SECONDS = 120;
export const MAX_LEASE_SECONDS = 31_536_000;
export const DEFAULT_LEASE_SECONDS = 3600;

const LeaseTime = z.number().int().min(MIN_LEASE_SECONDS).max(MAX_LEASE_SECONDS).describe("DHCP lease time, seconds");

export const DhcpInput = z.union([
  z.literal(false),
  z.strictObject({
    start: IPv4.optional().describe("First address of the DHCP pool (default: the subnet's upper half, clear of the gateway)"),
    end: IPv4.optional().describe("Last address of the DHCP pool"),
    leaseTime: LeaseTime.optional(),
  }),
]);

/** The MTU range a network takes (an IPv6 network: at least MIN_MTU_IPV6). */
export const MIN_MTU = 576;
export const MAX_MTU = 9000;
export const Mtu = z
  .number({ error: (issue) => (issue.input === undefined ? "is required" : "must be a whole number of bytes") })
  .int("must be a whole number of bytes")
  .min(MIN_MTU, `must be at least ${MIN_MTU}`)
  .max(MAX_MTU, `must be at most ${MAX_MTU}`)
  .describe(`The network's MTU in bytes (${MIN_MTU}-${MAX_MTU}): its bridge and ports, and what its DHCP server hands out`);

/** The least MTU IPv6 works with (RFC 8200): a network with IPv6 takes no smaller one. */
export const MIN_MTU_IPV6 = 1280;

/** IPv6 of a routed network as create-network takes it (`ipv6`). */
export const Ipv6Input = z
  .strictObject({
    cidr: z
      .string()
      .max(49, "must be an IPv6 prefix like fd12:3456:789a:1::/64")
      .describe("The network's IPv6 prefix (a /64 for SLAAC); the host's address on it is its first address"),
    mode: z
      .enum(["slaac", "dhcpv6"])
      .describe("slaac: guests make their own address from router advertisements; dhcpv6: guests lease one from the range"),
    dhcp: z
      .strictObject({
        start: z.string().max(45).describe("First address of the DHCPv6 range"),
        end: z.string().max(45).describe("Last address of the DHCPv6 range"),
        leaseTime: LeaseTime.optional(),
      })
      .optional()
      .describe("dhcpv6 mode: the range leased (default ::100 to ::ffff of the prefix); not in slaac mode"),
    routed: z
      .boolean()
      .optional()
      .describe("nat: true routes the prefix as it is (no NAT66: the upstream must route it to the host); default false"),
  })
  .describe("IPv6 on the network beside its IPv4 subnet (nat and isolated)");
export type Ipv6Input = z.infer<typeof Ipv6Input>;

/** A network's IPv6 as resolved, kept and shown (describe-network's `ipv6`). */
export const Ipv6Config = z.object({
  cidr: z.string(),
  gateway: z.string(),
  mode: z.enum(["slaac", "dhcpv6"]),
  dhcp: z.object({ start: z.string(), end: z.string(), leaseTime: z.number().int() }).nullable(),
  routed: z.boolean(),
});
export type Ipv6Config = z.infer<typeof Ipv6Config>;

/** The fields of every type's create body. */
export const commonCreateFields = {
  name: NetworkName,
  host: HostId.optional(),
  description: Description.optional(),
  autostart: z.boolean().optional().describe("Start with the host (default true)"),
  start: z.boolean().optional().describe("Start after creating (default true)"),
  managedBy: ManagedBy.optional(),
};

/**
 * A host interface name (NIC, bridge, PF): up to 15 of letters, digits and _.:-, not only dots ("." and ".."
 * are no device, and would be path components where the worker reads sysfs).
 */
export const ifName = (message: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,15}$/, message)
    .refine((s) => !/^\.+$/.test(s), `${message}, not only dots`);

/** DHCP settings as stored and shown. */
export const DhcpConfig = z.object({
  enabled: z.boolean(),
  start: z.string().nullable(),
  end: z.string().nullable(),
  leaseTime: z.number().int().nullable(),
});
export type DhcpConfig = z.infer<typeof DhcpConfig>;

/** An issue found by the cross-field checks, shaped like the zod issues of VALIDATION_FAILED. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Cross-field rules for a DHCP range (also used by configure-network-dhcp). */
export function checkDhcpRange(cidr: Cidr, gateway: number, start: number, end: number, prefix = ""): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const usable = usableRange(cidr);
  const where = formatCidr(cidr);
  if (start < usable.first || start > usable.last) issues.push({ path: `${prefix}start`, message: `must be a usable address of ${where}` });
  if (end < usable.first || end > usable.last) issues.push({ path: `${prefix}end`, message: `must be a usable address of ${where}` });
  if (start > end) issues.push({ path: `${prefix}end`, message: "must not be below start" });
  else if (gateway >= start && gateway <= end)
    issues.push({ path: `${prefix}start`, message: `range must not include the gateway ${formatIPv4(gateway)}` });
  return issues;
}

/** Build the VALIDATION_FAILED error for a list of field issues. */
export function validationError(issues: FieldIssue[]): AppError {
  const first = issues[0];
  const message = first ? `invalid request: ${first.path || "body"}: ${first.message}` : "invalid request";
  return new AppError("VALIDATION_FAILED", message, { issues });
}
