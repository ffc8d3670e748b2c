/**
 * Pure renderer of netforge's own nftables table of a host (`table inet
 * netforge`). One table carries, for every running network with a host
 * firewall part (the routed types, nat and isolated): masquerade, the
 * forward policy (nothing reaches a VM from outside its bridge except
 * replies and port forwards; VMs that may not reach outside reach nothing
 * beyond their bridge; those that may send no IPv6 beyond it), what its VMs may reach on the host itself (DHCP, DNS,
 * neighbour discovery, ICMP errors, ping of the gateway, the operator's
 * opted-in host ports; nothing else), the user's ordered rules with a
 * default per direction, and the port forwards (one map per protocol, so a
 * host with 1,000 forwards has the same rules as one with one).
 *
 * The text is a whole transaction for `nft -f`: create the table if missing,
 * delete it, create it again with its full content. nft applies a file
 * atomically, so packets see either the old table or the new one, never half.
 *
 * Everything written here comes from validated fields, and is checked again:
 * the renderer does not trust its callers.
 */
import { parseCidr, parseIPv4 } from "../net/ipv4";
import { formatIPv6, parseCidr6, parseIPv6 } from "../net/ipv6";
import type { FirewallAction, FirewallRule, FirewallSpec, HostService, PortForwardSpec } from "../planner/firewall";

export const NFT_FAMILY = "inet";
export const NFT_TABLE = "netforge";

