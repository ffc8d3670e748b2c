/**
 * Bodies of the IP management actions (configure-network-dhcp,
 * assign-static-ip, unassign-static-ip, list-network-ips) and the
 * list-network-ips answer. Cross-field rules that need the network's spec
 * (inside the subnet, not the gateway, not reserved...) are in
 * planner/changes.ts, shared by the API's door checks and the worker.
 */
import { z } from "zod";
import { IPv4, MacAddress, NetworkName } from "./common";

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

export const AssignStaticIpBody = z.strictObject({
  name: NetworkName,
  mac: MacAddress,
  ip: IPv4,
  hostname: DhcpHostname.optional(),
  force: z.boolean().optional().describe("Reserve even if the IP is currently leased to another MAC"),
  dryRun: DryRun,
});
export type AssignStaticIpBody = z.infer<typeof AssignStaticIpBody>;

export const UnassignStaticIpBody = z.strictObject({ name: NetworkName, mac: MacAddress, dryRun: DryRun });
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
  /**
   * The VM's traffic across the network's edge (in: toward it, counted by its IPv4 address; out: from it, by
   * its MAC); absent until it sent or received any.
   */
  traffic: z
    .object({ bytesIn: z.number().int(), bytesOut: z.number().int(), packetsIn: z.number().int(), packetsOut: z.number().int() })
    .optional(),
});
export type NetworkIp = z.infer<typeof NetworkIp>;
