/**
 * Reading netforge's <metadata> element back (the parser's side of render/network-xml.ts): the node shape the
 * XML parser gives, text and attribute values with their entities decoded, the compact lists, and the firewall
 * and port forwards a spec keeps. A leaf (no imports of the drivers or the renderer), so the drivers' spec
 * readers (drivers/spec-readers.ts) and the parser can both use it without an import cycle.
 */
import type { FirewallAction, FirewallRule, FirewallSpec, HostService, PortForwardSpec } from "../planner/firewall";

/** An element as the parser gives it: attributes as `@name`, children by name, text as `#text`. */
export type MetaNode = Record<string, unknown>;
type Node = MetaNode;
const unescaped = (s: string): string => (s.includes("&") ? xmlUnescape(s) : s);
export const str = (v: unknown): string | null =>
  typeof v === "string" ? unescaped(v) : v && typeof v === "object" && "#text" in v ? unescaped(String((v as Node)["#text"])) : null;
export const attr = (n: Node, name: string): string | null =>
  typeof n[`@${name}`] === "string" ? unescaped(n[`@${name}`] as string) : null;

export function xmlUnescape(s: string): string {
  return s.replace(/&(lt|gt|amp|apos|quot|#\d+|#x[0-9A-Fa-f]+);/g, (_, ent: string) => {
    if (ent === "lt") return "<";
    if (ent === "gt") return ">";
    if (ent === "amp") return "&";
    if (ent === "apos") return "'";
    if (ent === "quot") return '"';
    return String.fromCodePoint(ent[1] === "x" ? Number.parseInt(ent.slice(2), 16) : Number(ent.slice(1)));
  });
}

export function unfield(s: string | undefined): string | null {
  if (s === undefined || s === "-") return null;
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** The items of a compact list (any whitespace between them: libvirt may re-indent). */
export const compactItems = (text: string | null): string[][] => (text ?? "").split(/\s+/).flatMap((i) => (i ? [i.split(",")] : []));

export function forwardOf(
  protocol: string | null,
  hostPort: string | null,
  vmIp: string | null,
  vmPort: string | null,
  hostIp: string | null = null,
): PortForwardSpec[] {
  if ((protocol !== "tcp" && protocol !== "udp") || !vmIp) return [];
  return [{ protocol, hostPort: Number(hostPort), vmIp, vmPort: Number(vmPort), ...(hostIp ? { hostIp } : {}) }];
}

const ACTIONS: readonly string[] = ["accept", "drop", "reject"];
const verdictOf = (v: string | null): FirewallAction => (v !== null && ACTIONS.includes(v) ? (v as FirewallAction) : "accept");

export function firewallFromMetadata(n: unknown): FirewallSpec | null {
  if (!n || typeof n !== "object") return n === "" ? { defaultInbound: "accept", defaultOutbound: "accept", rules: [] } : null;
  const node = n as Node;
  const rule = (
    direction: string | null,
    protocol: string | null,
    source: string | null,
    destination: string | null,
    ports: string | null,
    action: string | null,
    comment: string | null,
  ): FirewallRule => ({
    direction: direction === "outbound" ? "outbound" : "inbound",
    protocol: (protocol ?? "any") as FirewallRule["protocol"],
    source,
    destination,
    ports,
    action: verdictOf(action),
    comment,
  });
  // Element form (earlier versions), then the compact list.
  const rules = ((node.rule as Node[] | undefined) ?? []).map((r) =>
    rule(
      attr(r, "direction"),
      attr(r, "protocol"),
      attr(r, "source"),
      attr(r, "destination"),
      attr(r, "ports"),
      attr(r, "action"),
      attr(r, "comment"),
    ),
  );
  for (const f of compactItems(str(node.rules))) {
    const [direction, protocol, source, destination, ports, action, comment] = f.map((x) => unfield(x));
    rules.push(
      rule(direction ?? null, protocol ?? null, source ?? null, destination ?? null, ports ?? null, action ?? null, comment ?? null),
    );
  }
  const spec: FirewallSpec = {
    defaultInbound: verdictOf(attr(node, "defaultInbound")),
    defaultOutbound: verdictOf(attr(node, "defaultOutbound")),
    rules,
  };
  const services = compactItems(str(node.hostServices)).flatMap(([protocol, ports]): HostService[] => {
    const p = unfield(protocol);
    const range = unfield(ports);
    return (p === "tcp" || p === "udp") && range ? [{ protocol: p, ports: range }] : [];
  });
  if (services.length > 0) spec.hostServices = services;
  return spec;
}
