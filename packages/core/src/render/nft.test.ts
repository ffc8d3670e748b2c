import { describe, expect, it } from "vitest";
import { golden } from "./__golden__/golden";
import type { FirewallSpec } from "../planner/firewall";
import { type FirewallNetwork, renderHostTable, renderTableDelta, renderNetworkChains } from "./nft";

// Golden files: the exact nft transaction for representative hosts (the libvirt way of testing firewall
// rules). Regenerate with UPDATE_GOLDEN=1 after an intended change; each was loaded by `nft -c -f` in a
// scratch network namespace when written.

const rules: FirewallSpec = {
  defaultInbound: "drop",
  defaultOutbound: "accept",
  rules: [
    {
      direction: "inbound",
      protocol: "tcp",
      source: "10.0.0.0/8",
      destination: null,
      ports: "22",
      action: "accept",
      comment: "ssh from office",
    },
    {
      direction: "inbound",
      protocol: "tcp",
      source: "192.0.2.0/24",
      destination: null,
      ports: "8000-8100",
      action: "reject",
      comment: null,
    },
    { direction: "inbound", protocol: "icmp", source: null, destination: null, ports: null, action: "accept", comment: null },
    { direction: "outbound", protocol: "udp", source: null, destination: "0.0.0.0/0", ports: "5000-5100", action: "reject", comment: null },
    { direction: "outbound", protocol: "any", source: null, destination: "198.51.100.0/24", ports: null, action: "drop", comment: null },
  ],
};
const web: FirewallNetwork = {
  name: "web",
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: "nf-web",
  cidr: "10.70.0.0/24",
  firewall: {
    ...rules,
    hostServices: [
      { protocol: "tcp", ports: "8443" },
      { protocol: "udp", ports: "5000-5100" },
    ],
  },
  portForwards: [
    { protocol: "tcp", hostPort: 8080, vmIp: "10.70.0.10", vmPort: 80 },
    { protocol: "tcp", hostPort: 2222, vmIp: "10.70.0.10", vmPort: 22 },
    { protocol: "udp", hostPort: 5353, vmIp: "10.70.0.11", vmPort: 53 },
  ],
  ownsTypeRules: true,
};
const iso: FirewallNetwork = {
  name: "iso",
  reachOutside: false,
  masquerade: false,
  forwardsPorts: false,
  bridge: "nf-iso",
  cidr: "10.71.0.0/24",
  firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
  portForwards: [],
  ownsTypeRules: true,
};

describe("renderHostTable", () => {
  it("a host with a nat network (rules, forwards) and an isolated one", () => golden("host-nat-isolated.nft", renderHostTable([web, iso])));
  it("a host with no running network: an empty table (its maps and hooks only)", () => golden("host-empty.nft", renderHostTable([])));
  it("a nat network still on libvirt's own rules gets no masquerade from us", () => {
    const text = renderHostTable([{ ...web, ownsTypeRules: false }]);
    expect(text).not.toContain("masquerade");
    expect(text).toContain("chain web-in-rules");
  });
  it("is one transaction: create-if-missing, delete, create whole", () => {
    expect(renderHostTable([iso]).split("\n").slice(0, 3)).toEqual([
      "table inet netforge {}",
      "delete table inet netforge",
      "table inet netforge {",
    ]);
  });
  it("is the same text whatever the order networks come in", () => {
    expect(renderHostTable([iso, web])).toBe(renderHostTable([web, iso]));
  });
  it("forwards of an isolated network are never rendered", () => {
    const text = renderHostTable([{ ...iso, portForwards: [{ protocol: "tcp", hostPort: 1, vmIp: "10.71.0.5", vmPort: 1 }] }]);
    expect(text).not.toContain("10.71.0.5");
  });
});

