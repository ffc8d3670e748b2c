/**
 * Pure renderer and parser of libvirt network XML. The whole netforge spec
 * of a network (type, description, subnet, DHCP, reservations...) lives in
 * the network's <metadata> under the NETFORGE_XMLNS namespace; libvirt's own
 * elements (<forward>, <bridge>, <ip>, <dhcp>) are rendered from it. So a
 * host's libvirt describes each network completely, `parseSpec(render(s))`
 * gives `s` back, and the libvirt elements can be compared with the spec to
 * find state a host lost. All values are escaped even though the schemas
 * already restrict them: the renderer does not trust its callers.
 */
import { XMLParser } from "fast-xml-parser";
import type { DnsHost } from "../actions/changes";
import { cidrOf, formatCidr, parseCidrOrThrow, parseIPv4 } from "../net/ipv4";
import type { Ipv6Config, NetworkType } from "../schemas/network";
import type { FirewallRule, FirewallSpec, HostService, PortForwardSpec } from "../planner/firewall";
import type { BridgeNetSpec, NetSpec, Reservation, Reservation6, RoutedNetSpec, SriovNetSpec } from "../planner/network-spec";
import type { OverlayNetSpec } from "../drivers/overlay";
import { xmlEscape as e } from "./xml-escape";
import { overlayGatewayMac } from "./vxlan";
import { typeOf } from "../drivers/type-of";
import { readSpec } from "../drivers/spec-readers";
import { attr, type MetaNode as Node, str, xmlUnescape } from "./xml-metadata";

/** Namespace of netforge's metadata element. */
export const NETFORGE_XMLNS = "https://netforge.dev/xmlns/network/1";

/** libvirt's <dns><host> element of a DNS host record (also the text of `virsh net-update ... dns-host`). */
export function renderDnsHost(h: DnsHost): string {
  return `<host ip='${e(h.ip)}'>${h.names.map((n) => `<hostname>${e(n)}</hostname>`).join("")}</host>`;
}

/** libvirt's namespace for options it passes to dnsmasq as they are (<dnsmasq:options>). */
export const DNSMASQ_XMLNS = "http://libvirt.org/schemas/network/dnsmasq/1.0";
/** Where libvirt keeps its dnsmasq files, and netforge the DHCP options file of a network with an MTU. */
export const DNSMASQ_DIR = "/var/lib/libvirt/dnsmasq";

/**
 * netforge's DHCP options file of a network (named by its uuid, so a network made again under the same name never
 * reads an old one). Its definition has libvirt's dnsmasq read it (`dhcp-optsfile`): dnsmasq re-reads it on
 * SIGHUP, which libvirt's own configuration file it never re-reads (docs/adr/0042-network-mtu.md).
 */
export const dhcpOptionsFile = (uuid: string): string => `${DNSMASQ_DIR}/netforge-${uuid}.options`;

/**
 * The text of that file for `mtu` on `bridge`: the MTU option tagged with the bridge (dnsmasq tags every request
 * with the interface it came in on, and a tagged option overrides the untagged one libvirt writes from <mtu>).
 */
export const dhcpOptionsText = (bridge: string, mtu: number | null): string =>
  mtu === null ? "" : `tag:${bridge},option:mtu,${Number(mtu)}\n`;

/** libvirt's <host> element of a reservation (also the text of `virsh net-update ... ip-dhcp-host`). */
export function renderDhcpHost(r: Reservation): string {
  return `<host mac='${e(r.mac)}'${r.hostname !== null ? ` name='${e(r.hostname)}'` : ""} ip='${e(r.ip)}'/>`;
}

/** libvirt's <host> element of an IPv6 reservation (by DUID: libvirt refuses a MAC in an IPv6 host entry). */
export function renderDhcpHost6(r: Reservation6): string {
  return `<host id='${e(r.duid)}'${r.hostname !== null ? ` name='${e(r.hostname)}'` : ""} ip='${e(r.ip)}'/>`;
}

/**
 * The `virsh net-update` arguments that pick the IPv6 <ip> element for an ip-dhcp-host update: without them
 * libvirt takes the first <ip> with a <dhcp> range or host, the IPv4 one (rendered first, always).
 */
