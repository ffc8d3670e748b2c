/** Active DHCP leases from libvirt's lease status file (/var/lib/libvirt/dnsmasq/<bridge>.status). */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

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

export interface StatusRow {
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
  return parseLeaseRows(leaseRowsOf(await readStatusFile(bridge, dir), now), now);
}

/** A bridge's status file as parsed JSON ([] when there is none or it does not parse). */
async function readStatusFile(bridge: string, dir: string): Promise<unknown> {
  try {
    return JSON.parse((await readFile(join(dir, `${bridge}.status`), "utf8")) || "[]");
  } catch {
    return [];
  }
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

/**
 * A status file's rows that have not expired, as libvirt's leaseshelper wrote them (kept whole, so the rows a new
 * gateway is handed are what its own leaseshelper reads back): the dynamic leases a gateway move carries over.
 * [] when there is no file or it does not parse.
 */
export async function readLeaseRows(bridge: string, dir: string, now = Date.now()): Promise<StatusRow[]> {
  return leaseRowsOf(await readStatusFile(bridge, dir), now);
}

/** The rows of a parsed status file (or of a hand-over) that are leases and have not expired. */
export function leaseRowsOf(rows: unknown, now = Date.now()): StatusRow[] {
  if (!Array.isArray(rows)) return [];
  return rows.filter(
    (r): r is StatusRow =>
      !!r &&
      typeof r === "object" &&
      typeof r["ip-address"] === "string" &&
      typeof r["expiry-time"] === "number" &&
      r["expiry-time"] * 1000 > now,
  );
}

/**
 * Merge `rows` (another gateway's leases) into this host's status file of `bridge` before its dnsmasq starts:
 * libvirt's dnsmasq keeps no lease file of its own (leasefile-ro) and asks libvirt's leaseshelper for the leases
 * at start ("init"), which reads this file. A row of this host's for an address or MAC the handed rows have is
 * dropped. Returns the file's previous text (null: there was none), for the undo.
 */
export async function mergeLeaseRows(bridge: string, dir: string, rows: readonly StatusRow[], now = Date.now()): Promise<string | null> {
  const file = join(dir, `${bridge}.status`);
  const previous = await readFile(file, "utf8").catch(() => null);
  const handedIps = new Set(rows.map((r) => r["ip-address"]));
  const handedMacs = new Set(rows.flatMap((r) => (r["mac-address"] ? [r["mac-address"].toLowerCase()] : [])));
  const own = (await readLeaseRows(bridge, dir, now)).filter(
    (r) => !handedIps.has(r["ip-address"]) && !(r["mac-address"] && handedMacs.has(r["mac-address"].toLowerCase())),
  );
  await writeStatusFile(file, `${JSON.stringify([...rows, ...own], null, 2)}\n`);
  return previous;
}

/** Put a status file's text back (null: remove it), as it was before mergeLeaseRows. */
export async function restoreLeaseFile(bridge: string, dir: string, previous: string | null): Promise<void> {
  const file = join(dir, `${bridge}.status`);
  if (previous === null) await rm(file, { force: true });
  else await writeStatusFile(file, previous);
}

/** Written whole and renamed into place: libvirt's leaseshelper never reads half a file. */
async function writeStatusFile(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.netforge-${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
}
