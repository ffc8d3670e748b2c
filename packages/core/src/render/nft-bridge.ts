/**
 * Pure renderer of netforge's port security (`table bridge netforge`): what a
 * VM port of a nat/isolated network may send into its bridge. The table sits
 * next to `table inet netforge` (render/nft.ts) and goes in the same nft
 * transaction and the same boot copy.
 *
 * A bridge-family chain hooked at prerouting sees every frame a bridge port
 * receives (`ibrname` is the bridge); frames the host itself sends through
 * the bridge device never pass it, so the host's own port needs no exception.
 * For each network with port security, frames from its VM ports:
 * - DHCP server replies (udp sport 67, DHCPv6 sport 547) and ICMPv6 router
 *   advertisements are dropped: no rogue DHCP server or router on the LAN;
 * - IPv4 passes only from a (source MAC, source IP) pair the network knows (a
 *   reservation or a current DHCP lease), plus DHCP discover/request from
 *   0.0.0.0; ARP only when the Ethernet source and ARP sender (MAC, IP) are
 *   such a pair, plus ARP probes from 0.0.0.0;
 * - IPv6 (no netforge IPv6 yet: link-local/ND between VMs) only from a MAC of
 *   a known pair; any other ether type (VLAN tags, other L2 protocols) is dropped.
 * The pairs are nft sets, changed element by element as leases come and go;
 * a DHCP ACK leaving the host's dnsmasq for a VM adds its (MAC, IP) at once
 * (`-acked`, kept 2 minutes, by then the lease watcher has it), so a VM talks
 * from the moment it has its lease.
 *
 * Which ports are VM ports: the kernels netforge targets may lack
 * nft_meta_bridge (no `ibrname`), so each network has a set of its bridge's
 * ports, kept by the worker from link events (firewall/port-watcher.ts).
 */
import { parseCidr, parseIPv4 } from "../net/ipv4";
import { LAN_MARK } from "./tc-qos";
import {
  checkCapabilities,
  type ElementCount,
  type FirewallNetwork,
  lanCounterNames,
  lanCounterNetwork,
  lanNetworkCounterNames,
  type TrafficCount,
} from "./nft";

export const NFT_BRIDGE_FAMILY = "bridge"; // not-a-network-type: nft's bridge family
export const NFT_BRIDGE_TABLE = "netforge";

/** tc-qos's LAN_MARK as nft writes it. */
const LAN_MARK_HEX = `0x${LAN_MARK.toString(16).padStart(8, "0")}`;

/** A (MAC, IPv4) pair a VM port may send from. */
export interface MacIp {
  mac: string;
  ip: string;
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
/** How long a pair seen in a DHCP ACK stays without the lease watcher (which adds the lease for good). */
export const ACKED_TIMEOUT = "2m";

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`nft bridge renderer: refusing ${what}`);
}

/** Names of a network's objects in the bridge table. */
export const portSecurityNames = (name: string) => ({
  chain: `${name}-port`,
  pairs: `${name}-pairs`,
  acked: `${name}-acked`,
  macs: `${name}-macs`,
  ports: `${name}-ports`,
});

interface Secured {
  pairs: MacIp[];
  ports: string[];
}

/** The pairs and ports of a network, checked, lower-cased, unique and sorted; null when the network has no port security. */
export function portSecurityOf(n: FirewallNetwork): Secured | null {
  const ps = n.portSecurity;
  if (!ps) return null;
  const seen = new Map<string, MacIp>();
  for (const p of ps.pairs) {
    const mac = p.mac.toLowerCase();
    check(MAC.test(mac), `MAC ${JSON.stringify(p.mac)}`);
    check(parseIPv4(p.ip) !== null, `address ${JSON.stringify(p.ip)}`);
    seen.set(`${mac} ${p.ip}`, { mac, ip: p.ip });
  }
  for (const port of ps.ports ?? []) check(IFNAME.test(port), `port ${JSON.stringify(port)}`);
  const pairs = [...seen.values()].sort((a, b) => a.mac.localeCompare(b.mac) || ipKey(a.ip) - ipKey(b.ip));
  return { pairs, ports: [...new Set(ps.ports ?? [])].sort() };
}

