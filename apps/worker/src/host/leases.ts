/** Active DHCP leases from libvirt's lease status file (/var/lib/libvirt/dnsmasq/<bridge>.status). */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** One lease as libvirt's leaseshelper records it. */
export interface LeaseEntry {
  ip: string;
  /** The client's MAC; for a DHCPv6 lease the one dnsmasq knew (else the DUID's, for DUID-LL/LLT; else ""). */
  mac: string;
  hostname: string | null;
  expiresAt: number;
  /** DHCPv6 leases: the client's DUID (libvirt's "client-id") and the lease's IAID. */
  duid?: string;
  iaid?: string;
}

interface StatusRow {
  "ip-address"?: string;
  "mac-address"?: string;
  hostname?: string;
  "expiry-time"?: number;
  "client-id"?: string;
  iaid?: string | number;
}

/** The MAC a DUID carries: DUID-LLT (type 1) and DUID-LL (type 3) of hardware type 1 (Ethernet); else null. */
export function macOfDuid(duid: string): string | null {
  const b = duid.toLowerCase().split(":");
  const two = (i: number) => Number.parseInt(`${b[i] ?? ""}${b[i + 1] ?? ""}`, 16);
  const type = two(0);
  const hw = two(2);
  const at = type === 1 ? 8 : type === 3 ? 4 : -1;
  if (at < 0 || hw !== 1 || b.length !== at + 6) return null;
  return b
    .slice(at)
    .map((x) => x.padStart(2, "0"))
    .join(":");
}

/** Leases of a bridge (IPv4 and DHCPv6) that have not expired; [] when the file does not exist yet. */
export async function readLeases(bridge: string, dir = "/var/lib/libvirt/dnsmasq", now = Date.now()): Promise<LeaseEntry[]> {
  let raw: string;
  try {
    raw = await readFile(join(dir, `${bridge}.status`), "utf8");
  } catch {
    return [];
  }
  let rows: StatusRow[];
  try {
    rows = JSON.parse(raw || "[]");
  } catch {
    return [];
  }
  return parseLeaseRows(rows, now);
}

/** The status file's rows as leases (pure). A DHCPv6 row ("iaid", or an IPv6 address) may come without a MAC. */
export function parseLeaseRows(rows: StatusRow[], now: number): LeaseEntry[] {
  if (!Array.isArray(rows)) return [];
  return rows.flatMap((r): LeaseEntry[] => {
    const ip = r["ip-address"];
    if (!ip || (r["expiry-time"] ?? 0) * 1000 <= now) return [];
    const v6 = ip.includes(":");
    const duid = v6 && r["client-id"] ? r["client-id"].toLowerCase() : undefined;
    const mac = r["mac-address"]?.toLowerCase() ?? (duid ? macOfDuid(duid) : null);
    if (!mac && !duid) return [];
    return [
      {
        ip,
        mac: mac ?? "",
        hostname: r.hostname ?? null,
        expiresAt: (r["expiry-time"] ?? 0) * 1000,
        ...(duid === undefined ? {} : { duid }),
        ...(v6 && r.iaid !== undefined ? { iaid: String(r.iaid) } : {}),
      },
    ];
  });
}
