/**
 * bridge and sriov networks at the API's door (Redis, no host): placement
 * only on hosts whose inventory has the NIC / bridge / PF, the refusals the
 * inventory and index can tell (missing NIC, NIC with an address, NIC or PF
 * used by another network, no such PF), UNSUPPORTED_FOR_TYPE for DHCP and
 * static IPs saying who owns addressing, and dry-run plans.
 */
import { type HostRecord, type NetSpec, putHost, putNetworkSpec } from "@netforge/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
const iface = (name: string, o: Partial<HostRecord["interfaces"][number]> = {}) => ({
  name,
  kind: "veth",
  mac: "02:00:00:00:00:01",
  state: "up",
  master: null,
  addresses: [] as string[],
  mtu: 1500,
  up: true,
  ...o,
});
async function host(id: string, interfaces: HostRecord["interfaces"], sriovPfs: HostRecord["sriovPfs"] = [], networks = 0) {
  const now = Date.now();
  await putHost(h.redis, h.keys, {
    id,
    hostname: id,
    libvirtVersion: "9.0.0",
    interfaces,
    occupied: [],
    networks,
    sriovPfs,
    startedAt: new Date(now - 60_000).toISOString(),
    lastSeenAt: new Date(now).toISOString(),
  });
}

beforeAll(async () => {
  h = await startApiHarness("api-l2");
  // a: least loaded, has nothing; b: the unconfigured NIC eth1, eth2 with an address, bridge br0; c: an SR-IOV PF.
  await host("a", [iface("eth0", { addresses: ["198.51.100.2/24"] })]);
  await host(
    "b",
    [
      iface("eth1"),
      iface("eth2", { addresses: ["192.0.2.5/24"] }),
      iface("eth3", { addresses: [], addresses6: ["2001:db8::5/64"] }),
      iface("br0", { kind: "bridge" }),
    ],
    [],
    5,
  );
  await host("c", [iface("enp3s0f0", { kind: null })], [{ pf: "enp3s0f0", vfsTotal: 8, vfsConfigured: 2, vfsInUse: 1 }], 5);
});
afterAll(async () => {
  await h?.close();
});

describe("placement: only hosts that have the NIC / bridge / PF", () => {
  it("a bridge on eth1 goes to b although a has fewer networks", async () => {
    const r = await h.call("create-network", { name: "lan", type: "bridge", interface: "eth1" });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.job.host).toBe("b");
  });
  it("an existing bridge br0 goes to b; an SR-IOV pool on enp3s0f0 to c", async () => {
    expect((await h.call("create-network", { name: "office", type: "bridge", bridge: "br0" })).body.job.host).toBe("b");
    expect((await h.call("create-network", { name: "fast", type: "sriov", pf: "enp3s0f0", vfs: 2 })).body.job.host).toBe("c");
  });
  it("no host has it: 400 naming it (bridge), SRIOV_UNAVAILABLE (sriov)", async () => {
    const e = expectError(await h.call("create-network", { name: "ghost", type: "bridge", interface: "eth9" }), 400, "VALIDATION_FAILED");
    expect(e.message).toContain("no online host has interface eth9");
    const s = expectError(await h.call("create-network", { name: "ghost", type: "sriov", pf: "enp9s0" }), 422, "SRIOV_UNAVAILABLE");
    expect(s.message).toContain("no online host has SR-IOV PF enp9s0");
  });
  it("an explicit host without it: refused naming the host", async () => {
    const e = expectError(
      await h.call("create-network", { name: "x", type: "bridge", interface: "eth1", host: "a" }),
      400,
      "VALIDATION_FAILED",
    );
    expect(e.message).toContain("host a has no interface eth1");
    const s = expectError(
      await h.call("create-network", { name: "x", type: "sriov", pf: "enp3s0f0", host: "a" }),
      422,
      "SRIOV_UNAVAILABLE",
    );
    expect(s.message).toContain("host a has no SR-IOV PF enp3s0f0");
  });
});

