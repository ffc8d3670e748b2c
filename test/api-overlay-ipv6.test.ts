/**
 * create-network of an overlay with `ipv6` at the door (ADR 0051 "IPv6 on overlays"), with no host: the dry run
 * shows the gateway's IPv6 <ip> and each member's bridge with the host's own IPv6 off; the MTU rule (an IPv6
 * overlay needs 1280, its default included: a member's underlay MTU less 50); the prefix claimed on the gateway
 * host as a nat network's (an overlap is 409 CIDR_CONFLICT, against an overlay and against a nat network); routed
 * without nat is 400. The jobs themselves run in e2e-overlay-ipv6.
 */
import { putHost } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, hostRecord, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
const under = (ip: string, mtu = 1500) => ({ underlay: { ip, interface: "eth0", mtu, source: "setting" as const } });
const body = (over: Record<string, unknown> = {}) => ({
  name: "ov6",
  type: "overlay",
  cidr: "10.63.0.0/24",
  hosts: ["w1", "w2"],
  ipv6: { cidr: "fd00:63::/64", mode: "slaac" },
  ...over,
});

beforeAll(async () => {
  h = await startApiHarness("api-ov6");
  await putHost(h.redis, h.keys, hostRecord("w1", under("172.30.12.1")));
  await putHost(h.redis, h.keys, hostRecord("w2", under("172.30.12.2")));
  await putHost(h.redis, h.keys, hostRecord("w3", under("172.30.12.3", 1320)));
});
afterAll(() => h.close());

describe("create-network of an overlay with ipv6 at the door", () => {
  it("the dry run: the gateway's IPv6 <ip> and chains, the member's bridge with the host's IPv6 off; nothing claimed", async () => {
    const r = await h.call("create-network", { ...body(), dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.host).toBe("w1");
    const text = JSON.stringify(r.body.plan.steps);
    expect(text).toContain("<ip family='ipv6' address='fd00:63::1' prefix='64'/>");
    // The gateway's chains as a nat network's with IPv6 (the table step shows the network's chains, as for nat).
    expect(text).toContain("meta nfproto ipv6 udp dport { 53, 547 } accept");
    expect(text).toContain('oifname != \\"nfov10000\\" ip6 saddr != fd00:63::/64 reject');
    const member = (r.body.plan.steps as { step: string; name: string; command?: string[] }[]).filter((s) => s.step.startsWith("host w2"));
    expect(member.map((s) => s.command?.join(" ") ?? s.name)).toContain("sysctl -qw net.ipv6.conf.nfov10000.disable_ipv6=1");
    expect(await h.redis.hgetall(h.keys.claimedSubnets("w1"))).toEqual({});
  });

  it("an IPv6 overlay needs an MTU of 1280: given (400) or by default from a member's underlay (400 naming it); without IPv6 the same hosts are fine", async () => {
    const given = await h.call("create-network", { ...body({ mtu: 1279 }), dryRun: true });
    expect(given.status).toBe(400);
    expect(given.body.error.details.issues).toEqual([{ path: "mtu", message: "must be at least 1280 on a network with IPv6" }]);
    const low = await h.call("create-network", { ...body({ hosts: ["w1", "w3"] }), dryRun: true });
    expect(low.status).toBe(400);
    expect(low.body.error.details.issues).toEqual([
      {
        path: "mtu",
        message:
          "an overlay with IPv6 needs an MTU of at least 1280: the default, 1270, is host 'w3''s underlay MTU 1320 less 50 bytes of VXLAN",
      },
    ]);
    const v4 = await h.call("create-network", { ...body({ hosts: ["w1", "w3"], ipv6: undefined }), dryRun: true });
    expect(v4.status, JSON.stringify(v4.body)).toBe(200);
  });

  it("routed without nat is 400; a real call is queued on the gateway host with the prefix claimed; an overlap is 409 CIDR_CONFLICT", async () => {
    const routed = await h.call("create-network", body({ nat: false, ipv6: { cidr: "fd00:63::/64", mode: "slaac", routed: true } }));
    expect(routed.status).toBe(400);
    expect(JSON.stringify(routed.body)).toContain("ipv6.routed");
    const real = await h.call("create-network", body());
    expect(real.status, JSON.stringify(real.body)).toBe(202);
    expect(real.body.job).toMatchObject({ action: "create-network", network: "ov6", host: "w1", state: "queued" });
    expect(Object.keys(await h.redis.hgetall(h.keys.claimedSubnets("w1")))).toContain("ov6|v6");
    for (const other of [
      body({ name: "ov6b", cidr: "10.64.0.0/24", ipv6: { cidr: "fd00:63::/64", mode: "slaac" } }),
      { name: "nat6", type: "nat", host: "w1", cidr: "10.65.0.0/24", ipv6: { cidr: "fd00:63::/64", mode: "slaac" } },
    ]) {
      const r = await h.call("create-network", other);
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(r.body.error.code).toBe("CIDR_CONFLICT");
    }
  });
});
