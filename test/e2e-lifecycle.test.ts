/**
 * End to end on a sandbox hypervisor: API -> queue -> the host's worker ->
 * real libvirtd/dnsmasq/iptables in a network namespace, proven with real
 * traffic from namespace VMs and with a real (empty) libvirt domain.
 */
import { parseIPv4 } from "@netforge/core/contract";
import { createNamespaceVm, type NamespaceVm, type SandboxHost, startLibvirtDomain, stopLibvirtDomain } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, TOKENS } from "./support/cluster";
import { sourceSeenOutside } from "./support/traffic";

let c: Cluster;
let h: SandboxHost;
const vms: NamespaceVm[] = [];

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "e2e" }], label: "e2e" });
  h = c.hosts.get("e2e") as SandboxHost;
});
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await c?.stop();
});

/** Compare addresses as numbers (core's parser; null for a non-address fails the comparison). */
const ipToInt = (ip: string) => parseIPv4(ip) ?? Number.NaN;
async function bridgeAddresses(bridge: string): Promise<string[] | null> {
  const r = await h.exec(["ip", "-j", "addr", "show", "dev", bridge], { reject: false });
  if (r.exitCode !== 0) return null;
  const [link] = JSON.parse(r.stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[];
  return (link?.addr_info ?? []).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
}
async function dnsmasqFor(bridge: string): Promise<boolean> {
  const r = await h.exec(["ss", "-H", "-u", "-l", "-n", "-p", "sport", "=", ":67"], { reject: false });
  return r.stdout.includes(`%${bridge}:67`);
}
async function firewallMentions(bridge: string): Promise<string[]> {
  const r = await h.exec(["iptables-save"], { reject: false });
  const n = await h.exec(["nft", "list", "ruleset"], { reject: false });
  return `${r.stdout}\n${n.stdout}`.split("\n").filter((l) => l.includes(bridge));
}
async function newVm(name: string, bridge: string): Promise<NamespaceVm> {
  const vm = await createNamespaceVm(h, { name, bridge });
  vms.push(vm);
  return vm;
}

describe("NAT network", () => {
  const name = "web";
  let bridge: string;

  it("is created end to end: job succeeds, bridge carries the gateway, DHCP answers", async () => {
    const res = await c.call(
      "create-network",
      {
        name,
        type: "nat",
        cidr: "10.70.0.0/24",
        dhcp: { start: "10.70.0.100", end: "10.70.0.150", leaseTime: 600 },
        description: "e2e nat",
      },
      { wait: 30 },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.job.state).toBe("succeeded");
    expect(res.body.job.progress.percent).toBe(100);
    expect(res.body.job.progress.steps.map((s: { state: string }) => s.state)).toEqual([
      "succeeded",
      "succeeded",
      "succeeded",
      "succeeded",
      "succeeded",
    ]);
    bridge = res.body.job.result.bridge.name;
    expect(bridge).toBe("nf-web");
    expect(await bridgeAddresses(bridge)).toEqual(["10.70.0.1/24"]);
    expect(await dnsmasqFor(bridge)).toBe(true);
    const info = await h.virsh(["net-info", name]);
    expect(info.stdout).toMatch(/Active:\s+yes/);
    expect(info.stdout).toMatch(/Autostart:\s+yes/);
  });

  it("is described and listed from the index", async () => {
    const d = await c.call("describe-network", { name }, { token: TOKENS.viewer });
    expect(d.status).toBe(200);
    expect(d.body.network).toMatchObject({
      name,
      type: "nat",
      host: "e2e",
      cidr: "10.70.0.0/24",
      gateway: "10.70.0.1",
      dhcp: { enabled: true, start: "10.70.0.100", end: "10.70.0.150", leaseTime: 600 },
      state: "active",
      autostart: true,
      description: "e2e nat",
      bridge: { name: "nf-web" },
    });
    const l = await c.call("list-networks", { type: "nat" });
    expect(l.body.networks.map((n: { name: string }) => n.name)).toContain(name);
  });

  it("gives a VM a real DHCP lease in the range, and the VM reaches the outside masqueraded as the host", async () => {
    const vm = await newVm("vma", bridge);
    const lease = await vm.dhcp({ hostname: "vma" });
    expect(ipToInt(lease.ip)).toBeGreaterThanOrEqual(ipToInt("10.70.0.100"));
    expect(ipToInt(lease.ip)).toBeLessThanOrEqual(ipToInt("10.70.0.150"));
    expect(lease.router).toBe("10.70.0.1");
    expect(lease.leaseSeconds).toBe(600);
    // The outside sees the connection coming from the host's uplink address (masquerade), not the VM's.
    expect(await sourceSeenOutside(h, vm)).toBe(h.hostAddress);
    // Stats catch up within a few seconds.
    const stats = await waitForStats(name, (s) => s.connectedVms === 1 && s.allocatedIps >= 1);
    expect(stats.connectedVms).toBe(1);
  });

  it("refuses stop and delete while a namespace VM is attached, naming it", async () => {
    for (const action of ["stop-network", "delete-network"]) {
      const r = await c.call(action, { name }, { wait: 30 });
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(r.body.error.code).toBe("NETWORK_IN_USE");
      expect(r.body.error.details.attached).toEqual([expect.objectContaining({ kind: "device", interface: vms[0]?.hostIfname })]);
    }
    expect(await dnsmasqFor(bridge)).toBe(true);
  });

  it("refuses delete while a running libvirt domain is attached, naming the domain", async () => {
    await vms[0]?.detach();
    await startLibvirtDomain(h, { name: "dom-a", network: name });
    try {
      const r = await c.call("delete-network", { name }, { wait: 30 });
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe("NETWORK_IN_USE");
      expect(r.body.error.details.attached).toEqual([expect.objectContaining({ kind: "domain", name: "dom-a" })]);
      expect(r.body.error.message).toContain("dom-a");
    } finally {
      await stopLibvirtDomain(h, "dom-a");
    }
  });

  it("stop removes bridge and DHCP; start brings them back", async () => {
    const s = await c.call("stop-network", { name }, { wait: 30 });
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(await bridgeAddresses(bridge)).toBeNull();
    expect(await dnsmasqFor(bridge)).toBe(false);
    expect((await c.call("describe-network", { name })).body.network.state).toBe("inactive");
    const again = await c.call("stop-network", { name });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("INVALID_STATE");

    const st = await c.call("start-network", { name }, { wait: 30 });
    expect(st.status, JSON.stringify(st.body)).toBe(200);
    expect(await bridgeAddresses(bridge)).toEqual(["10.70.0.1/24"]);
    expect(await dnsmasqFor(bridge)).toBe(true);
    expect((await c.call("describe-network", { name })).body.network.state).toBe("active");
  });

  it("delete leaves nothing on the host: no bridge, dnsmasq, libvirt definition or firewall rule", async () => {
    const r = await c.call("delete-network", { name }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await bridgeAddresses(bridge)).toBeNull();
    expect(await dnsmasqFor(bridge)).toBe(false);
    const list = await h.virsh(["net-list", "--all", "--name"]);
    expect(list.stdout.split("\n").map((s) => s.trim())).not.toContain(name);
    expect(await firewallMentions(bridge)).toEqual([]);
    expect((await c.call("describe-network", { name })).status).toBe(404);
    // The name is free again.
    expect(await c.redis.hget(c.keys.claimedNames, name)).toBeNull();
  });
});

describe("isolated network", () => {
  it("lets two VMs reach each other but not the outside", async () => {
    const res = await c.call("create-network", { name: "iso", type: "isolated", cidr: "10.71.0.0/24" }, { wait: 30 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const bridge = res.body.job.result.bridge.name as string;
    const a = await newVm("isoa", bridge);
    const b = await newVm("isob", bridge);
    const la = await a.dhcp();
    const lb = await b.dhcp();
    expect(ipToInt(la.ip)).toBeGreaterThanOrEqual(ipToInt("10.71.0.128"));
    const ping = await a.exec(["busybox", "ping", "-c", "1", "-W", "2", lb.ip], { reject: false });
    expect(ping.exitCode).toBe(0);
    const out = await a.exec(["busybox", "ping", "-c", "1", "-W", "2", h.outsideAddress], { reject: false });
    expect(out.exitCode).not.toBe(0);
    expect(await sourceSeenOutside(h, a, 4000)).toBeNull();
    for (const vm of [a, b]) await vm.destroy();
    const del = await c.call("delete-network", { name: "iso" }, { wait: 30 });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
  });
});

describe("failure undo", () => {
  it("a create that fails after define and start leaves the host as it was, and frees the name", async () => {
    // A real libvirt failure: autostart needs to create a symlink in this directory; make it a file.
    const autostartDir = `${h.dir}/etc/qemu/networks/autostart`;
    await h.exec(["rm", "-rf", autostartDir]);
    await h.exec(["touch", autostartDir]);
    try {
      const r = await c.call("create-network", { name: "undo", type: "nat", cidr: "10.72.0.0/24" }, { wait: 45 });
      expect(r.status, JSON.stringify(r.body)).toBe(502);
      expect(r.body.error.code).toBe("HOST_COMMAND_FAILED");
      expect(r.body.error.details.step).toBe("setting autostart");
      const job = r.body.job;
      expect(job.attempts).toBe(3); // transient host failures are retried
      const states = Object.fromEntries(job.progress.steps.map((s: { name: string; state: string }) => [s.name, s.state]));
      expect(states).toMatchObject({ "defining network": "undone", "starting network": "undone", "setting autostart": "failed" });
      expect(await bridgeAddresses("nf-undo")).toBeNull();
      expect(await dnsmasqFor("nf-undo")).toBe(false);
      const list = await h.virsh(["net-list", "--all", "--name"]);
      expect(list.stdout).not.toContain("undo");
      expect(await firewallMentions("nf-undo")).toEqual([]);
      expect(await c.redis.hget(c.keys.claimedNames, "undo")).toBeNull();
    } finally {
      await h.exec(["rm", "-f", autostartDir]);
      await h.exec(["mkdir", "-p", autostartDir]);
    }
    const again = await c.call("create-network", { name: "undo", type: "nat", cidr: "10.72.0.0/24" }, { wait: 30 });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect((await c.call("delete-network", { name: "undo" }, { wait: 30 })).status).toBe(200);
  });

  it("a start that fails on the host leaves the network stopped as before", async () => {
    const r = await c.call(
      "create-network",
      { name: "later", type: "nat", cidr: "10.73.0.0/24", start: false, autostart: false },
      { wait: 30 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.result.state).toBe("inactive");
    // Something else on the host now uses the subnet (a NIC with an address in it): a real collision.
    await h.exec(["ip", "link", "add", "squatter0", "type", "veth", "peer", "name", "squatter1"]);
    await h.exec(["ip", "addr", "add", "10.73.0.9/24", "dev", "squatter0"]);
    await h.exec(["ip", "link", "set", "squatter0", "up"]);
    try {
      const s = await c.call("start-network", { name: "later" }, { wait: 30 });
      expect(s.status, JSON.stringify(s.body)).toBe(409);
      expect(s.body.error.code).toBe("CIDR_CONFLICT");
      expect(s.body.job.attempts).toBe(1); // conflicts are not retried
      expect((await h.virsh(["net-info", "later"])).stdout).toMatch(/Active:\s+no/);
    } finally {
      await h.exec(["ip", "link", "del", "squatter0"]);
    }
    expect((await c.call("delete-network", { name: "later" }, { wait: 30 })).status).toBe(200);
  });
});

async function waitForStats(name: string, ok: (s: { connectedVms: number; allocatedIps: number }) => boolean) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const d = await c.call("describe-network", { name });
    const s = d.body.network.stats;
    if (ok(s) || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 300));
  }
}
