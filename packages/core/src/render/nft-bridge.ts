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
import { checkCapabilities, type FirewallNetwork } from "./nft";

export const NFT_BRIDGE_FAMILY = "bridge"; // not-a-network-type: nft's bridge family
export const NFT_BRIDGE_TABLE = "netforge";

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
 * The transaction part that replaces the bridge table with the one for `networks` (networks without
 * `portSecurity` get nothing): create if missing, delete, create whole. Always rendered (empty when no
 * network has port security), so the inet and bridge tables are replaced together.
 */
export function renderPortSecurityTable(networks: readonly FirewallNetwork[]): string {
  const nets = secured(networks);
  const t = `${NFT_BRIDGE_FAMILY} ${NFT_BRIDGE_TABLE}`;
  const L: string[] = [`table ${t} {}`, `delete table ${t}`, `table ${t} {`];
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
