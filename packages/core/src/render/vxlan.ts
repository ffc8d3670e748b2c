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

/**
 * The overlay gateway's bridge MAC (ADR 0051 "Gateway move"): fixed per VNI (unique cluster-wide), the same on
 * whichever member is the gateway, so a move does not change the MAC the VMs have cached for their gateway.
 * Locally administered, unicast: 06:4e:46 ("NF" after 06, not the sandbox VMs' 02:4e:46) then the VNI's three
 * bytes.
 */
export function overlayGatewayMac(vni: number): string {
  vxlanDeviceName(vni); // the VNI checked
  const b = [(vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff].map((x) => x.toString(16).padStart(2, "0"));
  return `06:4e:46:${b.join(":")}`;
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
    // The bridge learns nothing on this port either: which member has a MAC is netforge's to write. It answers
    // ARP requests for addresses behind this port itself (neighbour entries netforge writes) instead of
    // replicating them to every member.
    ["link", "set", "dev", dev, "type", "bridge_slave", "learning", "off", "neigh_suppress", "on"],
    ["link", "set", dev, "up"],
  ];
}

/** A word of a batch line: iproute2's batch reader splits on blanks and reads quotes, so no blank, quote or `#`. */
const BATCH_WORD_RE = /^[A-Za-z0-9_.:/-]+$/;

/**
 * One line of an `ip -batch` / `bridge -batch` input from an argument list (the tool's name left out): every word
 * checked to be read back as that same word (no blank, quote, `#` or backslash), so a batch runs exactly these argvs.
 */
export function batchLine(argv: readonly string[]): string {
  for (const w of argv) {
    if (!BATCH_WORD_RE.test(w)) throw new AppError("INTERNAL", `refusing to render a batch line with ${JSON.stringify(w)}`, {});
  }
  return argv.join(" ");
}

/** Lines as a batch input (one command a line, newline-terminated). */
export const batchInput = (lines: readonly (readonly string[])[]): string => `${lines.map(batchLine).join("\n")}\n`;

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

/**
 * `bridge` arguments: the overlay's bridge sends frames to `mac` out of its VXLAN port only (not flooded to the
 * local ports too), and may answer ARP for its address there. Static, so it does not age (the port learns
 * nothing); a frame from `mac` on a local port still moves it there (the VM came to this host).
 */
export function bridgePortEntry(vni: number, mac: string): string[] {
  check(MAC_RE.test(mac) && mac !== "00:00:00:00:00:00", `MAC ${JSON.stringify(mac)}`);
  return ["fdb", "replace", mac, "dev", vxlanDeviceName(vni), "master", "static"];
}

/** `bridge` arguments: the bridge's entry of `mac` on the VXLAN port removed. */
export function bridgePortEntryRemoval(vni: number, mac: string): string[] {
  check(MAC_RE.test(mac) && mac !== "00:00:00:00:00:00", `MAC ${JSON.stringify(mac)}`);
  return ["fdb", "del", mac, "dev", vxlanDeviceName(vni), "master"];
}

/** `bridge` arguments: the bridge's static entry of `mac` on local port `port` made an ordinary (ageing) one. */
export function dynamicPortEntry(port: string, mac: string): string[] {
  check(IFNAME_RE.test(port), `port ${JSON.stringify(port)}`);
  check(MAC_RE.test(mac) && mac !== "00:00:00:00:00:00", `MAC ${JSON.stringify(mac)}`);
  return ["fdb", "replace", mac, "dev", port, "master", "dynamic"];
}

/** `ip` arguments: the bridge answers ARP for `ip` with `mac` (a VM behind another member; ARP suppression). */
export function neighbourEntry(bridge: string, ip: string, mac: string): string[] {
  check(IFNAME_RE.test(bridge), `bridge ${JSON.stringify(bridge)}`);
  check(IPV4_RE.test(ip), `address ${JSON.stringify(ip)}`);
  check(MAC_RE.test(mac) && mac !== "00:00:00:00:00:00", `MAC ${JSON.stringify(mac)}`);
  return ["neigh", "replace", ip, "lladdr", mac, "dev", bridge, "nud", "permanent"];
}

/** `ip` arguments: the bridge's entry for `ip` removed (ARP for it floods again). */
export function neighbourEntryRemoval(bridge: string, ip: string): string[] {
  check(IFNAME_RE.test(bridge), `bridge ${JSON.stringify(bridge)}`);
  check(IPV4_RE.test(ip), `address ${JSON.stringify(ip)}`);
  return ["neigh", "del", ip, "dev", bridge];
}

/** The nft family of the flood limit's table: it filters bridged frames. */
const FAMILY = "bridge"; // not-a-network-type: nft family

/** netforge's nft table limiting what a member's ports flood over one overlay's VXLAN device (bridge family). */
export function floodLimitTable(vni: number): string {
  return `netforge-fl${vxlanDeviceName(vni).slice(4)}`;
}

/**
 * The flood limit as nft commands (argument arrays): frames forwarded by the overlay's bridge out of its VXLAN
 * device whose destination is not a MAC with a unicast entry (set `remote`, kept by the worker's entry sync:
 * so broadcast, multicast and unknown unicast, the frames head-end replication copies to every member) are
 * limited per input port (a dynamic set keyed by the port's name, each with its own token bucket of `pps` per
 * second, burst twice that) and dropped over it. None when `pps` is 0 (no limit).
 */
export function floodLimitTableCommands(vni: number, pps: number): string[][] {
  check(Number.isInteger(pps) && pps >= 0 && pps <= 1_000_000, `flood limit ${pps}`);
  if (pps === 0) return [];
  const t = floodLimitTable(vni);
  const dev = vxlanDeviceName(vni);
  return [
    // `create`: fails on a table of that name already there (not netforge's to take, or to remove on undo).
    ["nft", "create", "table", FAMILY, t],
    ["nft", "add", "set", FAMILY, t, "remote", "{ type ether_addr; }"],
    ["nft", "add", "set", FAMILY, t, "ports", "{ type ifname; size 65535; flags dynamic,timeout; timeout 1m; }"],
    ["nft", "add", "chain", FAMILY, t, "flood", "{ type filter hook forward priority 0; policy accept; }"],
    [
      "nft",
      "add",
      "rule",
      FAMILY,
      t,
      "flood",
      `oifname "${dev}" ether daddr != @remote update @ports { iifname limit rate over ${pps}/second burst ${pps * 2} packets } counter drop comment "flooded frames over ${dev}: ${pps}/s per port"`,
    ],
  ];
}

/** The flood limit table removed (its set and per-port buckets go with it). */
export function floodLimitTableRemoval(vni: number): string[] {
  return ["nft", "delete", "table", FAMILY, floodLimitTable(vni)];
}

/**
 * The known remote MACs of the flood limit table replaced in one nft transaction (an `nft -f -` script; MACs
 * checked): frames to them are unicast to one member and not limited.
 */
export function floodLimitRemoteScript(vni: number, macs: readonly string[]): string {
  for (const m of macs) check(MAC_RE.test(m) && m !== "00:00:00:00:00:00", `MAC ${JSON.stringify(m)}`);
  const t = floodLimitTable(vni);
  return [
    `flush set ${FAMILY} ${t} remote`,
    ...(macs.length > 0 ? [`add element ${FAMILY} ${t} remote { ${[...macs].sort().join(", ")} }`] : []),
    "",
  ].join("\n");
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
