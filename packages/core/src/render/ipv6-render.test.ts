import { describe, expect, it } from "vitest";
import { golden } from "./__golden__/golden";
import type { NetworkSpec } from "../schemas/network";
import { parseNetworkXml } from "./network-xml";
import { renderNetworkXml } from "../drivers/registry";
import { specFromCreate } from "../drivers/routed";
import { natModel } from "../drivers/nat";
import { isolatedModel } from "../drivers/isolated";
import { type FirewallNetwork, renderHostTable, renderNetworkChains, renderTableDelta } from "./nft";
import type { RoutedNetSpec } from "../planner/network-spec";

const created: NetworkSpec = {
  name: "web6",
  type: "nat",
  uuid: "6e3fce45-4f53-4fa7-bb32-11f34168329c",
  host: "h1",
  description: "dual stack",
  cidr: "10.66.0.0/24",
  gateway: "10.66.0.1",
  dhcp: { enabled: true, start: "10.66.0.128", end: "10.66.0.254", leaseTime: 3600 },
  autostart: true,
  bridge: "nf-web6",
  createdAt: "2026-12-07T00:00:00.000Z",
  ipv6: { cidr: "fd66:1:2:3::/64", gateway: "fd66:1:2:3::1", mode: "slaac", dhcp: null, routed: false },
};
const slaac = specFromCreate(created) as RoutedNetSpec;
const dhcpv6 = specFromCreate({
  ...created,
  name: "iso6",
  type: "isolated",
  bridge: "nf-iso6",
  cidr: "10.67.0.0/24",
  gateway: "10.67.0.1",
  dhcp: { enabled: false, start: null, end: null, leaseTime: null },
  mtu: 1400,
  ipv6: {
    cidr: "fd67::/64",
    gateway: "fd67::1",
    mode: "dhcpv6",
    dhcp: { start: "fd67::100", end: "fd67::1ff", leaseTime: 600 },
    routed: false,
  },
}) as RoutedNetSpec;

describe("IPv6 in the network definition", () => {
  it("slaac: a second <ip family='ipv6'> with the gateway, no DHCPv6 range (golden)", () =>
    golden("nat-ipv6-slaac.xml", renderNetworkXml(slaac)));
  it("dhcpv6: the range with its lease time, beside an MTU (golden)", () => golden("isolated-ipv6-dhcpv6.xml", renderNetworkXml(dhcpv6)));

  it("parses back to the same spec; describe shows it", () => {
    for (const s of [slaac, dhcpv6]) {
      expect(parseNetworkXml(renderNetworkXml(s)).spec).toEqual(s);
    }
    expect(natModel.view(slaac as RoutedNetSpec & { type: "nat" }).ipv6).toEqual(created.ipv6);
    expect(isolatedModel.view(dhcpv6 as RoutedNetSpec & { type: "isolated" }).ipv6?.dhcp).toEqual({
      start: "fd67::100",
      end: "fd67::1ff",
      leaseTime: 600,
    });
    // The IPv4 parts stay what libvirt's first IPv4 <ip> says.
    const p = parseNetworkXml(renderNetworkXml(slaac));
    expect([p.cidr, p.gateway]).toEqual(["10.66.0.0/24", "10.66.0.1"]);
  });

  it("a network without ipv6 has no IPv6 element", () => {
    const { ipv6: _none, ...v4 } = created;
    const xml = renderNetworkXml(specFromCreate(v4));
    expect(xml).not.toMatch(/ipv6/);
    expect(parseNetworkXml(xml).spec).not.toHaveProperty("ipv6");
  });
});

