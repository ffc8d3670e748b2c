/**
 * Network MTU end to end on a sandbox host (docs/adr/0042-network-mtu.md): a nat network created with an MTU
 * has it on its bridge and in a VM's DHCP lease; configure-network-mtu changes the bridge and the attached
 * VM's port at once (the VM stays attached) and the next lease carries the new MTU (dnsmasq re-read its
 * options file, not restarted); a dry run changes nothing; bad input is a 4xx changing nothing; a job that
 * fails half-way puts the MTU back; reconcile puts back an MTU changed by hand; isolated takes one at create,
 * bridge refuses it. Under the e2e lock.
 */
import { readFileSync } from "node:fs";
import { addLanNic, createNamespaceVm, type NamespaceVm, type SandboxHost, startLibvirtDomain, stopLibvirtDomain } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor, workerLog } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
const vms: NamespaceVm[] = [];

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "mtu" }], label: "mtu" });
  h = c.hosts.get("mtu") as SandboxHost;
  const r = await c.call("create-network", { name: "mtunet", type: "nat", cidr: "10.86.0.0/24", mtu: 1400 }, { wait: 30 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
});
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await c?.stop();
});

/** A link's MTU and bridge inside the host. */
async function link(dev: string): Promise<{ mtu: number; master: string | null }> {
  const [l] = JSON.parse((await h.exec(["ip", "-j", "link", "show", "dev", dev])).stdout) as { mtu: number; master?: string }[];
  return { mtu: l?.mtu ?? 0, master: l?.master ?? null };
}

async function vmOn(name: string, bridge: string, mac: string): Promise<NamespaceVm> {
  const vm = await createNamespaceVm(h, { name, bridge, mac });
  vms.push(vm);
  return vm;
}

const pidOfDnsmasq = async (net: string) => (await h.exec(["cat", `/run/libvirt/network/${net}.pid`])).stdout.trim();

