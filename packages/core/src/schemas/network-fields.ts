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

/** The fields of every type's create body. */
/** The MTU range a network takes (IPv4; an IPv6 network will need at least 1280). */
export const MIN_MTU = 576;
export const MAX_MTU = 9000;
export const Mtu = z
  .number({ error: (issue) => (issue.input === undefined ? "is required" : "must be a whole number of bytes") })
  .int("must be a whole number of bytes")
  .min(MIN_MTU, `must be at least ${MIN_MTU}`)
  .max(MAX_MTU, `must be at most ${MAX_MTU}`)
  .describe(`The network's MTU in bytes (${MIN_MTU}-${MAX_MTU}): its bridge and ports, and what its DHCP server hands out`);

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