const ipKey = (s: string) => parseIPv4(s) as number;
/** Elements of the raw (MAC . IPv4) sets: 48 and 32 bit integers. */
const pairElements = (x: Secured) => x.pairs.map((p) => `0x${p.mac.replaceAll(":", "")} . 0x${ipKey(p.ip).toString(16).padStart(8, "0")}`);
const macElements = (x: Secured) => [...new Set(x.pairs.map((p) => p.mac))];
const portElements = (x: Secured) => x.ports.map((p) => `"${p}"`);

function secured(networks: readonly FirewallNetwork[]): { n: FirewallNetwork; x: Secured }[] {
  const out: { n: FirewallNetwork; x: Secured }[] = [];
  for (const n of [...networks].sort((a, b) => a.name.localeCompare(b.name))) {
    check(NAME.test(n.name), `network name ${JSON.stringify(n.name)}`);
    check(IFNAME.test(n.bridge), `bridge ${JSON.stringify(n.bridge)}`);
    checkCapabilities(n);
    check(parseCidr(n.cidr).ok, `CIDR ${JSON.stringify(n.cidr)}`);
    const x = portSecurityOf(n);
    if (x) out.push({ n, x });
  }
  return out;
}

/** Ethernet source . IPv4 source, and ARP's sender MAC . sender IP, as raw payload (what the pair sets hold). */
const IP_PAIR = "@ll,48,48 . @nh,96,32";
const ARP_ETH_PAIR = "@ll,48,48 . @nh,112,32";
const ARP_SENDER_PAIR = "@nh,64,48 . @nh,112,32";
const ARP_ETH_IPV4 = "ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4";

/** The rules of a network's port chain (frames a VM port of its bridge receives). */
export function portChainLines(name: string): string[] {
  check(NAME.test(name), `network name ${JSON.stringify(name)}`);
  const s = portSecurityNames(name);
  return [
    // No DHCP server and no router among the VMs.
    'ether type ip udp sport 67 counter drop comment "dhcp server reply from a VM port"',
    'ether type ip6 udp sport 547 counter drop comment "dhcpv6 server reply from a VM port"',
    'ether type ip6 icmpv6 type nd-router-advert counter drop comment "router advertisement from a VM port"',
    // IPv4 only from a known (MAC, IP) pair; a VM without a lease yet may ask for one.
    `ether type ip ${IP_PAIR} @${s.pairs} return`,
    `ether type ip ${IP_PAIR} @${s.acked} return`,
    "ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
    // ARP: the frame's source and the sender it claims are a known pair; probes (sender 0.0.0.0) teach nothing.
    `${ARP_ETH_IPV4} ${ARP_ETH_PAIR} @${s.pairs} ${ARP_SENDER_PAIR} @${s.pairs} return`,
    `${ARP_ETH_IPV4} ${ARP_ETH_PAIR} @${s.acked} ${ARP_SENDER_PAIR} @${s.acked} return`,
    `${ARP_ETH_IPV4} arp operation request arp saddr ip 0.0.0.0 return`,
    // IPv6 (link-local between VMs: netforge routes no IPv6 yet) only from a MAC the network knows.
    `ether type ip6 ether saddr @${s.macs} return`,
    'counter drop comment "spoofed or unknown traffic from a VM port"',
  ];
}

function setLines(name: string, x: Secured): string[] {
  const s = portSecurityNames(name);
  const L: string[] = [];
  const set = (set: string, type: string, els: string[], extra: string[] = []) => {
    L.push(`\tset ${set} {`, `\t\t${type}`, ...extra.map((e) => `\t\t${e}`));
    if (els.length > 0) L.push(`\t\telements = { ${els.join(", ")} }`);
    L.push("\t}");
  };
  set(s.pairs, `typeof ${IP_PAIR}`, pairElements(x));
  set(s.acked, `typeof ${IP_PAIR}`, [], ["flags dynamic,timeout", `timeout ${ACKED_TIMEOUT}`]);
  set(s.macs, "type ether_addr", macElements(x));
  set(s.ports, "type ifname", portElements(x));
  return L;
}

