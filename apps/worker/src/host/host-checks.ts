/**
 * The authoritative checks on the host before a network is created: the
 * subnet overlaps nothing the host has (interfaces, routes, other libvirt
 * networks, active or not) and the bridge name chosen is free. Pure functions
 * over a snapshot of links and routes read once per job.
 */
import { AppError, bridgeNameFor, cidrsOverlap, parseCidrOrThrow } from "@netforge/core";
import { type HostLink, type HostRoute, occupiedByLinksAndRoutes } from "./ip";
import type { CatalogEntry } from "./network-catalog";

/** A subnet in use, and what holds it. */
export interface Occupied {
  owner: string;
  cidr: string;
  network?: string;
}

/** Everything occupying subnets on the host except the network `except`. */
export function occupiedSubnets(links: HostLink[], routes: HostRoute[], catalog: CatalogEntry[], except?: string): Occupied[] {
  const bridges = new Set(catalog.map((c) => c.def.bridge).filter((b): b is string => !!b));
  const out: Occupied[] = occupiedByLinksAndRoutes(links, routes, bridges);
  for (const c of catalog) {
    if (c.name === except || !c.def.cidr) continue;
    out.push({ owner: `libvirt network '${c.name}'`, cidr: c.def.cidr, network: c.name });
  }
  return out;
}

/** Throw CIDR_CONFLICT when `cidr` overlaps anything occupied. */
export function assertNoOverlap(cidr: string, host: string, occupied: Occupied[]): void {
  const mine = parseCidrOrThrow(cidr);
  for (const o of occupied) {
    if (cidrsOverlap(mine, parseCidrOrThrow(o.cidr))) {
      throw new AppError(
        "CIDR_CONFLICT",
        `${cidr} overlaps ${o.network ? `network '${o.network}'` : o.owner} (${o.cidr}) on host ${host}`,
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