export const IPV6_PARENT: readonly string[] = ["--parent-index", "1"];

/** libvirt's <range> element of a DHCP pool (also the text of `virsh net-update ... ip-dhcp-range`). */
export function renderDhcpRange(start: string, end: string, leaseTime: number | null): string {
  if (leaseTime === null) return `<range start='${e(start)}' end='${e(end)}'/>`;
  return `<range start='${e(start)}' end='${e(end)}'><lease expiry='${Number(leaseTime)}' unit='seconds'/></range>`;
}

/** <network>, <name>, <uuid> and the opening of our metadata with the fields every type has. */
function head(spec: NetSpec): string[] {
  return [
    "<network>",
    `  <name>${e(spec.name)}</name>`,
    `  <uuid>${e(spec.uuid)}</uuid>`,
    "  <metadata>",
    `    <nf:network xmlns:nf="${NETFORGE_XMLNS}">`,
    `      <nf:type>${e(spec.type)}</nf:type>`,
    `      <nf:description>${e(spec.description)}</nf:description>`,
    `      <nf:createdAt>${e(spec.createdAt)}</nf:createdAt>`,
    ...(spec.managedBy === undefined ? [] : [`      <nf:managedBy>${e(spec.managedBy)}</nf:managedBy>`]),
  ];
}
const META_END = ["    </nf:network>", "  </metadata>"];

/**
 * A bridge network: libvirt only plugs VMs into an existing Linux bridge (<forward mode='bridge'/>), no
 * address, no dnsmasq. The NIC's state before netforge enslaved it is kept for delete to give back.
 */
export function renderBridgeXml(spec: BridgeNetSpec): string {
  const lines = head(spec);
  lines.push(`      <nf:bridge>${e(spec.bridge)}</nf:bridge>`);
  if (spec.interface !== null) lines.push(`      <nf:interface>${e(spec.interface)}</nf:interface>`);
  if (spec.created) {
    const n = spec.created.nic;
    lines.push(`      <nf:nic up='${n.up ? "yes" : "no"}' mtu='${Number(n.mtu)}'${n.master !== null ? ` master='${e(n.master)}'` : ""}/>`);
  }
  if (spec.qos) lines.push(`      <nf:qos>${e(JSON.stringify(spec.qos))}</nf:qos>`);
  lines.push(...META_END);
  lines.push("  <forward mode='bridge'/>"); // not-a-network-type: libvirt's forward mode
  lines.push(`  <bridge name='${e(spec.bridge)}'/>`);
  lines.push("</network>");
  return `${lines.join("\n")}\n`;
}

/**
 * An SR-IOV network: libvirt's hostdev pool over the PF's VFs (managed: libvirt detaches a VF from its host
 * driver when a VM takes it and gives it back after), with the VLAN tag libvirt sets on each VF.
 */
export function renderSriovXml(spec: SriovNetSpec): string {
  const lines = head(spec);
  const vfs = spec.vfs !== null ? ` vfs='${Number(spec.vfs)}'` : "";
  const vlan = spec.vlan !== null ? ` vlan='${Number(spec.vlan)}'` : "";
  lines.push(`      <nf:sriov pf='${e(spec.pf)}'${vfs}${vlan}/>`);
  lines.push(...META_END);
  lines.push("  <forward mode='hostdev' managed='yes'>");
  lines.push(`    <pf dev='${e(spec.pf)}'/>`);
  lines.push("  </forward>");
  if (spec.vlan !== null) {
    lines.push("  <vlan>");
    lines.push(`    <tag id='${Number(spec.vlan)}'/>`);
    lines.push("  </vlan>");
  }
  lines.push("</network>");
  return `${lines.join("\n")}\n`;
}

/**
 * An overlay network on one member host (the spec's `self`). The gateway host's definition is a routed one:
 * libvirt makes the bridge with the gateway address and dnsmasq (<forward mode='open'/>: netforge's table
 * masquerades). Every other member's is a bridge definition on the bridge netforge made (no address, no DHCP):
 * VMs attach by the network's name on every member. The whole spec (members, VNI) is in the metadata of each.
 */