/**
 * A bridge network counted at its uplink NIC (docs/adr/0044-network-qos.md, fifth round): its VMs' frames to and
 * from the LAN are forwarded by the bridge between a VM's port and the NIC's, so the bridge family's forward hook
 * sees them with the NIC as output (out: from the VMs) or input (in: toward them). The host's own frames over the
 * NIC (input/output hooks) are not counted. Frames between two VMs never cross the NIC and are not counted either
 * (without `ibrname`, which these kernels lack, a rule cannot tell one bridge's VM ports from another's).
 */
export interface LanCounted {
  name: string;
  uplink: string;
  /** Its bridge (the port watcher reads its ports by it). */
  bridge?: string;
  /**
   * Its VM ports (its bridge's ports but the NIC, kept by the port watcher: no `ibrname` on these kernels): frames
   * forwarded from one to another are traffic between two of its VMs (sixth round). Absent: none known yet.
   */
  ports?: readonly string[];
}
/**
 * Per VM of the bridge networks, one set each way for the host: (NIC, VM's MAC) -> count; `networkIn`/`networkOut`
 * its traffic with the network's other VMs (keyed by the NIC too: it names the network).
 */
export const TRAFFIC_LAN_SETS = {
  in: "traffic-lan-in",
  out: "traffic-lan-out",
  networkIn: "traffic-lan-network-in",
  networkOut: "traffic-lan-network-out",
} as const;
/** The set of a bridge network's VM ports (`_` never occurs in a network name: no port security set is named so). */
export const lanPortsSet = (name: string): string => `${name}_ports`;
const LAN_SET_SIZE = 1048576;

/**
 * An overlay counted on one member (ADR 0044 "Overlay members counted", not wired yet): its VMs' frames with other
 * VMs of the overlay, by MAC, at the member whose VM sends (out) and the one whose VM receives (in); frames from or
 * to the gateway's fixed MAC (`overlayGatewayMac`) are the gateway's edge traffic, counted there, and left out.
 * Keyed in the `traffic-lan-network-*` sets by the overlay's bridge (the same name on every member).
 */
export interface OverlayCounted {
  name: string;
  bridge: string;
  gatewayMac: string;
  /** This member's VM ports on the bridge (not the VXLAN device, not libvirt's `-nic`). Absent: none known yet. */
  ports?: readonly string[];
}

/** Counting options of the bridge table: the bridge networks and their kept values (as the inet table's). */
export interface LanCounting {
  lan?: readonly LanCounted[];
  overlays?: readonly OverlayCounted[];
  counters?: ReadonlyMap<string, TrafficCount>;
  vmCounters?: ReadonlyMap<string, ReadonlyMap<string, ElementCount>>;
  now?: number;
}

const countValue = (n: number): number => {
  check(Number.isSafeInteger(n) && n >= 0, `counter value ${n}`);
  return n;
};

function lanOf(lan: readonly LanCounted[]): LanCounted[] {
  const out = [...lan].sort((a, b) => a.name.localeCompare(b.name));
  for (const l of out) {
    check(NAME.test(l.name), `network name ${JSON.stringify(l.name)}`);
    check(IFNAME.test(l.uplink), `uplink ${JSON.stringify(l.uplink)}`);
    for (const p of l.ports ?? []) check(IFNAME.test(p), `port ${JSON.stringify(p)}`);
  }
  return out;
}

function overlaysOf(overlays: readonly OverlayCounted[]): OverlayCounted[] {
  const out = [...overlays].sort((a, b) => a.name.localeCompare(b.name));
  for (const v of out) {
    check(NAME.test(v.name), `network name ${JSON.stringify(v.name)}`);
    check(IFNAME.test(v.bridge), `bridge ${JSON.stringify(v.bridge)}`);
    check(MAC.test(v.gatewayMac), `gateway MAC ${JSON.stringify(v.gatewayMac)}`);
    for (const p of v.ports ?? []) check(IFNAME.test(p), `port ${JSON.stringify(p)}`);
  }
  return out;
}