describe("renderNetworkChains: rule by rule", () => {
  const one = (r: Partial<FirewallSpec["rules"][number]>, d: Partial<FirewallSpec> = {}) =>
    renderNetworkChains({
      ...iso,
      reachOutside: true,
      masquerade: true,
      forwardsPorts: true,
      firewall: {
        defaultInbound: "accept",
        defaultOutbound: "accept",
        ...d,
        rules: [
          { direction: "inbound", protocol: "any", source: null, destination: null, ports: null, action: "accept", comment: null, ...r },
        ],
      },
    });
  it("first match wins: rules keep their order, then the default for the direction", () => {
    const text = renderHostTable([web]);
    const i = text.indexOf("ip saddr 10.0.0.0/8 tcp dport 22 accept");
    const j = text.indexOf("ip saddr 192.0.2.0/24 tcp dport 8000-8100 reject with tcp reset");
    const k = text.indexOf("meta l4proto icmp accept");
    expect(i).toBeGreaterThan(0);
    expect(j).toBeGreaterThan(i);
    expect(k).toBeGreaterThan(j);
    expect(text.slice(k).split("\n")[1]?.trim()).toBe("drop");
  });
  it("reject: a TCP reset for tcp rules, ICMP unreachable otherwise", () => {
    expect(one({ protocol: "tcp", action: "reject" })).toContain("meta l4proto tcp reject with tcp reset");
    expect(one({ protocol: "udp", ports: "53", action: "reject" })).toContain("udp dport 53 reject\n");
  });
  it("an accepted outbound rule returns (VM-to-VM traffic still meets the target's inbound rules)", () => {
    expect(one({ direction: "outbound", destination: "10.0.0.0/8" })).toContain("ip daddr 10.0.0.0/8 return");
  });
  it("a default of reject or drop ends the chain", () => {
    const text = one({ direction: "outbound", action: "accept" }, { defaultInbound: "reject", defaultOutbound: "drop" });
    expect(text).toContain("chain iso-in-rules {\n\t\treject\n\t}");
    expect(text).toMatch(/return\n\t\tdrop\n\t\}/);
  });
  it("is stateful: replies of allowed connections pass before any rule", () => {
    const text = one({ action: "drop" });
    expect(text.indexOf("ct state established,related accept")).toBeLessThan(text.indexOf("drop"));
  });
  it("refuses what validation should have stopped (the renderer does not trust callers)", () => {
    expect(() => one({ source: "10.0.0.1/8" })).toThrow(/CIDR/);
    expect(() => one({ source: '1.2.3.4/32" ; flush ruleset' })).toThrow(/CIDR/);
    expect(() => one({ protocol: "tcp", ports: "70000" })).toThrow(/port/);
    expect(() => one({ protocol: "tcp", ports: "90-80" })).toThrow(/ports/);
    expect(() => one({ protocol: "icmp", ports: "22" })).toThrow(/icmp/);
    expect(() => one({ comment: 'x" accept' })).toThrow(/comment/);
    expect(() => renderNetworkChains({ ...iso, bridge: 'br" ; x' })).toThrow(/bridge/);
    expect(() => renderNetworkChains({ ...iso, name: "Bad Name" })).toThrow(/network name/);
    expect(() => renderHostTable([{ ...web, portForwards: [{ protocol: "tcp", hostPort: 0, vmIp: "10.70.0.9", vmPort: 1 }] }])).toThrow(
      /port/,
    );
  });
});

