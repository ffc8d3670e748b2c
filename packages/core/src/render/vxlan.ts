/**
 * The host commands of an overlay network's VXLAN part on one member host (issue 17), as argument arrays
 * (pure: the worker runs them, a dry run shows them). No multicast and no learning from the underlay: the
 * device is created with `nolearning`, every other member gets one all-zero forwarding entry (head-end
 * replication of broadcast and unknown traffic), and the MACs netforge knows behind each member get unicast
 * entries toward that member only.
 */
import { AppError } from "../errors";

/** The IANA VXLAN port. */
export const VXLAN_PORT = 4789;
/** VXLAN over IPv4 adds 50 bytes (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14); over IPv6 70. */
export const VXLAN_OVERHEAD_V4 = 50;
export const VXLAN_OVERHEAD_V6 = 70;
/** The 24-bit VNI space (0 is not used). */
export const VNI_MIN = 1;
export const VNI_MAX = 16_777_215;

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

function check(ok: boolean, what: string): void {
  if (!ok) throw new AppError("INTERNAL", `refusing to render a VXLAN command with ${what}`, {});
}

/** The VXLAN device of VNI `vni` ("nfvx" + the VNI: at most 12 characters). */
export function vxlanDeviceName(vni: number): string {
  check(Number.isInteger(vni) && vni >= VNI_MIN && vni <= VNI_MAX, `VNI ${vni}`);
  return `nfvx${vni}`;
}

/** An overlay's MTU from its members' underlay MTUs (the smallest, less the VXLAN overhead). */
export function overlayMtu(underlayMtus: readonly number[], ipv6Underlay = false): number {
  check(underlayMtus.length > 0, "no member");
  return Math.min(...underlayMtus) - (ipv6Underlay ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD_V4);
}

export interface VxlanPort {
  vni: number;
  /** This host's underlay address (the outer source). */
  local: string;
  /** The overlay's bridge on this host, the device's master. */
  bridge: string;
  mtu: number;
}

/**
 * Create the device (no learning from the underlay, fixed port) and make it a port of the bridge that learns
 * nothing on it either: `ip` argument lists, in order.
 */
export function vxlanDeviceSetup(p: VxlanPort): string[][] {
  const dev = vxlanDeviceName(p.vni);
  check(IPV4_RE.test(p.local), `local address ${JSON.stringify(p.local)}`);
  check(IFNAME_RE.test(p.bridge), `bridge ${JSON.stringify(p.bridge)}`);
  check(Number.isInteger(p.mtu) && p.mtu >= 576 && p.mtu <= 9000, `MTU ${p.mtu}`);
  return [
    ["link", "add", dev, "type", "vxlan", "id", String(p.vni), "local", p.local, "dstport", String(VXLAN_PORT), "nolearning"],
    ["link", "set", dev, "mtu", String(p.mtu)],
    ["link", "set", dev, "master", p.bridge],
    // The bridge learns nothing on this port either: which member has a MAC is netforge's to write.
    ["link", "set", "dev", dev, "type", "bridge_slave", "learning", "off"],
    ["link", "set", dev, "up"],
  ];
}

/** Remove the device (its forwarding entries go with it). */
export function vxlanDeviceTeardown(vni: number): string[] {
  return ["link", "del", vxlanDeviceName(vni)];
}

/** `bridge` arguments: head-end replication of broadcast/unknown frames to member `remote`. */
export function floodEntry(vni: number, remote: string): string[] {
  check(IPV4_RE.test(remote), `remote ${JSON.stringify(remote)}`);
  return ["fdb", "append", "00:00:00:00:00:00", "dev", vxlanDeviceName(vni), "dst", remote];
}

/** `bridge` arguments: unicast frames to `mac` go to member `remote` only. */
export function unicastEntry(vni: number, mac: string, remote: string): string[] {
  check(MAC_RE.test(mac) && mac !== "00:00:00:00:00:00", `MAC ${JSON.stringify(mac)}`);
  check(IPV4_RE.test(remote), `remote ${JSON.stringify(remote)}`);
  return ["fdb", "replace", mac, "dev", vxlanDeviceName(vni), "dst", remote, "static"];
}

/** `bridge` arguments: the static unicast entry of `mac` removed (its frames flood again, or go nowhere). */
export function unicastEntryRemoval(vni: number, mac: string): string[] {
  check(MAC_RE.test(mac) && mac !== "00:00:00:00:00:00", `MAC ${JSON.stringify(mac)}`);
  return ["fdb", "del", mac, "dev", vxlanDeviceName(vni)];
}

/** An overlay as the VXLAN guard sees it: its name (for the comment), VNI and its members' underlay addresses. */
export interface VxlanGuardEntry {
  name: string;
  vni: number;
  members: readonly string[];
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The rules of netforge's VXLAN guard (an nft chain's body, one rule per line): a VXLAN datagram (UDP 4789) for
 * an overlay's VNI is dropped unless its outer source is one of that overlay's member hosts, so a stranger on
 * the underlay, or a member of another overlay, cannot inject frames into a tenant's segment. VXLAN carries no
 * authentication: this is a source check, and the underlay must be trusted not to spoof member addresses.
 * The VNI is matched in the raw VXLAN header (bits 32-55 of the 8 bytes after the UDP header: `@th,96,24`),
 * which every nft with the raw payload expression reads (no inner-header support needed). Hooked before
 * conntrack (priority raw) so a dropped datagram leaves no state.
 */
export function vxlanGuardRules(overlays: readonly VxlanGuardEntry[]): string[] {
  return overlays.map((o) => {
    vxlanDeviceName(o.vni);
    check(NAME_RE.test(o.name), `overlay name ${JSON.stringify(o.name)}`);
    check(o.members.length > 0 && o.members.every((m) => IPV4_RE.test(m)), `members ${JSON.stringify(o.members)}`);
    const members = [...new Set(o.members)].sort().join(", ");
    return `udp dport ${VXLAN_PORT} @th,96,24 ${o.vni} ip saddr != { ${members} } counter drop comment "overlay ${o.name}: VNI ${o.vni} only from its member hosts"`;
  });
}

/** The guard as a chain of netforge's table (what the firewall renderer places in `table inet netforge`). */
export function vxlanGuardChain(overlays: readonly VxlanGuardEntry[], chain = "vxlan-guard"): string {
  check(/^[a-z][a-z0-9-]{0,30}$/.test(chain), `chain ${JSON.stringify(chain)}`);
  const rules = vxlanGuardRules(overlays).map((r) => `\t\t${r}`);
  return [`\tchain ${chain} {`, "\t\ttype filter hook prerouting priority raw; policy accept;", ...rules, "\t}"].join("\n");
}
