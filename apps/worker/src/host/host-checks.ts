/**
 * The authoritative checks on the host before a network is created: the
 * subnet overlaps nothing the host has (interfaces, routes of every table,
 * other libvirt networks, active or not) and contains no address the host
 * must keep reaching (next hops, its Redis, resolvers, the API), and the
 * bridge name chosen is free. Pure functions
 * over a snapshot of links and routes read once per job.
 */
import {
  AppError,
  cidrContains,
  cidrsOverlap,
  hostOverlapMessage,
  type ProtectedAddress,
  parseCidrOrThrow,
  parseIPv4,
  protectedOwner,
} from "@netforge/core/contract";
import { bridgeNameFor } from "@netforge/core/model";
import { type HostLink, type HostRoute, occupiedByLinksAndRoutes } from "./ip";
import { nextHopsOf } from "./protected";
import type { CatalogEntry } from "./network-catalog";

/** A subnet in use, and what holds it. */
export interface Occupied {
  owner: string;
  cidr: string;
  network?: string;
}

/**
 * Everything occupying subnets on the host except the network `except`, and the addresses the host must keep
 * reaching (next hops of `routes`, and `endpoints`: its Redis, the API, its resolvers) as /32 entries, each
 * unless a subnet listed or a libvirt network's subnet holds it (a subnet containing it overlaps that one
 * anyway; an address reached through one of our own networks is the operator's design). The addresses come
 * first: a subnet that would cut one off is refused naming it rather than a route it also overlaps.
 */
export function occupiedSubnets(
  links: HostLink[],
  routes: HostRoute[],
  catalog: CatalogEntry[],
  except?: string,
  endpoints: ProtectedAddress[] = [],
): Occupied[] {
  const bridges = new Set(catalog.map((c) => c.def.bridge).filter((b): b is string => !!b));
  const out: Occupied[] = occupiedByLinksAndRoutes(links, routes, bridges);
  for (const c of catalog) {
    if (c.name === except || !c.def.cidr) continue;
    out.push({ owner: `libvirt network '${c.name}'`, cidr: c.def.cidr, network: c.name });
  }
  const held = [...out.map((o) => o.cidr), ...catalog.flatMap((c) => (c.def.cidr ? [c.def.cidr] : []))].map(parseCidrOrThrow);
  const seen = new Set<string>();
  const addresses: Occupied[] = [];
  for (const p of [...endpoints, ...nextHopsOf(routes, bridges)]) {
    const ip = parseIPv4(p.ip);
    const owner = protectedOwner(p);
    if (ip === null || seen.has(owner) || held.some((c) => cidrContains(c, ip))) continue;
    seen.add(owner);
    addresses.push({ owner, cidr: `${p.ip}/32` });
  }
  return [...addresses, ...out];
}

/** Throw CIDR_CONFLICT when `cidr` overlaps anything occupied (naming what a protected address is). */
export function assertNoOverlap(cidr: string, host: string, occupied: Occupied[]): void {
  const mine = parseCidrOrThrow(cidr);
  for (const o of occupied) {
    if (cidrsOverlap(mine, parseCidrOrThrow(o.cidr))) {
      throw new AppError(
        "CIDR_CONFLICT",
        o.network ? `${cidr} overlaps network '${o.network}' (${o.cidr}) on host ${host}` : hostOverlapMessage(cidr, o.owner, o.cidr, host),
        { cidr, host, conflictsWith: o.network ? { network: o.network, cidr: o.cidr } : { owner: o.owner, cidr: o.cidr } },
        { retryable: false },
      );
    }
  }
}

/** A bridge name for `network` free among the host's links and every other libvirt network's bridge. */
export function freeBridgeName(links: HostLink[], network: string, catalog: CatalogEntry[]): string {
  const taken = new Set<string>(links.map((l) => l.name));
  for (const c of catalog) if (c.def.bridge && c.name !== network) taken.add(c.def.bridge);
  return bridgeNameFor(network, taken);
}
