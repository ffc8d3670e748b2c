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

/**
 * IPv6 port forwards (a v6 vmIp, issue 18): maps of their own (fwd6-<proto>, and fwd6-addr-<proto> for a v6 hostIp),
 * DNAT rules for IPv6 only, present only while such a forward exists (a host without any keeps its table byte for
 * byte), changed as elements by the delta. The golden's whole table was loaded with `nft -f` in a scratch network
 * namespace (`unshare -n`) when written.
 */
describe("IPv6 forwards", () => {
  const v6net = (name: string, n: number, portForwards: PortForwardSpec[]): FirewallNetwork => ({
    ...net(name, n, portForwards),
    ipv6: { cidr: `fd00:${n}::/64`, routed: false },
  });
  const all6: PortForwardSpec = { protocol: "tcp", hostPort: 8080, vmIp: "fd00:70::10", vmPort: 80 };
  const udp6: PortForwardSpec = { protocol: "udp", hostPort: 5353, vmIp: "fd00:71::12", vmPort: 53 };
  const bound6: PortForwardSpec = { protocol: "tcp", hostPort: 8443, vmIp: "fd00:70::11", vmPort: 443, hostIp: "fd00:99::2" };

  it("render into fwd6-<proto> (every host IPv6 address) and fwd6-addr-<proto> (one), beside the IPv4 maps", () => {
    const text = renderHostTable([v6net("web", 70, [all, all6, bound6, bound[0] as PortForwardSpec]), v6net("api", 71, [udp6])]);
    golden("forwards-ipv6.nft", forwardPart(text));
    // IPv4 maps hold only IPv4 targets; each family's DNAT is that family's.
    expect(text).toMatch(
      /map fwd-tcp \{\n\t\ttype inet_service : ipv4_addr \. inet_service\n\t\telements = \{ 2222 : 10\.70\.0\.10 \. 22 \}\n/,
    );
    expect(text).toMatch(
      /map fwd6-tcp \{\n\t\ttype inet_service : ipv6_addr \. inet_service\n\t\telements = \{ 8080 : fd00:70::10 \. 80 \}\n/,
    );
    expect(text).toMatch(
      /map fwd6-udp \{\n\t\ttype inet_service : ipv6_addr \. inet_service\n\t\telements = \{ 5353 : fd00:71::12 \. 53 \}\n/,
    );
    expect(text).toMatch(
      /map fwd6-addr-tcp \{\n\t\ttype ipv6_addr \. inet_service : ipv6_addr \. inet_service\n\t\telements = \{ fd00:99::2 \. 8443 : fd00:70::11 \. 443 \}\n/,
    );
    for (const chain of ["prerouting", "output-nat"]) {
      const body = text.slice(text.indexOf(`\tchain ${chain} {`));
      const rules = body.slice(0, body.indexOf("\n\t}")).split("\n").slice(2);
      expect(rules.filter((l) => l.includes("tcp dport"))).toEqual([
        "\t\tmeta nfproto ipv4 dnat ip addr . port to ip daddr . tcp dport map @fwd-addr-tcp",
        "\t\tfib daddr type local meta nfproto ipv4 dnat ip addr . port to tcp dport map @fwd-tcp",
        "\t\tmeta nfproto ipv6 dnat ip6 addr . port to ip6 daddr . tcp dport map @fwd6-addr-tcp",
        "\t\tfib daddr type local meta nfproto ipv6 dnat ip6 addr . port to tcp dport map @fwd6-tcp",
      ]);
    }
    // A DNATed IPv6 flow meets the network's inbound rules and default, as an IPv4 one (the rule is family-free).
    const inChain = text.slice(text.indexOf("\tchain web-in {"), text.indexOf("\tchain web-in-rules {"));
    expect(inChain).toContain("\t\tct status dnat goto web-in-rules\n");
    expect(inChain).not.toMatch(/ip daddr|nfproto ipv4/);
  });

  it("only the maps a host's forwards need: none without IPv6 forwards; fwd6-addr only with a bound one", () => {
    const v4only = renderHostTable([v6net("web", 70, [all])]);
    expect(v4only).not.toContain("fwd6");
    expect(v4only).not.toContain("nfproto ipv6 dnat");
    const unbound = renderHostTable([v6net("web", 70, [all6])]);
    expect(unbound).toContain("map fwd6-tcp {");
    expect(unbound).not.toContain("fwd6-addr");
    expect(unbound).not.toContain("fwd-addr");
    const onlyBound = renderHostTable([v6net("web", 70, [bound6])]);
    expect(onlyBound).toContain("map fwd6-addr-tcp {");
    expect(onlyBound).not.toContain("map fwd6-tcp {");
    // A network whose type forwards no ports (isolated) renders none of its forwards.
    expect(renderHostTable([{ ...v6net("web", 70, [all6]), forwardsPorts: false }])).not.toContain("fwd6");
  });

  it("refuses an IPv6 address that is not one canonical address (a map key is removed by the text it was added with)", () => {
    for (const vmIp of ["FD00:70::10", "fd00:70:0::10", "fd00:70::10 . 1 } ; flush ruleset ; {", "10.70.0.10.1"]) {
      expect(() => renderHostTable([v6net("web", 70, [{ ...all6, vmIp }])]), vmIp).toThrow(/refusing (IPv6 )?address/);
    }
    expect(() => renderHostTable([v6net("web", 70, [{ ...bound6, hostIp: "fd00:99::2/64" }])])).toThrow(/refusing IPv6 address/);
  });

  it("delta: the first and last IPv6 forward (of each kind) replace the whole table; others are elements of the fwd6 maps", () => {
    const none = [v6net("web", 70, [all])];
    const one = [v6net("web", 70, [all, all6])];
    expect(renderTableDelta(none, one)).toBeNull();
    expect(renderTableDelta(one, none)).toBeNull();
    // The first bound IPv6 forward brings its maps: the whole table.
    expect(renderTableDelta(one, [v6net("web", 70, [all, all6, bound6])])).toBeNull();
    const two = [v6net("web", 70, [all, all6, { ...all6, hostPort: 8081, vmPort: 81 }])];
    expect(renderTableDelta(one, two)).toBe("add element inet netforge fwd6-tcp { 8081 : fd00:70::10 . 81 }\n");
    expect(renderTableDelta(two, one)).toBe("delete element inet netforge fwd6-tcp { 8081 }\n");
    const withBound = [v6net("web", 70, [all, all6, bound6])];
    const moved = [v6net("web", 70, [all, all6, { ...bound6, vmIp: "fd00:70::99" }])];
    expect(renderTableDelta(withBound, moved)).toBe(
      [
        "delete element inet netforge fwd6-addr-tcp { fd00:99::2 . 8443 }",
        "add element inet netforge fwd6-addr-tcp { fd00:99::2 . 8443 : fd00:70::99 . 443 }",
        "",
      ].join("\n"),
    );
    // An IPv4 forward changing beside them stays in the IPv4 map.
    const v4moved = [v6net("web", 70, [{ ...all, vmIp: "10.70.0.20" }, all6])];
    expect(renderTableDelta(one, v4moved)).toBe(
      ["delete element inet netforge fwd-tcp { 2222 }", "add element inet netforge fwd-tcp { 2222 : 10.70.0.20 . 22 }", ""].join("\n"),
    );
  });
});
