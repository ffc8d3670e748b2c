/**
 * Port forwards bound to one host address (hostIp) in netforge's nft table: their own maps keyed by host
 * address . port, looked up before the every-address map, present only while such a forward exists, and
 * changed as map elements by the delta. The golden holds the forward part of the table (maps and the two
 * DNAT chains); the whole text was loaded with `nft -f` in a scratch network namespace when written.
 */
import { describe, expect, it } from "vitest";
import type { PortForwardSpec } from "../planner/firewall";
import { golden } from "./__golden__/golden";
import { type FirewallNetwork, renderHostTable, renderTableDelta } from "./nft";

const net = (name: string, n: number, portForwards: PortForwardSpec[]): FirewallNetwork => ({
  name,
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: `nf-${name}`,
  cidr: `10.${n}.0.0/24`,
  firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
  portForwards,
  ownsTypeRules: true,
});
const all: PortForwardSpec = { protocol: "tcp", hostPort: 2222, vmIp: "10.70.0.10", vmPort: 22 };
const bound: PortForwardSpec[] = [
  { protocol: "tcp", hostPort: 8443, vmIp: "10.70.0.11", vmPort: 443, hostIp: "198.51.100.3" },
  { protocol: "tcp", hostPort: 8443, vmIp: "10.71.0.12", vmPort: 443, hostIp: "198.51.100.2" },
  { protocol: "udp", hostPort: 5353, vmIp: "10.70.0.11", vmPort: 53, hostIp: "203.0.113.7" },
];

/** The forward part of a table: from its first map to the end of the output-nat chain. */
const forwardPart = (text: string): string => {
  const lines = text.split("\n");
  const from = lines.findIndex((l) => l.startsWith("\tmap "));
  const chain = lines.indexOf("\tchain output-nat {");
  const to = lines.findIndex((l, i) => i > chain && l === "\t}");
  return `${lines.slice(from, to + 1).join("\n")}\n`;
};

describe("forwards bound to one host address", () => {
  it("render into fwd-addr-<proto> maps, matched on destination address before the every-address map", () => {
    const text = renderHostTable([
      net("web", 70, [all, bound[0] as PortForwardSpec, bound[2] as PortForwardSpec]),
      net("api", 71, [bound[1] as PortForwardSpec]),
    ]);
    golden("forwards-bound.nft", forwardPart(text));
    // A bound forward is not in the every-address map.
    expect(text).toMatch(
      /map fwd-tcp \{\n\t\ttype inet_service : ipv4_addr \. inet_service\n\t\telements = \{ 2222 : 10\.70\.0\.10 \. 22 \}\n/,
    );
    expect(text).toMatch(/map fwd-udp \{\n\t\ttype inet_service : ipv4_addr \. inet_service\n\t\}/);
  });

  it("a host without any keeps the table it always had (no fwd-addr maps or rules)", () => {
    const text = renderHostTable([net("web", 70, [all])]);
    expect(text).not.toContain("fwd-addr");
    expect(text).toContain("fib daddr type local meta nfproto ipv4 dnat ip addr . port to tcp dport map @fwd-tcp");
  });

  it("refuses a host address that is not an IPv4 address", () => {
    const evil = { ...all, hostIp: "1.2.3.4 } ; flush ruleset ; {" };
    expect(() => renderHostTable([net("web", 70, [evil])])).toThrow(/refusing address/);
  });

  it("delta: the first and last bound forward replace the whole table; others are map elements of their address", () => {
    const none = [net("web", 70, [all])];
    const one = [net("web", 70, [all, bound[0] as PortForwardSpec])];
    expect(renderTableDelta(none, one)).toBeNull();
    expect(renderTableDelta(one, none)).toBeNull();
    const two = [net("web", 70, [all, bound[0] as PortForwardSpec, bound[2] as PortForwardSpec])];
    expect(renderTableDelta(one, two)).toBe("add element inet netforge fwd-addr-udp { 203.0.113.7 . 5353 : 10.70.0.11 . 53 }\n");
    const moved = [net("web", 70, [all, { ...(bound[0] as PortForwardSpec), vmIp: "10.70.0.99" }])];
    expect(renderTableDelta(one, moved)).toBe(
      [
        "delete element inet netforge fwd-addr-tcp { 198.51.100.3 . 8443 }",
        "add element inet netforge fwd-addr-tcp { 198.51.100.3 . 8443 : 10.70.0.99 . 443 }",
        "",
      ].join("\n"),
    );
  });
});