describe("refusals the inventory and the index can tell", () => {
  it("a NIC with an IPv4 or global IPv6 address, saying why", async () => {
    for (const [nic, addr] of [
      ["eth2", "192.0.2.5/24"],
      ["eth3", "2001:db8::5/64"],
    ]) {
      const e = expectError(await h.call("create-network", { name: "cut", type: "bridge", interface: nic }), 409, "INVALID_STATE");
      expect(e.message).toContain(
        `interface ${nic} on host b carries ${addr}: moving a configured NIC into a bridge would cut the host off`,
      );
    }
  });
  it("a NIC, bridge or PF another network uses", async () => {
    await h.addNetwork({ name: "used-nic", host: "b", type: "bridge", bridge: { name: "nf-used-nic", interface: "eth1" } });
    const e = expectError(await h.call("create-network", { name: "dup", type: "bridge", interface: "eth1" }), 409, "INVALID_STATE");
    expect(e.message).toBe("interface eth1 on host b is already used by network 'used-nic'");
    await h.addNetwork({ name: "used-br", host: "b", type: "bridge", bridge: { name: "br0", interface: null } });
    expect(expectError(await h.call("create-network", { name: "dup", type: "bridge", bridge: "br0" }), 409, "INVALID_STATE").message).toBe(
      "bridge br0 on host b is already used by network 'used-br'",
    );
    await h.addNetwork({
      name: "used-pf",
      host: "c",
      type: "sriov",
      bridge: { name: null, interface: null },
      sriov: { pf: "enp3s0f0", vfsTotal: 2, vfsInUse: 0, vlan: null },
    });
    expect(expectError(await h.call("create-network", { name: "dup", type: "sriov", pf: "enp3s0f0" }), 409, "INVALID_STATE").message).toBe(
      "SR-IOV PF enp3s0f0 on host c is already used by network 'used-pf'",
    );
  });
});

describe("DHCP and static IPs: UNSUPPORTED_FOR_TYPE saying who owns addressing", () => {
  const meta = { uuid: "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", description: "", createdAt: "2026-11-29T00:00:00.000Z" };
  it.each([
    [
      "used-nic",
      { type: "bridge", name: "used-nic", ...meta, bridge: "nf-used-nic", interface: "eth1", created: null },
      "the LAN's DHCP server owns addressing",
    ],
    ["used-pf", { type: "sriov", name: "used-pf", ...meta, pf: "enp3s0f0", vfs: 2, vlan: null }, "VMs of an SR-IOV network own their VF"],
  ] as [string, NetSpec, string][])("%s", async (name, spec, why) => {
    await putNetworkSpec(h.redis, h.keys, spec);
    for (const [action, body] of [
      ["assign-static-ip", { name, mac: "52:54:00:00:00:01", ip: "192.0.2.10" }],
      ["unassign-static-ip", { name, mac: "52:54:00:00:00:01" }],
      ["configure-network-dhcp", { name, start: "192.0.2.10", end: "192.0.2.20" }],
      ["configure-network-dhcp", { name, start: "192.0.2.10", end: "192.0.2.20", dryRun: true }],
    ] as const) {
      const e = expectError(await h.call(action, body), 422, "UNSUPPORTED_FOR_TYPE");
      expect(e.message).toContain(why);
    }
  });
});

describe("dry runs", () => {
  it("sriov: checked like the real call; no VF write when the count matches; a change with a VF in use refused", async () => {
    const same = await h.call("create-network", {
      name: "pool",
      type: "sriov",
      pf: "enp3s0f0",
      vfs: 2,
      vlan: 100,
      host: "c",
      dryRun: true,
    });
    // used-pf holds enp3s0f0 on c: refused like the real call
    expect(same.status).toBe(409);
    // The index forgets used-pf (as after its delete).
    await h.redis.del(h.keys.network("used-pf"));
    await h.redis.zrem(h.keys.networks, "used-pf");
    const r = await h.call("create-network", { name: "pool", type: "sriov", pf: "enp3s0f0", vfs: 2, vlan: 100, host: "c", dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command[1])).toEqual(["net-define", "net-start", "net-autostart"]);
    expect(r.body.plan.libvirtXml).toContain("<forward mode='hostdev' managed='yes'>\n    <pf dev='enp3s0f0'/>");
    expect(r.body.plan.libvirtXml).toContain("<tag id='100'/>");
    const change = await h.call("create-network", { name: "pool", type: "sriov", pf: "enp3s0f0", vfs: 4, host: "c", dryRun: true });
    expect(change.status).toBe(409);
    expect(change.body.error.message).toContain("1 VF(s) in use by guests");
  });
  it("bridge: the bridge, the NIC's enslavement, then the definition", async () => {
    await h.redis.del(h.keys.network("used-nic"));
    await h.redis.zrem(h.keys.networks, "used-nic");
    const r = await h.call("create-network", { name: "lan2", type: "bridge", interface: "eth1", dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command.join(" "))).toEqual([
      "ip link add name nf-lan2 type bridge stp_state 0 forward_delay 0",
      "ip link set dev eth1 master nf-lan2",
      "ip link set dev nf-lan2 up",
      "virsh net-define <file>",
      "virsh net-start lan2",
      "virsh net-autostart lan2",
    ]);
  });
});
