/**
 * What a host loads at boot, before libvirtd autostarts its networks (the
 * `netforge-firewall.service` unit in deploy/): first the fail-closed table,
 * then the worker's boot copy, which replaces it in one transaction.
 *
 * - The boot copy is the live table of the last successful apply plus the
 *   boot guard: masquerade, isolation, user rules and port forwards of every
 *   network that ran, and forwarding dropped for any other netforge bridge
 *   (a network stopped then, but autostarted by libvirt now).
 * - The fail-closed table is the boot guard alone. When the boot copy is
 *   missing or does not load (nft applies a file whole or not at all), it
 *   stays: netforge's networks get DHCP/DNS from the host but forward
 *   nothing until the worker applies its table. Closed, not open.
 *
 * The worker replaces either at its first apply (its transaction starts with
 * `delete table inet netforge`), so the guard never outlives the worker start.
 */
import { type FirewallNetwork, renderHostTable } from "./nft";
import { type LanCounting, renderPortSecurityTable } from "./nft-bridge";

const HEADER = [
  "#!/usr/sbin/nft -f",
  "# netforge: boot-time copy of this host's firewall, written by the worker after every apply.",
  "# Loaded by netforge-firewall.service before libvirtd; do not edit (the next apply overwrites it).",
];

/** The boot copy of a host whose table carries `networks` (pure; the worker writes it atomically). */
export function renderBootCopy(
  networks: readonly FirewallNetwork[],
  /** The traffic counters as last read (the host's own copy of their base: a reboot starts from these). */
  traffic: Pick<Parameters<typeof renderHostTable>[1] & object, "counters" | "vmCounters" | "now"> &
    Pick<LanCounting, "lan" | "overlays"> = {},
): string {
  // Port security with the pairs of the last apply but no ports: port names (vnetN) are handed out again after
  // a reboot, and a stale name could put another bridge's port under this network's checks. The worker's port
  // watcher fills the port sets when it starts.
  const bridge = networks.map((n) => (n.portSecurity ? { ...n, portSecurity: { pairs: n.portSecurity.pairs, ports: [] } } : n));
  return `${HEADER.join("\n")}\n${renderHostTable(networks, { ...traffic, bootGuard: true })}${renderPortSecurityTable(bridge, traffic)}`;
}

/** The fail-closed table (deploy/netforge-failclosed.nft is this text; a unit test keeps them equal). */
export function renderFailClosedTable(): string {
  return [
    "#!/usr/sbin/nft -f",
    "# netforge fail-closed table, loaded at boot before the worker's copy (netforge-firewall.service).",
    "# If that copy is missing or corrupt, this stays until the worker starts: netforge's bridges forward",
    "# nothing (no masquerade without netforge, no way out of an isolated network), DHCP/DNS still work.",
    renderHostTable([], { bootGuard: true }),
  ].join("\n");
}