describe("what a network's VMs reach on the host itself (the input hook)", () => {
  const hostChain = (text: string, name: string) =>
    text
      .split(`\tchain ${name}-host {\n`)[1]
      ?.split("\n\t}")[0]
      ?.split("\n")
      .map((l) => l.trim());
  it("DHCP, DNS, ICMP errors, ping of the gateway, neighbour discovery; nothing else (sshd, the API, libvirtd...)", () => {
    expect(hostChain(renderHostTable([iso]), "iso")).toEqual([
      "ct state established,related accept",
      "meta nfproto ipv4 udp dport { 53, 67 } accept",
      "meta nfproto ipv4 tcp dport 53 accept",
      "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept",
      "icmp type echo-request fib daddr . iif type local accept",
      "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept",
      'drop comment "netforge: VM to host"',
    ]);
  });
  it("the opted-in host services open before the drop (IPv4 only), in their order", () => {
    const lines = hostChain(renderHostTable([web]), "web") ?? [];
    expect(lines.slice(-3)).toEqual([
      "meta nfproto ipv4 tcp dport 8443 accept",
      "meta nfproto ipv4 udp dport 5000-5100 accept",
      'drop comment "netforge: VM to host"',
    ]);
    // The user's rules (traffic to and from the VMs) never open the host: none of them is in its chain.
    expect(lines.join("\n")).not.toContain("ssh from office");
  });
  it("only the networks' own bridges are sent to their host chains: every other interface (the LAN, bridge networks) is untouched", () => {
    const text = renderHostTable([web, iso]);
    const input = text
      .split("\tchain input {\n")[1]
      ?.split("\n\t}")[0]
      ?.split("\n")
      .map((l) => l.trim());
    expect(input).toEqual([
      "type filter hook input priority filter; policy accept;",
      'iifname "nf-iso" counter name "iso-traffic-out" counter name "iso_network-out" update @traffic-vm-out { iifname . ether saddr } update @traffic-vm-network-out { iifname . ether saddr }',
      'iifname "nf-iso" jump iso-host',
      'iifname "nf-web" counter name "web-traffic-out" counter name "web_network-out" update @traffic-vm-out { iifname . ether saddr } update @traffic-vm-network-out { iifname . ether saddr }',
      'iifname "nf-web" jump web-host',
    ]);
    expect(renderHostTable([])).toContain("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}");
  });
  it("no IPv6 leaves a nat network (the anti-spoof rule is IPv4 only); an isolated one sends nothing out at all", () => {
    const out = (n: FirewallNetwork) => renderNetworkChains(n).split(`\tchain ${n.name}-out {\n`)[1]?.split("\n")[1]?.trim();
    expect(out(web)).toBe('oifname != "nf-web" meta nfproto ipv6 reject');
    expect(renderNetworkChains(iso)).toContain('chain iso-out {\n\t\toifname != "nf-iso" reject\n\t\tct state');
  });
  it("the dry run's chains carry the host chain", () => {
    expect(renderNetworkChains(web)).toContain("\tchain web-host {\n");
  });
  it("refuses host services validation should have stopped", () => {
    const bad = (s: { protocol: string; ports: string }) =>
      renderNetworkChains({ ...iso, firewall: { ...iso.firewall, hostServices: [s as { protocol: "tcp"; ports: string }] } });
    expect(() => bad({ protocol: "tcp", ports: "0" })).toThrow(/port/);
    expect(() => bad({ protocol: "tcp", ports: "22; flush ruleset" })).toThrow(/ports/);
    expect(() => bad({ protocol: "tcp", ports: "90-80" })).toThrow(/ports/);
    expect(() => bad({ protocol: "icmp", ports: "22" })).toThrow(/protocol/);
  });
});

