/**
 * The operator's allow-list of subnet pools (NETFORGE_ALLOWED_CIDRS, read by
 * the API for the whole cluster): a network's subnet must lie wholly inside
 * one listed pool. Unset, the private ranges of RFC 1918 are allowed; shared
 * address space (100.64.0.0/10, RFC 6598) and public ranges only when listed.
 */
import { isIPv6 } from "node:net";
import { AppError } from "../errors";
import { type Cidr, formatCidr, parseCidr, parseCidrOrThrow } from "./ipv4";

/** The pools allowed when NETFORGE_ALLOWED_CIDRS is unset (fd00::/8 joins them once IPv6 lands). */
export const DEFAULT_ALLOWED_CIDRS: readonly string[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/** Parsed allow-list: IPv4 pools (checked) and IPv6 pools (kept for the IPv6 networks to come). */
export interface AllowedPools {
  v4: Cidr[];
  v6: string[];
}

/** The default allow-list. */
export function defaultAllowedPools(): AllowedPools {
  return { v4: DEFAULT_ALLOWED_CIDRS.map(parseCidrOrThrow), v6: [] };
}

/**
 * Parse NETFORGE_ALLOWED_CIDRS: CIDRs separated by commas and/or spaces, host bits zero. Throws an Error
 * naming every bad entry (the API refuses to start with it).
 */
export function parseAllowedCidrs(text: string): AllowedPools {
  const entries = text.split(/[\s,]+/).filter((e) => e !== "");
  if (entries.length === 0) throw new Error("lists no CIDR (leave it unset for the default 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)");
  const out: AllowedPools = { v4: [], v6: [] };
  const bad: string[] = [];
  for (const e of entries) {
    if (e.includes(":")) {
      const [addr, len, ...rest] = e.split("/");
      const prefix = Number(len);
      if (rest.length === 0 && addr && isIPv6(addr) && /^\d{1,3}$/.test(len ?? "") && prefix <= 128) out.v6.push(e.toLowerCase());
      else bad.push(`'${e}' is not an IPv6 CIDR`);
      continue;
    }
    const r = parseCidr(e);
    if (r.ok) out.v4.push(r.cidr);
    else if (r.reason === "host-bits") bad.push(`'${e}' has host bits set (did you mean ${r.hint}?)`);
    else bad.push(`'${e}' is not a CIDR (a.b.c.d/len)`);
  }
  if (bad.length > 0) throw new Error(bad.join("; "));
  return out;
}

/** The first pool wholly containing `c`, or null. */
export function allowedPoolOf(c: Cidr, pools: AllowedPools): Cidr | null {
  return pools.v4.find((p) => p.network <= c.network && c.last <= p.last) ?? null;
}

/** Throw 422 NOT_ALLOWED when the (valid) subnet `cidr` is not wholly inside one allowed pool. */
export function assertAllowedSubnet(cidr: string, pools: AllowedPools): void {
  const c = parseCidrOrThrow(cidr);
  if (allowedPoolOf(c, pools)) return;
  const listed = pools.v4.map(formatCidr);
  throw new AppError(
    "NOT_ALLOWED",
    `${cidr} is outside the subnets this cluster allows (NETFORGE_ALLOWED_CIDRS: ${listed.join(", ") || "none"}); ` +
      "choose a subnet inside one of them, or have the operator add its range to NETFORGE_ALLOWED_CIDRS",
    { cidr, setting: "NETFORGE_ALLOWED_CIDRS", allowed: listed },
  );
}
