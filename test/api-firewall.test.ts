/**
 * configure-network-firewall and configure-network-port-forward at the API's
 * door (no host): roles, the schemas' refusals (each a 400 naming the
 * field), types without a netforge firewall, dry runs that show the exact
 * nft chains and queue nothing, and host ports claimed atomically
 * (PORT_CONFLICT for a port another network forwards, a port a host process
 * listens on, and the loser of two concurrent requests).
 */
import type { NetSpec } from "@netforge/core/model";
import { getHost, putHost, putNetworkSpec } from "@netforge/core/store";
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

describe("configure-network-port-forward at the door", () => {
  beforeAll(async () => {
    // Two nat networks on h1 and an isolated one; the host's inventory says sshd listens on tcp 22.
    await h.addNetwork({ name: "fw2", host: "h1", cidr: "10.6.0.0/24", gateway: "10.6.0.1", state: "active" });
    await putNetworkSpec(h.redis, h.keys, { ...spec, name: "fw2", bridge: "nf-fw2", cidr: "10.6.0.0/24", gateway: "10.6.0.1" });
    await h.addNetwork({ name: "iso", host: "h1", cidr: "10.7.0.0/24", gateway: "10.7.0.1", state: "active", type: "isolated" });
    const host = await getHost(h.redis, h.keys, "h1");
    await putHost(h.redis, h.keys, { ...(host as NonNullable<typeof host>), listeningPorts: { tcp: [22, 8443], udp: [53] } });
  });
  const fwd = (b: Record<string, unknown>) => h.call("configure-network-port-forward", { name: "fw", protocol: "tcp", ...b });

  it("refuses a vmIp outside the subnet, a bad port, a missing vmIp, and non-nat networks", async () => {
    const before = await queued();
    for (const [b, status, code] of [
      [{ hostPort: 2222, vmIp: "10.9.0.5", vmPort: 22 }, 400, "VALIDATION_FAILED"],
      [{ hostPort: 2222, vmIp: "10.5.0.1", vmPort: 22 }, 400, "VALIDATION_FAILED"], // the gateway
      [{ hostPort: 70000, vmIp: "10.5.0.5" }, 400, "VALIDATION_FAILED"],
      [{ hostPort: 2222 }, 400, "VALIDATION_FAILED"],
      [{ hostPort: 2222, vmIp: "10.5.0.5", protocol: "sctp" }, 400, "VALIDATION_FAILED"],
      [{ action: "remove", hostPort: 2999 }, 404, "NOT_FOUND"],
    ] as const) {
      const r = await fwd(b);
      expect(r.status, `${JSON.stringify(b)}: ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.body.error.code).toBe(code);
    }
    const iso = await h.call("configure-network-port-forward", { name: "iso", protocol: "tcp", hostPort: 2222, vmIp: "10.7.0.5" });
    expect(iso.status).toBe(422);
    expect(iso.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(await queued()).toBe(before);
  });

  it("PORT_CONFLICT for a port a host process listens on (per protocol)", async () => {
    const r = await fwd({ hostPort: 22, vmIp: "10.5.0.5" });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("PORT_CONFLICT");
    expect(r.body.error.details.heldBy).toEqual({ process: true });
    // udp 22 is free: ports are per protocol.
    expect((await fwd({ protocol: "udp", hostPort: 22, vmIp: "10.5.0.5", dryRun: true })).status).toBe(200);
  });

  it("two concurrent requests for one host port from two networks: exactly one wins, the other gets PORT_CONFLICT", async () => {
    const [a, b] = await Promise.all([
      h.call("configure-network-port-forward", { name: "fw", protocol: "tcp", hostPort: 3000, vmIp: "10.5.0.5" }),
      h.call("configure-network-port-forward", { name: "fw2", protocol: "tcp", hostPort: 3000, vmIp: "10.6.0.5" }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const loser = a.status === 409 ? a : b;
    expect(loser.body.error.code).toBe("PORT_CONFLICT");
    const winner = a.status === 202 ? "fw" : "fw2";
    expect(loser.body.error.details.heldBy).toEqual({ network: winner });
    expect(await h.redis.hget(h.keys.portClaims("h1"), "tcp/3000")).toBe(winner);
    // Later requests from the other network, real or dry run, are refused too; the same network may re-target.
    const other = winner === "fw" ? "fw2" : "fw";
    const again = await h.call("configure-network-port-forward", {
      name: other,
      protocol: "tcp",
      hostPort: 3000,
      vmIp: `10.${other === "fw" ? 5 : 6}.0.7`,
      dryRun: true,
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("PORT_CONFLICT");
  });

  it("dry run of an add: the nft chains and the spec write; nothing claimed or queued", async () => {
    const before = await queued();
    const r = await fwd({ protocol: "udp", hostPort: 5353, vmIp: "10.5.0.9", vmPort: 53, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.libvirtXml).toContain("<nf:portForwards>udp,5353,10.5.0.9,53</nf:portForwards>");
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command[0])).toEqual(["nft", "virsh"]);
    expect(await h.redis.hget(h.keys.portClaims("h1"), "udp/5353")).toBeNull();
    expect(await queued()).toBe(before);
  });

  it("dry run of a remove: the conntrack flush of that forward's connections is part of the plan", async () => {
    await putNetworkSpec(h.redis, h.keys, { ...spec, portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.5.0.10", vmPort: 22 }] });
    const r = await fwd({ action: "remove", hostPort: 2222, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command)).toEqual([
      ["nft", "-f", "-"],
      ["conntrack", "-D", "-p", "tcp", "--orig-port-dst", "2222", "--reply-src", "10.5.0.10", "--reply-port-src", "22"],
      ["virsh", "net-define", "<file>"],
    ]);
    await putNetworkSpec(h.redis, h.keys, spec);
  });
});