describe("the MTU of a nat network", () => {
  let vm1: NamespaceVm;

  it("created with mtu 1400: the bridge has it, a VM's DHCP lease carries it, describe shows it", async () => {
    expect(await link("nf-mtunet")).toMatchObject({ mtu: 1400 });
    vm1 = await vmOn("mtuvm1", "nf-mtunet", "52:54:00:86:00:01");
    const lease = await vm1.dhcp();
    expect(lease.mtu).toBe(1400);
    const d = await c.call("describe-network", { name: "mtunet" });
    expect(d.body.network.mtu).toBe(1400);
  });

  it("a dry run shows the plan and changes nothing", async () => {
    const before = (await h.virsh(["net-dumpxml", "--inactive", "mtunet"])).stdout;
    const r = await c.call("configure-network-mtu", { name: "mtunet", mtu: 1300, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const uuid = (await c.call("describe-network", { name: "mtunet" })).body.network.uuid;
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command)).toEqual([
      ["ip", "link", "set", "dev", "nf-mtunet", "mtu", "1300"],
      ["write", `/var/lib/libvirt/dnsmasq/netforge-${uuid}.options`, "tag:nf-mtunet,option:mtu,1300\n"],
      ["virsh", "net-define", "<file>"],
    ]);
    expect(r.body.plan.changed[0]).toBe("MTU 1400 -> 1300");
    expect(await link("nf-mtunet")).toMatchObject({ mtu: 1400 });
    expect(await link(vm1.hostIfname)).toEqual({ mtu: 1400, master: "nf-mtunet" });
    expect((await h.virsh(["net-dumpxml", "--inactive", "mtunet"])).stdout).toBe(before);
  });

  it("configure-network-mtu 1300: bridge and the VM's port at once, the VM stays attached, new leases carry 1300 (dnsmasq not restarted)", async () => {
    const pid = await pidOfDnsmasq("mtunet");
    // The plan previewed is the plan the worker runs (its hash, whatever ports the worker finds on the bridge).
    const preview = await c.call("configure-network-mtu", { name: "mtunet", mtu: 1300, dryRun: true });
    const r = await c.call("configure-network-mtu", { name: "mtunet", mtu: 1300, expectPlan: preview.body.plan.planHash }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const result = r.body.job.result;
    expect(result.changed).toEqual([
      "MTU 1400 -> 1300",
      "guests learn MTU 1300 at their next DHCP lease or renewal; until then they keep the one they have",
    ]);
    expect(result.notLive).toEqual([]);
    const commands = result.applied.map((a: { command: string[] }) => a.command.join(" "));
    expect(commands).toContain(`ip link set dev ${vm1.hostIfname} mtu 1300`);
    expect(commands).toContain(`kill -HUP ${pid}`);
    expect(await link("nf-mtunet")).toMatchObject({ mtu: 1300 });
    expect(await link(vm1.hostIfname)).toEqual({ mtu: 1300, master: "nf-mtunet" });
    expect(await pidOfDnsmasq("mtunet")).toBe(pid);
    // A new VM's lease, and the attached VM's next one.
    const vm2 = await vmOn("mtuvm2", "nf-mtunet", "52:54:00:86:00:02");
    expect((await vm2.dhcp()).mtu).toBe(1300);
    expect((await vm1.dhcp()).mtu).toBe(1300);
    // Persistent, and in the index.
    expect((await h.virsh(["net-dumpxml", "--inactive", "mtunet"])).stdout).toMatch(/<mtu size=["']1300["']\/>/);
    await waitFor("mtu 1300 in describe", async () => (await c.call("describe-network", { name: "mtunet" })).body.network.mtu === 1300);
  });

  it("refuses bad input with a 4xx and changes nothing", async () => {
    for (const mtu of [100, 10000, "1400", 1400.5]) {
      const r = await c.call("configure-network-mtu", { name: "mtunet", mtu });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.code).toBe("VALIDATION_FAILED");
      expect(r.body.error.details.issues[0].path).toBe("mtu");
    }
    const missing = await c.call("configure-network-mtu", { name: "nosuchnet", mtu: 1400 });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
    expect(await link("nf-mtunet")).toMatchObject({ mtu: 1300 });
    expect((await h.virsh(["net-dumpxml", "--inactive", "mtunet"])).stdout).toMatch(/<mtu size=["']1300["']\/>/);
  });

  it("a job that fails half-way puts the bridge and its ports back", async () => {
    const uuid = (await c.call("describe-network", { name: "mtunet" })).body.network.uuid;
    const file = `/var/lib/libvirt/dnsmasq/netforge-${uuid}.options`;
    // The options file cannot be written: a directory with something in it stands where it goes.
    await h.exec(["mv", file, `${file}.aside`]);
    await h.exec(["mkdir", "-p", `${file}/x`]);
    try {
      const r = await c.call("configure-network-mtu", { name: "mtunet", mtu: 1200 }, { wait: 30 });
      expect(r.body.job.state, JSON.stringify(r.body)).toBe("failed");
      expect(r.body.job.error.code).toBe("HOST_COMMAND_FAILED");
      expect(r.body.job.error.message).toContain("could not write the DHCP options file");
      expect(r.body.job.error.details.undoFailures).toBeUndefined();
    } finally {
      await h.exec(["rm", "-r", file]);
      await h.exec(["mv", `${file}.aside`, file]);
    }
    expect(await link("nf-mtunet")).toMatchObject({ mtu: 1300 });
    expect(await link(vm1.hostIfname)).toEqual({ mtu: 1300, master: "nf-mtunet" });
    expect((await h.virsh(["net-dumpxml", "--inactive", "mtunet"])).stdout).toMatch(/<mtu size=["']1300["']\/>/);
    // Put back by the job's own undo, not by reconcile (which logs each link it sets back).
    expect(readFileSync(workerLog(c.prefix, "mtu"), "utf8")).not.toContain("(was 1200)");
  });

  it("reconcile puts back a bridge and a port MTU changed by hand, and the DHCP options file", async () => {
    // It never put back an MTU the jobs changed (a round listed before a job and repairing after it would).
    expect(readFileSync(workerLog(c.prefix, "mtu"), "utf8")).not.toMatch(/MTU 1400 on nf-mtunet \(was 1300\)/);
    await h.exec(["ip", "link", "set", "dev", "nf-mtunet", "mtu", "1500"]);
    await h.exec(["ip", "link", "set", "dev", vm1.hostIfname, "mtu", "1500"]);
    await waitFor(
      "the MTU put back by reconcile",
      async () => (await link("nf-mtunet")).mtu === 1300 && (await link(vm1.hostIfname)).mtu === 1300,
      30_000,
      250,
    );
    const uuid = (await c.call("describe-network", { name: "mtunet" })).body.network.uuid;
    const file = `/var/lib/libvirt/dnsmasq/netforge-${uuid}.options`;
    await h.exec(["sh", "-c", `echo 'tag:nf-mtunet,option:mtu,1500' > ${file}; kill -HUP $(cat /run/libvirt/network/mtunet.pid)`]);
    expect((await vm1.dhcp()).mtu).toBe(1500);
    await waitFor(
      "the options file put back by reconcile",
      async () => (await h.exec(["cat", file])).stdout === "tag:nf-mtunet,option:mtu,1300\n",
      30_000,
      250,
    );
    expect((await vm1.dhcp()).mtu).toBe(1300);
  });

  it("a libvirt domain started after the change gets its tap at the new MTU (libvirt takes the bridge's, not its live definition's)", async () => {
    const dom = await startLibvirtDomain(h, { name: "mtudom", network: "mtunet" });
    try {
      expect(await link(dom.ifname)).toEqual({ mtu: 1300, master: "nf-mtunet" });
      // libvirt set it, not reconcile (which logs each port it puts back).
      expect(readFileSync(workerLog(c.prefix, "mtu"), "utf8")).not.toContain(`${dom.ifname} (was`);
    } finally {
      await stopLibvirtDomain(h, "mtudom");
    }
  });
});

describe("the MTU on other types", () => {
  it("isolated takes one at create; a network created without one gets the bridge at once and DHCP at its next start", async () => {
    const iso = await c.call("create-network", { name: "mtuiso", type: "isolated", cidr: "10.86.1.0/24", mtu: 1280 }, { wait: 30 });
    expect(iso.status, JSON.stringify(iso.body)).toBe(200);
    expect(await link("nf-mtuiso")).toMatchObject({ mtu: 1280 });
    const vm = await vmOn("mtuvm3", "nf-mtuiso", "52:54:00:86:01:03");
    expect((await vm.dhcp()).mtu).toBe(1280);

    const plain = await c.call("create-network", { name: "mtuplain", type: "nat", cidr: "10.86.2.0/24" }, { wait: 30 });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect((await c.call("describe-network", { name: "mtuplain" })).body.network.mtu).toBeNull();
    const r = await c.call("configure-network-mtu", { name: "mtuplain", mtu: 1450 }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.result.notLive).toEqual([
      "DHCP: the running DHCP server was started without an MTU and hands out MTU 1450 from the network's next start (stop-network + start-network); the bridge and its ports have it now",
    ]);
    expect(await link("nf-mtuplain")).toMatchObject({ mtu: 1450 });
    expect((await c.call("stop-network", { name: "mtuplain" }, { wait: 30 })).status).toBe(200);
    expect((await c.call("start-network", { name: "mtuplain" }, { wait: 30 })).status).toBe(200);
    expect(await link("nf-mtuplain")).toMatchObject({ mtu: 1450 });
    const vm4 = await vmOn("mtuvm4", "nf-mtuplain", "52:54:00:86:02:04");
    expect((await vm4.dhcp()).mtu).toBe(1450);
  });

  it("bridge and sriov bodies have no mtu (400 naming it, nothing created); a bridge network refuses configure-network-mtu (422)", async () => {
    for (const body of [
      { name: "mtulan", type: "bridge", interface: "lan0", mtu: 1400 },
      { name: "mtuvf", type: "sriov", pf: "lan0", vfs: 2, mtu: 1400 },
    ]) {
      const r = await c.call("create-network", body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.details.issues).toEqual([{ path: "", message: "unknown field(s): mtu" }]);
      expect((await c.call("describe-network", { name: body.name })).status).toBe(404);
    }
    await addLanNic(h, { hostIfname: "lan0", outsideIfname: "lan0-peer", outsideCidr: "192.0.2.1/24" });
    await waitFor("lan0 in the inventory", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts?.[0]?.interfaces?.some((i: { name: string }) => i.name === "lan0");
    });
    const lan = await c.call("create-network", { name: "mtulan", type: "bridge", interface: "lan0" }, { wait: 30 });
    expect(lan.status, JSON.stringify(lan.body)).toBe(200);
    const mtuBefore = (await link("nf-mtulan")).mtu;
    const r = await c.call("configure-network-mtu", { name: "mtulan", mtu: 1400 });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(r.body.error.message).toContain("MTU");
    expect((await link("nf-mtulan")).mtu).toBe(mtuBefore);
    expect((await c.call("describe-network", { name: "mtulan" })).body.network.mtu).toBeNull();
  });

  it("delete-network removes the network's DHCP options file", async () => {
    const r = await c.call("create-network", { name: "mtudel", type: "nat", cidr: "10.86.3.0/24", mtu: 1500 }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await c.call("configure-network-mtu", { name: "mtudel", mtu: 1400 }, { wait: 30 })).status).toBe(200);
    const file = `/var/lib/libvirt/dnsmasq/netforge-${r.body.job.result.uuid}.options`;
    expect((await h.exec(["cat", file])).stdout).toBe("tag:nf-mtudel,option:mtu,1400\n");
    const d = await c.call("delete-network", { name: "mtudel" }, { wait: 30 });
    expect(d.status, JSON.stringify(d.body)).toBe(200);
    expect((await h.exec(["test", "-e", file], { reject: false })).exitCode).toBe(1);
  });
});
