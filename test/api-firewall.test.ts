/**
 * configure-network-firewall at the API's door (no host): roles, the rule
 * schema's refusals (each a 400 naming the field), types without a
 * netforge firewall, and the dry run that shows the exact nft chains and
 * queues nothing.
 */
import { putNetworkSpec, type NetSpec } from "@netforge/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
const spec: NetSpec = {
  type: "nat",
  name: "fw",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-fw",
  cidr: "10.5.0.0/24",
  gateway: "10.5.0.1",
  dhcp: { enabled: true, start: "10.5.0.100", end: "10.5.0.200", leaseTime: 3600 },
  reservations: [],
};
beforeAll(async () => {
  h = await startApiHarness("api-firewall");
  await h.addHost("h1");
  await h.addNetwork({ name: "fw", host: "h1", cidr: spec.cidr, gateway: spec.gateway, state: "active" });
  await putNetworkSpec(h.redis, h.keys, spec);
});
afterAll(() => h.close());

const queued = () => h.redis.llen(`${h.keys.bull}:${h.keys.hostQueue("h1")}:wait`);
const rule = (r: Record<string, unknown>) => ({ direction: "inbound", protocol: "tcp", action: "accept", ...r });

describe("configure-network-firewall at the door", () => {
  it("viewers cannot change a firewall", async () => {
    expect((await h.call("configure-network-firewall", { name: "fw", rules: [] }, { role: "viewer" })).status).toBe(403);
  });

  it("refuses bad rules with 400 naming the field, before anything is queued", async () => {
    const before = await queued();
    const bad: [Record<string, unknown>, string][] = [
      [rule({ source: "10.0.0.1/8" }), "did you mean 10.0.0.0/8"],
      [rule({ source: "10.0.0.0" }), "source"],
      [rule({ destination: "300.0.0.0/8" }), "destination"],
      [rule({ ports: "0" }), "ports"],
      [rule({ ports: "65536" }), "ports"],
      [rule({ ports: "90-80" }), "ports"],
      [rule({ ports: "22,23" }), "ports"],
      [rule({ protocol: "icmp", ports: "22" }), "ports"],
      [rule({ protocol: "any", ports: "22" }), "ports"],
      [rule({ protocol: "sctp" }), "protocol"],
      [rule({ action: "allow" }), "action"],
      [rule({ direction: "in" }), "direction"],
      [rule({ comment: 'x" ; flush ruleset' }), "comment"],
      [rule({ extra: 1 }), "extra"],
    ];
    for (const [r, hint] of bad) {
      const res = await h.call("configure-network-firewall", { name: "fw", rules: [r] });
      expect(res.status, `${JSON.stringify(r)}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
      expect(JSON.stringify(res.body.error)).toContain(hint);
    }
    const d = await h.call("configure-network-firewall", { name: "fw", defaultInbound: "allow" });
    expect(d.status).toBe(400);
    expect((await h.call("configure-network-firewall", { name: "nope", rules: [] })).status).toBe(404);
    expect(await queued()).toBe(before);
  });

  it("dry run: the network's nft chains exactly as they will be applied, the spec write, nothing queued", async () => {
    const before = await queued();
    const r = await h.call("configure-network-firewall", {
      name: "fw",
      defaultInbound: "drop",
      rules: [
        rule({ source: "10.0.0.0/8", ports: "22", comment: "ssh from office" }),
        { direction: "outbound", protocol: "udp", destination: "0.0.0.0/0", ports: "5000-5100", action: "reject" },
      ],
      dryRun: true,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command)).toEqual([
      ["nft", "-f", "-"],
      ["virsh", "net-define", "<file>"],
    ]);
    expect(r.body.plan.nft).toContain('ip saddr 10.0.0.0/8 tcp dport 22 accept comment "ssh from office"');
    expect(r.body.plan.nft).toContain("ip daddr 0.0.0.0/0 udp dport 5000-5100 reject");
    expect(r.body.plan.nft).toMatch(/chain fw-in-rules \{[^}]*\n\t\tdrop\n\t\}/);
    expect(r.body.plan.libvirtXml).toContain("<nf:firewall defaultInbound='drop' defaultOutbound='accept'>");
    expect(await queued()).toBe(before);
    const real = await h.call("configure-network-firewall", { name: "fw", rules: [rule({ ports: "22" })] });
    expect(real.status, JSON.stringify(real.body)).toBe(202);
    expect(await queued()).toBe(before + 1);
  });

  it("a type without a netforge firewall is refused with UNSUPPORTED_FOR_TYPE", async () => {
    await h.addNetwork({ name: "pf", host: "h1", cidr: null, gateway: null, state: "active", type: "sriov" });
    const r = await h.call("configure-network-firewall", { name: "pf", rules: [] });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
  });
});