export function renderOverlayXml(spec: OverlayNetSpec): string {
  const lines = head(spec);
  const d = spec.dhcp;
  lines.push(`      <nf:cidr>${e(spec.cidr)}</nf:cidr>`);
  lines.push(`      <nf:gateway>${e(spec.gateway)}</nf:gateway>`);
  lines.push(`      <nf:bridge>${e(spec.bridge)}</nf:bridge>`);
  if (d.enabled && d.start && d.end) {
    lines.push(`      <nf:dhcp enabled='yes' start='${e(d.start)}' end='${e(d.end)}' leaseTime='${Number(d.leaseTime ?? 3600)}'/>`);
  } else {
    lines.push("      <nf:dhcp enabled='no'/>");
  }
  lines.push(
    `      <nf:overlay vni='${Number(spec.vni)}' gatewayHost='${e(spec.gatewayHost)}' nat='${spec.nat ? "yes" : "no"}' self='${e(spec.self)}' mtu='${Number(spec.mtu)}'${spec.floodLimitPps === undefined ? "" : ` floodLimitPps='${Number(spec.floodLimitPps)}'`}/>`,
  );
  for (const m of spec.members) lines.push(`      <nf:member id='${e(m.id)}' ip='${e(m.ip)}'/>`);
  // IPv6: in every member's definition (each filters its VMs' IPv6); the address and dnsmasq's are the gateway's.
  lines.push(...ipv6MetaLines(spec.ipv6));
  for (const r of spec.reservations6 ?? []) {
    lines.push(`      <nf:reservation6 duid='${e(r.duid)}' ip='${e(r.ip)}'${r.hostname !== null ? ` hostname='${e(r.hostname)}'` : ""}/>`);
  }
  // The gateway host's parts (reservations, DNS records, forwards: changed on the gateway host only), as nat keeps them.
  const reservations = spec.reservations ?? [];
  for (const r of reservations) {
    lines.push(`      <nf:reservation mac='${e(r.mac)}' ip='${e(r.ip)}'${r.hostname !== null ? ` hostname='${e(r.hostname)}'` : ""}/>`);
  }
  const dnsHosts = spec.dnsHosts ?? [];
  for (const h of dnsHosts) lines.push(`      <nf:dnsHost ip='${e(h.ip)}' names='${e(h.names.join(" "))}'/>`);
  const forwards = spec.portForwards ?? [];
  if (forwards.length > 0) lines.push(`      <nf:portForwards>${forwards.map(compactForward).join(" ")}</nf:portForwards>`);
  // The firewall: on every member (each applies it to the VMs on its own bridge).
  lines.push(...firewallMetaLines(spec.firewall));
  // The bandwidth limits: on every member (each shapes the VMs on its own ports; the gateway the network's edge too).
  if (spec.qos) lines.push(`      <nf:qos>${e(JSON.stringify(spec.qos))}</nf:qos>`);
  lines.push(...META_END);
  if (spec.self !== spec.gatewayHost) {
    lines.push("  <forward mode='bridge'/>"); // not-a-network-type: libvirt's forward mode
    // (No <mtu>: libvirt takes none in forward mode bridge; netforge sets the bridge's, the metadata keeps it.)
    lines.push(`  <bridge name='${e(spec.bridge)}'/>`);
    lines.push("</network>");
    return `${lines.join("\n")}\n`;
  }
  const prefix = parseCidrOrThrow(spec.cidr).prefix;
  // The gateway's dnsmasq reads netforge's DHCP options file, as a nat network's with an MTU does: an MTU change
  // (every member's, ADR 0051 "MTU change") has it hand out the new MTU on SIGHUP, without a restart.
  lines[0] = `<network xmlns:dnsmasq='${DNSMASQ_XMLNS}'>`;
  lines.push("  <forward mode='open'/>");
  // No STP on the gateway's bridge (the members' have none either): the overlay has no loop to break (head-end
  // replication, no learning from the underlay), and with STP on the kernel raises the forward delay to its 2 s
  // minimum, so each port (the VXLAN device and every VM's, put back by a start or a gateway move) forwarded only
  // after 4 s of listening and learning (ADR 0051 "Gateway move": the 3.8 s seen before).
  lines.push(`  <bridge name='${e(spec.bridge)}' stp='off' delay='0'/>`);
  // The gateway's MAC is fixed by the VNI, the same on any gateway host: a move keeps it (ADR 0051 "Gateway move"),
  // and with it, on an IPv6 overlay, its link-local address (the VMs' IPv6 default router).
  lines.push(`  <mac address='${overlayGatewayMac(spec.vni)}'/>`);
  lines.push(`  <mtu size='${Number(spec.mtu)}'/>`);
  if (dnsHosts.length > 0) {
    lines.push("  <dns>");
    for (const h of dnsHosts) lines.push(`    ${renderDnsHost(h)}`);
    lines.push("  </dns>");
  }
  const hasRange = d.enabled && d.start && d.end;
  if (hasRange || reservations.length > 0) {
    lines.push(`  <ip address='${e(spec.gateway)}' prefix='${prefix}'>`);
    lines.push("    <dhcp>");
    if (hasRange) lines.push(`      ${renderDhcpRange(d.start as string, d.end as string, d.leaseTime ?? 3600)}`);
    for (const r of reservations) lines.push(`      ${renderDhcpHost(r)}`);
    lines.push("    </dhcp>");
    lines.push("  </ip>");
  } else {
    lines.push(`  <ip address='${e(spec.gateway)}' prefix='${prefix}'/>`);
  }
  lines.push(...ipv6IpLines(spec.ipv6, spec.reservations6 ?? []));
  lines.push("  <dnsmasq:options>");
  lines.push(`    <dnsmasq:option value='dhcp-optsfile=${e(dhcpOptionsFile(spec.uuid))}'/>`);
  lines.push("  </dnsmasq:options>");
  lines.push("</network>");
  return `${lines.join("\n")}\n`;
}

