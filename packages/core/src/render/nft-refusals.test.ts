/** The nft renderer re-checks every value it writes (it does not trust its callers): each refusal, exactly, and each bound. */
import { describe, expect, it } from "vitest";
import type { FirewallRule } from "../planner/firewall";
import { type FirewallNetwork, renderHostTable, renderNetworkChains } from "./nft";

const net: FirewallNetwork = {
  name: "web",
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: "nf-web",
  cidr: "10.70.0.0/24",
  firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
  portForwards: [],
  ownsTypeRules: true,
};
const rule = (r: Partial<FirewallRule>): FirewallRule => ({
  direction: "inbound",
  protocol: "any",
  source: null,
  destination: null,
  ports: null,
  action: "accept",
  comment: null,
  ...r,
});
const chains = (r: Partial<FirewallRule>) => renderNetworkChains({ ...net, firewall: { ...net.firewall, rules: [rule(r)] } });
/** The rule's line in its chain. */
const line = (r: Partial<FirewallRule>) => {
  const chain = (r.direction ?? "inbound") === "inbound" ? "web-in-rules" : "web-out";
  const body = chains(r).split(`\tchain ${chain} {\n`)[1]?.split("\n\t}")[0] ?? "";
  return body.split("\n").map((l) => l.trim());
};

describe("the values a rule is written with", () => {
  it("ports 1 and 65535, and a range whose ends are equal (written as one port)", () => {
    expect(line({ protocol: "tcp", ports: "1" })).toContain("tcp dport 1 accept");
    expect(line({ protocol: "udp", ports: "65535" })).toContain("udp dport 65535 accept");
    expect(line({ protocol: "tcp", ports: "80-80" })).toContain("tcp dport 80 accept");
    expect(line({ protocol: "tcp", ports: "1-65535" })).toContain("tcp dport 1-65535 accept");
  });
  it("source and destination together, in that order; no match at all for any protocol without addresses", () => {
    expect(line({ source: "10.0.0.0/8", destination: "192.0.2.0/24", action: "drop" })).toContain(
      "ip saddr 10.0.0.0/8 ip daddr 192.0.2.0/24 drop",
    );
    expect(line({ action: "drop" })[0]).toBe("drop");
  });
  it("tcp or udp without ports matches the protocol; an empty comment is no comment", () => {
    expect(line({ protocol: "udp", comment: "" })).toContain("meta l4proto udp accept");
    expect(line({ protocol: "tcp", comment: "ok: web" })).toContain('meta l4proto tcp accept comment "ok: web"');
  });
});

describe("each refusal, exactly", () => {
  const refusal = (what: string) => `nft renderer: refusing ${what}`;
  it.each([
    [{ protocol: "tcp" as const, ports: "0" }, "port 0"],
    [{ protocol: "tcp" as const, ports: "65536" }, "port 65536"],
    [{ protocol: "tcp" as const, ports: "1-65536" }, "port 65536"],
    [{ protocol: "tcp" as const, ports: "81-80" }, "ports 81-80"],
    [{ protocol: "tcp" as const, ports: "x22" }, 'ports "x22"'],
    [{ protocol: "tcp" as const, ports: "22x" }, 'ports "22x"'],
    [{ protocol: "tcp" as const, ports: "123456" }, 'ports "123456"'],
    [{ protocol: "icmp" as const, ports: "22" }, "ports on an icmp rule"],
    [{ protocol: "any" as const, ports: "22" }, "protocol any"],
    [{ protocol: "sctp" as FirewallRule["protocol"] }, "protocol sctp"],
    [{ action: "log" as FirewallRule["action"] }, "action log"],
    [{ destination: "10.0.0.1/8" }, 'CIDR "10.0.0.1/8"'],
    [{ comment: "a\nb" }, "comment"],
    [{ comment: "x".repeat(65) }, "comment"],
  ])("%j: %s", (r, what) => {
    expect(() => chains(r)).toThrow(refusal(what));
  });
  it("the network itself: name, bridge, capabilities, subnet", () => {
    expect(() => renderNetworkChains({ ...net, name: "-web" })).toThrow(refusal('network name "-web"'));
    expect(() => renderNetworkChains({ ...net, name: "w".repeat(33) })).toThrow(/network name/);
    expect(() => renderNetworkChains({ ...net, bridge: "nf-web-too-long-x" })).toThrow(refusal('bridge "nf-web-too-long-x"'));
    expect(() => renderNetworkChains({ ...net, bridge: "" })).toThrow(refusal('bridge ""'));
    expect(() => renderNetworkChains({ ...net, masquerade: JSON.parse('"yes"') as boolean })).toThrow(refusal("masquerade yes"));
    expect(() => renderNetworkChains({ ...net, cidr: "10.70.0.0" })).toThrow(refusal('CIDR "10.70.0.0"'));
    expect(renderNetworkChains({ ...net, name: "w".repeat(32), bridge: "nf_web.1-A" })).toContain(`chain ${"w".repeat(32)}-in {`);
  });
  it("a forward's addresses and ports", () => {
    const fwd = { protocol: "tcp" as const, hostPort: 8080, vmIp: "10.70.0.10", vmPort: 80 };
    const table = (f: Partial<typeof fwd> & { hostIp?: string }) => renderHostTable([{ ...net, portForwards: [{ ...fwd, ...f }] }]);
    expect(() => table({ vmIp: "10.70.0.300" })).toThrow(refusal('address "10.70.0.300"'));
    expect(() => table({ hostIp: "203.0.113" })).toThrow(refusal('address "203.0.113"'));
    expect(() => table({ vmPort: 65536 })).toThrow(refusal("port 65536"));
    expect(() => table({ hostPort: 1.5 })).toThrow(refusal("port 1.5"));
    expect(table({ hostPort: 1, vmPort: 65535 })).toContain("10.70.0.10 . 65535");
  });
});
