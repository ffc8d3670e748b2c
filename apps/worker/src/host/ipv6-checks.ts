/**
 * The host's checks before a network with IPv6 is created (docs/adr/0045-ipv6-dual-stack.md):
 * - its prefix overlaps no IPv6 address of the host's interfaces and no other libvirt network's prefix
 *   (CIDR_CONFLICT, as for IPv4);
 * - IPv6 forwarding would not cost the host its own routes: libvirt turns IPv6 forwarding on for a network with
 *   IPv6, and a host whose routes come from router advertisements on an interface with `accept_ra` other than 2
 *   stops accepting them once forwarding is on (libvirt then refuses the network). netforge refuses first, naming
 *   the interfaces, and never changes the host's sysctls.
 * Pure checks over what `readIpv6Facts` reads once per job.
 */
import { AppError, cidr6Of, cidr6Overlaps, parseCidr6OrThrow, parseIPv6 } from "@netforge/core/contract";
import type { CommandRunner } from "./command-runner";
import type { HostLink } from "./ip";
import type { CatalogEntry } from "./network-catalog";

/** An interface that has routes from router advertisements, with its accept_ra. */
export interface RaInterface {
  dev: string;
  acceptRa: string;
}

/** The interfaces with routes learned from router advertisements (`ip -6 -j route show proto ra`), with their accept_ra. */
export async function readRaInterfaces(runner: CommandRunner): Promise<RaInterface[]> {
  const r = await runner.run("ip", ["-6", "-j", "route", "show", "proto", "ra"]);
  const rows = JSON.parse(r.stdout || "[]") as { dev?: string }[];
  const devs = [...new Set(rows.map((x) => x.dev).filter((d): d is string => typeof d === "string" && /^[A-Za-z0-9_.:@-]{1,15}$/.test(d)))];
  const out: RaInterface[] = [];
  for (const dev of devs) {
    const s = await runner.run("sysctl", ["-n", `net.ipv6.conf.${dev.replace(/\./g, "/")}.accept_ra`]);
    out.push({ dev, acceptRa: s.stdout.trim() });
  }
  return out;
}

/** Refuse when IPv6 forwarding would cost the host routes it learns from router advertisements. */
export function assertIpv6ForwardingSafe(ra: readonly RaInterface[], host: string): void {
  const risky = ra.filter((r) => r.acceptRa !== "2");
  if (risky.length === 0) return;
  const list = risky.map((r) => `${r.dev} (accept_ra=${r.acceptRa})`).join(", ");
  throw new AppError(
    "INVALID_STATE",
    `host ${host} learns IPv6 routes from router advertisements on ${list}: the IPv6 forwarding a network with IPv6 needs would make the kernel ignore those advertisements and the host lose its routes. Set accept_ra=2 on ${risky.map((r) => r.dev).join(", ")} (or give the host static IPv6 routes) first; netforge does not change the host's sysctls`,
    { host, interfaces: risky.map((r) => ({ interface: r.dev, acceptRa: r.acceptRa })) },
    { retryable: false },
  );
}

/** Refuse a prefix that overlaps an IPv6 address of the host's interfaces or another libvirt network's prefix. */
export function assertNoOverlap6(
  cidr6: string,
  host: string,
  links: readonly HostLink[],
  catalog: readonly CatalogEntry[],
  except: string,
): void {
  const mine = parseCidr6OrThrow(cidr6);
  const conflict = (owner: string, other: string, network?: string): AppError =>
    new AppError(
      "CIDR_CONFLICT",
      network
        ? `${cidr6} overlaps network '${network}' (${other}) on host ${host}`
        : `${cidr6} overlaps ${owner} (${other}) on host ${host}`,
      { cidr: cidr6, host, conflictsWith: network ? { network, cidr: other } : { owner, cidr: other } },
      { retryable: false },
    );
  const bridges = new Set(catalog.map((c) => c.def.bridge).filter((b): b is string => !!b));
  for (const l of links) {
    if (bridges.has(l.name)) continue;
    for (const a of l.addresses6 ?? []) {
      const [addr, len] = a.split("/");
      const ip = addr ? parseIPv6(addr) : null;
      if (ip === null) continue;
      const prefix = Number(len);
      // The on-link prefix of the interface's address (the address alone when its length is unreadable).
      const onLink = cidr6Of(ip, Number.isInteger(prefix) && prefix >= 0 && prefix <= 128 ? prefix : 128);
      if (cidr6Overlaps(mine, onLink)) throw conflict(`interface ${l.name}`, a);
    }
  }
  for (const c of catalog) {
    if (c.name === except) continue;
    const other = c.def.spec && "ipv6" in c.def.spec ? c.def.spec.ipv6 : undefined;
    if (other && cidr6Overlaps(mine, parseCidr6OrThrow(other.cidr))) throw conflict("", other.cidr, c.name);
  }
}