/** The bridge networks' counters (every kept one too: a deleted network's go with forgetTraffic) and per-VM sets. */
function lanObjectLines(lan: readonly LanCounted[], o: LanCounting, overlays: readonly OverlayCounted[] = []): string[] {
  const L: string[] = [];
  const names = new Set<string>();
  for (const l of lan) {
    names.add(lanCounterNames(l.name).in).add(lanCounterNames(l.name).out);
    names.add(lanNetworkCounterNames(l.name).in).add(lanNetworkCounterNames(l.name).out);
  }
  for (const v of overlays) names.add(lanNetworkCounterNames(v.name).in).add(lanNetworkCounterNames(v.name).out);
  for (const k of o.counters?.keys() ?? []) if (lanCounterNetwork(k) !== null) names.add(k);
  const now = Math.floor(o.now ?? 0);
  for (const name of [...names].sort()) {
    check(lanCounterNetwork(name) !== null, `counter ${JSON.stringify(name)}`);
    const v = o.counters?.get(name) ?? { packets: 0, bytes: 0, since: now };
    L.push(
      `\tcounter ${name} {`,
      `\t\tcomment "since ${countValue(v.since)}"`,
      `\t\tpackets ${countValue(v.packets)} bytes ${countValue(v.bytes)}`,
      "\t}",
    );
  }
  for (const l of [...lan, ...overlays].sort((a, b) => a.name.localeCompare(b.name))) {
    const ports = [...new Set(l.ports ?? [])].sort();
    L.push(`\tset ${lanPortsSet(l.name)} {`, "\t\ttype ifname");
    if (ports.length > 0) L.push(`\t\telements = { ${ports.map((p) => `"${p}"`).join(", ")} }`);
    L.push("\t}");
  }
  for (const set of Object.values(TRAFFIC_LAN_SETS)) {
    L.push(`\tset ${set} {`, "\t\ttype ifname . ether_addr", `\t\tsize ${LAN_SET_SIZE}`, "\t\tflags dynamic", "\t\tcounter");
    const els = [...(o.vmCounters?.get(set) ?? new Map<string, ElementCount>())]
      .sort(([a], [b]) => a.localeCompare(b))
      .slice(0, LAN_SET_SIZE)
      .map(([k, v]) => {
        const [nic, mac] = k.split("/");
        check(nic !== undefined && IFNAME.test(nic) && mac !== undefined && MAC.test(mac), `element ${JSON.stringify(k)}`);
        return `"${nic}" . ${mac} counter packets ${countValue(v.packets)} bytes ${countValue(v.bytes)}`;
      });
    if (els.length > 0) L.push(`\t\telements = { ${els.join(", ")} }`);
    L.push("\t}");
  }
  return L;
}

/** The forward chain counting each bridge network's VM <-> LAN frames at its NIC, and each overlay's VM frames. */
function lanChainLines(lan: readonly LanCounted[], overlays: readonly OverlayCounted[] = []): string[] {
  const L = ["\tchain forward {", "\t\ttype filter hook forward priority filter; policy accept;"];
  for (const v of overlays) {
    // Out: a frame leaving one of this member's VMs for another VM (a local one or over the VXLAN port); in: a frame
    // reaching one of them from another VM. The gateway's MAC either way is the gateway's (edge) traffic: not here.
    const n = lanNetworkCounterNames(v.name);
    const ports = `@${lanPortsSet(v.name)}`;
    L.push(
      `\t\tiifname ${ports} ether daddr != ${v.gatewayMac} counter name "${n.out}" update @${TRAFFIC_LAN_SETS.networkOut} { "${v.bridge}" . ether saddr }`,
      `\t\toifname ${ports} ether saddr != ${v.gatewayMac} counter name "${n.in}" update @${TRAFFIC_LAN_SETS.networkIn} { "${v.bridge}" . ether daddr }`,
    );
  }
  for (const l of lan) {
    const c = lanCounterNames(l.name);
    L.push(`\t\toifname "${l.uplink}" counter name "${c.out}" update @${TRAFFIC_LAN_SETS.out} { oifname . ether saddr }`);
    // The LAN's frames carry LAN_MARK to the VM ports' egress, where the shaping between VMs lets them pass.
    L.push(
      `\t\tiifname "${l.uplink}" meta mark set meta mark or ${LAN_MARK_HEX} counter name "${c.in}" update @${TRAFFIC_LAN_SETS.in} { iifname . ether daddr }`,
    );
    // Between two of its VMs: from one of its VM ports to another (an out of the network and an in of it, as the
    // routed types count it); per VM by the NIC (the network's key in these sets) and its MAC.
    const n = lanNetworkCounterNames(l.name);
    const ports = `@${lanPortsSet(l.name)}`;
    L.push(
      `\t\tiifname ${ports} oifname ${ports} counter name "${n.out}" counter name "${n.in}" update @${TRAFFIC_LAN_SETS.networkOut} { "${l.uplink}" . ether saddr } update @${TRAFFIC_LAN_SETS.networkIn} { "${l.uplink}" . ether daddr }`,
    );
  }
  L.push("\t}");
  return L;
}

