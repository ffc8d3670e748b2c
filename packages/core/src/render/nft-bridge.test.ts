import { describe, expect, it } from "vitest";
import { golden } from "./__golden__/golden";
import type { FirewallNetwork } from "./nft";
import { portChainLines, renderPortSecurityDelta, renderPortSecurityTable } from "./nft-bridge";
import { renderBootCopy } from "./nft-boot";

const fw = { defaultInbound: "drop", defaultOutbound: "accept", rules: [] } as unknown as FirewallNetwork["firewall"];
const net = (over: Partial<FirewallNetwork> = {}): FirewallNetwork => ({
  name: "web",
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: "nf-web",
  cidr: "10.70.0.0/24",
  firewall: fw,
  portForwards: [],
  ownsTypeRules: true,
  portSecurity: { pairs: [{ mac: "52:54:00:AA:00:01", ip: "10.70.0.10" }], ports: ["vnet0", "vnet3"] },
  ...over,
});

describe("port security table (table bridge netforge)", () => {
  it("renders sets, the port dispatch, the DHCP ACK snoop and the port chain of each secured network", () => {
    const iso = net({
      name: "iso",
      reachOutside: false,
      masquerade: false,
      forwardsPorts: false,
      bridge: "nf-iso",
      cidr: "10.71.0.0/24",
      portSecurity: { pairs: [] },
    });
    const off = net({ name: "legacy", bridge: "nf-legacy", cidr: "10.72.0.0/24", portSecurity: null });
    golden("port-security.nft", renderPortSecurityTable([net(), iso, off]));
  });

  it("a network without port security gets nothing; no network: an empty table with its two hooks", () => {
    const t = renderPortSecurityTable([net({ portSecurity: null })]);
    expect(t).not.toContain("web");
    expect(t).toContain("delete table bridge netforge");
  });

  it("pairs become raw 48 . 32 bit elements; the same pair twice (another case) once", () => {
    const t = renderPortSecurityTable([
      net({
        portSecurity: {
          pairs: [
            { mac: "52:54:00:aa:00:01", ip: "10.70.0.10" },
            { mac: "52:54:00:AA:00:01", ip: "10.70.0.10" },
          ],
        },
      }),
    ]);
    expect(t).toContain("elements = { 0x525400aa0001 . 0x0a46000a }");
    expect(t).toContain("elements = { 52:54:00:aa:00:01 }");
  });

  it("refuses what is not a MAC, an IPv4 address or an interface name (the renderer trusts no caller)", () => {
    for (const portSecurity of [
      { pairs: [{ mac: "52:54:00:aa:00:01 } drop", ip: "10.70.0.10" }] },
      { pairs: [{ mac: "52:54:00:aa:00:01", ip: "10.70.0.10; flush ruleset" }] },
      { pairs: [], ports: ['vnet0" }'] },
    ]) {
      expect(() => renderPortSecurityTable([net({ portSecurity })])).toThrow(/refusing/);
    }
  });

  it("a lease or a port coming and going is a delta of set elements; anything else replaces the table", () => {
    const before = [net()];
    const after = [net({ portSecurity: { pairs: [{ mac: "52:54:00:aa:00:02", ip: "10.70.0.11" }], ports: ["vnet0", "vnet4"] } })];
    expect(renderPortSecurityDelta(before, after)).toBe(
      [
        "delete element bridge netforge web-pairs { 0x525400aa0001 . 0x0a46000a }",
        "add element bridge netforge web-pairs { 0x525400aa0002 . 0x0a46000b }",
        "delete element bridge netforge web-macs { 52:54:00:aa:00:01 }",
        "add element bridge netforge web-macs { 52:54:00:aa:00:02 }",
        'delete element bridge netforge web-ports { "vnet3" }',
        'add element bridge netforge web-ports { "vnet4" }',
        "",
      ].join("\n"),
    );
    expect(renderPortSecurityDelta(before, [net()])).toBe("");
    expect(renderPortSecurityDelta(before, [net({ portSecurity: null })])).toBeNull();
    expect(renderPortSecurityDelta(before, [net({ bridge: "nf-other" })])).toBeNull();
    expect(renderPortSecurityDelta(before, [])).toBeNull();
  });

  it("the boot copy carries the pairs but no ports (tap names are handed out again after a reboot)", () => {
    const boot = renderBootCopy([net()]);
    expect(boot).toContain("0x525400aa0001 . 0x0a46000a");
    expect(boot).not.toContain("vnet0");
    expect(boot).toContain("iifname @web-ports jump web-port");
  });

  it("names what it refuses, whole values only (no prefix or suffix of a valid one gets through)", () => {
    const refusal = (over: Partial<FirewallNetwork>) => () => renderPortSecurityTable([net(over)]);
    expect(refusal({ portSecurity: { pairs: [{ mac: "zz52:54:00:aa:00:01", ip: "10.70.0.10" }] } })).toThrow(
      'nft bridge renderer: refusing MAC "zz52:54:00:aa:00:01"',
    );
    expect(refusal({ portSecurity: { pairs: [{ mac: "52:54:00:aa:00:01", ip: "10.70.0.256" }] } })).toThrow(
      'nft bridge renderer: refusing address "10.70.0.256"',
    );
    expect(refusal({ portSecurity: { pairs: [], ports: ['"vnet0'] } })).toThrow('nft bridge renderer: refusing port "\\"vnet0"');
    expect(refusal({ name: "9web" })).toThrow('nft bridge renderer: refusing network name "9web"');
    expect(refusal({ name: "web!" })).toThrow('nft bridge renderer: refusing network name "web!"');
    expect(refusal({ bridge: '"nf-web' })).toThrow('nft bridge renderer: refusing bridge "\\"nf-web"');
    expect(refusal({ cidr: "10.70.0.0/33" })).toThrow('nft bridge renderer: refusing CIDR "10.70.0.0/33"');
    expect(() => portChainLines("Web")).toThrow('nft bridge renderer: refusing network name "Web"');
  });

  it("orders pairs by MAC, then by address as a number; ports sorted and once", () => {
    const t = renderPortSecurityTable([
      net({
        portSecurity: {
          pairs: [
            { mac: "52:54:00:aa:00:02", ip: "10.70.0.10" },
            { mac: "52:54:00:aa:00:01", ip: "10.70.0.10" },
            { mac: "52:54:00:aa:00:01", ip: "10.70.0.9" },
          ],
          ports: ["vnet3", "vnet0", "vnet3"],
        },
      }),
    ]);
    expect(t).toContain("elements = { 0x525400aa0001 . 0x0a460009, 0x525400aa0001 . 0x0a46000a, 0x525400aa0002 . 0x0a46000a }");
    expect(t).toContain('elements = { "vnet0", "vnet3" }');
  });

  it("a delta lists several elements of a set in one command; a changed subnet or another network replaces the table", () => {
    const two = { pairs: [{ mac: "52:54:00:aa:00:01", ip: "10.70.0.10" }], ports: ["vnet0", "vnet1", "vnet2"] };
    expect(renderPortSecurityDelta([net({ portSecurity: two })], [net({ portSecurity: { ...two, ports: ["vnet0"] } })])).toBe(
      'delete element bridge netforge web-ports { "vnet1", "vnet2" }\n',
    );
    expect(renderPortSecurityDelta([net({ portSecurity: { ...two, ports: ["vnet0"] } })], [net({ portSecurity: two })])).toBe(
      'add element bridge netforge web-ports { "vnet1", "vnet2" }\n',
    );
    expect(renderPortSecurityDelta([net()], [net({ cidr: "10.70.1.0/24" })])).toBeNull();
    expect(renderPortSecurityDelta([net()], [net({ name: "app", bridge: "nf-app" })])).toBeNull();
  });
});