/** A kept firewall as metadata lines (none without one): nat, isolated and overlay keep it the same way. */
function firewallMetaLines(f: FirewallSpec | undefined): string[] {
  if (!f) return [];
  const defaults = `defaultInbound='${e(f.defaultInbound)}' defaultOutbound='${e(f.defaultOutbound)}'`;
  const services = f.hostServices ?? [];
  if (f.rules.length === 0 && services.length === 0) return [`      <nf:firewall ${defaults}/>`];
  const lines = [`      <nf:firewall ${defaults}>`];
  if (f.rules.length > 0) lines.push(`        <nf:rules>${f.rules.map(compactRule).join(" ")}</nf:rules>`);
  if (services.length > 0) lines.push(`        <nf:hostServices>${services.map(compactService).join(" ")}</nf:hostServices>`);
  lines.push("      </nf:firewall>");
  return lines;
}

/** A network's IPv6 in its metadata (none without): nat, isolated and overlay keep it the same way. */
function ipv6MetaLines(v6: Ipv6Config | undefined): string[] {
  if (v6 === undefined) return [];
  const range = v6.dhcp ? ` start='${e(v6.dhcp.start)}' end='${e(v6.dhcp.end)}' leaseTime='${Number(v6.dhcp.leaseTime)}'` : "";
  return [
    `      <nf:ipv6 cidr='${e(v6.cidr)}' gateway='${e(v6.gateway)}' mode='${e(v6.mode)}' routed='${v6.routed ? "yes" : "no"}'${range}/>`,
  ];
}

/**
 * libvirt's IPv6 <ip> (none without IPv6): the gateway address on the bridge; dnsmasq sends router advertisements
 * for the prefix (SLAAC), and in dhcpv6 mode leases from the range (the advertisements then say "managed").
 */
function ipv6IpLines(v6: Ipv6Config | undefined, reservations6: readonly Reservation6[]): string[] {
  if (v6 === undefined) return [];
  const p6 = Number(v6.cidr.slice(v6.cidr.lastIndexOf("/") + 1));
  if (!v6.dhcp) return [`  <ip family='ipv6' address='${e(v6.gateway)}' prefix='${p6}'/>`];
  return [
    `  <ip family='ipv6' address='${e(v6.gateway)}' prefix='${p6}'>`,
    "    <dhcp>",
    `      ${renderDhcpRange(v6.dhcp.start, v6.dhcp.end, v6.dhcp.leaseTime)}`,
    ...reservations6.map((r) => `      ${renderDhcpHost6(r)}`),
    "    </dhcp>",
    "  </ip>",
  ];
}

