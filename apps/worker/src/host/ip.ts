/** Reading the host's links, addresses and routes with `ip -j` (JSON output, no text scraping). */
import { type Cidr, cidrOf, formatCidr, parseIPv4 } from "@netforge/core";
import type { CommandRunner } from "./command-runner";

/** A link with its IPv4 addresses. */
export interface HostLink {
  name: string;
  kind: string | null;
  mac: string | null;
  state: string;
  master: string | null;
  /** "a.b.c.d/len" as configured on the link. */
  addresses: string[];
  /** IPv6 addresses other than link-local ("addr/len"): a NIC with one is configured. */
  addresses6?: string[];
  mtu?: number | null;
  /** Administratively up (IFF_UP in its flags). */
  adminUp?: boolean;
  /** The device it sits on (`ip`'s "link": a VLAN's or macvlan's parent, a veth's peer), null for none. */
  link?: string | null;
}

/** A non-default IPv4 route with a destination subnet. */
export interface HostRoute {
  dst: string;
  dev: string | null;
}

interface IpAddrJson {
  ifname: string;
  link_type?: string;
  address?: string;
  operstate?: string;
  master?: string;
  link?: string | null;
  linkinfo?: { info_kind?: string; info_slave_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
  mtu?: number;
  flags?: string[];
}

/** All links with their IPv4 addresses (`ip -d -j addr show`). */
export async function readLinks(runner: CommandRunner): Promise<HostLink[]> {
  const r = await runner.run("ip", ["-d", "-j", "addr", "show"]);
  return parseIpAddrJson(r.stdout);
}

/** Parse `ip -d -j addr show`. */
export function parseIpAddrJson(stdout: string): HostLink[] {
  const rows = JSON.parse(stdout || "[]") as IpAddrJson[];
  return rows.map((l) => ({
    name: l.ifname,
    kind: l.linkinfo?.info_kind ?? (l.link_type === "loopback" ? "loopback" : null),
    mac: l.address ?? null,
    state: (l.operstate ?? "UNKNOWN").toLowerCase(),
    master: l.master ?? null,
    addresses: (l.addr_info ?? []).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`),
    // Link-local (fe80::/10) comes with every IPv6 link by itself: it is not configuration.
    addresses6: (l.addr_info ?? [])
      .filter((a) => a.family === "inet6" && a.scope !== "link" && !/^fe[89ab]/i.test(a.local))
      .map((a) => `${a.local}/${a.prefixlen}`),
    mtu: l.mtu ?? null,
    adminUp: (l.flags ?? []).includes("UP"),
    link: typeof l.link === "string" ? l.link : null,
  }));
}

/** Non-default IPv4 routes of the main table. */
export async function readRoutes(runner: CommandRunner): Promise<HostRoute[]> {
  const r = await runner.run("ip", ["-j", "-4", "route", "show", "table", "main"]);
  const rows = JSON.parse(r.stdout || "[]") as { dst: string; dev?: string }[];
  return rows
    .filter((x) => x.dst && x.dst !== "default")
    .map((x) => ({ dst: x.dst.includes("/") ? x.dst : `${x.dst}/32`, dev: x.dev ?? null }));
}

/** Subnet of an "address/len" string. */
export function subnetOfAddress(addrWithPrefix: string): Cidr | null {
  const [a, p] = addrWithPrefix.split("/");
  const ip = a ? parseIPv4(a) : null;
  const prefix = Number(p);
  if (ip === null || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return null;
  return cidrOf(ip, prefix);
}

/**
 * Subnets occupied on the host by anything but the given bridges (those
 * belong to networks and are accounted for by the networks themselves).
 */
export function occupiedByLinksAndRoutes(
  links: HostLink[],
  routes: HostRoute[],
  excludeDevices: ReadonlySet<string>,
): { owner: string; cidr: string }[] {
  const out: { owner: string; cidr: string }[] = [];
  const seen = new Set<string>();
  for (const l of links) {
    if (excludeDevices.has(l.name)) continue;
    for (const a of l.addresses) {
      const c = subnetOfAddress(a);
      if (!c) continue;
      const cidr = formatCidr(c);
      const key = `${l.name} ${cidr}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ owner: `interface ${l.name}`, cidr });
    }
  }
  for (const r of routes) {
    if (r.dev && excludeDevices.has(r.dev)) continue;
    const c = subnetOfAddress(r.dst);
    if (!c) continue;
    const cidr = formatCidr(c);
    if (out.some((o) => o.cidr === cidr)) continue;
    out.push({ owner: `route via ${r.dev ?? "?"}`, cidr });
  }
  return out;
}