describe("renderTableDelta: forwards as map element updates, rule sets as their chains refilled", () => {
  const f = (hostPort: number, vmIp = "10.70.0.10", vmPort = 80, protocol: "tcp" | "udp" = "tcp") => ({ protocol, hostPort, vmIp, vmPort });
  it("an added, a removed and a re-targeted forward: delete before add, one transaction", () => {
    const before = [{ ...web, portForwards: [f(8080), f(2222), f(5353, "10.70.0.11", 53, "udp")] }, iso];
    const after = [{ ...web, portForwards: [f(8080, "10.70.0.12"), f(5353, "10.70.0.11", 53, "udp"), f(9000)] }, iso];
    expect(renderTableDelta(before, after)).toBe(
      [
        "delete element inet netforge fwd-tcp { 2222 }",
        "delete element inet netforge fwd-tcp { 8080 }",
        "add element inet netforge fwd-tcp { 8080 : 10.70.0.12 . 80 }",
        "add element inet netforge fwd-tcp { 9000 : 10.70.0.10 . 80 }",
        "",
      ].join("\n"),
    );
  });
  it("nothing changed: empty; networks, bridges, subnets or types changed: null (the whole table is replaced)", () => {
    expect(renderTableDelta([web, iso], [iso, web])).toBe("");
    expect(renderTableDelta([web], [web, iso])).toBeNull();
    expect(renderTableDelta([web, iso], [web])).toBeNull();
    expect(renderTableDelta([web], [{ ...web, name: "web2" }])).toBeNull();
    expect(renderTableDelta([web], [{ ...web, bridge: "nf-web2" }])).toBeNull();
    expect(renderTableDelta([web], [{ ...web, cidr: "10.70.1.0/24" }])).toBeNull();
    expect(renderTableDelta([iso], [{ ...iso, reachOutside: true, masquerade: true, forwardsPorts: true }])).toBeNull();
    expect(renderTableDelta([web], [{ ...web, ownsTypeRules: false }])).toBeNull();
  });
  it("a new rule set: that network's two rule chains flushed and refilled with the whole table's lines, nothing else", () => {
    const after = [{ ...web, firewall: { ...web.firewall, defaultInbound: "accept" as const, rules: rules.rules.slice(0, 2) } }, iso];
    const delta = renderTableDelta([web, iso], after) as string;
    golden("delta-rules.nft", delta);
    // Every rule line is one of the whole table's lines for the same state, in the same order.
    const whole = renderHostTable(after);
    for (const chain of ["web-in-rules", "web-out"]) {
      const added = delta
        .split("\n")
        .filter((l) => l.startsWith(`add rule inet netforge ${chain} `))
        .map((l) => l.slice(`add rule inet netforge ${chain} `.length));
      const inWhole = whole
        .split(`\tchain ${chain} {\n`)[1]
        ?.split("\n\t}")[0]
        ?.split("\n")
        .map((l) => l.trim());
      expect(added).toEqual(inWhole);
    }
    expect(delta).not.toContain("iso");
    expect(delta).not.toContain("element");
    expect(delta).not.toContain("web-host"); // host services unchanged
  });
  it("new host services: the host chain refilled with the whole table's lines", () => {
    const after = [{ ...web, firewall: { ...web.firewall, hostServices: [{ protocol: "tcp" as const, ports: "9000" }] } }];
    const delta = renderTableDelta([web], after) as string;
    const added = delta
      .split("\n")
      .filter((l) => l.startsWith("add rule inet netforge web-host "))
      .map((l) => l.slice("add rule inet netforge web-host ".length));
    expect(delta).toContain("flush chain inet netforge web-host\n");
    expect(added.slice(-2)).toEqual(["meta nfproto ipv4 tcp dport 9000 accept", 'drop comment "netforge: VM to host"']);
    expect(added).toEqual(
      renderHostTable(after)
        .split("\tchain web-host {\n")[1]
        ?.split("\n\t}")[0]
        ?.split("\n")
        .map((l) => l.trim()),
    );
    // Dropping them all closes the host again.
    const none = renderTableDelta(after, [{ ...web, firewall: { ...web.firewall, hostServices: [] } }]) as string;
    expect(none).not.toContain("dport 9000");
    expect(none).toContain('add rule inet netforge web-host drop comment "netforge: VM to host"');
  });
  it("forwards and rules changed together: one transaction with both", () => {
    const after = [{ ...web, portForwards: [], firewall: { ...rules, rules: [] } }];
    const delta = renderTableDelta([web], after) as string;
    expect(delta.split("\n").filter((l) => l.startsWith("delete element"))).toHaveLength(3);
    expect(delta).toContain("flush chain inet netforge web-in-rules\nadd rule inet netforge web-in-rules drop\n");
  });
  it("checks what it writes like the full renderer", () => {
    expect(() => renderTableDelta([web], [{ ...web, portForwards: [f(1, "10.70.0.300")] }])).toThrow(/address/);
  });
});
