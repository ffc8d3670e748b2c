/**
 * Pure IPv6 address and prefix arithmetic (bigints, 128 bits). Parsers return null so validators can explain;
 * formatting is RFC 5952's canonical text (lower case, the longest run of two or more zero groups as "::").
 */

const MAX = (1n << 128n) - 1n;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Parse an IPv6 address ("fd00::1", "::ffff:10.0.0.1"; no zone, no brackets) to a 128-bit bigint, or null. */
export function parseIPv6(s: string): bigint | null {
  if (typeof s !== "string" || s.length < 2 || s.length > 45 || !s.includes(":")) return null;
  let text = s;
  // A trailing dotted quad is the last two groups: parsed as "0:0", then filled in.
  let tail: [number, number] | null = null;
  const lastColon = text.lastIndexOf(":");
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    const octets = maybeV4.split(".");
    if (octets.length !== 4 || octets.some((o) => !/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(o))) return null;
    const [a, b, c, d] = octets.map(Number) as [number, number, number, number];
    tail = [(a << 8) | b, (c << 8) | d];
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const parts = text === "" ? [] : text.split("::");
  if (parts.length > 2) return null;
  const groupsOf = (p: string): number[] | null => {
    if (p === "") return [];
    const gs = p.split(":");
    if (gs.some((g) => !HEX_GROUP.test(g))) return null;
    return gs.map((g) => Number.parseInt(g, 16));
  };
  let groups: number[];
  const want = 8;
  if (parts.length === 2) {
    const head = groupsOf(parts[0] as string);
    const rest = groupsOf(parts[1] as string);
    if (head === null || rest === null || head.length + rest.length > want - 1) return null;
    groups = [...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest];
  } else {
    const only = groupsOf(parts[0] ?? "");
    if (only === null || only.length !== want) return null;
    groups = only;
  }
  if (tail !== null) {
    groups[6] = tail[0];
    groups[7] = tail[1];
  }
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(g);
  return n;
}

/** Format a 128-bit bigint as canonical IPv6 text (RFC 5952). */
export function formatIPv6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** An IPv6 prefix: network address (host bits zero), length, and last address. */
export interface Cidr6 {
  network: bigint;
  prefix: number;
  last: bigint;
}

/** Result of parsing "addr/len": the prefix, or why it is not one (the hint names the intended network). */
export type Cidr6Parse = { ok: true; cidr: Cidr6 } | { ok: false; reason: "syntax" | "prefix" | "host-bits"; hint?: string };

const hostMask = (prefix: number): bigint => (prefix >= 128 ? 0n : (1n << BigInt(128 - prefix)) - 1n);

/** The prefix of `prefix` bits that holds `addr`. */
export function cidr6Of(addr: bigint, prefix: number): Cidr6 {
  const host = hostMask(prefix);
  const network = addr & (MAX ^ host);
  return { network, prefix, last: network | host };
}

/** Parse an IPv6 prefix ("fd12:3456:789a:1::/64"); host bits must be zero. */
export function parseCidr6(s: string): Cidr6Parse {
  if (typeof s !== "string") return { ok: false, reason: "syntax" };
  const m = /^([0-9A-Fa-f:.]{2,45})\/(\d{1,3})$/.exec(s);
  if (!m) return { ok: false, reason: "syntax" };
  const addr = parseIPv6(m[1] as string);
  const prefix = Number(m[2]);
  if (addr === null || String(prefix) !== m[2]) return { ok: false, reason: "syntax" };
  if (prefix > 128) return { ok: false, reason: "prefix" };
  const c = cidr6Of(addr, prefix);
  if (c.network !== addr) return { ok: false, reason: "host-bits", hint: formatCidr6(c) };
  return { ok: true, cidr: c };
}

/** Parse an IPv6 prefix or throw (for values already validated). */
export function parseCidr6OrThrow(s: string): Cidr6 {
  const r = parseCidr6(s);
  if (!r.ok) throw new Error(`not an IPv6 prefix: ${s}`);
  return r.cidr;
}

/** Canonical text of a prefix. */
export const formatCidr6 = (c: Cidr6): string => `${formatIPv6(c.network)}/${c.prefix}`;

/** Whether `addr` lies in `c`. */
export const cidr6Contains = (c: Cidr6, addr: bigint): boolean => addr >= c.network && addr <= c.last;

/** Whether two prefixes share any address. */
export const cidr6Overlaps = (a: Cidr6, b: Cidr6): boolean => a.network <= b.last && b.network <= a.last;

/** Prefixes no network may use, each with the operator's reason. */
const RESERVED6: { cidr: Cidr6; what: string }[] = [
  { cidr: parseCidr6OrThrow("::/128"), what: "the unspecified address (::)" },
  { cidr: parseCidr6OrThrow("::1/128"), what: "the loopback address (::1)" },
  { cidr: parseCidr6OrThrow("::ffff:0:0/96"), what: "IPv4-mapped addresses (::ffff:0:0/96)" },
  { cidr: parseCidr6OrThrow("fe80::/10"), what: "link-local addresses (fe80::/10: every interface has its own)" },
  { cidr: parseCidr6OrThrow("ff00::/8"), what: "multicast (ff00::/8)" },
  { cidr: parseCidr6OrThrow("2001:db8::/32"), what: "the documentation prefix (2001:db8::/32, never routed)" },
];

/** Why a prefix cannot be a network's (it overlaps a reserved range), or null. */
export function reservedReason6(c: Cidr6): string | null {
  for (const r of RESERVED6) if (cidr6Overlaps(c, r.cidr)) return `overlaps ${r.what}`;
  return null;
}

/** A 128-bit value as 32 hex digits (what the claim scripts compare as text: same length, so text order is number order). */
export const hex128 = (n: bigint): string => n.toString(16).padStart(32, "0");

/**
 * An address as one text per address: IPv6 in RFC 5952 form ("FD00:0::A" and "fd00::a" are one claim, one map key,
 * one forward to remove); anything else (IPv4, or text that is no IPv6 address) unchanged.
 */
export function canonicalIp(s: string): string {
  if (!s.includes(":")) return s;
  const n = parseIPv6(s);
  return n === null ? s : formatIPv6(n);
}

/**
 * The host addresses a routed IPv6 network's prefix must be routed to by the upstream (describe-network's
 * `ipv6Route`): the host's IPv6 addresses (as "addr/len" or bare) that the outside can reach: not link-local, not
 * loopback, not inside the network's own prefix, and not on netforge's own bridges ("nf-", ADR 0004).
 */
export function upstreamVia(prefix: string, interfaces: readonly { name: string; addresses6?: readonly string[] }[]): string[] {
  const own = parseCidr6(prefix);
  const linkLocal = cidr6Of(parseIPv6("fe80::") ?? 0n, 10);
  const out: string[] = [];
  for (const i of interfaces) {
    if (i.name.startsWith("nf-") || i.name === "lo") continue;
    for (const a of i.addresses6 ?? []) {
      const n = parseIPv6(a.split("/")[0] ?? "");
      if (n === null || n === 1n) continue;
      if (n >= linkLocal.network && n <= linkLocal.last) continue;
      if (own.ok && n >= own.cidr.network && n <= own.cidr.last) continue;
      const text = formatIPv6(n);
      if (!out.includes(text)) out.push(text);
    }
  }
  return out;
}