/** nat and isolated: bridge with the gateway address, dnsmasq from <dhcp>. */
export function renderRoutedXml(spec: RoutedNetSpec): string {
  const prefix = parseCidrOrThrow(spec.cidr).prefix;
  const d = spec.dhcp;
  const lines = head(spec);
  // A network with an MTU has dnsmasq read netforge's DHCP options file (configure-network-mtu serves a new MTU
  // through it without restarting dnsmasq): libvirt's options namespace on the root element.
  if (spec.mtu !== undefined) lines[0] = `<network xmlns:dnsmasq='${DNSMASQ_XMLNS}'>`;
  lines.push(`      <nf:cidr>${e(spec.cidr)}</nf:cidr>`);
  lines.push(`      <nf:gateway>${e(spec.gateway)}</nf:gateway>`);
  lines.push(`      <nf:bridge>${e(spec.bridge)}</nf:bridge>`);
  if (d.enabled && d.start && d.end) {
    lines.push(`      <nf:dhcp enabled='yes' start='${e(d.start)}' end='${e(d.end)}' leaseTime='${Number(d.leaseTime ?? 3600)}'/>`);
  } else {
    lines.push("      <nf:dhcp enabled='no'/>");
  }
  for (const r of spec.reservations) {
    lines.push(`      <nf:reservation mac='${e(r.mac)}' ip='${e(r.ip)}'${r.hostname !== null ? ` hostname='${e(r.hostname)}'` : ""}/>`);
  }
  for (const h of spec.dnsHosts ?? []) lines.push(`      <nf:dnsHost ip='${e(h.ip)}' names='${e(h.names.join(" "))}'/>`);
  const v6 = spec.ipv6;
  lines.push(...ipv6MetaLines(v6));
  for (const r of spec.reservations6 ?? []) {
    lines.push(`      <nf:reservation6 duid='${e(r.duid)}' ip='${e(r.ip)}'${r.hostname !== null ? ` hostname='${e(r.hostname)}'` : ""}/>`);
  }
  lines.push(...firewallMetaLines(spec.firewall));
  const forwards = spec.portForwards ?? [];
  if (forwards.length > 0) lines.push(`      <nf:portForwards>${forwards.map(compactForward).join(" ")}</nf:portForwards>`);
  // The QoS set as compact JSON (configure-network-qos; tc applies it, libvirt's <bandwidth> needs sfq: ADR 0044).
  if (spec.qos) lines.push(`      <nf:qos>${e(JSON.stringify(spec.qos))}</nf:qos>`);
  lines.push(...META_END);
  // Both types: libvirt brings up the bridge, its address and dnsmasq and writes no firewall rule; the type's
  // masquerade and forward policy are netforge's own nft table (render/nft.ts), the type stays in the metadata.
  lines.push("  <forward mode='open'/>");
  lines.push(`  <bridge name='${e(spec.bridge)}' stp='on' delay='0'/>`);
  if (spec.mtu !== undefined) lines.push(`  <mtu size='${Number(spec.mtu)}'/>`);
  const dnsHosts = spec.dnsHosts ?? [];
  if (dnsHosts.length > 0) {
    lines.push("  <dns>");
    for (const h of dnsHosts) lines.push(`    ${renderDnsHost(h)}`);
    lines.push("  </dns>");
  }
  const hasRange = d.enabled && d.start && d.end;
  if (hasRange || spec.reservations.length > 0) {
    lines.push(`  <ip address='${e(spec.gateway)}' prefix='${prefix}'>`);
    lines.push("    <dhcp>");
    if (hasRange) lines.push(`      ${renderDhcpRange(d.start as string, d.end as string, d.leaseTime ?? 3600)}`);
    for (const r of spec.reservations) lines.push(`      ${renderDhcpHost(r)}`);
    lines.push("    </dhcp>");
    lines.push("  </ip>");
  } else {
    lines.push(`  <ip address='${e(spec.gateway)}' prefix='${prefix}'/>`);
  }
  // IPv6: the gateway address on the bridge; dnsmasq sends router advertisements for the prefix (SLAAC), and in
  // dhcpv6 mode leases from the range (the advertisements then say "managed": guests ask DHCPv6).
  lines.push(...ipv6IpLines(v6, spec.reservations6 ?? []));
  if (spec.mtu !== undefined) {
    lines.push("  <dnsmasq:options>");
    lines.push(`    <dnsmasq:option value='dhcp-optsfile=${e(dhcpOptionsFile(spec.uuid))}'/>`);
    lines.push("  </dnsmasq:options>");
  }
  lines.push("</network>");
  return `${lines.join("\n")}\n`;
}

