import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hostRuleCount, planChange } from "./drivers/registry";
import { checkHostRules } from "./limits";
import { XML_DIFF_MAX_LINES, xmlDigest } from "./render/xml-digest";
import type { NetSpec } from "./planner/network-spec";

const spec: NetSpec = {
  type: "nat",
  name: "web",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-web",
  cidr: "10.70.0.0/24",
  gateway: "10.70.0.1",
  dhcp: { enabled: true, start: "10.70.0.100", end: "10.70.0.150", leaseTime: 600 },
  reservations: [{ mac: "52:54:00:00:00:01", ip: "10.70.0.11", hostname: null }],
  portForwards: [{ protocol: "tcp", hostPort: 8080, vmIp: "10.70.0.11", vmPort: 80 }],
} as NetSpec;
const limits = { forwardsPerNetwork: 1, reservationsPerNetwork: 1, firewallRulesPerNetwork: 1 };
const host = { active: true, leases: [], limits };

describe("per-network caps in the planner (door and worker alike)", () => {
  it("refuses the N+1th reservation, forward and rule with LIMIT_REACHED naming the setting; replacing or removing passes", () => {
    const refused = (f: () => unknown, setting: string, limit: number) =>
      expect(f).toThrow(expect.objectContaining({ code: "LIMIT_REACHED", details: expect.objectContaining({ limit, setting }) }));
    refused(
      () => planChange(spec, { kind: "reserve-ip", mac: "52:54:00:00:00:02", ip: "10.70.0.12" }, host),
      "NETFORGE_MAX_RESERVATIONS_PER_NETWORK",
      1,
    );
    refused(
      () => planChange(spec, { kind: "port-forward", op: "add", protocol: "tcp", hostPort: 8081, vmIp: "10.70.0.11" }, host),
      "NETFORGE_MAX_FORWARDS_PER_NETWORK",
      1,
    );
    const r = {
      direction: "inbound",
      protocol: "tcp",
      source: null,
      destination: null,
      ports: "22",
      action: "accept",
      comment: null,
    } as const;
    refused(
      () => planChange(spec, { kind: "firewall", firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [r, r] } }, host),
      "NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK",
      1,
    );
    expect(
      planChange(spec, { kind: "port-forward", op: "add", protocol: "tcp", hostPort: 8080, vmIp: "10.70.0.12" }, host).changed,
    ).toHaveLength(1);
    expect(planChange(spec, { kind: "port-forward", op: "remove", protocol: "tcp", hostPort: 8080 }, host).changed).toHaveLength(1);
    expect(planChange(spec, { kind: "release-ip", mac: "52:54:00:00:00:01" }, host).changed).toHaveLength(1);
  });

  it("rules per host: only growth past the cap is refused", () => {
    expect(hostRuleCount(spec)).toBe(1);
    expect(() => checkHostRules(10, 8, 1, 3, "h1")).toThrow(
      expect.objectContaining({ code: "LIMIT_REACHED", details: expect.objectContaining({ limit: 10, count: 11, host: "h1" }) }),
    );
    expect(() => checkHostRules(10, 8, 1, 2, "h1")).not.toThrow();
    expect(() => checkHostRules(10, 20, 5, 4, "h1")).not.toThrow(); // over a lowered cap, shrinking
  });
});

describe("xmlDigest", () => {
  it("the sha256 of the XML applied and only the lines between the common head and tail", () => {
    const before = "<network>\n  <name>a</name>\n  <x a='1'/>\n  <y/>\n</network>";
    const after = "<network>\n  <name>a</name>\n  <x a='2'/>\n  <y/>\n</network>";
    const d = xmlDigest(before, after);
    expect(d.xmlSha256).toBe(createHash("sha256").update(after).digest("hex"));
    expect(d.xmlDiff).toEqual(["- <x a='1'/>", "+ <x a='2'/>"]);
    expect(xmlDigest(after, after).xmlDiff).toEqual([]);
  });

  it(`shows at most ${XML_DIFF_MAX_LINES} changed lines, then counts the rest`, () => {
    const many = Array.from({ length: 100 }, (_, i) => `<host n='${i}'/>`).join("\n");
    const d = xmlDigest("<network>\n</network>", `<network>\n${many}\n</network>`);
    expect(d.xmlDiff).toHaveLength(XML_DIFF_MAX_LINES + 1);
    expect(d.xmlDiff.at(-1)).toBe(`(${100 - XML_DIFF_MAX_LINES} more changed lines)`);
  });
});