/** One network as its firewall part of the table needs it. */
export interface FirewallNetwork {
  name: string;
  /*
   * What the network's type lets through, set by its driver's firewall part (drivers/routed.ts): the renderer
   * reads these, never the type, so a new type says what it needs here instead of adding a branch below.
   */
  /** Its VMs reach beyond their bridge (from their own subnet, IPv4 only); false: whatever leaves is rejected. */
  reachOutside: boolean;
  /** netforge masquerades what leaves the subnet (while it owns the type's rules, `ownsTypeRules`). */
  masquerade: boolean;
  /** Its port forwards are rendered (the DNAT maps); false: `portForwards` is not read. */
  forwardsPorts: boolean;
  bridge: string;
  cidr: string;
  firewall: FirewallSpec;
  portForwards: PortForwardSpec[];
  /**
   * Whether netforge carries the type's masquerade (libvirt forward mode 'open'). False for networks still
   * running as defined before netforge owned its rules (<forward mode='nat'/>): libvirt's iptables rules
   * masquerade them until their next start, and rendering ours too would only double the work.
   */
  ownsTypeRules: boolean;
  /**
   * Port security of the network's VM ports (render/nft-bridge.ts): the (MAC, IPv4) pairs they may send from
   * (reservations; the worker adds current leases) and the bridge's ports (the worker's, from link events).
   * Absent or null: no port security.
   */
  portSecurity?: { pairs: readonly { mac: string; ip: string }[]; ports?: readonly string[] } | null;
  /**
   * The network's IPv6 prefix (absent or null: none, and no IPv6 leaves the bridge). With one: its VMs reach the
   * host's DNS, DHCPv6 and ping over IPv6, send from the prefix beyond the bridge when the type reaches outside,
   * masqueraded (NAT66) unless `routed` (then the outside reaches the prefix through the inbound rules);
   * neighbour discovery, router advertisements and Packet-Too-Big pass before any rule.
   */
  ipv6?: { cidr: string; routed: boolean } | null;
  /**
   * TCP MSS clamped to the route's MTU on SYNs between the bridge and elsewhere (an overlay's gateway: its
   * MTU is the underlay's less the VXLAN overhead, smaller than the outside's). Absent or false: none.
   */
  clampMss?: boolean;
  /**
   * A non-gateway member of an overlay (drivers/overlay.ts): its bridge has no address and its VXLAN device is a
   * port of it, so the gateway and everything beyond the subnet are bridged frames here. What is the gateway's to
   * filter passes before the rules: frames to or from the gateway address (the gateway host's `<net>-host` chain
   * filters what reaches it), frames leaving the subnet (its forward hook filters them as routed), and DHCP; frames
   * from beyond the subnet (routed in by the gateway) meet the inbound rules only. With `ipv6` the same for IPv6:
   * DHCPv6 (546/547), frames to or from `gateway6`, to or from beyond the prefix (link-local frames between VMs
   * meet the rules). Absent or null: not one.
   */
  overlayMember?: { gateway: string; gateway6?: string } | null;
  /**
   * Its bridged VM-to-VM frames are counted in the bridge table instead (an overlay: each member counts its own VMs'
   * frames with other VMs by MAC, render/nft-bridge.ts OverlayCounted; ADR 0044 "Overlay members counted"): the
   * forward hook's `iifname br oifname br` counting rules are left out, so nothing is counted twice. Absent or
   * false: counted here.
   */
  vmToVmCountedByBridge?: boolean;
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const COMMENT = /^[A-Za-z0-9 _.,:;/()+@#=-]{0,64}$/;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`nft renderer: refusing ${what}`);
}
const cidr = (s: string): string => {
  const r = parseCidr(s);
  check(r.ok, `CIDR ${JSON.stringify(s)}`);
  return s;
};
const cidr6 = (s: string): string => {
  const r = parseCidr6(s);
  check(r.ok, `IPv6 prefix ${JSON.stringify(s)}`);
  return s;
};
/** ICMPv6 that must pass before any rule: neighbour discovery, router advertisements, Packet-Too-Big. */
const ICMPV6_ESSENTIAL = "icmpv6 type { packet-too-big, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }";
const ip = (s: string): string => {
  check(parseIPv4(s) !== null, `address ${JSON.stringify(s)}`);
  return s;
};
const ip6 = (s: string): string => {
  // Canonical text only: the map's key of a forward is removed by the same text it was added with.
  const n = parseIPv6(s);
  check(n !== null && formatIPv6(n) === s, `IPv6 address ${JSON.stringify(s)}`);
  return s;
};
const port = (n: number): number => {
  check(Number.isInteger(n) && n >= 1 && n <= 65535, `port ${n}`);
  return n;
};
function ports(s: string): string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  check(m !== null, `ports ${JSON.stringify(s)}`);
  const lo = port(Number(m?.[1]));
  const hi = m?.[2] !== undefined ? port(Number(m[2])) : lo;
  check(lo <= hi, `ports ${s}`);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/**
 * Traffic counters of a network (issue 19): named counters of the table, `in` = toward its VMs, `out` = from
 * them, across the network's edge on this host (routed to or from another interface, or to and from the host
 * itself; VM-to-VM frames, which br_netfilter also shows the forward hook with the bridge on both sides, are
 * not counted). The table is replaced whole at times: the caller reads the counters first and hands them back
 * (`counters` of renderHostTable), so they only grow.
 */
export const trafficCounterNames = (name: string) => ({ in: `${name}-traffic-in`, out: `${name}-traffic-out` });
/**
 * The named counters of a bridge network (render/nft-bridge.ts, in the bridge table; in = toward its VMs). `_`
 * never occurs in a network name.
 */
export const lanCounterNames = (name: string) => ({ in: `${name}_lan-in`, out: `${name}_lan-out` });
/**
 * A bridge network's traffic between two of its VMs (sixth round: the `network` peer of its split; its `_lan-`
 * counters are the `outside` one), in the bridge table too.
 */
export const lanNetworkCounterNames = (name: string) => ({ in: `${name}_lan-network-in`, out: `${name}_lan-network-out` });
/** The bridge network a bridge-table counter belongs to, or null for another name. */
export function lanCounterNetwork(counter: string): string | null {
  const m = /^([a-z][a-z0-9-]{0,31})_lan-(?:network-)?(?:in|out)$/.exec(counter);
  return m ? (m[1] as string) : null;
}
/** Who a VM's traffic is with: outside the network (routed beyond it), or on it (another VM of it, the host as its gateway). */
export const TRAFFIC_PEERS = ["outside", "network"] as const;
export type TrafficPeer = (typeof TRAFFIC_PEERS)[number];
/**
 * The counters of a network's traffic split by peer (in = toward its VMs): `outside` is what crosses the
 * network's edge to or from beyond the host (routed, NAT, port forwards); `network` is what a VM exchanges with
 * another VM of the network (br_netfilter's bridged frames: both an out and an in of the network) or with the
 * host itself (the gateway: DHCP, DNS, anything to a host address). The totals (trafficCounterNames) stay the edge:
 * outside plus the host's part of network. `_` never occurs in a network name, so these never meet a total's name
 * (a network named `x-traffic-outside` has the total `x-traffic-outside-in`).
 */
export const peerCounterNames = (name: string, peer: TrafficPeer) => ({ in: `${name}_${peer}-in`, out: `${name}_${peer}-out` });
/** The network a traffic counter (a total or a peer's) belongs to, or null for another name. */
export function trafficCounterNetwork(counter: string): string | null {
  const m = /^([a-z][a-z0-9-]{0,31})(?:-traffic|_outside|_network)-(?:in|out)$/.exec(counter);
  return m ? (m[1] as string) : null;
}
/**
 * Per VM, two sets of the whole host (one per direction, not per network: 2,000 sets on a 1,000-network host made
 * the whole table 16 times slower to apply), dynamic, a counter per element: what leaves a network by (bridge,
 * source MAC), what enters it by (bridge, destination IPv4 address). Keys are `<bridge>/<mac or address>`.
 */
export const TRAFFIC_VM_SETS = { in: "traffic-vm-in", out: "traffic-vm-out" } as const;
/** The per-VM sets of each peer (keys as TRAFFIC_VM_SETS'). */
export const peerVmSets = (peer: TrafficPeer) => ({ in: `traffic-vm-${peer}-in`, out: `traffic-vm-${peer}-out` });
/** Every per-VM set: the totals', then each peer's. */
export const ALL_TRAFFIC_VM_SETS: readonly string[] = [
  TRAFFIC_VM_SETS.in,
  TRAFFIC_VM_SETS.out,
  ...TRAFFIC_PEERS.flatMap((p) => [peerVmSets(p).in, peerVmSets(p).out]),
];
/** One element's counter of a per-VM set. */
export interface ElementCount {
  packets: number;
  bytes: number;
}
/** How many (bridge, VM) keys each per-VM set holds at most. */
export const TRAFFIC_VM_SET_SIZE = 1048576;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
/** A counter's value as kept: packets, bytes, and since when it counts (unix seconds, kept in its comment). */
export interface TrafficCount {
  packets: number;
  bytes: number;
  since: number;
}
const TRAFFIC_COUNTER = /^[a-z][a-z0-9-]{0,31}(?:-traffic|_outside|_network)-(?:in|out)$/;
const count = (n: number): number => {
  check(Number.isSafeInteger(n) && n >= 0, `counter value ${n}`);
  return n;
};

/** The two per-VM sets with the kept elements and their counts (`update @set` adds the others as VMs talk). */
function vmSetLines(sets: ReadonlyMap<string, ReadonlyMap<string, ElementCount>>): string[] {
  const L: string[] = [];
  for (const name of ALL_TRAFFIC_VM_SETS) {
    const isMac = name.endsWith("-out");
    L.push(
      `\tset ${name} {`,
      `\t\ttype ifname . ${isMac ? "ether_addr" : "ipv4_addr"}`,
      `\t\tsize ${TRAFFIC_VM_SET_SIZE}`,
      "\t\tflags dynamic",
      "\t\tcounter",
    );
    const els = [...(sets.get(name) ?? new Map<string, ElementCount>())]
      .sort(([a], [b]) => a.localeCompare(b))
      .slice(0, TRAFFIC_VM_SET_SIZE)
      .map(([k, v]) => {
        const [br, addr] = k.split("/");
        check(
          br !== undefined && IFNAME.test(br) && addr !== undefined && (isMac ? MAC.test(addr) : parseIPv4(addr) !== null),
          `element ${JSON.stringify(k)}`,
        );
        return `"${br}" . ${addr} counter packets ${count(v.packets)} bytes ${count(v.bytes)}`;
      });
    if (els.length > 0) L.push(`\t\telements = { ${els.join(", ")} }`);
    L.push("\t}");
  }
  return L;
}

/** The counter declarations: every rendered network's two, plus every other kept one (a stopped network's). */
function counterLines(nets: readonly FirewallNetwork[], counters: ReadonlyMap<string, TrafficCount>, now: number): string[] {
  const names = new Set<string>();
  for (const n of nets) {
    const c = trafficCounterNames(n.name);
    names.add(c.in).add(c.out);
    for (const p of TRAFFIC_PEERS) {
      const pc = peerCounterNames(n.name, p);
      names.add(pc.in).add(pc.out);
    }
  }
  // (A bridge network's counters live in the bridge table: render/nft-bridge.ts.)
  for (const k of counters.keys()) if (lanCounterNetwork(k) === null) names.add(k);
  const L: string[] = [];
  for (const name of [...names].sort()) {
    check(TRAFFIC_COUNTER.test(name), `counter ${JSON.stringify(name)}`);
    const v = counters.get(name) ?? { packets: 0, bytes: 0, since: now };
    L.push(
      `\tcounter ${name} {`,
      `\t\tcomment "since ${count(v.since)}"`,
      `\t\tpackets ${count(v.packets)} bytes ${count(v.bytes)}`,
      "\t}",
    );
  }
  return L;
}

/** The statements counting a packet from a network's VMs to `peer` (the edge's totals, the peer's, the VM's by MAC). */
function countOut(n: FirewallNetwork, peer: TrafficPeer): string {
  const t = trafficCounterNames(n.name);
  const p = peerCounterNames(n.name, peer);
  const v = peerVmSets(peer);
  return `counter name "${t.out}" counter name "${p.out}" update @${TRAFFIC_VM_SETS.out} { iifname . ether saddr } update @${v.out} { iifname . ether saddr }`;
}
/** The counters of a packet from `peer` toward a network's VMs (both families). */
function countIn(n: FirewallNetwork, peer: TrafficPeer): string {
  return `counter name "${trafficCounterNames(n.name).in}" counter name "${peerCounterNames(n.name, peer).in}"`;
}
/** A VM's inbound counts by its IPv4 address (a rule of its own: `ip daddr` makes it IPv4 only). */
function countVmIn(peer: TrafficPeer): string {
  return `update @${TRAFFIC_VM_SETS.in} { oifname . ip daddr } update @${peerVmSets(peer).in} { oifname . ip daddr }`;
}

/** Chain names of a network (network names are a-z0-9-, so these never meet the fixed chains). */
export const chainNames = (name: string) => ({ in: `${name}-in`, inRules: `${name}-in-rules`, out: `${name}-out`, host: `${name}-host` });

/** A rule's CIDR as its nft match: `ip` for IPv4, `ip6` for IPv6. */
const addrMatch = (dir: "saddr" | "daddr", s: string): string => (s.includes(":") ? `ip6 ${dir} ${cidr6(s)}` : `ip ${dir} ${cidr(s)}`);

/**
 * The match part of a user rule. A rule with an IPv6 CIDR is an IPv6 rule; one without CIDRs matches both families.
 * `icmp` is ICMP for an IPv4 rule, ICMPv6 for an IPv6 rule, and both on a network with IPv6 for a rule without CIDRs.
 */
function ruleMatch(r: FirewallRule, dualStack = false): string {
  const parts: string[] = [];
  if (r.source !== null) parts.push(addrMatch("saddr", r.source));
  if (r.destination !== null) parts.push(addrMatch("daddr", r.destination));
  const family = r.source ?? r.destination;
  if (r.protocol === "tcp" || r.protocol === "udp") {
    parts.push(r.ports !== null ? `${r.protocol} dport ${ports(r.ports)}` : `meta l4proto ${r.protocol}`);
  } else if (r.protocol === "icmp") {
    check(r.ports === null, "ports on an icmp rule");
    if (family === null) parts.push(dualStack ? "meta l4proto { icmp, ipv6-icmp }" : "meta l4proto icmp");
    else parts.push(family.includes(":") ? "meta l4proto ipv6-icmp" : "meta l4proto icmp");
  } else {
    check(r.protocol === "any" && r.ports === null, `protocol ${String(r.protocol)}`);
  }
  return parts.join(" ");
}

/** A verdict; `accept` of an outbound rule is `return` (an intra-bridge packet still meets the inbound rules of its target). */
function verdict(a: FirewallAction, tcp: boolean, acceptAs: "accept" | "return"): string {
  if (a === "accept") return acceptAs;
  if (a === "drop") return "drop";
  check(a === "reject", `action ${String(a)}`);
  // TCP gets a reset (connect() fails at once); everything else an ICMP port unreachable.
  return tcp ? "reject with tcp reset" : "reject";
}

function ruleLine(r: FirewallRule, acceptAs: "accept" | "return", dualStack = false): string {
  const match = ruleMatch(r, dualStack);
  let comment = "";
  if (r.comment !== null && r.comment !== "") {
    check(COMMENT.test(r.comment), "comment");
    comment = ` comment "${r.comment}"`;
  }
  const v = verdict(r.action, r.protocol === "tcp", acceptAs);
  return `${match ? `${match} ` : ""}${v}${comment}`;
}

function checkNetwork(n: FirewallNetwork): void {
  check(NAME.test(n.name), `network name ${JSON.stringify(n.name)}`);
  check(IFNAME.test(n.bridge), `bridge ${JSON.stringify(n.bridge)}`);
  checkCapabilities(n);
  cidr(n.cidr);
  if (n.overlayMember) ip(n.overlayMember.gateway);
  if (n.overlayMember?.gateway6 !== undefined) ip6(n.overlayMember.gateway6);
  if (n.ipv6) {
    cidr6(n.ipv6.cidr);
    check(typeof n.ipv6.routed === "boolean", `routed ${String(n.ipv6.routed)}`);
  }
}

/** The capability flags are booleans (the renderer does not trust its callers). */
export function checkCapabilities(n: Pick<FirewallNetwork, "reachOutside" | "masquerade" | "forwardsPorts">): void {
  for (const [what, v] of Object.entries({ reachOutside: n.reachOutside, masquerade: n.masquerade, forwardsPorts: n.forwardsPorts }))
    check(typeof v === "boolean", `${what} ${String(v)}`);
}

/** The chains of one network (what a dry run of a firewall change shows), without the table around them. */
export function renderNetworkChains(n: FirewallNetwork): string {
  checkNetwork(n);
  const c = chainNames(n.name);
  const out: string[] = [];
  const chain = (name: string, lines: string[]) => {
    out.push(`\tchain ${name} {`);
    for (const l of lines) out.push(`\t\t${l}`);
    out.push("\t}");
  };
  // Traffic to the VMs: replies of allowed connections; then, from the bridge itself (VM to VM) or through a
  // port forward, the user's inbound rules; nothing else reaches a VM (nat and isolated alike).
  chain(c.in, inLines(n));
  chain(c.inRules, inRulesLines(n));
  chain(c.out, outLines(n));
  chain(c.host, hostLines(n));
  return `${out.join("\n")}\n`;
}

/**
 * Traffic to the VMs: replies of allowed connections; with IPv6, ND, RA and Packet-Too-Big before any rule; then,
 * from the bridge itself (VM to VM), through a port forward, or (a routed IPv6 prefix of a type that reaches
 * outside) from outside to the prefix, the user's inbound rules; nothing else reaches a VM.
 */
function inLines(n: FirewallNetwork): string[] {
  const c = chainNames(n.name);
  const br = `"${n.bridge}"`;
  const lines = ["ct state established,related accept"];
  if (n.ipv6) lines.push(`${ICMPV6_ESSENTIAL} accept`);
  const m = n.overlayMember;
  if (m) {
    const gw = ip(m.gateway);
    // (With IPv6 the essential ICMPv6 passed above already.)
    if (!n.ipv6) lines.push(`${ICMPV6_ESSENTIAL} accept`);
    lines.push(
      "udp sport 68 udp dport 67 accept",
      "udp sport 67 udp dport 68 accept",
      `ip saddr ${gw} accept`,
      `ip daddr ${gw} accept`,
      `ip daddr != ${cidr(n.cidr)} accept`,
    );
    if (n.ipv6) lines.push(...memberLines6(n.ipv6.cidr, m.gateway6, "daddr", "accept"));
  }
  lines.push(`iifname ${br} goto ${c.inRules}`, `ct status dnat goto ${c.inRules}`);
  if (n.ipv6?.routed && n.reachOutside) lines.push(`ip6 daddr ${cidr6(n.ipv6.cidr)} goto ${c.inRules}`);
  lines.push("reject");
  return lines;
}

/**
 * An overlay member's IPv6 passes (FirewallNetwork.overlayMember): DHCPv6 both ways, frames to or from the IPv6
 * gateway, and frames to (`-in`) or from (`-out`) beyond the prefix; link-local addresses count as the segment's.
 */
function memberLines6(prefix: string, gateway6: string | undefined, beyond: "daddr" | "saddr", verdictWord: "accept" | "return"): string[] {
  const lines = [`udp sport 546 udp dport 547 ${verdictWord}`, `udp sport 547 udp dport 546 ${verdictWord}`];
  if (gateway6 !== undefined) lines.push(`ip6 saddr ${ip6(gateway6)} ${verdictWord}`, `ip6 daddr ${ip6(gateway6)} ${verdictWord}`);
  lines.push(`ip6 ${beyond} != { ${cidr6(prefix)}, fe80::/10 } ${verdictWord}`);
  return lines;
}

/**
 * What the VMs of a network with a host firewall part may reach on the host itself (the input hook, jumped to for packets
 * from the network's bridge): replies of the host's own connections; DHCP and DNS (IPv4); ICMP errors; ping of
 * the gateway (an address on this bridge; the host's other addresses do not answer); IPv6 neighbour discovery
 * and ICMPv6 errors only (no IPv6 service until netforge manages IPv6); the network's opted-in host ports
 * (`hostServices`); everything else is dropped (sshd, the API, libvirtd... on every host address).
 */
function hostLines(n: FirewallNetwork): string[] {
  const lines = [
    "ct state established,related accept",
    "meta nfproto ipv4 udp dport { 53, 67 } accept",
    "meta nfproto ipv4 tcp dport 53 accept",
    "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept",
    "icmp type echo-request fib daddr . iif type local accept",
    "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept",
  ];
  if (n.ipv6) {
    // IPv6 DNS and DHCPv6 of the network's dnsmasq, and ping of the gateway's IPv6 address.
    lines.push("meta nfproto ipv6 udp dport { 53, 547 } accept", "meta nfproto ipv6 tcp dport 53 accept");
    lines.push("icmpv6 type echo-request fib daddr . iif type local accept");
  }
  for (const s of hostServicesOf(n.firewall)) {
    check(s.protocol === "tcp" || s.protocol === "udp", `protocol ${String(s.protocol)}`);
    // With IPv6 the host ports answer on both families.
    lines.push(`${n.ipv6 ? "" : "meta nfproto ipv4 "}${s.protocol} dport ${ports(s.ports)} accept`);
  }
  lines.push('drop comment "netforge: VM to host"');
  return lines;
}

const hostServicesOf = (f: FirewallSpec): readonly HostService[] => f.hostServices ?? [];

/** The user's inbound rules, then the inbound default. */
function inRulesLines(n: FirewallNetwork): string[] {
  const fw = n.firewall;
  const inbound = fw.rules.filter((r) => r.direction === "inbound").map((r) => ruleLine(r, "accept", !!n.ipv6));
  return [...inbound, verdict(fw.defaultInbound, false, "accept")];
}

/**
 * Traffic from the VMs. VMs that may not reach outside (isolated) reach nothing beyond their bridge; the others
 * (nat) reach out only from their subnet (no spoofed sources), as libvirt's own rules had it. Then the user's outbound
 * rules and the outbound default.
 */
function outLines(n: FirewallNetwork): string[] {
  const br = `"${n.bridge}"`;
  const lines: string[] = [];
  if (!n.reachOutside) lines.push(`oifname != ${br} reject`);
  else {
    lines.push(`oifname != ${br} ip saddr != ${cidr(n.cidr)} reject`);
    // IPv6 leaves only from the network's prefix (none without one).
    if (n.ipv6) lines.push(`oifname != ${br} ip6 saddr != ${cidr6(n.ipv6.cidr)} reject`);
    else lines.push(`oifname != ${br} meta nfproto ipv6 reject`);
  }
  if (n.ipv6) lines.push(`${ICMPV6_ESSENTIAL} return`);
  const m = n.overlayMember;
  if (m) {
    // (An overlay member: see FirewallNetwork.overlayMember. `return`: the frame still meets the `-in` chain.)
    const gw = ip(m.gateway);
    if (!n.ipv6) lines.push(`${ICMPV6_ESSENTIAL} return`);
    lines.push(
      "udp sport 68 udp dport 67 return",
      "udp sport 67 udp dport 68 return",
      `ip saddr ${gw} return`,
      `ip daddr ${gw} return`,
      `ip saddr != ${cidr(n.cidr)} return`,
    );
    if (n.ipv6) lines.push(...memberLines6(n.ipv6.cidr, m.gateway6, "saddr", "return"));
  }
  lines.push("ct state established,related return");
  for (const r of n.firewall.rules.filter((x) => x.direction === "outbound")) lines.push(ruleLine(r, "return", !!n.ipv6));
  lines.push(verdict(n.firewall.defaultOutbound, false, "return"));
  return lines;
}

/**
 * The whole transaction that replaces netforge's table of a host with the one for `networks`.
 * `bootGuard` (the boot-time copy, see nft-boot.ts): forwarding between any other netforge bridge (`nf-*`)
 * and the rest of the host is dropped, so a network libvirt autostarts before the worker runs is never open.
 */
export function renderHostTable(
  networks: readonly FirewallNetwork[],
  opts: {
    bootGuard?: boolean;
    /** Traffic counters to carry over (by counter name); absent ones start at 0, since `now`. */
    counters?: ReadonlyMap<string, TrafficCount>;
    /** Unix seconds: the `since` of a new counter. */
    now?: number;
    /** Per-VM set elements to carry over (set name -> `<bridge>/<MAC or address>` -> count). */
    vmCounters?: ReadonlyMap<string, ReadonlyMap<string, ElementCount>>;
  } = {},
): string {
  const nets = [...networks].sort((a, b) => a.name.localeCompare(b.name));
  for (const n of nets) checkNetwork(n);
  const L: string[] = [];
  const t = `${NFT_FAMILY} ${NFT_TABLE}`;
  L.push(`table ${t} {}`, `delete table ${t}`, `table ${t} {`);
  L.push(...counterLines(nets, opts.counters ?? new Map(), Math.floor(opts.now ?? 0)));
  L.push(...vmSetLines(opts.vmCounters ?? new Map()));
  // Port forwards: host port -> VM address . port, one map per protocol (applying one more forward costs
  // the same with 1 or 1,000 of them).
  for (const proto of ["tcp", "udp"] as const) {
    const els = forwardsIn(nets, proto, "ipv4", false)
      .sort((a, b) => a.hostPort - b.hostPort)
      .map((f) => `${port(f.hostPort)} : ${ip(f.vmIp)} . ${port(f.vmPort)}`);
    L.push(`\tmap fwd-${proto} {`, "\t\ttype inet_service : ipv4_addr . inet_service");
    if (els.length > 0) L.push(`\t\telements = { ${els.join(", ")} }`);
    L.push("\t}");
  }
  // Forwards bound to one host address (hostIp): host address . port -> VM address . port. Their maps and
  // rules exist only while such a forward does, so a host without any keeps the table it always had.
  const bound = hasBoundForwards(nets);
  if (bound) {
    for (const proto of ["tcp", "udp"] as const) {
      const els = forwardsIn(nets, proto, "ipv4", true)
        .sort((a, b) => a.hostPort - b.hostPort || (parseIPv4(a.hostIp as string) ?? 0) - (parseIPv4(b.hostIp as string) ?? 0))
        .map((f) => `${ip(f.hostIp as string)} . ${port(f.hostPort)} : ${ip(f.vmIp)} . ${port(f.vmPort)}`);
      L.push(`\tmap fwd-addr-${proto} {`, "\t\ttype ipv4_addr . inet_service : ipv4_addr . inet_service");
      if (els.length > 0) L.push(`\t\telements = { ${els.join(", ")} }`);
      L.push("\t}");
    }
  }
  // IPv6 forwards (a v6 vmIp): maps of their own (a map has one key and value type), on every host IPv6 address
  // or one (hostIp). Like the bound maps, they and their rules exist only while such a forward does.
  const fam6 = forwardFamilies6(nets);
  for (const [bound6, present] of [
    [false, fam6.all],
    [true, fam6.bound],
  ] as const) {
    if (!present) continue;
    for (const proto of ["tcp", "udp"] as const) {
      const els = forwardsIn(nets, proto, "ipv6", bound6)
        .sort((a, b) => a.hostPort - b.hostPort || (a.hostIp ?? "").localeCompare(b.hostIp ?? ""))
        .map((f) => `${bound6 ? `${ip6(f.hostIp as string)} . ` : ""}${port(f.hostPort)} : ${ip6(f.vmIp)} . ${port(f.vmPort)}`);
      L.push(`\tmap ${fwdMap(proto, "ipv6", bound6)} {`, `\t\ttype ${bound6 ? "ipv6_addr . " : ""}inet_service : ipv6_addr . inet_service`);
      if (els.length > 0) L.push(`\t\telements = { ${els.join(", ")} }`);
      L.push("\t}");
    }
  }
  // DNAT of forwarded ports arriving at any host address, from outside (prerouting) and from the host itself (output).
  // (nft names the dstnat priority only for prerouting; -100 is the same number for output.)
  for (const [chain, hook] of [
    ["prerouting", "prerouting"],
    ["output-nat", "output"],
  ] as const) {
    L.push(`\tchain ${chain} {`, `\t\ttype nat hook ${hook} priority -100; policy accept;`);
    for (const proto of ["tcp", "udp"] as const) {
      if (bound) L.push(`\t\tmeta nfproto ipv4 dnat ip addr . port to ip daddr . ${proto} dport map @fwd-addr-${proto}`);
      L.push(`\t\tfib daddr type local meta nfproto ipv4 dnat ip addr . port to ${proto} dport map @fwd-${proto}`);
      if (fam6.bound)
        L.push(`\t\tmeta nfproto ipv6 dnat ip6 addr . port to ip6 daddr . ${proto} dport map @${fwdMap(proto, "ipv6", true)}`);
      if (fam6.all)
        L.push(`\t\tfib daddr type local meta nfproto ipv6 dnat ip6 addr . port to ${proto} dport map @${fwdMap(proto, "ipv6", false)}`);
    }
    L.push("\t}");
  }
  // Masquerade of the networks that masquerade (nat) (libvirt's exceptions kept: multicast and broadcast leave unchanged).
  L.push("\tchain postrouting {", "\t\ttype nat hook postrouting priority srcnat; policy accept;");
  for (const n of nets) {
    if (!n.masquerade || !n.ownsTypeRules) continue;
    const s = cidr(n.cidr);
    L.push(`\t\tip saddr ${s} ip daddr 224.0.0.0/24 return`);
    L.push(`\t\tip saddr ${s} ip daddr 255.255.255.255 return`);
    L.push(`\t\tip saddr ${s} ip daddr != ${s} meta l4proto { tcp, udp } masquerade to :1024-65535`);
    L.push(`\t\tip saddr ${s} ip daddr != ${s} masquerade`);
    // NAT66 of the IPv6 prefix, unless routed (multicast leaves unchanged).
    if (n.ipv6 && !n.ipv6.routed) {
      const s6 = cidr6(n.ipv6.cidr);
      L.push(`\t\tip6 saddr ${s6} ip6 daddr ff00::/8 return`);
      L.push(`\t\tip6 saddr ${s6} ip6 daddr != ${s6} meta l4proto { tcp, udp } masquerade to :1024-65535`);
      L.push(`\t\tip6 saddr ${s6} ip6 daddr != ${s6} masquerade`);
    }
  }
  L.push("\t}");
  // What the VMs reach on the host itself: each network's host chain (DHCP, DNS, ... then drop). Other
  // interfaces (the host's LAN, bridge-type networks) are not touched.
  L.push("\tchain input {", "\t\ttype filter hook input priority filter; policy accept;");
  for (const n of nets) {
    L.push(`\t\tiifname "${n.bridge}" ${countOut(n, "network")}`);
    L.push(`\t\tiifname "${n.bridge}" jump ${chainNames(n.name).host}`);
  }
  L.push("\t}");
  // What the host itself sends into each network (the in-counter; nothing is filtered here).
  L.push("\tchain output {", "\t\ttype filter hook output priority filter; policy accept;");
  for (const n of nets) {
    // (Two rules: `ip daddr` makes its rule IPv4 only, and the network's counter counts IPv6 too.)
    L.push(`\t\toifname "${n.bridge}" ${countIn(n, "network")}`, `\t\toifname "${n.bridge}" ${countVmIn("network")}`);
  }
  L.push("\t}");
  L.push("\tchain forward {", "\t\ttype filter hook forward priority filter; policy accept;");
  for (const n of nets) {
    if (!n.clampMss) continue;
    L.push(`\t\tiifname "${n.bridge}" oifname != "${n.bridge}" tcp flags syn tcp option maxseg size set rt mtu`);
    L.push(`\t\toifname "${n.bridge}" iifname != "${n.bridge}" tcp flags syn tcp option maxseg size set rt mtu`);
  }
  for (const n of nets) {
    const c = chainNames(n.name);
    const br = `"${n.bridge}"`;
    L.push(`\t\tiifname ${br} oifname != ${br} ${countOut(n, "outside")}`);
    L.push(`\t\toifname ${br} iifname != ${br} ${countIn(n, "outside")}`);
    L.push(`\t\toifname ${br} iifname != ${br} ${countVmIn("outside")}`);
    // A VM to another VM of the network (bridged, shown by br_netfilter with the bridge on both sides): out of
    // one VM and into another, so both of the network's `network` counters; not the edge's totals.
    const pn = peerCounterNames(n.name, "network");
    const vn = peerVmSets("network");
    if (!n.vmToVmCountedByBridge) {
      L.push(
        `\t\tiifname ${br} oifname ${br} counter name "${pn.out}" counter name "${pn.in}" update @${vn.out} { iifname . ether saddr }`,
      );
      L.push(`\t\tiifname ${br} oifname ${br} update @${vn.in} { oifname . ip daddr }`);
    }
    L.push(`\t\tiifname "${n.bridge}" jump ${c.out}`);
    L.push(`\t\toifname "${n.bridge}" jump ${c.in}`);
  }
  if (opts.bootGuard) L.push(...bootGuardLines(nets.map((n) => n.bridge)));
  L.push("\t}");
  for (const n of nets) L.push(renderNetworkChains(n).trimEnd());
  L.push("}");
  return `${L.join("\n")}\n`;
}

/** A forward's family: its VM address's. */
const familyOf = (f: PortForwardSpec): "ipv4" | "ipv6" => (f.vmIp.includes(":") ? "ipv6" : "ipv4");

/** The rendered forwards of one protocol and family, bound to one host address or not. */
const forwardsIn = (nets: readonly FirewallNetwork[], proto: "tcp" | "udp", family: "ipv4" | "ipv6", bound: boolean): PortForwardSpec[] =>
  nets
    .filter((n) => n.forwardsPorts)
    .flatMap((n) => n.portForwards.filter((f) => f.protocol === proto && familyOf(f) === family && (f.hostIp !== undefined) === bound));

/** The map of a forward: fwd-tcp, fwd-addr-tcp (IPv4), fwd6-tcp, fwd6-addr-tcp (IPv6). */
const fwdMap = (proto: string, family: "ipv4" | "ipv6", bound: boolean): string =>
  `fwd${family === "ipv6" ? "6" : ""}-${bound ? "addr-" : ""}${proto}`;

/** Whether any network forwards an IPv4 port of one host address only (the table then has the fwd-addr-* maps). */
const hasBoundForwards = (nets: readonly FirewallNetwork[]): boolean =>
  nets.some((n) => n.forwardsPorts && n.portForwards.some((f) => f.hostIp !== undefined && familyOf(f) === "ipv4"));

/** Which IPv6 forward maps the table has: those of every address (fwd6-*), of one address (fwd6-addr-*). */
function forwardFamilies6(nets: readonly FirewallNetwork[]): { all: boolean; bound: boolean } {
  const v6 = nets.flatMap((n) => (n.forwardsPorts ? n.portForwards.filter((f) => familyOf(f) === "ipv6") : []));
  return { all: v6.some((f) => f.hostIp === undefined), bound: v6.some((f) => f.hostIp !== undefined) };
}

/** Bridge-name prefix of every network netforge creates (render/bridge-name.ts). */
export const NETFORGE_BRIDGE_GLOB = "nf-*";

/**
 * The fail-closed rules of a boot-time table: routed traffic between a netforge bridge whose rules are not in
 * the table and a non-netforge interface is dropped. Traffic with a netforge bridge on both sides is left
 * alone: a bridged frame (br_netfilter) has the bridge as input and output, and a bridge network's VMs must
 * keep talking on their LAN.
 */
function bootGuardLines(ruled: readonly string[]): string[] {
  for (const b of ruled) check(IFNAME.test(b), `bridge ${JSON.stringify(b)}`);
  const g = `"${NETFORGE_BRIDGE_GLOB}"`;
  const set = [...new Set(ruled)].sort().map((b) => `"${b}"`);
  const except = (dir: "iifname" | "oifname") => (set.length > 0 ? ` ${dir} != { ${set.join(", ")} }` : "");
  return [
    `\t\tiifname ${g} oifname != ${g}${except("iifname")} counter drop comment "netforge boot guard"`,
    `\t\toifname ${g} iifname != ${g}${except("oifname")} counter drop comment "netforge boot guard"`,
  ];
}

/**
 * When two states of the host differ only in port forwards and in networks' rule sets: one small transaction
 * instead of the whole table. Forwards change as map elements (`delete element` / `add element`), so one
 * more forward costs the same with 1 or 1,000 of them; a network whose rules or defaults changed gets its two
 * rule chains flushed and refilled, and its host chain too when its host services changed (`flush chain` +
 * `add rule`, the same lines the whole table carries), so a new rule set does not re-send every other
 * network's chains and the 1,000 map elements. nft applies the file as one transaction: packets see the old chains or the new ones, never half. "" when nothing differs; null
 * when anything else differs (networks, bridges, subnets, what their types let through: the whole table is replaced).
 */
export function renderTableDelta(before: readonly FirewallNetwork[], after: readonly FirewallNetwork[]): string | null {
  const byName = (ns: readonly FirewallNetwork[]) => new Map(ns.map((n) => [n.name, n]));
  const b = byName(before);
  const a = byName(after);
  if (b.size !== a.size || b.size !== before.length || a.size !== after.length) return null;
  // The address-bound and IPv6 forward maps come and go with the first and last such forward: then the whole table.
  if (hasBoundForwards(before) !== hasBoundForwards(after)) return null;
  if (JSON.stringify(forwardFamilies6(before)) !== JSON.stringify(forwardFamilies6(after))) return null;
  const t = `${NFT_FAMILY} ${NFT_TABLE}`;
  const chains: string[] = [];
  // Only networks whose forwards changed take part in the element diff (the others' elements are equal): with
  // 1,000 forwards on the host, one more is a diff of one network's list, not of every element on the host.
  const fwdBefore: FirewallNetwork[] = [];
  const fwdAfter: FirewallNetwork[] = [];
  for (const [name, n] of [...a].sort(([x], [y]) => x.localeCompare(y))) {
    const o = b.get(name);
    if (!o) return null;
    if (o === n) continue;
    checkNetwork(n);
    if (o.portForwards !== n.portForwards && JSON.stringify(o.portForwards) !== JSON.stringify(n.portForwards)) {
      fwdBefore.push(o);
      fwdAfter.push(n);
    }
    // What the type lets through changed (another type): the whole table, as for a new bridge or subnet.
    const sameCaps = o.reachOutside === n.reachOutside && o.masquerade === n.masquerade && o.forwardsPorts === n.forwardsPorts;
    if (!sameCaps || o.bridge !== n.bridge || o.cidr !== n.cidr || o.ownsTypeRules !== n.ownsTypeRules) return null;
    if ((o.clampMss ?? false) !== (n.clampMss ?? false)) return null;
    if ((o.vmToVmCountedByBridge ?? false) !== (n.vmToVmCountedByBridge ?? false)) return null;
    if (JSON.stringify(o.overlayMember ?? null) !== JSON.stringify(n.overlayMember ?? null)) return null;
    if (JSON.stringify(o.ipv6 ?? null) !== JSON.stringify(n.ipv6 ?? null)) return null;
    if (JSON.stringify(o.firewall) === JSON.stringify(n.firewall)) continue;
    const c = chainNames(name);
    const refill: [string, string[]][] = [
      [c.inRules, inRulesLines(n)],
      [c.out, outLines(n)],
    ];
    // The host chain only when the host services changed (rules and defaults are not in it).
    if (JSON.stringify(hostServicesOf(o.firewall)) !== JSON.stringify(hostServicesOf(n.firewall))) refill.push([c.host, hostLines(n)]);
    for (const [chain, lines] of refill) {
      chains.push(`flush chain ${t} ${chain}`);
      for (const l of lines) chains.push(`add rule ${t} ${chain} ${l}`);
    }
  }
  const forwards = forwardLines(fwdBefore, fwdAfter);
  const lines = [...forwards, ...chains];
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

/** Map element changes between two states (deletes before adds). */
function forwardLines(before: readonly FirewallNetwork[], after: readonly FirewallNetwork[]): string[] {
  const elements = (ns: readonly FirewallNetwork[]) => {
    const m = new Map<string, { map: string; key: string; value: string }>();
    for (const n of ns) {
      checkNetwork(n);
      if (!n.forwardsPorts) continue;
      for (const f of n.portForwards) {
        check(f.protocol === "tcp" || f.protocol === "udp", `protocol ${String(f.protocol)}`);
        const family = familyOf(f);
        const addr = family === "ipv6" ? ip6 : ip;
        const value = `${addr(f.vmIp)} . ${port(f.vmPort)}`;
        const map = fwdMap(f.protocol, family, f.hostIp !== undefined);
        const key = f.hostIp === undefined ? String(port(f.hostPort)) : `${addr(f.hostIp)} . ${port(f.hostPort)}`;
        m.set(`${map}/${key}`, { map, key, value });
      }
    }
    return m;
  };
  const b = elements(before);
  const a = elements(after);
  const t = `${NFT_FAMILY} ${NFT_TABLE}`;
  const lines: string[] = [];
  for (const [k, e] of [...b].sort(([x], [y]) => x.localeCompare(y))) {
    if (a.get(k)?.value !== e.value) lines.push(`delete element ${t} ${e.map} { ${e.key} }`);
  }
  for (const [k, e] of [...a].sort(([x], [y]) => x.localeCompare(y))) {
    if (b.get(k)?.value !== e.value) lines.push(`add element ${t} ${e.map} { ${e.key} : ${e.value} }`);
  }
  return lines;
}
