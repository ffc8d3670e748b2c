/**
 * IPv4 ranges that can never be a managed network's subnet (API.md, "Actions"):
 * a bridge there would capture addresses the host or the whole internet uses
 * for something else (loopback, link-local autoconfiguration, multicast), or
 * addresses no IPv4 stack routes at all.
 */
import { type Cidr, cidrsOverlap, formatCidr, parseCidrOrThrow } from "./ipv4";

/** One reserved range and why a network cannot use it. */
export interface ReservedRange {
  cidr: Cidr;
  /** Short name of the range, for messages ("multicast"). */
  name: string;
  /** Why it is refused, in words an operator understands. */
  why: string;
}

const range = (cidr: string, name: string, why: string): ReservedRange => ({ cidr: parseCidrOrThrow(cidr), name, why });

/** The reserved ranges, lowest first. */
export const RESERVED_RANGES: readonly ReservedRange[] = [
  range("0.0.0.0/8", "this network", "addresses of 'this host on this network' (RFC 791/1122); not valid as a destination"),
  range("127.0.0.0/8", "loopback", "every host's own loopback addresses (RFC 1122)"),
  range("169.254.0.0/16", "link-local", "automatic link-local addresses, never routed (RFC 3927)"),
  range("224.0.0.0/4", "multicast", "multicast group addresses, not host addresses (RFC 5771)"),
  range("240.0.0.0/4", "reserved", "reserved for future use and the limited broadcast address 255.255.255.255 (RFC 1112, RFC 919)"),
];

/** The first reserved range that shares an address with `c`, or null. */
export function reservedRangeOverlapping(c: Cidr): ReservedRange | null {
  return RESERVED_RANGES.find((r) => cidrsOverlap(r.cidr, c)) ?? null;
}

/** Why `c` is refused, as one sentence; null when it is allowed. */
export function reservedRangeMessage(c: Cidr): string | null {
  const r = reservedRangeOverlapping(c);
  if (!r) return null;
  return `${formatCidr(c)} overlaps ${formatCidr(r.cidr)} (${r.name}): ${r.why}`;
}
