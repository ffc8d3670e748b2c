/**
 * Addresses a hypervisor must keep reaching through its own routes: its
 * gateways and next hops, its Redis, its DNS resolvers, the API. A network
 * whose subnet contains one would put a connected route for it on the new
 * bridge and cut the host off from it (the worker could not even receive the
 * delete). The worker finds them and publishes them with the subnets its
 * interfaces and routes occupy, as /32 entries whose owner names the address
 * and what it is ("10.1.2.3, this host's Redis"), so the API's door and the
 * worker refuse with the same message.
 */

/** An address the host must keep reaching, and what it is ("this host's Redis"). */
export interface ProtectedAddress {
  ip: string;
  what: string;
}

const OWNER = /^(\d{1,3}(?:\.\d{1,3}){3}), (.+)$/;

/** The owner text of a protected address in the occupied list. */
export function protectedOwner(p: ProtectedAddress): string {
  return `${p.ip}, ${p.what}`;
}

/** The protected address an owner text names, or null for other owners (interfaces, routes, networks). */
export function parseProtectedOwner(owner: string): ProtectedAddress | null {
  const m = OWNER.exec(owner);
  return m ? { ip: m[1] as string, what: m[2] as string } : null;
}

/** The CIDR_CONFLICT message for a subnet overlapping something the host holds (not a network). */
export function hostOverlapMessage(cidr: string, owner: string, ownerCidr: string, host: string): string {
  const p = parseProtectedOwner(owner);
  if (p) return `${cidr} contains ${p.ip}, ${p.what} (host ${host}): a bridge with this subnet would cut the host off from it`;
  return `${cidr} overlaps ${owner} (${ownerCidr}) on host ${host}`;
}
