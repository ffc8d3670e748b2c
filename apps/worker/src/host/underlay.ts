/**
 * The host's underlay (issue 17, overlays): the address other hosts reach it on for VXLAN, and that
 * interface's MTU (an overlay's MTU is the smallest member underlay MTU minus the VXLAN overhead). From
 * NETFORGE_UNDERLAY_IP when set (it must be an address of one of the host's interfaces), else the IPv4
 * address of the interface the default route leaves through. Pure: from one read of links and routes.
 */
import type { HostLink, HostRoute } from "./ip";

/** What list-hosts shows: the address, its interface and that interface's MTU; null: no underlay found. */
export interface Underlay {
  ip: string;
  interface: string;
  mtu: number;
  /** Where it came from: the setting, or the default route. */
  source: "setting" | "default-route";
}

/** Why no underlay was found (logged once by the worker; list-hosts then shows none). */
export type UnderlayAnswer = { underlay: Underlay } | { underlay: null; why: string };

const addressOf = (a: string) => a.split("/")[0] ?? a;

export function findUnderlay(links: readonly HostLink[], routes: readonly HostRoute[], configured: string | null): UnderlayAnswer {
  if (configured) {
    const link = links.find((l) => l.addresses.some((a) => addressOf(a) === configured));
    if (!link) return { underlay: null, why: `NETFORGE_UNDERLAY_IP ${configured} is not an address of any interface of this host` };
    return { underlay: { ip: configured, interface: link.name, mtu: link.mtu ?? 1500, source: "setting" } };
  }
  const route = routes.find((r) => r.dst === "default" && !r.table && r.dev !== null);
  if (!route?.dev) return { underlay: null, why: "no NETFORGE_UNDERLAY_IP and no default route in table main" };
  const link = links.find((l) => l.name === route.dev);
  const first = link?.addresses[0];
  if (!link || !first) return { underlay: null, why: `the default route's interface ${route.dev} has no IPv4 address` };
  return { underlay: { ip: addressOf(first), interface: link.name, mtu: link.mtu ?? 1500, source: "default-route" } };
}