/**
 * Rules and forwards are kept compact: one element holding all of them as text, items separated by a space,
 * fields by a comma. A network with 1,000 forwards is then one text node to libvirt (which parses, copies and
 * formats its metadata on every net-define and dumpxml) and to our parser, not 1,000 elements: measured on
 * libvirt 9.0, net-define of a definition with 1,000 forwards and 100 rules took 9-12 ms as elements and
 * 3-5 ms compact (the same as without them); parsing it here, 35 ms as elements. Fields are percent-encoded
 * outside [A-Za-z0-9./:_-] (so the text never needs XML escaping and never contains a separator); a field that
 * is exactly "-" is null. The element form (<nf:rule>, <nf:portForward>) of earlier versions is still read.
 */
const COMPACT_SAFE = /^[A-Za-z0-9./:_-]*$/;
function field(v: string | number | null): string {
  if (v === null) return "-";
  const s = String(v);
  if (s === "-") return "%2D";
  if (COMPACT_SAFE.test(s)) return s;
  e(s); // refuses what XML cannot carry, as for any other text
  return s.replace(/[^A-Za-z0-9./:_-]/gu, (c) => encodeURIComponent(c).replace(/[!'()*~]/g, pct));
}
const pct = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;
function compactRule(r: FirewallRule): string {
  return [r.direction, r.protocol, r.source, r.destination, r.ports, r.action, r.comment].map(field).join(",");
}

function compactService(s: HostService): string {
  return [s.protocol, s.ports].map(field).join(",");
}

function compactForward(f: PortForwardSpec): string {
  // The host address, when the forward has one, is a fifth field (absent: every host address, as before it existed).
  const fields = [f.protocol, Number(f.hostPort), f.vmIp, Number(f.vmPort), ...(f.hostIp === undefined ? [] : [f.hostIp])];
  return fields.map(field).join(",");
}

/** A DHCP range as libvirt's own elements carry it. */
export interface NativeRange {
  start: string;
  end: string;
  leaseTime: number | null;
}

/** What netforge reads back from a libvirt network definition. */
export interface ParsedNetwork {
  name: string;
  uuid: string;
  /** From our metadata; null when the network is not netforge's. */
  managed: boolean;
  type: NetworkType | null;
  description: string;
  createdAt: string | null;
  /** Who manages it (the metadata's managedBy); null when not said. */
  managedBy: string | null;
  forwardMode: string | null;
  bridge: string | null;
  /** First IPv4 <ip> element, as CIDR of its subnet, with the gateway address. */
  cidr: string | null;
  gateway: string | null;
  dhcp: NativeRange | null;
  /** libvirt's own <dhcp><host> entries of the first IPv4 <ip> (what dnsmasq is told). */
  hosts: Reservation[];
  /** libvirt's own <dhcp><host id=...> entries of the first IPv6 <ip> (DHCPv6 reservations by DUID). */
  hosts6: Reservation6[];
  /** libvirt's own <dns><host> records (what dnsmasq answers). */
  dnsHosts: DnsHost[];
  /** libvirt's own <mtu size> (null: none). */
  mtu: number | null;
  /** The netforge spec from the metadata (legacy metadata is completed from libvirt's elements); null when not netforge's. */
  spec: NetSpec | null;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  // Entities are decoded by str()/attr() below, for the values we read: the parser's own pass over every text
  // node costs 15 ms on a definition with a long compact list (measured), where ours costs nothing.
  processEntities: false,
  // Values are trimmed; the description, whose spaces are its own, is read from the raw XML instead.
  trimValues: true,
  isArray: (name) =>
    name === "ip" ||
    name === "range" ||
    name === "host" ||
    name === "hostname" ||
    name === "reservation" ||
    name === "reservation6" ||
    name === "dnsHost" ||
    name === "rule" ||
    name === "portForward" ||
    name === "member",
});

/**
 * Our metadata element, found by its namespace URI, not by its name: other tools keep their own elements in
 * <metadata> (libvirt keeps one per namespace), and one of them may well be called `network`
 * (`<app:network xmlns:app="https://example.org/...">`). The parser drops namespace prefixes, so the element
 * is picked out of the raw text first: a direct child of <metadata> whose own prefix is declared, on that
 * element, as exactly NETFORGE_XMLNS (libvirt writes each metadata element with its declaration on it), or
 * an unprefixed one whose default namespace is. Returns that element's text, and the definition without
 * <metadata> for the main parse (so no other tool's element is ever read as ours).
 */
export function splitNetforgeMetadata(xml: string): { own: string | null; rest: string } {
  const open = xml.indexOf("<metadata>");
  const close = xml.indexOf("</metadata>", open);
  if (open < 0 || close < 0) return { own: null, rest: xml };
  const inner = xml.slice(open + "<metadata>".length, close);
  const rest = xml.slice(0, open) + xml.slice(close + "</metadata>".length);
  return { own: ownMetadataElement(inner), rest };
}

// Start tag, end tag, or markup to skip (comment, CDATA, processing instruction): attribute values never
// hold '<' (XML forbids it), so '>' inside them is the only trap, and the quoted alternatives take it.
const TAG =
  /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g;
const NS_DECL = /\sxmlns(?::([A-Za-z_][\w.-]*))?\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function ownMetadataElement(inner: string): string | null {
  let depth = 0;
  let start = -1;
  for (const m of inner.matchAll(TAG)) {
    const [whole, slash, qname, attrs, selfClose] = m;
    if (qname === undefined) continue; // comment, CDATA, PI
    const at = m.index ?? 0;
    if (slash === "/") {
      depth--;
      if (depth === 0 && start >= 0) return inner.slice(start, at + whole.length);
      continue;
    }
    if (depth === 0 && isOurs(qname, attrs ?? "")) {
      if (selfClose === "/") return whole;
      start = at;
    }
    if (selfClose !== "/") depth++;
  }
  return null;
}

function isOurs(qname: string, attrs: string): boolean {
  const colon = qname.indexOf(":");
  const prefix = colon < 0 ? undefined : qname.slice(0, colon);
  if (qname.slice(colon + 1) !== "network") return false;
  for (const d of attrs.matchAll(NS_DECL)) {
    if (d[1] === prefix) return (d[2] ?? d[3]) === NETFORGE_XMLNS;
  }
  return false;
}

/** Parse `virsh net-dumpxml` output. */
export function parseNetworkXml(xml: string): ParsedNetwork {
  const { own, rest } = splitNetforgeMetadata(xml);
  const doc = parser.parse(rest) as Node;
  const net = (doc.network ?? {}) as Node;
  const meta = own === null ? null : (((parser.parse(own) as Node).network ?? null) as Node | null);
  const type = meta ? (str(meta.type) as NetworkType | null) : null;
  const forward = net.forward as Node | undefined;
  const bridgeNode = net.bridge as Node | undefined;
  let cidr: string | null = null;
  let gateway: string | null = null;
  let dhcp: NativeRange | null = null;
  let hosts: Reservation[] = [];
  const ips = (net.ip as Node[] | undefined) ?? [];
  const v4 = ips.find((ip) => (attr(ip, "family") ?? "ipv4") === "ipv4");
  if (v4) {
    gateway = attr(v4, "address");
    const addr = gateway ? parseIPv4(gateway) : null;
    const prefixAttr = attr(v4, "prefix");
    const netmask = attr(v4, "netmask");
    let prefix: number | null = prefixAttr !== null ? Number(prefixAttr) : null;
    if (prefix === null && netmask !== null) {
      const mask = parseIPv4(netmask);
      prefix = mask === null ? null : 32 - Math.log2(2 ** 32 - mask);
    }
    if (addr !== null && prefix !== null && Number.isInteger(prefix)) cidr = formatCidr(cidrOf(addr, prefix));
    const dhcpNode = v4.dhcp as Node | undefined;
    const range = (dhcpNode?.range as Node[] | undefined)?.[0];
    if (range) {
      const lease = range.lease as Node | undefined;
      let leaseTime: number | null = null;
      if (lease && attr(lease, "expiry") !== null) {
        const unit = attr(lease, "unit") ?? "minutes";
        const n = Number(attr(lease, "expiry"));
        leaseTime = unit === "seconds" ? n : unit === "hours" ? n * 3600 : n * 60;
      }
      dhcp = { start: String(attr(range, "start")), end: String(attr(range, "end")), leaseTime };
    }
    hosts = ((dhcpNode?.host as Node[] | undefined) ?? []).flatMap((h) => {
      const mac = attr(h, "mac");
      const ip = attr(h, "ip");
      return mac && ip ? [{ mac: mac.toLowerCase(), ip, hostname: attr(h, "name") }] : [];
    });
  }
  const v6ip = ips.find((ip) => attr(ip, "family") === "ipv6");
  const hosts6: Reservation6[] = (((v6ip?.dhcp as Node | undefined)?.host as Node[] | undefined) ?? []).flatMap((h) => {
    const duid = attr(h, "id");
    const ip = attr(h, "ip");
    return duid && ip ? [{ duid: duid.toLowerCase(), ip, hostname: attr(h, "name") }] : [];
  });
  const bridge = bridgeNode ? attr(bridgeNode, "name") : null;
  const dnsNode = net.dns as Node | undefined;
  const dnsHosts: DnsHost[] = (typeof dnsNode === "object" ? ((dnsNode.host as Node[] | undefined) ?? []) : []).flatMap((h) => {
    const ip = attr(h, "ip");
    const names = ((h.hostname as unknown[] | undefined) ?? []).map((n) => str(n)).filter((n): n is string => n !== null);
    return ip ? [{ ip, names }] : [];
  });
  const parsed: ParsedNetwork = {
    name: str(net.name) ?? "",
    uuid: str(net.uuid) ?? "",
    managed: meta !== null,
    type,
    description: meta && own !== null ? description(own) : "",
    createdAt: meta ? str(meta.createdAt) : null,
    managedBy: meta ? str(meta.managedBy) : null,
    // A bare <forward/> parses as "": it is still a forward element (libvirt defaults its mode to nat).
    // not-a-network-type: libvirt's default forward mode (next line)
    forwardMode: forward !== undefined ? ((typeof forward === "object" ? attr(forward, "mode") : null) ?? "nat") : null,
    bridge,
    cidr,
    gateway,
    dhcp,
    hosts,
    hosts6,
    dnsHosts,
    mtu: mtuOf(net.mtu),
    spec: null,
  };
  // The spec reader of the network's type (drivers/spec-readers.ts), for the type its definition says (typeOf).
  if (meta) parsed.spec = readSpec(typeOf(parsed), meta, parsed);
  return parsed;
}

/** libvirt's <mtu size='N'/>: N when it is a whole number, else null. */
function mtuOf(node: unknown): number | null {
  const size = typeof node === "object" && node !== null ? attr(node as Node, "size") : null;
  const n = size === null ? Number.NaN : Number(size);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/**
 * The metadata's description exactly as written: the parser trims text, and free text keeps its leading and
 * trailing spaces. Read from the raw text of our own metadata element (any prefix libvirt gives it).
 */
function description(meta: string): string {
  const m = /<(?:([A-Za-z0-9_]+):)?description(?:\s[^>]*)?(?:\/>|>([^<]*)<\/(?:[A-Za-z0-9_]+:)?description>)/.exec(meta);
  return m?.[2] !== undefined ? xmlUnescape(m[2]) : "";
}
