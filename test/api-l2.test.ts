/**
 * bridge and sriov networks at the API's door (Redis, no host): placement
 * only on hosts whose inventory has the NIC / bridge / PF, the refusals the
 * inventory and index can tell (missing NIC, NIC with an address, NIC or PF
 * used by another network, no such PF, an existing bridge the host does not
 * list in NETFORGE_ALLOWED_INTERFACES, a NIC whose upper devices carry
 * addresses, a PF another tool's libvirt network names or whose VFs are bound
 * to a driver), UNSUPPORTED_FOR_TYPE for DHCP and
 * static IPs saying who owns addressing, and dry-run plans.
 */
import type { HostRecord } from "@netforge/core/contract";
import type { NetSpec } from "@netforge/core/model";
import { putHost, putNetworkSpec } from "@netforge/core/store";
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
async function host(
  id: string,
  interfaces: HostRecord["interfaces"],
  sriovPfs: HostRecord["sriovPfs"] = [],
  networks = 0,
  extra: Partial<HostRecord> = {},
) {
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
    ...extra,
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
    // br0 is listed: netforge may use it as it is.
    { allowedInterfaces: ["br0"] },
  );
  // d: the usual layouts that are not netforge's: the host's bridge with its address, docker0 with a veth,
  // a bond whose VLAN carries the management address, a NIC with an addressed macvlan; nothing listed.
  await host(
    "d",
    [
      iface("brhost", { kind: "bridge", addresses: ["198.51.100.20/24"] }),
      iface("eno1", { kind: null, master: "brhost" }),
      iface("docker0", { kind: "bridge", addresses: ["172.17.0.1/16"] }),
      iface("vethd0c", { master: "docker0", link: null }),
      iface("bond0", { kind: "bond" }),
      iface("bond0.10", { kind: "vlan", link: "bond0", addresses: ["192.0.2.40/24"] }),
      iface("eno2", { kind: null }),
      iface("mvl0", { kind: "macvlan", link: "eno2", addresses: ["192.0.2.41/24"] }),
    ],
    [],
    5,
  );
  // f: a NIC still shown in the bridge of a network a delete just removed (no network of the index holds nf-gone).
  await host("f", [iface("nf-gone", { kind: "bridge" }), iface("lan9", { master: "nf-gone" })], [], 5);
  // e: PFs another tool's libvirt network names, and whose VFs a host kernel driver holds.
  await host(
    "e",
    [iface("enp4s0f0", { kind: null }), iface("enp4s0f1", { kind: null })],
    [
      { pf: "enp4s0f0", vfsTotal: 8, vfsConfigured: 0, vfsInUse: 0, vfsBound: [], foreignNetworks: ["ovs-sriov"] },
      { pf: "enp4s0f1", vfsTotal: 8, vfsConfigured: 2, vfsInUse: 0, vfsBound: [{ index: 1, driver: "iavf" }], foreignNetworks: [] },
    ],
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
  it("an explicit host whose inventory lacks it: queued for its worker, which decides from a fresh read of the host", async () => {
    // The inventory may be a heartbeat old (a NIC just added): the door does not refuse what it cannot know.
    const b = await h.call("create-network", { name: "x", type: "bridge", interface: "eth1", host: "a" });
    expect(b.status, JSON.stringify(b.body)).toBe(202);
    expect(b.body.job.host).toBe("a");
    const s = await h.call("create-network", { name: "y", type: "sriov", pf: "enp3s0f0", host: "a" });
    expect(s.status, JSON.stringify(s.body)).toBe(202);
    // A dry run plans from the inventory: it still says what is missing.
    const e = expectError(
      await h.call("create-network", { name: "z", type: "bridge", interface: "eth1", host: "a", dryRun: true }),
      400,
      "VALIDATION_FAILED",
    );
    expect(e.message).toContain("host a has no interface eth1");
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

describe("bridges, NICs and PFs that are not netforge's to take", () => {
  it("an unlisted bridge carrying the host's address, named or through its port: 422 NOT_ALLOWED naming address, ports, setting", async () => {
    const e = expectError(await h.call("create-network", { name: "office", type: "bridge", bridge: "brhost" }), 422, "NOT_ALLOWED");
    expect(e.message).toBe(
      "bridge brhost on host d is not netforge's (it carries 198.51.100.20/24; its ports are eno1): an existing bridge is used only when listed in NETFORGE_ALLOWED_INTERFACES of host d, and then as it is (netforge never changes its addresses, ports or MTU)",
    );
    expect(e.details).toMatchObject({ host: "d", bridge: "brhost", setting: "NETFORGE_ALLOWED_INTERFACES" });
    const p = expectError(
      await h.call("create-network", { name: "office", type: "bridge", interface: "eno1", host: "d" }),
      422,
      "NOT_ALLOWED",
    );
    expect(p.message).toContain("interface eno1 on host d is a port of bridge brhost, which is not netforge's");
  });
  it("docker0, named or through one of its veths: NOT_ALLOWED", async () => {
    expect(
      expectError(await h.call("create-network", { name: "dock", type: "bridge", bridge: "docker0" }), 422, "NOT_ALLOWED").message,
    ).toContain("bridge docker0 on host d is not netforge's (it carries 172.17.0.1/16; its ports are vethd0c)");
    expect(
      expectError(await h.call("create-network", { name: "dock", type: "bridge", interface: "vethd0c" }), 422, "NOT_ALLOWED").message,
    ).toContain("interface vethd0c on host d is a port of bridge docker0, which is not netforge's");
  });
  it("a bond whose VLAN carries the management address, a NIC with an addressed macvlan: 409 INVALID_STATE naming the upper device", async () => {
    const b = expectError(await h.call("create-network", { name: "bnd", type: "bridge", interface: "bond0" }), 409, "INVALID_STATE");
    expect(b.message).toContain("interface bond0 on host d has upper devices carrying addresses (bond0.10 carries 192.0.2.40/24)");
    const m = expectError(await h.call("create-network", { name: "mv", type: "bridge", interface: "eno2" }), 409, "INVALID_STATE");
    expect(m.message).toContain("(mvl0 carries 192.0.2.41/24)");
  });
  it("a PF another tool's libvirt network names: 422 NOT_ALLOWED; VFs bound to a host driver: a count change is 409", async () => {
    const f = expectError(await h.call("create-network", { name: "pool2", type: "sriov", pf: "enp4s0f0", vfs: 2 }), 422, "NOT_ALLOWED");
    expect(f.message).toBe(
      "SR-IOV PF enp4s0f0 on host e is named by libvirt network 'ovs-sriov', which is not netforge's: its VFs are that network's to hand out",
    );
    const dry = expectError(
      await h.call("create-network", { name: "pool2", type: "sriov", pf: "enp4s0f0", vfs: 2, host: "e", dryRun: true }),
      422,
      "NOT_ALLOWED",
    );
    expect(dry.message).toContain("'ovs-sriov'");
    const bound = expectError(
      await h.call("create-network", { name: "pool3", type: "sriov", pf: "enp4s0f1", vfs: 4 }),
      409,
      "INVALID_STATE",
    );
    expect(bound.message).toContain("cannot change the VFs of enp4s0f1 from 2 to 4: 1 VF(s) bound to a driver (VF 1 to iavf)");
    // Keeping the count the PF has changes nothing: accepted.
    const keep = await h.call("create-network", { name: "pool3", type: "sriov", pf: "enp4s0f1", vfs: 2 });
    expect(keep.status, JSON.stringify(keep.body)).toBe(202);
    expect(keep.body.job.host).toBe("e");
  });
});

describe("the inventory just after a delete", () => {
  it("a NIC still shown in a removed network's nf-* bridge is free at the door (the worker reads the host afresh)", async () => {
    const r = await h.call("create-network", { name: "again", type: "bridge", interface: "lan9" });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.job.host).toBe("f");
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
