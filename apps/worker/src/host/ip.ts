/** Reading the host's links, addresses and routes with `ip -j` (JSON output, no text scraping). */
import { type Cidr, cidrOf, formatCidr, parseIPv4 } from "@netforge/core/contract";
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

/** An IPv4 route of any routing table ("default" routes included: they hold the host's gateways). */
export interface HostRoute {
  /** "a.b.c.d/len", or "default". */
  dst: string;
  dev: string | null;
  /** The routing table when not main ("local", "100", ...). */
  table?: string | null;
  /** Its next hops (gateway, or each of a multipath route's). */
  gateways?: string[];
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

interface IpRouteJson {
  dst?: string;
  dev?: string;
  table?: string;
  type?: string;
  gateway?: string;
  via?: { family?: string; host?: string };
  nexthops?: { gateway?: string; dev?: string; via?: { family?: string; host?: string } }[];
}

/**
 * IPv4 routes of every routing table (`ip -j -4 route show table all`): a subnet routed by a policy-routing
 * table, and a gateway only a non-main table uses, are the host's as much as those of table main.
 */
export async function readRoutes(runner: CommandRunner): Promise<HostRoute[]> {
  const r = await runner.run("ip", ["-j", "-4", "route", "show", "table", "all"]);
  return parseIpRouteJson(r.stdout);
}

/** Parse `ip -j -4 route show table all`. Broadcast entries of table local name no subnet of their own. */
export function parseIpRouteJson(stdout: string): HostRoute[] {
  const rows = JSON.parse(stdout || "[]") as IpRouteJson[];
  const hop = (h: { gateway?: string; via?: { family?: string; host?: string } }) =>
    h.gateway ?? (h.via?.family === "inet" ? h.via.host : undefined);
  return rows
    .filter((x) => x.dst && x.type !== "broadcast")
    .map((x) => {
      const dst = x.dst as string;
      const gateways = [hop(x), ...(x.nexthops ?? []).map(hop)].filter((g): g is string => !!g);
      return {
        dst: dst === "default" || dst.includes("/") ? dst : `${dst}/32`,
        dev: x.dev ?? x.nexthops?.find((h) => h.dev)?.dev ?? null,
        table: x.table && x.table !== "main" ? x.table : null,
        gateways,
      };
    });
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
    out.push({ owner: `route via ${r.dev ?? "?"}${r.table ? ` (table ${r.table})` : ""}`, cidr });
  }
  return out;
}
