import { createHash } from "node:crypto";

export const HOST_ID_RE = /^[a-z0-9](?:[a-z0-9-]{0,11})$/;
/** Names of namespace VMs and libvirt domains created by the sandbox. */
export const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** libvirt network names accepted by startLibvirtDomain (safe to embed in XML unescaped). */
export const NETWORK_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/i;
/** Linux interface names (bridges). */
export const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
export const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

export function assertMatch(what: string, value: unknown, re: RegExp): string {
  if (typeof value !== "string" || !re.test(value)) throw new Error(`invalid ${what}: ${JSON.stringify(value)} (must match ${re})`);
  return value;
}

export function assertMac(value: unknown): string {
  const mac = assertMatch("MAC address", value, MAC_RE).toLowerCase();
  if (Number.parseInt(mac.slice(0, 2), 16) & 1) throw new Error(`invalid MAC address ${mac}: multicast bit set`);
  return mac;
}

export function shortHash(s: string, hexChars: number): string {
  return createHash("sha256").update(s).digest("hex").slice(0, hexChars);
}

/** Deterministic locally-administered unicast MAC (02:4e:46 = "NF") derived from a seed. */
export function macFromSeed(seed: string): string {
  const h = shortHash(seed, 6);
  return `02:4e:46:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

export function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`invalid IPv4 address ${ip}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Parses "a.b.c.d/p" and returns the first two usable addresses (.1 = outside, .2 = host). */
export function uplinkAddresses(cidr: string): { outside: string; host: string; prefix: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`invalid uplink CIDR ${cidr}`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new Error(`uplink CIDR prefix must be between /8 and /30: ${cidr}`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (ipToInt(m[1]!) & mask) >>> 0;
  return { outside: intToIp(net + 1), host: intToIp(net + 2), prefix };
}

/**
 * Parses an IPv6 uplink prefix written as "<groups>::/<len>" (e.g. "fd00:99::/64", len 64-120) and returns its
 * ::1 (outside) and ::2 (host).
 */
export function uplinkAddresses6(cidr: string): { outside: string; host: string; prefix: number } {
  const m = /^((?:[0-9a-f]{1,4}:){1,6}):\/(\d{2,3})$/.exec(cidr);
  if (!m) throw new Error(`invalid IPv6 uplink prefix ${cidr} (write it like fd00:99::/64)`);
  const prefix = Number(m[2]);
  if (prefix < 64 || prefix > 120) throw new Error(`IPv6 uplink prefix length must be between /64 and /120: ${cidr}`);
  return { outside: `${m[1]}:1`, host: `${m[1]}:2`, prefix };
}

/** Dotted netmask → prefix length. */
export function maskToPrefix(mask: string): number {
  const n = ipToInt(mask);
  let bits = 0;
  for (let i = 31; i >= 0 && (n >>> i) & 1; i--) bits++;
  return bits;
}
