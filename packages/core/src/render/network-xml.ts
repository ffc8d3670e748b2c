/**
 * Pure renderer and parser of libvirt network XML. netforge's own fields live
 * in the network's <metadata> under the NETFORGE_XMLNS namespace, so a host's
 * libvirt describes each network completely and the cluster index can be
 * rebuilt from hosts alone. All values are escaped even though the schemas
 * already restrict them: the renderer does not trust its callers.
 */
import { XMLParser } from "fast-xml-parser";
import { cidrOf, formatCidr, parseCidrOrThrow, parseIPv4 } from "../net/ipv4";
import type { NetworkSpec, NetworkType } from "../schemas/network";
import { xmlEscape as e } from "./xml-escape";

/** Namespace of netforge's metadata element. */
export const NETFORGE_XMLNS = "https://netforge.dev/xmlns/network/1";

/** Render the libvirt <network> definition of a nat or isolated network. */
export function renderNetworkXml(spec: NetworkSpec): string {
  if (spec.type !== "nat" && spec.type !== "isolated") {
    throw new Error(`renderNetworkXml: type ${spec.type} is not rendered by this renderer`);
  }
  if (!spec.cidr || !spec.gateway || !spec.bridge) throw new Error("renderNetworkXml: cidr, gateway and bridge are required");
  const prefix = parseCidrOrThrow(spec.cidr).prefix;
  const lines: string[] = [];
  lines.push("<network>");
  lines.push(`  <name>${e(spec.name)}</name>`);
  lines.push(`  <uuid>${e(spec.uuid)}</uuid>`);
  lines.push("  <metadata>");
  lines.push(`    <nf:network xmlns:nf="${NETFORGE_XMLNS}">`);
  lines.push(`      <nf:type>${e(spec.type)}</nf:type>`);
  lines.push(`      <nf:description>${e(spec.description)}</nf:description>`);
  lines.push(`      <nf:createdAt>${e(spec.createdAt)}</nf:createdAt>`);
  lines.push("    </nf:network>");
  lines.push("  </metadata>");
  if (spec.type === "nat") {
    // Masquerade from the default port range; libvirt writes the iptables rules.
    lines.push("  <forward mode='nat'/>");
  }
  lines.push(`  <bridge name='${e(spec.bridge)}' stp='on' delay='0'/>`);
  if (spec.dhcp.enabled && spec.dhcp.start && spec.dhcp.end) {
    lines.push(`  <ip address='${e(spec.gateway)}' prefix='${prefix}'>`);
    lines.push("    <dhcp>");
    lines.push(`      <range start='${e(spec.dhcp.start)}' end='${e(spec.dhcp.end)}'>`);
    lines.push(`        <lease expiry='${Number(spec.dhcp.leaseTime ?? 3600)}' unit='seconds'/>`);
    lines.push("      </range>");
    lines.push("    </dhcp>");
    lines.push("  </ip>");
  } else {
    lines.push(`  <ip address='${e(spec.gateway)}' prefix='${prefix}'/>`);
  }
  lines.push("</network>");
  return `${lines.join("\n")}\n`;
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
  forwardMode: string | null;
  bridge: string | null;
  /** First IPv4 <ip> element, as CIDR of its subnet, with the gateway address. */
  cidr: string | null;
  gateway: string | null;
  dhcp: { start: string; end: string; leaseTime: number | null } | null;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  // Text as written: a description may begin or end with spaces (whitespace between elements is never read).
  trimValues: false,
  isArray: (name) => name === "ip" || name === "range" || name === "host",
});

type Node = Record<string, unknown>;
const str = (v: unknown): string | null =>
  typeof v === "string" ? v : v && typeof v === "object" && "#text" in v ? String((v as Node)["#text"]) : null;

/** Parse `virsh net-dumpxml` output. */
export function parseNetworkXml(xml: string): ParsedNetwork {
  const doc = parser.parse(xml) as Node;
  const net = (doc.network ?? {}) as Node;
  const meta = ((net.metadata as Node | undefined)?.network ?? null) as Node | null;
  const type = meta ? (str(meta.type) as NetworkType | null) : null;
  const forward = net.forward as Node | undefined;
  const bridge = net.bridge as Node | undefined;
  let cidr: string | null = null;
  let gateway: string | null = null;
  let dhcp: ParsedNetwork["dhcp"] = null;
  const ips = (net.ip as Node[] | undefined) ?? [];
  const v4 = ips.find((ip) => (ip["@family"] ?? "ipv4") === "ipv4");
  if (v4) {
    gateway = str(v4["@address"]);
    const addr = gateway ? parseIPv4(gateway) : null;
    let prefix: number | null = v4["@prefix"] !== undefined ? Number(v4["@prefix"]) : null;
    if (prefix === null && typeof v4["@netmask"] === "string") {
      const mask = parseIPv4(v4["@netmask"]);
      prefix = mask === null ? null : 32 - Math.log2(2 ** 32 - mask);
    }
    if (addr !== null && prefix !== null && Number.isInteger(prefix)) cidr = formatCidr(cidrOf(addr, prefix));
    const range = ((v4.dhcp as Node | undefined)?.range as Node[] | undefined)?.[0];
    if (range) {
      const lease = range.lease as Node | undefined;
      let leaseTime: number | null = null;
      if (lease && lease["@expiry"] !== undefined) {
        const unit = String(lease["@unit"] ?? "minutes");
        const n = Number(lease["@expiry"]);
        leaseTime = unit === "seconds" ? n : unit === "hours" ? n * 3600 : n * 60;
      }
      dhcp = { start: String(range["@start"]), end: String(range["@end"]), leaseTime };
    }
  }
  return {
    name: str(net.name) ?? "",
    uuid: str(net.uuid) ?? "",
    managed: meta !== null,
    type,
    description: meta ? (str(meta.description) ?? "") : "",
    createdAt: meta ? str(meta.createdAt) : null,
    // A bare <forward/> parses as "": it is still a forward element (libvirt defaults its mode to nat).
    forwardMode: forward !== undefined ? (str(forward["@mode"]) ?? "nat") : null,
    bridge: bridge ? str(bridge["@name"]) : null,
    cidr,
    gateway,
    dhcp,
  };
}
