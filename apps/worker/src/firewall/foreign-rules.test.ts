/**
 * The fixtures are real: `nft -j list ruleset` and `iptables-nft-save -t filter` (the same text format as
 * iptables-legacy-save) of a scratch network namespace holding netforge's table for `web` (nat, nf-web,
 * 10.70.0.0/24) and `iso` (isolated, nf-iso, 10.71.0.0/24), rules added with iptables (iptables-nft: table ip
 * filter, with DOCKER-USER and LIBVIRT_FWI chains), a host firewall that accepts netforge's bridges before its
 * final drop (inet hostfw), and one that drops things of its own (inet guard). See the listing in the comment
 * at the end of this file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { droppingRules, dropPolicies, type ProbeNetwork, ruleFromNftExpr, rulesFromIptablesSave, rulesFromNftJson } from "./foreign-rules";

const fixture = (f: string) => readFileSync(join(__dirname, "__fixtures__", f), "utf8");
const nets: ProbeNetwork[] = [
  { name: "web", reachOutside: true, bridge: "nf-web", cidr: "10.70.0.0/24" },
  { name: "iso", reachOutside: false, bridge: "nf-iso", cidr: "10.71.0.0/24" },
];

describe("drop/reject rules of other tables (nft -j list ruleset)", () => {
  const tables = rulesFromNftJson(fixture("ruleset-mixed.json"));
  const w = droppingRules(tables, nets);
  const find = (s: string) => w.filter((x) => x.includes(s));

  it("reads every foreign table, never netforge's own", () => {
    expect(tables.map((t) => t.label).sort()).toEqual(["table inet guard", "table inet hostfw", "table ip filter"]);
  });

  it("reports the rules that hit netforge's traffic, saying which traffic of which network", () => {
    expect(find("\"ip daddr 10.70.0.0/24 reject\" in chain 'FORWARD' of table ip filter")[0]).toMatch(
      /rejects traffic to its VMs \(port forwards, replies\) of network 'web'/,
    );
    expect(
      find("\"oifname \"nf-web\" drop\" in chain 'DOCKER-USER' of table ip filter (reached from 'FORWARD' -> 'DOCKER-USER'"),
    ).toHaveLength(1);
    expect(find('"iifname "eth*" ip saddr != 192.168.0.0/16 udp dport 5000-5100 drop"')[0]).toMatch(/traffic to its VMs/);
    expect(find('"iifname "nf-iso" udp dport 67 drop" in chain \'INPUT\'')[0]).toMatch(
      /DHCP\/DNS from its VMs to the host of network 'iso'/,
    );
    expect(find('"ip saddr 203.0.113.0/24 drop"')[0]).toMatch(/drops traffic to its VMs .* of network 'web'$|network 'web'; it wins/);
    expect(find('"ip saddr 203.0.113.0/24 drop"')[0]).not.toMatch(/from its VMs/);
    expect(find('"ip daddr { 192.0.2.0/24, 198.51.100.7 } tcp dport { 80, 443 } reject"')[0]).toMatch(
      /traffic from its VMs of network 'web'/,
    );
    expect(find('"iifname != "lo" ip daddr 172.16.0.0/12 drop"')).toHaveLength(1);
    // Reached through `goto` with the jump rule's own matches (ct state new, oifname nf-web) carried along.
    expect(find("chain 'blockweb' of table inet guard (reached from 'guard_forward' -> 'blockweb', hook forward)")[0]).toMatch(
      /drops traffic to its VMs/,
    );
    // udp 53 in input: both networks' DNS.
    expect(find('"udp dport 53 drop"')[0]).toMatch(/network 'web'; DHCP\/DNS from its VMs to the host of network 'iso'/);
    // An iptables extension nft shows only as `xt` is assumed to match (here: -m conntrack --ctstate INVALID).
    expect(find('"xt match conntrack drop"')).toHaveLength(1);
  });

  it("leaves out rules that cannot hit it: other interfaces, other ports, ct state invalid, after an accept of nf-*", () => {
    expect(find('"iifname "eth9" oifname "eth8" drop"')).toEqual([]);
    expect(find('oifname "virbr0"')).toEqual([]);
    expect(find('"tcp dport 22 drop"')).toEqual([]);
    expect(find('"tcp dport 8080 drop"')).toEqual([]);
    expect(find('iifname "eth1" oifname "eth0"')).toEqual([]);
    expect(find("table inet hostfw")).toEqual([]); // ct state invalid drop; nf-* accepted both ways before its drop
    expect(w).toHaveLength(10);
  });

  it("an isolated network alone has no forwarded traffic to lose; with no network nothing is reported", () => {
    expect(droppingRules(tables, [nets[1] as ProbeNetwork]).every((x) => x.includes("DHCP/DNS"))).toBe(true);
    expect(droppingRules(tables, [])).toEqual([]);
  });

  it("a network outside the rules' ranges is not hit by them", () => {
    const other = droppingRules(tables, [{ name: "lab", reachOutside: true, bridge: "nf-lab", cidr: "172.16.5.0/24" }]);
    // 10.70.0.0/24 is only a destination lab's VMs might try, never lab's own subnet.
    expect(other.filter((x) => x.includes("10.70.0.0/24"))).toEqual([
      expect.stringMatching(/rejects traffic from its VMs of network 'lab'; it wins/),
    ]);
    expect(other.some((x) => x.includes("172.16.0.0/12"))).toBe(true);
    expect(other.some((x) => x.includes('oifname "nf-web"'))).toBe(false);
  });
});

describe("ruleFromNftExpr", () => {
  it("a named set is unknown, so the rule is assumed to match", () => {
    const r = ruleFromNftExpr([
      { match: { op: "==", left: { meta: { key: "oifname" } }, right: "@blocked_ifs" } },
      { match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right: "@blocked_nets" } },
      { drop: null },
    ]);
    expect(r.oif).toBeUndefined();
    expect(r.daddr?.cidrs).toBeNull();
    const table = { label: "table inet t", chains: new Map([["f", { name: "f", hook: "forward", rules: [r] }]]) };
    expect(droppingRules([table], nets)).toHaveLength(1);
  });

  it("reads interface sets, negations, ranges and verdicts", () => {
    const r = ruleFromNftExpr([
      { match: { op: "!=", left: { meta: { key: "iifname" } }, right: { set: ["eth0", "eth1"] } } },
      { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: { range: [60, 70] } } },
      { counter: { packets: 0, bytes: 0 } },
      { reject: { type: "icmpx", expr: "port-unreachable" } },
    ]);
    expect(r).toEqual({
      iif: { neg: true, names: ["eth0", "eth1"] },
      dport: { neg: false, proto: "udp", ranges: [[60, 70]] },
      other: [],
      verdict: "reject",
    });
  });
});

describe("iptables-legacy (iptables-save -t filter)", () => {
  const tables = rulesFromIptablesSave(fixture("iptables-save-filter.txt"));
  const w = droppingRules(tables, nets);

  it("finds the same rules as the nft listing of the same iptables rules (the INVALID drop is readable here)", () => {
    expect(w.map((x) => /rule "([^"]*(?:"[^"]*"[^"]*)*)" in/.exec(x)?.[1])).toEqual([
      'iifname "nf-iso" meta l4proto udp udp dport 67 drop',
      "ip daddr 10.70.0.0/24 reject",
      'oifname "nf-web" drop',
      'iifname "eth*" ip saddr != 192.168.0.0/16 meta l4proto udp udp dport 5000-5100 drop',
    ]);
    expect(w[0]).toContain("iptables-legacy table filter (hook input)");
    expect(w[2]).toContain("reached from 'FORWARD' -> 'DOCKER-USER'");
  });

  it("reports a DROP policy of FORWARD or INPUT", () => {
    expect(dropPolicies(tables)).toEqual([]);
    const dropped = rulesFromIptablesSave(fixture("iptables-save-filter.txt").replace(":FORWARD ACCEPT", ":FORWARD DROP"));
    expect(dropPolicies(dropped)).toEqual([
      expect.stringMatching(/chain 'FORWARD' of iptables-legacy table filter \(hook forward\) has policy drop/),
    ]);
    expect(rulesFromIptablesSave("")).toEqual([]);
  });
});
