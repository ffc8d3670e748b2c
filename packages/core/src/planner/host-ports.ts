/**
 * Host ports no port forward may take: the hypervisor's own services, whether or not they listen at the
 * moment of the request (a VNC console or a migration opens its port later; sshd or the API may be
 * restarting). Per host: the worker reads NETFORGE_DENIED_HOST_PORTS at start and publishes the list in its
 * inventory; the API's door and the worker both refuse a forward on a listed port with NOT_ALLOWED.
 */
import { AppError } from "../errors";

/** The setting that lists them (added to the defaults). */
export const DENIED_HOST_PORTS_SETTING = "NETFORGE_DENIED_HOST_PORTS";

/**
 * Always denied (TCP): sshd 22, VNC/SPICE consoles 5900-5999, the API's default port 8080, libvirtd's TCP and
 * TLS listeners 16509/16514, and libvirt's QEMU migration range 49152-49215.
 */
export const DEFAULT_DENIED_HOST_PORTS = "tcp:22,tcp:5900-5999,tcp:8080,tcp:16509,tcp:16514,tcp:49152-49215";

/** Inclusive port ranges per protocol. */
export interface DeniedHostPorts {
  tcp: [number, number][];
  udp: [number, number][];
}

/**
 * Parse a list like "tcp:22,8443,udp:5000-5100" (a bare entry denies both protocols); throws an Error naming
 * the bad entry. Ranges are merged and sorted.
 */
export function parseDeniedHostPorts(text: string): DeniedHostPorts {
  const out: DeniedHostPorts = { tcp: [], udp: [] };
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const m = /^(?:(tcp|udp):)?([1-9]\d{0,4})(?:-([1-9]\d{0,4}))?$/.exec(item);
    const lo = m ? Number(m[2]) : Number.NaN;
    const hi = m?.[3] !== undefined ? Number(m[3]) : lo;
    if (!m || lo > 65535 || hi > 65535 || lo > hi) {
      throw new Error(`${DENIED_HOST_PORTS_SETTING}: '${item}' is not [tcp:|udp:]port or [tcp:|udp:]low-high (1-65535)`);
    }
    for (const p of m[1] ? [m[1] as "tcp" | "udp"] : (["tcp", "udp"] as const)) out[p].push([lo, hi]);
  }
  return { tcp: merge(out.tcp), udp: merge(out.udp) };
}

function merge(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out.at(-1);
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** The defaults plus the operator's list (unset or empty: the defaults alone). */
export function deniedHostPorts(setting: string | undefined): DeniedHostPorts {
  return parseDeniedHostPorts(`${DEFAULT_DENIED_HOST_PORTS},${setting ?? ""}`);
}

/** The denied range holding `port` for `protocol`, or null. */
export function deniedRange(denied: DeniedHostPorts, protocol: "tcp" | "udp", port: number): [number, number] | null {
  return denied[protocol].find(([lo, hi]) => port >= lo && port <= hi) ?? null;
}

/** NOT_ALLOWED when `port` is denied on `host`; nothing otherwise. */
export function checkHostPortAllowed(host: string, denied: DeniedHostPorts, protocol: "tcp" | "udp", port: number): void {
  const r = deniedRange(denied, protocol, port);
  if (!r) return;
  const range = r[0] === r[1] ? String(r[0]) : `${r[0]}-${r[1]}`;
  throw new AppError(
    "NOT_ALLOWED",
    `${protocol} port ${port} of host ${host} is reserved for the host's own services (denied range ${range}); ${DENIED_HOST_PORTS_SETTING} and its defaults list the ports no forward may take`,
    { host, protocol, hostPort: port, deniedRange: range, setting: DENIED_HOST_PORTS_SETTING },
  );
}
