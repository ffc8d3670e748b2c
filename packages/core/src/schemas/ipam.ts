/**
 * Bodies of the IP management actions (configure-network-dhcp,
 * assign-static-ip, unassign-static-ip, list-network-ips) and the
 * list-network-ips answer. Cross-field rules that need the network's spec
 * (inside the subnet, not the gateway, not reserved...) are in
 * planner/changes.ts, shared by the API's door checks and the worker.
 */
import { z } from "zod";
import { parseIPv4 } from "../net/ipv4";
import { parseIPv6 } from "../net/ipv6";
import { IPv4, MacAddress, NetworkName, TrafficByPeer, TrafficCounts } from "./common";

const LeaseSeconds = z.number().int().min(120).max(31_536_000).describe("DHCP lease time, seconds (120 s to one year)");

/** A DHCP host name: one DNS label (dnsmasq hands it out and serves it in DNS). */
export const DhcpHostname = z
  .string()
  .regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/, "must be a host name label: letters, digits and '-', at most 63")
  .describe("Host name given with the reservation");

const DryRun = z.boolean().optional().describe("Validate and plan only: nothing is queued or changed");

export const ConfigureDhcpBody = z.strictObject({
  name: NetworkName,
  start: IPv4,
  end: IPv4,
  leaseTime: LeaseSeconds.optional(),
  dryRun: DryRun,
});
export type ConfigureDhcpBody = z.infer<typeof ConfigureDhcpBody>;

/**
 * A DHCPv6 client's DUID: its bytes in hex, separated by ':' (as libvirt's `<host id=...>` and dnsmasq take
 * it), 4 to 130 bytes (RFC 8415: a 2-byte type and at most 128). Kept as two lowercase digits per byte.
 */
export const Duid = z
  .string()
  .max(390, "must be a DUID of at most 130 bytes")
  .regex(
    /^[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){3,129}$/,
    "must be a DHCPv6 client DUID: 4 to 130 bytes in hex separated by ':', like 00:03:00:01:52:54:00:12:34:56 (DUID-LL of MAC 52:54:00:12:34:56)",
  )
  .transform((s) =>
    s
      .split(":")
      .map((b) => b.toLowerCase().padStart(2, "0"))
      .join(":"),
  )
  .describe("DHCPv6 client identifier (DUID) of the VM, for an IPv6 reservation, like 00:03:00:01:52:54:00:12:34:56");

/** An IPv4 or IPv6 address (the reservation's family decides whether mac or duid names the client). */
const ReservedIp = z
  .string()
  .max(45, "must be an IPv4 address like 192.168.100.10 or an IPv6 address like fd00:1:2:3::10")
  .refine(
    (s) => parseIPv4(s) !== null || (s.includes(":") && parseIPv6(s) !== null),
    "must be an IPv4 address like 192.168.100.10 or an IPv6 address like fd00:1:2:3::10",
  )
  .describe("The reserved address: IPv4 (with mac) or IPv6 inside the network's IPv6 prefix (with duid; dhcpv6 mode only)");

export const AssignStaticIpBody = z.strictObject({
  name: NetworkName,
  mac: MacAddress.optional().describe("MAC address of the VM's interface (IPv4 reservations; required with an IPv4 ip)"),
  duid: Duid.optional(),
  ip: ReservedIp,
  hostname: DhcpHostname.optional(),
  force: z.boolean().optional().describe("Reserve even if the IP is currently leased to another MAC"),
  dryRun: DryRun,
});
export type AssignStaticIpBody = z.infer<typeof AssignStaticIpBody>;

export const UnassignStaticIpBody = z.strictObject({
  name: NetworkName,
  mac: MacAddress.optional().describe("MAC of the IPv4 reservation to remove (give mac or duid)"),
  duid: Duid.optional().describe("DUID of the IPv6 reservation to remove (give mac or duid)"),
  dryRun: DryRun,
});
export type UnassignStaticIpBody = z.infer<typeof UnassignStaticIpBody>;

/** A DNS name: dot-separated labels of letters, digits and '-' (RFC 1123), at most 253 characters. */
export const DnsName = z
  .string()
  .max(253, "must be at most 253 characters")
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
    "must be a DNS name: labels of letters, digits and '-' (not first or last), at most 63 each, separated by dots",
  )
  .describe("A name the record answers, like db or db.internal");

/** The most DNS host records a network keeps, and names per record. */
export const MAX_DNS_HOSTS = 1024;
export const MAX_DNS_NAMES = 16;

export const ConfigureDnsBody = z.strictObject({
  name: NetworkName,
  hosts: z
    .array(
      z.strictObject({
        ip: IPv4.describe("The address the names resolve to"),
        names: z.array(DnsName).min(1, "needs at least one name").max(MAX_DNS_NAMES, `at most ${MAX_DNS_NAMES} names per record`),
      }),
    )
    .max(MAX_DNS_HOSTS, `at most ${MAX_DNS_HOSTS} records per network`)
    .describe("Every DNS host record of the network (replaces the ones it has; [] removes them all)"),
  dryRun: DryRun,
});
export type ConfigureDnsBody = z.infer<typeof ConfigureDnsBody>;

export const ListNetworkIpsBody = z.strictObject({ name: NetworkName });
export type ListNetworkIpsBody = z.infer<typeof ListNetworkIpsBody>;

/** One row of list-network-ips. */
export const NetworkIp = z.object({
  ip: z.string(),
  mac: z.string(),
  vmName: z.string().nullable(),
  hostname: z.string().nullable(),
  static: z.boolean(),
  leaseExpiresAt: z.string().nullable(),
  /** IPv6: the DHCPv6 client's DUID (a DHCPv6 lease or reservation). */
  duid: z.string().optional(),
  /** IPv6: the DHCPv6 lease's IAID. */
  iaid: z.string().optional(),
  /** IPv6: an address the VM chose itself (SLAAC), seen in the host's neighbour table on the bridge. */
  slaac: z.boolean().optional(),
  /**
   * The VM's traffic across the network's edge (in: toward it, counted by its IPv4 address; out: from it, by
   * its MAC); absent until it sent or received any. `peers` splits it by peer (outside the network, or on it:
   * the network's other VMs and its gateway); absent on a host that does not count by peer yet.
   */
  traffic: TrafficCounts.extend({ peers: TrafficByPeer.optional() }).optional(),
});
export type NetworkIp = z.infer<typeof NetworkIp>;
