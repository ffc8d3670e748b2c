/** Field-level schemas shared by every action: names, addresses, subnets, MACs. */
import { z } from "zod";
import { parseCidr, parseIPv4 } from "../net/ipv4";
import { parseIPv6 } from "../net/ipv6";
import { reservedRangeMessage } from "../net/reserved";
import { operatorText } from "./text";

/** Smallest and largest accepted prefix lengths for a managed subnet. */
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

/** A network name: 1-32 of a-z 0-9 '-', starting with a letter (it becomes a libvirt name and part of a bridge name). */
export const NetworkName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, "must be 1-32 characters of a-z, 0-9 and '-', starting with a letter")
  .describe("Network name, unique in the cluster");

/** A host id: what a worker registers as HOST_ID (hostname-like). */
export const HostId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be 1-63 characters of letters, digits, '.', '_' and '-'")
  .describe("Hypervisor id (a worker's HOST_ID)");

/** A strict IPv4 dotted quad. */
export const IPv4 = z
  .string()
  .max(15, "must be an IPv4 address like 192.168.100.1")
  .refine((s) => parseIPv4(s) !== null, "must be an IPv4 address like 192.168.100.1")
  .describe("IPv4 address");

/** An IPv4 dotted quad or an IPv6 address (no zone, no brackets); a field's family rules are its action's. */
export const IpAddress = z
  .string()
  .max(45, "must be an IPv4 address like 192.168.100.10 or an IPv6 address like fd00:1:2:3::10")
  .refine(
    (s) => parseIPv4(s) !== null || (s.includes(":") && parseIPv6(s) !== null),
    "must be an IPv4 address like 192.168.100.10 or an IPv6 address like fd00:1:2:3::10",
  )
  .describe("IPv4 or IPv6 address");

/** An IPv4 subnet in CIDR notation with host bits zero and prefix 8-30. */
export const CidrString = z
  .string()
  .max(18, "must be an IPv4 subnet like 192.168.100.0/24")
  .superRefine((s, ctx) => {
    const r = parseCidr(s);
    if (!r.ok) {
      if (r.reason === "host-bits") {
        ctx.addIssue({
          code: "custom",
          message: `host bits must be zero: did you mean ${r.hint}?`,
          params: { hint: r.hint },
        });
      } else if (r.reason === "prefix") {
        // An address and a prefix past /32: say which part is wrong, not only what a subnet looks like.
        ctx.addIssue({ code: "custom", message: `prefix length ${s.split("/")[1]} is out of range: must be ${MIN_PREFIX}-${MAX_PREFIX}` });
      } else {
        ctx.addIssue({ code: "custom", message: "must be an IPv4 subnet like 192.168.100.0/24" });
      }
      return;
    }
    if (r.cidr.prefix < MIN_PREFIX || r.cidr.prefix > MAX_PREFIX) {
      ctx.addIssue({ code: "custom", message: `prefix length ${r.cidr.prefix} is out of range: must be ${MIN_PREFIX}-${MAX_PREFIX}` });
      return;
    }
    const reserved = reservedRangeMessage(r.cidr);
    if (reserved) ctx.addIssue({ code: "custom", message: `must not use a reserved range: ${reserved}` });
  })
  .describe("IPv4 subnet, CIDR notation, host bits zero, prefix 8-30, outside the reserved ranges");

/** A MAC address; any case accepted, normalised to lower case. */
export const MacAddress = z
  .string()
  .regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/, "must be a MAC address like 52:54:00:12:34:56")
  .transform((s) => s.toLowerCase())
  .describe("MAC address of the VM's interface, like 52:54:00:12:34:56 (any case)");

/** Free text shown to operators; stored in libvirt XML metadata, so it follows the text rules of ./text. */
export const Description = operatorText(256).describe("Free text shown to operators (one line, at most 256 characters)");

/** Who manages a network: a name like a desired-state file's metadata.name (netforge apply --prune removes only its own). */
export const ManagedBy = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be 1-63 of letters, digits, '.', '_' and '-', starting with a letter or digit")
  .describe("Who manages the network (netforge apply: the file's metadata.name); kept with the network, shown by describe-network");

/** Page size for list actions. */
export const Limit = z.number().int().min(1).max(1000);

/** Bytes and packets each way (in = toward the network's VMs, out = from them); they only grow. */
export const TrafficCounts = z.object({
  bytesIn: z.number().int(),
  bytesOut: z.number().int(),
  packetsIn: z.number().int(),
  packetsOut: z.number().int(),
});
export type TrafficCounts = z.infer<typeof TrafficCounts>;
/**
 * Traffic split by peer: `outside` (beyond the network: routed, NAT, port forwards) and `network` (another VM of
 * the network, or the host as its gateway: DHCP, DNS, anything to a host address).
 */
export const TrafficByPeer = z.object({
  outside: TrafficCounts.describe("With peers outside the network (routed beyond it through its host)"),
  network: TrafficCounts.describe("With peers on the network: its other VMs and its gateway (the host itself)"),
});
export type TrafficByPeer = z.infer<typeof TrafficByPeer>;