describe("IPv6 in netforge's table", () => {
  const natFw = natModel.firewall(slaac as RoutedNetSpec & { type: "nat" });
  const isoFw = isolatedModel.firewall(dhcpv6 as RoutedNetSpec & { type: "isolated" });

  it("NAT66 of the prefix, ND/RA/PTB before the rules, IPv6 DNS/DHCPv6 to the host (golden)", () => {
    expect(natFw.ipv6).toEqual({ cidr: "fd66:1:2:3::/64", routed: false });
    golden("host-ipv6.nft", renderHostTable([natFw, isoFw]));
  });

  it("nat masquerades the prefix; only from the prefix does IPv6 leave", () => {
    const t = renderHostTable([natFw]);
    expect(t).toContain("ip6 saddr fd66:1:2:3::/64 ip6 daddr != fd66:1:2:3::/64 masquerade");
    expect(t).toContain('oifname != "nf-web6" ip6 saddr != fd66:1:2:3::/64 reject');
    expect(t).not.toContain('oifname != "nf-web6" meta nfproto ipv6 reject');
  });

  it("routed: no NAT66, and the outside reaches the prefix through the inbound rules", () => {
    const routed: FirewallNetwork = { ...natFw, ipv6: { cidr: "fd66:1:2:3::/64", routed: true } };
    const t = renderHostTable([routed]);
    expect(t).not.toMatch(/ip6 saddr .* masquerade/);
    expect(renderNetworkChains(routed)).toContain("ip6 daddr fd66:1:2:3::/64 goto web6-in-rules");
    expect(renderNetworkChains(natFw)).not.toContain("ip6 daddr");
  });

  it("ND, RA and Packet-Too-Big pass before any user rule, in and out", () => {
    const denyAll: FirewallNetwork = {
      ...natFw,
      firewall: { defaultInbound: "drop", defaultOutbound: "drop", rules: [] },
    };
    const chains = renderNetworkChains(denyAll);
    const inChain = chains.slice(chains.indexOf("chain web6-in {"), chains.indexOf("chain web6-in-rules {"));
    expect(inChain.indexOf("nd-neighbor-solicit")).toBeGreaterThan(0);
    expect(inChain.indexOf("packet-too-big")).toBeLessThan(inChain.indexOf("goto web6-in-rules"));
    const outChain = chains.slice(chains.indexOf("chain web6-out {"), chains.indexOf("chain web6-host {"));
    expect(outChain.indexOf("nd-router-advert")).toBeLessThan(outChain.indexOf("drop"));
  });

  it("an isolated network with IPv6 still sends nothing beyond its bridge", () => {
    const chains = renderNetworkChains(isoFw);
    expect(chains).toContain('oifname != "nf-iso6" reject');
    expect(renderHostTable([isoFw])).not.toMatch(/ip6 saddr fd67::\/64 .*masquerade/);
  });

  it("a changed IPv6 part replaces the whole table (no delta); refuses a bad prefix", () => {
    expect(renderTableDelta([natFw], [{ ...natFw, ipv6: { cidr: "fd66:1:2:3::/64", routed: true } }])).toBeNull();
    expect(renderTableDelta([natFw], [{ ...natFw }])).toBe("");
    expect(() => renderHostTable([{ ...natFw, ipv6: { cidr: "fd66::1/64; drop", routed: false } }])).toThrow(/refusing IPv6 prefix/);
  });
});

describe("IPv6 firewall rules", () => {
  const natFw = natModel.firewall(slaac as RoutedNetSpec & { type: "nat" });
  const rule = (over: Partial<FirewallNetwork["firewall"]["rules"][number]>) => ({
    direction: "inbound" as const,
    protocol: "any" as const,
    source: null,
    destination: null,
    ports: null,
    action: "drop" as const,
    comment: null,
    ...over,
  });

  it("a rule with an IPv6 CIDR is an IPv6 rule; icmp is ICMPv6 there, both families without CIDRs on a dual-stack network", () => {
    const fw: FirewallNetwork = {
      ...natFw,
      firewall: {
        defaultInbound: "accept",
        defaultOutbound: "accept",
        rules: [
          rule({ source: "fd00:99::1/128", protocol: "tcp", ports: "7600" }),
          rule({ source: "fd00:99::/64", protocol: "icmp" }),
          rule({ protocol: "icmp", action: "accept" }),
          rule({ source: "10.0.0.0/8", protocol: "icmp" }),
          rule({ direction: "outbound", destination: "2a01:4f8::/32", action: "reject" }),
        ],
      },
    };
    const chains = renderNetworkChains(fw);
    expect(chains).toContain("ip6 saddr fd00:99::1/128 tcp dport 7600 drop");
    expect(chains).toContain("ip6 saddr fd00:99::/64 meta l4proto ipv6-icmp drop");
    expect(chains).toContain("meta l4proto { icmp, ipv6-icmp } accept");
    expect(chains).toContain("ip saddr 10.0.0.0/8 meta l4proto icmp drop");
    expect(chains).toContain("ip6 daddr 2a01:4f8::/32 return".replace("return", "reject"));
    // Without IPv6 on the network a CIDR-less icmp rule stays ICMP (as before).
    const { ipv6: _v6, ...v4only } = fw;
    expect(renderNetworkChains(v4only)).toContain("\t\tmeta l4proto icmp accept");
    expect(() => renderNetworkChains({ ...fw, firewall: { ...fw.firewall, rules: [rule({ source: "fd00::1/64" })] } })).toThrow(
      /refusing IPv6 prefix/,
    );
  });
});
