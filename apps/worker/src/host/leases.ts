/** Active DHCP leases from libvirt's lease status file (/var/lib/libvirt/dnsmasq/<bridge>.status). */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** One lease as libvirt's leaseshelper records it. */
export interface LeaseEntry {
  ip: string;
  mac: string;
  hostname: string | null;
  expiresAt: number;
}

/** Leases of a bridge that have not expired; [] when the file does not exist yet. */
export async function readLeases(bridge: string, dir = "/var/lib/libvirt/dnsmasq", now = Date.now()): Promise<LeaseEntry[]> {
  let raw: string;
  try {
    raw = await readFile(join(dir, `${bridge}.status`), "utf8");
  } catch {
    return [];
  }
  let rows: { "ip-address"?: string; "mac-address"?: string; hostname?: string; "expiry-time"?: number }[];
  try {
    rows = JSON.parse(raw || "[]");
  } catch {
    return [];
  }
  return rows
    .filter((r) => r["ip-address"] && r["mac-address"] && (r["expiry-time"] ?? 0) * 1000 > now)
    .map((r) => ({
      ip: r["ip-address"] as string,
      mac: (r["mac-address"] as string).toLowerCase(),
      hostname: r.hostname ?? null,
      expiresAt: (r["expiry-time"] ?? 0) * 1000,
    }));
}