/**
 * The transaction part that replaces the bridge table with the one for `networks` (networks without
 * `portSecurity` get nothing): create if missing, delete, create whole. Always rendered (empty when no
 * network has port security), so the inet and bridge tables are replaced together. With `counting`, it also
 * carries the bridge networks' traffic counters (LanCounted).
 */
export function renderPortSecurityTable(networks: readonly FirewallNetwork[], counting: LanCounting = {}): string {
  const nets = secured(networks);
  const lan = lanOf(counting.lan ?? []);
  const overlays = overlaysOf(counting.overlays ?? []);
  const t = `${NFT_BRIDGE_FAMILY} ${NFT_BRIDGE_TABLE}`;
  const L: string[] = [`table ${t} {}`, `delete table ${t}`, `table ${t} {`];
  const counts = [...(counting.counters?.keys() ?? [])].some((k) => lanCounterNetwork(k) !== null);
  if (lan.length > 0 || overlays.length > 0 || counts) L.push(...lanObjectLines(lan, counting, overlays));
  if (lan.length > 0 || overlays.length > 0) L.push(...lanChainLines(lan, overlays));
  for (const { n, x } of nets) L.push(...setLines(n.name, x));
  L.push("\tchain prerouting {", "\t\ttype filter hook prerouting priority filter; policy accept;");
  for (const { n } of nets) {
    const s = portSecurityNames(n.name);
    L.push(`\t\tiifname @${s.ports} jump ${s.chain}`);
  }
  L.push("\t}");
  // The host's dnsmasq acknowledging a lease (DHCP message type 5, the first option dnsmasq writes): the client's
  // hardware address (chaddr) and its address (yiaddr) become a pair before the client has the answer.
  L.push("\tchain output {", "\t\ttype filter hook output priority filter; policy accept;");
  for (const { n } of nets) {
    L.push(
      `\t\tether type ip ip saddr ${n.cidr} udp sport 67 udp dport 68 @th,1984,24 0x350105 update @${portSecurityNames(n.name).acked} { @th,288,48 . @th,192,32 }`,
    );
  }
  L.push("\t}");
  for (const { n } of nets) {
    L.push(`\tchain ${portSecurityNames(n.name).chain} {`);
    for (const l of portChainLines(n.name)) L.push(`\t\t${l}`);
    L.push("\t}");
  }
  L.push("}");
  return `${L.join("\n")}\n`;
}

/**
 * Element changes between two states (deletes before adds, per set), "" when pairs and ports are equal; null when
 * anything else differs (a network gained or lost port security, changed bridge or subnet, came or went: the
 * whole table is replaced).
 */
export function renderPortSecurityDelta(before: readonly FirewallNetwork[], after: readonly FirewallNetwork[]): string | null {
  const b = new Map(secured(before).map((e) => [e.n.name, e]));
  const a = new Map(secured(after).map((e) => [e.n.name, e]));
  if (b.size !== a.size) return null;
  const t = `${NFT_BRIDGE_FAMILY} ${NFT_BRIDGE_TABLE}`;
  const L: string[] = [];
  for (const [name, e] of a) {
    const o = b.get(name);
    if (!o || o.n.bridge !== e.n.bridge || o.n.cidr !== e.n.cidr) return null;
    const s = portSecurityNames(name);
    for (const [set, els] of [
      [s.pairs, pairElements],
      [s.macs, macElements],
      [s.ports, portElements],
    ] as const) {
      const old = new Set(els(o.x));
      const now = new Set(els(e.x));
      const gone = [...old].filter((v) => !now.has(v));
      const added = [...now].filter((v) => !old.has(v));
      if (gone.length > 0) L.push(`delete element ${t} ${set} { ${gone.join(", ")} }`);
      if (added.length > 0) L.push(`add element ${t} ${set} { ${added.join(", ")} }`);
    }
  }
  return L.length > 0 ? `${L.join("\n")}\n` : "";
}
