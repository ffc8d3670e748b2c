/**
 * Pure IPv4 and CIDR arithmetic. Addresses are unsigned 32-bit integers in
 * host order; nothing here touches the network or throws for bad input except
 * where named `parse…OrThrow`: parsers return null so validators can explain.
 */

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Parse a strict dotted quad ("192.168.0.1"; no leading zeros, no spaces) to a uint32, or null. */
export function parseIPv4(s: string): number | null {
  if (typeof s !== "string" || s.length > 15) return null;
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return null;
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

/** Format a uint32 as a dotted quad. */
export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** An IPv4 subnet: network address, prefix length and derived bounds. */
export interface Cidr {
  /** Network address (host bits zero). */
  network: number;
  prefix: number;
  /** Last address of the subnet (broadcast for prefixes < 31). */
  last: number;
}

/** Netmask of a prefix length as uint32. */
export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Dotted netmask for a prefix ("255.255.255.0" for 24). */
export function prefixToNetmask(prefix: number): string {
  return formatIPv4(prefixToMask(prefix));
}

/** Result of parsing "a.b.c.d/len": the CIDR, or why it is not one (with a hint). */
export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: "syntax" | "prefix" | "host-bits"; hint?: string };

/** Parse a CIDR; host bits must be zero (the hint names the intended network). */
export function parseCidr(s: string): CidrParse {
  if (typeof s !== "string") return { ok: false, reason: "syntax" };
  const m = /^([0-9.]{7,15})\/(\d{1,2})$/.exec(s);
  if (!m) return { ok: false, reason: "syntax" };
  const addr = parseIPv4(m[1] as string);
  const prefix = Number(m[2]);
  if (addr === null || String(prefix) !== m[2]) return { ok: false, reason: "syntax" };
  if (prefix > 32) return { ok: false, reason: "prefix" };
  const mask = prefixToMask(prefix);
  const network = (addr & mask) >>> 0;
  if (network !== addr) {
    return { ok: false, reason: "host-bits", hint: `${formatIPv4(network)}/${prefix}` };
  }
  return { ok: true, cidr: cidrOf(network, prefix) };
}

/** Build a Cidr from a network address and prefix (host bits are masked off). */
export function cidrOf(addr: number, prefix: number): Cidr {
  const mask = prefixToMask(prefix);
  const network = (addr & mask) >>> 0;
  return { network, prefix, last: (network | (~mask >>> 0)) >>> 0 };
}

/** Parse a CIDR that is known to be valid (e.g. from our own storage); throws otherwise. */
export function parseCidrOrThrow(s: string): Cidr {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(`invalid CIDR ${JSON.stringify(s)} (${r.reason})`);
  return r.cidr;
}

/** "a.b.c.d/len" */
export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.network)}/${c.prefix}`;
}

/** True when the two subnets share at least one address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network <= b.last && b.network <= a.last;
}

/** True when `ip` is inside the subnet (network and broadcast included). */
export function cidrContains(c: Cidr, ip: number): boolean {
  return ip >= c.network && ip <= c.last;
}

/** First and last usable host addresses (prefix <= 30: excludes network and broadcast). */
export function usableRange(c: Cidr): { first: number; last: number } {
  if (c.prefix >= 31) return { first: c.network, last: c.last };
  return { first: c.network + 1, last: c.last - 1 };
}

/** Number of addresses between two addresses, inclusive. */
export function rangeSize(start: number, end: number): number {
  return end - start + 1;
}

/**
 * The default DHCP pool: the upper half of the usable addresses, leaving the
 * lower half for static assignments (a /24 gives .128-.254, like the contract says).
 * When the gateway sits in the upper half, the pool is shrunk to avoid it.
 */
export function defaultDhcpRange(c: Cidr, gateway: number): { start: number; end: number } {
  const { first, last } = usableRange(c);
  const count = last - first + 1;
  let start = first + Math.floor(count / 2);
  let end = last;
  if (gateway >= start && gateway <= end) {
    // Keep the larger side of the pool that does not contain the gateway.
    if (gateway - start >= end - gateway) end = gateway - 1;
    else start = gateway + 1;
  }
  return { start, end };
}