describe('an overlay counted on a member (ADR 0044 "Overlay members counted")', () => {
  const ov = { name: "tenant-a", bridge: "nfov10000", gatewayMac: "06:4e:46:00:27:10", ports: ["vnet3", "vnet1", "vnet1"] };
  it("its VMs' frames with other VMs, out at the sender's port and in at the receiver's, the gateway's MAC left out", () => {
    const t = renderPortSecurityTable([], { overlays: [ov], now: 1_000 });
    expect(t).toContain('\tset tenant-a_ports {\n\t\ttype ifname\n\t\telements = { "vnet1", "vnet3" }\n\t}');
    expect(t).toContain(
      '\t\tiifname @tenant-a_ports ether daddr != 06:4e:46:00:27:10 counter name "tenant-a_lan-network-out" update @traffic-lan-network-out { "nfov10000" . ether saddr }',
    );
    expect(t).toContain(
      '\t\toifname @tenant-a_ports ether saddr != 06:4e:46:00:27:10 counter name "tenant-a_lan-network-in" update @traffic-lan-network-in { "nfov10000" . ether daddr }',
    );
    // Its two counters are `_lan-network-` names, so the kept values carry them as the bridge networks' (no LAN pair).
    expect(t).toContain("\tcounter tenant-a_lan-network-in {");
    expect(t).not.toContain("tenant-a_lan-in");
    const kept = renderPortSecurityTable([], {
      overlays: [ov],
      counters: new Map([["tenant-a_lan-network-out", { packets: 7, bytes: 9000, since: 5 }]]),
    });
    expect(kept).toContain('\tcounter tenant-a_lan-network-out {\n\t\tcomment "since 5"\n\t\tpackets 7 bytes 9000\n\t}');
  });
  it("refuses a gateway MAC, bridge or port that is not one", () => {
    expect(() => renderPortSecurityTable([], { overlays: [{ ...ov, gatewayMac: "06:4e:46:00:27:10 accept" }] })).toThrow(/gateway MAC/);
    expect(() => renderPortSecurityTable([], { overlays: [{ ...ov, bridge: "nfov 1" }] })).toThrow(/bridge/);
    expect(() => renderPortSecurityTable([], { overlays: [{ ...ov, ports: ["a;b c"] }] })).toThrow(/port/);
  });
});
