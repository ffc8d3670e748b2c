/**
 * Bridge networks end to end on a sandbox host. An unconfigured veth end in
 * the host plays the physical NIC; its peer sits in the host's outside
 * namespace, which is the LAN and runs that LAN's DHCP server (dnsmasq,
 * started here with an argument array, bound to that veth only). Proves: a VM
 * on the network takes its lease from the LAN's server and the LAN reaches it
 * directly (no NAT: the VM sees the LAN client's own address); delete gives
 * the NIC back exactly as it was; a NIC carrying an address is refused and
 * keeps it; a host bridge is used and left untouched; a real libvirt domain
 * blocks stop and delete; DHCP/static-IP actions are refused for the type.
 * What is not netforge's to take: a bridge carrying the host's address and
 * another tool's bridge (named or through its veth) are refused unless the
 * worker lists them in NETFORGE_ALLOWED_INTERFACES (this cluster lists br-ext
 * and br0); a NIC whose macvlan carries an address is refused (at the door,
 * and by the worker when the address came after the inventory); a listed br0
 * keeps its address, ports and MTU through create and delete.
 */
import { readFile } from "node:fs/promises";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { addLanNic, createNamespaceVm, type NamespaceVm, type SandboxHost, startLibvirtDomain, stopLibvirtDomain } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
const vms: NamespaceVm[] = [];
const domains: string[] = [];
let dnsmasqPidFile = "";

/** `ip -d -j link show dev X` in the host, without what changes by itself (counters, a bridge's running timers). */
async function linkState(dev: string): Promise<Record<string, unknown>> {
  const [l] = JSON.parse((await h.exec(["ip", "-d", "-j", "link", "show", "dev", dev])).stdout) as Record<string, unknown>[];
  if (!l) throw new Error(`no ${dev}`);
  const { stats64: _s, stats: _t, ...rest } = l;
  const info = (rest.linkinfo as { info_data?: Record<string, unknown> } | undefined)?.info_data;
  if (info) for (const k of Object.keys(info)) if (k.endsWith("_timer")) delete info[k];
  return rest;
}

beforeAll(async () => {
  c = await startCluster({
    hosts: [{ id: "l2br" }],
    label: "l2br",
    // The host's own bridges netforge may use as they are; every other existing bridge is refused.
    workerEnv: { NETFORGE_ALLOWED_INTERFACES: "br-ext,br0" },
  });
  h = c.hosts.get("l2br") as SandboxHost;
  await addLanNic(h, { hostIfname: "lan0", outsideIfname: "lan0-peer", outsideCidr: "192.0.2.1/24" });
  // The LAN's own DHCP server, in the LAN (outside) namespace, on that veth only; DNS off.
  dnsmasqPidFile = join(h.dir, "lan-dnsmasq.pid");
  await h.execOutside([
    "dnsmasq",
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--port=0",
    "--user=root",
    "--interface=lan0-peer",
    "--bind-interfaces",
    "--except-interface=lo",
    "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m",
    "--dhcp-authoritative",
    `--dhcp-leasefile=${join(h.dir, "lan.leases")}`,
    `--pid-file=${dnsmasqPidFile}`,
  ]);
  // The inventory shows the NIC before the API places anything on it.
  await waitFor("lan0 in the inventory", async () => {
    const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
    return r.body.hosts?.[0]?.interfaces?.some((i: { name: string }) => i.name === "lan0");
  });
});
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  for (const d of domains) await stopLibvirtDomain(h, d).catch(() => undefined);
  const pid = Number((await readFile(dnsmasqPidFile, "utf8").catch(() => "")).trim());
  if (pid > 0) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {}
  }
  await c?.stop();
});

describe("a bridge network on an unconfigured NIC", () => {
  let before: Record<string, unknown>;
  let vm: NamespaceVm;
  it("a dry run plans the bridge, the NIC's enslavement and the definition, and changes nothing", async () => {
    const was = await linkState("lan0");
    const r = await c.call("create-network", { name: "lan", type: "bridge", interface: "lan0", dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.host).toBe("l2br");
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command.join(" "))).toEqual([
      "ip link add name nf-lan type bridge stp_state 0 forward_delay 0",
      "ip link set dev lan0 master nf-lan",
      "ip link set dev nf-lan up",
      "virsh net-define <file>",
      "virsh net-start lan",
      "virsh net-autostart lan",
    ]);
    expect(r.body.plan.libvirtXml).toContain("<forward mode='bridge'/>");
    expect(r.body.plan.libvirtXml).toContain("<nf:nic up='yes' mtu='1500'/>");
    expect(await linkState("lan0")).toEqual(was);
    expect((await h.exec(["ip", "link", "show", "dev", "nf-lan"], { reject: false })).exitCode).not.toBe(0);
  });

  it("creates nf-<name> with the NIC enslaved; describe shows bridge.interface, no subnet or DHCP", async () => {
    before = await linkState("lan0");
    const r = await c.call("create-network", { name: "lan", type: "bridge", interface: "lan0" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const d = await c.call("describe-network", { name: "lan" });
    expect(d.body.network).toMatchObject({
      type: "bridge",
      host: "l2br",
      state: "active",
      cidr: null,
      gateway: null,
      dhcp: { enabled: false },
      bridge: { name: "nf-lan", interface: "lan0" },
      sriov: null,
    });
    expect((await linkState("lan0")).master).toBe("nf-lan");
    const xml = (await h.virsh(["net-dumpxml", "lan"])).stdout;
    expect(xml).toContain("<forward mode='bridge'/>");
    expect(xml).toContain("<bridge name='nf-lan'/>");
    // The NIC's state before, kept in the spec for delete.
    expect(xml).toMatch(/<nf:nic up=["']yes["'] mtu=["']1500["']\/>/);
  });

  it("a VM on it gets its lease from the LAN's DHCP server, and the LAN reaches it directly", async () => {
    vm = await createNamespaceVm(h, { name: "b1", bridge: "nf-lan" });
    vms.push(vm);
    const lease = await vm.dhcp({ timeoutMs: 15_000 });
    expect(lease.serverId).toBe("192.0.2.1");
    const last = Number(lease.ip.split(".")[3]);
    expect(lease.ip.startsWith("192.0.2.")).toBe(true);
    expect(last).toBeGreaterThanOrEqual(100);
    expect(last).toBeLessThanOrEqual(150);
    // The LAN's lease file has it: the LAN's server, not libvirt's, handed it out.
    expect(await readFile(join(h.dir, "lan.leases"), "utf8")).toContain(lease.ip);

    // A web server in the VM answering with the client address it sees; the LAN calls it.
    const www = join(h.dir, "www-b1");
    await mkdir(join(www, "cgi-bin"), { recursive: true });
    await writeFile(join(www, "cgi-bin", "ip"), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n');
    await chmod(join(www, "cgi-bin", "ip"), 0o755);
    await vm.exec(["busybox", "httpd", "-p", "8080", "-h", www]);
    const seen = await h.execOutside(["busybox", "wget", "-q", "-O", "-", `http://${lease.ip}:8080/cgi-bin/ip`], { timeoutMs: 10_000 });
    // busybox httpd listens on IPv6 too and shows an IPv4 client as [::ffff:a.b.c.d].
    expect(seen.stdout.trim().replace(/^\[::ffff:(.*)\]$/, "$1")).toBe("192.0.2.1");
    // describe counts the VM, not the NIC.
    await waitFor("connectedVms 1", async () => (await c.call("describe-network", { name: "lan" })).body.network.stats.connectedVms === 1);
  });

  it("DHCP and static-IP actions are refused: the LAN's DHCP server owns addressing", async () => {
    for (const [action, body] of [
      ["assign-static-ip", { name: "lan", mac: "52:54:00:00:00:01", ip: "192.0.2.10" }],
      ["configure-network-dhcp", { name: "lan", start: "192.0.2.10", end: "192.0.2.20" }],
    ] as const) {
      const r = await c.call(action, body);
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
      expect(r.body.error.message).toContain("the LAN's DHCP server owns addressing");
    }
  });

  it("a second network on the same NIC is refused at the door", async () => {
    const r = await c.call("create-network", { name: "lan-again", type: "bridge", interface: "lan0" });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.message).toContain("interface lan0 on host l2br is already used by network 'lan'");
  });

  it("a real libvirt domain on it blocks stop and delete; the namespace VM (a device) too", async () => {
    const byDevice = await c.call("stop-network", { name: "lan" }, { wait: 30 });
    expect(byDevice.status, JSON.stringify(byDevice.body)).toBe(409);
    expect(byDevice.body.job.error.message).toContain(`device ${vm.hostIfname}`);
    await vm.detach();
    const dom = await startLibvirtDomain(h, { name: "bvm", network: "lan" });
    domains.push("bvm");
    expect((await linkState(dom.ifname)).master).toBe("nf-lan");
    for (const action of ["stop-network", "delete-network"]) {
      const r = await c.call(action, { name: "lan" }, { wait: 30 });
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(r.body.job.error.code).toBe("NETWORK_IN_USE");
      expect(r.body.job.error.message).toContain("VM 'bvm'");
      // The NIC itself is never counted as attached.
      expect(r.body.job.error.message).not.toContain("lan0");
    }
    await stopLibvirtDomain(h, "bvm");
  });

  it("a start after the host lost the bridge (as after a reboot) recreates it with the NIC", async () => {
    expect((await c.call("stop-network", { name: "lan" }, { wait: 30 })).status).toBe(200);
    await h.exec(["ip", "link", "del", "nf-lan"]);
    expect((await linkState("lan0")).master).toBeUndefined();
    const r = await c.call("start-network", { name: "lan" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await linkState("lan0")).master).toBe("nf-lan");
    expect((await h.virsh(["net-info", "lan"])).stdout).toMatch(/Active:\s+yes/);
  });

  it("a dry run of delete shows the NIC given back and the bridge removed", async () => {
    await waitFor("lan0 in nf-lan in the inventory", async () => {
      const hosts = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return hosts.body.hosts[0].interfaces.some(
        (i: { name: string; master: string | null }) => i.name === "lan0" && i.master === "nf-lan",
      );
    });
    // The door's dry run reads attachments from the inventory: an entry published while the
    // domain of the test before still ran would count it (the job itself re-checks under the lock).
    await waitFor("no VM counted", async () => (await c.call("describe-network", { name: "lan" })).body.network.stats.connectedVms === 0);
    const r = await c.call("delete-network", { name: "lan", dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command.join(" "))).toEqual([
      "virsh net-destroy lan",
      "virsh net-undefine lan",
      "ip link set dev lan0 nomaster",
      "ip link del nf-lan",
    ]);
    expect((await linkState("lan0")).master).toBe("nf-lan");
  });

  it("delete gives the NIC back exactly as it was and removes the bridge", async () => {
    const r = await c.call("delete-network", { name: "lan" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await linkState("lan0")).toEqual(before);
    expect((await h.exec(["ip", "link", "show", "dev", "nf-lan"], { reject: false })).exitCode).not.toBe(0);
  });

  it("a NIC that was down with another MTU comes back down with that MTU", async () => {
    await h.exec(["ip", "link", "set", "dev", "lan0", "down"]);
    await h.exec(["ip", "link", "set", "dev", "lan0", "mtu", "1400"]);
    const was = await linkState("lan0");
    const r = await c.call("create-network", { name: "lan2", type: "bridge", interface: "lan0", host: "l2br" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await linkState("lan0")).toMatchObject({ master: "nf-lan2" });
    expect((await c.call("delete-network", { name: "lan2" }, { wait: 30 })).status).toBe(200);
    expect(await linkState("lan0")).toEqual(was);
    await h.exec(["ip", "link", "set", "dev", "lan0", "mtu", "1500"]);
    await h.exec(["ip", "link", "set", "dev", "lan0", "up"]);
  });
});

describe("refusals and a host's own bridge", () => {
  it("a NIC carrying an address is refused, saying why, and keeps its address", async () => {
    await addLanNic(h, { hostIfname: "lan1", outsideIfname: "lan1-peer", outsideCidr: "203.0.113.1/24" });
    await h.exec(["ip", "addr", "add", "203.0.113.2/24", "dev", "lan1"]);
    await waitFor("lan1's address in the inventory", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts[0].interfaces.some((i: { name: string; addresses: string[] }) => i.name === "lan1" && i.addresses.length > 0);
    });
    const r = await c.call("create-network", { name: "cut", type: "bridge", interface: "lan1" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.message).toContain(
      "lan1 on host l2br carries 203.0.113.2/24: moving a configured NIC into a bridge would cut the host off",
    );
    const addr = JSON.parse((await h.exec(["ip", "-j", "-4", "addr", "show", "dev", "lan1"])).stdout) as {
      addr_info: { local: string }[];
    }[];
    expect(addr[0]?.addr_info.map((a) => a.local)).toEqual(["203.0.113.2"]);
    expect((await h.virsh(["net-list", "--all", "--name"])).stdout).not.toContain("cut");
  });

  it("the worker refuses it too when the door could not tell (address added after the inventory)", async () => {
    await h.exec(["ip", "addr", "del", "203.0.113.2/24", "dev", "lan1"]);
    await waitFor("lan1 without address in the inventory", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts[0].interfaces.some((i: { name: string; addresses: string[] }) => i.name === "lan1" && i.addresses.length === 0);
    });
    await h.exec(["ip", "addr", "add", "203.0.113.3/24", "dev", "lan1"]);
    const r = await c.call("create-network", { name: "cut2", type: "bridge", interface: "lan1", host: "l2br" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.job?.error?.code ?? r.body.error?.code).toBe("INVALID_STATE");
    expect(JSON.stringify(r.body)).toContain("moving a configured NIC into a bridge would cut the host off");
    expect((await h.exec(["ip", "-j", "link", "show", "dev", "lan1"])).stdout).not.toContain('"master"');
  });

  it("missing NIC: clear 400 naming it, at the door or, on a named host, from its worker's fresh read", async () => {
    const r = await c.call("create-network", { name: "ghost", type: "bridge", interface: "eth9" });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    // With one online host its own answer names it; with several, "no online host has interface eth9".
    expect(r.body.error.message).toContain("host l2br has no interface eth9");
    // Named host: the worker decides (its inventory may be older than the NIC); the job fails, nothing is left.
    const r2 = await c.call("create-network", { name: "ghost", type: "bridge", interface: "eth9", host: "l2br" }, { wait: 30 });
    expect(r2.status, JSON.stringify(r2.body)).toBe(400);
    expect(r2.body.job.error.code).toBe("VALIDATION_FAILED");
    expect(r2.body.job.error.message).toContain("host l2br has no interface eth9");
    expect((await c.call("describe-network", { name: "ghost" })).status).toBe(404);
    expect((await h.virsh(["net-list", "--all", "--name"])).stdout).not.toContain("ghost");
  });

  it("a NIC added to the host is known at once: published within a second, and a create on it right away works", async () => {
    // A 30 s heartbeat for this test: only the link event can publish the NIC within a second.
    await c.startWorker("l2br", { env: { NETFORGE_HEARTBEAT_MS: "30000" } });
    await h.exec(["ip", "link", "add", "nfnew0", "type", "veth", "peer", "name", "nfnew0p"]);
    const t0 = Date.now();
    await waitFor(
      "nfnew0 in list-hosts",
      async () => {
        const r = await c.call("list-hosts", {});
        return r.body.hosts[0].interfaces.some((i: { name: string }) => i.name === "nfnew0");
      },
      5_000,
      20,
    );
    const seenMs = Date.now() - t0;
    console.log(`a new NIC reached list-hosts after ${seenMs} ms`);
    expect(seenMs).toBeLessThan(1_000);
    // Another NIC, used at once: the door has not seen it, the named host's worker reads it and creates.
    await h.exec(["ip", "link", "add", "nfnew1", "type", "veth", "peer", "name", "nfnew1p"]);
    const r = await c.call("create-network", { name: "fresh", type: "bridge", interface: "nfnew1", host: "l2br" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await h.exec(["ip", "-j", "link", "show", "dev", "nfnew1"])).stdout).toContain('"master"');
    expect((await c.call("delete-network", { name: "fresh" }, { wait: 30 })).status).toBe(200);
    await h.exec(["ip", "link", "del", "nfnew1"]);
    // A NIC removed leaves the inventory as fast.
    await h.exec(["ip", "link", "del", "nfnew0"]);
    await waitFor(
      "nfnew0 gone from list-hosts",
      async () => !(await c.call("list-hosts", {})).body.hosts[0].interfaces.some((i: { name: string }) => i.name === "nfnew0"),
      1_000,
      20,
    );
    await c.startWorker("l2br");
  });

  it("an existing host bridge is used and left untouched by delete", async () => {
    await h.exec(["ip", "link", "add", "name", "br-ext", "address", "02:00:00:0b:0e:01", "type", "bridge"]);
    await h.exec(["ip", "link", "set", "dev", "br-ext", "up"]);
    await waitFor("br-ext in the inventory", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts[0].interfaces.some((i: { name: string }) => i.name === "br-ext");
    });
    // A port of the host's own (not a libvirt domain of the network): it must not block delete, nor be touched.
    const vm = await createNamespaceVm(h, { name: "e1", bridge: "br-ext" });
    vms.push(vm);
    const before = await linkState("br-ext");
    const r = await c.call("create-network", { name: "ext", type: "bridge", bridge: "br-ext" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await c.call("describe-network", { name: "ext" })).body.network.bridge).toEqual({ name: "br-ext", interface: null });
    const d = await c.call("delete-network", { name: "ext" }, { wait: 30 });
    expect(d.status, JSON.stringify(d.body)).toBe(200);
    expect(await linkState("br-ext")).toEqual(before);
    expect((await h.exec(["ip", "-j", "link", "show", "dev", vm.hostIfname])).stdout).toContain('"master":"br-ext"');
    await vm.detach();
  });
});

describe("bridges and NICs that are not netforge's to take", () => {
  const admin = "admin-token-0123456789";
  const inInventory = (what: string, pred: (i: { name: string; addresses: string[]; master: string | null }) => boolean) =>
    waitFor(what, async () => {
      const r = await c.call("list-hosts", {}, { token: admin });
      return r.body.hosts[0].interfaces.some(pred);
    });
  const defined = async () => (await h.virsh(["net-list", "--all", "--name"])).stdout.split("\n").map((l) => l.trim());
  /** `ip -j -4 addr show dev X`'s addresses. */
  const addrs = async (dev: string) =>
    (
      JSON.parse((await h.exec(["ip", "-j", "-4", "addr", "show", "dev", dev])).stdout) as { addr_info: { local: string }[] }[]
    )[0]?.addr_info.map((a) => a.local);

  it("an unlisted bridge carrying the host's address (with a port) is 422 NOT_ALLOWED naming address, port and setting; untouched", async () => {
    await h.exec(["ip", "link", "add", "name", "brhost", "type", "bridge"]);
    await h.exec(["ip", "addr", "add", "198.18.10.2/24", "dev", "brhost"]);
    await h.exec(["ip", "link", "add", "hport0", "type", "veth", "peer", "name", "hport0-p"]);
    await h.exec(["ip", "link", "set", "dev", "hport0", "master", "brhost"]);
    await h.exec(["ip", "link", "set", "dev", "brhost", "up"]);
    await inInventory("brhost's port in the inventory", (i) => i.name === "hport0" && i.master === "brhost");
    const before = await linkState("brhost");
    for (const body of [
      { name: "office", type: "bridge", bridge: "brhost" },
      { name: "office", type: "bridge", interface: "hport0", host: "l2br" },
    ]) {
      const r = await c.call("create-network", body, { wait: 30 });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error.code).toBe("NOT_ALLOWED");
      expect(r.body.error.message).toContain("brhost");
      expect(r.body.error.message).toContain("is not netforge's (it carries 198.18.10.2/24; its ports are hport0)");
      expect(r.body.error.message).toContain("listed in NETFORGE_ALLOWED_INTERFACES of host l2br");
    }
    expect(await defined()).not.toContain("office");
    expect(await linkState("brhost")).toEqual(before);
    expect(await addrs("brhost")).toEqual(["198.18.10.2"]);
  });

  it("another tool's bridge (docker0-like), named or through one of its veths, is NOT_ALLOWED", async () => {
    await h.exec(["ip", "link", "add", "name", "dock0", "type", "bridge"]);
    await h.exec(["ip", "addr", "add", "172.17.0.1/16", "dev", "dock0"]);
    await h.exec(["ip", "link", "add", "vethd0", "type", "veth", "peer", "name", "vethd0-c"]);
    await h.exec(["ip", "link", "set", "dev", "vethd0", "master", "dock0"]);
    await h.exec(["ip", "link", "set", "dev", "dock0", "up"]);
    await inInventory("vethd0 in dock0 in the inventory", (i) => i.name === "vethd0" && i.master === "dock0");
    const named = await c.call("create-network", { name: "dock", type: "bridge", bridge: "dock0" }, { wait: 30 });
    expect(named.status, JSON.stringify(named.body)).toBe(422);
    expect(named.body.error.message).toContain(
      "bridge dock0 on host l2br is not netforge's (it carries 172.17.0.1/16; its ports are vethd0)",
    );
    const viaVeth = await c.call("create-network", { name: "dock", type: "bridge", interface: "vethd0" }, { wait: 30 });
    expect(viaVeth.status, JSON.stringify(viaVeth.body)).toBe(422);
    expect(viaVeth.body.error.code).toBe("NOT_ALLOWED");
    expect(viaVeth.body.error.message).toContain("interface vethd0 on host l2br is a port of bridge dock0, which is not netforge's");
    expect(await defined()).not.toContain("dock");
    expect((await linkState("vethd0")).master).toBe("dock0");
  });

  it("a NIC whose macvlan child carries an address is refused naming it, and keeps both", async () => {
    await addLanNic(h, { hostIfname: "lan2", outsideIfname: "lan2-peer", outsideCidr: "198.18.20.1/24" });
    await h.exec(["ip", "link", "add", "link", "lan2", "name", "mv2", "type", "macvlan", "mode", "bridge"]);
    await h.exec(["ip", "addr", "add", "198.18.20.2/24", "dev", "mv2"]);
    await h.exec(["ip", "link", "set", "dev", "mv2", "up"]);
    await inInventory("mv2's address in the inventory", (i) => i.name === "mv2" && i.addresses.length > 0);
    const r = await c.call("create-network", { name: "mvcut", type: "bridge", interface: "lan2" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.code).toBe("INVALID_STATE");
    expect(r.body.error.message).toContain(
      "interface lan2 on host l2br has upper devices carrying addresses (mv2 carries 198.18.20.2/24): moving it into a bridge would cut the host off",
    );
    expect((await linkState("lan2")).master).toBeUndefined();
    expect(await addrs("mv2")).toEqual(["198.18.20.2"]);
    expect(await defined()).not.toContain("mvcut");
  });

  it("the worker refuses it too when the macvlan got its address after the inventory", async () => {
    await h.exec(["ip", "addr", "del", "198.18.20.2/24", "dev", "mv2"]);
    await inInventory("mv2 without address in the inventory", (i) => i.name === "mv2" && i.addresses.length === 0);
    await h.exec(["ip", "addr", "add", "198.18.20.3/24", "dev", "mv2"]);
    const r = await c.call("create-network", { name: "mvcut2", type: "bridge", interface: "lan2", host: "l2br" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.job.error.code).toBe("INVALID_STATE");
    expect(r.body.job.error.message).toContain("(mv2 carries 198.18.20.3/24)");
    expect((await linkState("lan2")).master).toBeUndefined();
    expect(await addrs("mv2")).toEqual(["198.18.20.3"]);
    expect(await defined()).not.toContain("mvcut2");
  });

  it("a listed br0 with the host's address and a port is used, and keeps its address, ports and MTU through create and delete", async () => {
    await h.exec(["ip", "link", "add", "name", "br0", "mtu", "1400", "type", "bridge"]);
    await h.exec(["ip", "addr", "add", "198.18.30.2/24", "dev", "br0"]);
    await h.exec(["ip", "link", "add", "b0port", "mtu", "1400", "type", "veth", "peer", "name", "b0port-p"]);
    await h.exec(["ip", "link", "set", "dev", "b0port", "master", "br0"]);
    await h.exec(["ip", "link", "set", "dev", "b0port", "up"]);
    await h.exec(["ip", "link", "set", "dev", "br0", "up"]);
    await inInventory("b0port in br0 in the inventory", (i) => i.name === "b0port" && i.master === "br0");
    const list = await c.call("list-hosts", {}, { token: admin });
    expect(list.body.hosts[0].allowedInterfaces).toEqual(["br-ext", "br0"]);
    const before = { br: await linkState("br0"), port: await linkState("b0port"), addrs: await addrs("br0") };
    const r = await c.call("create-network", { name: "office", type: "bridge", bridge: "br0" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await c.call("describe-network", { name: "office" })).body.network.bridge).toEqual({ name: "br0", interface: null });
    expect((await h.virsh(["net-dumpxml", "office"])).stdout).toContain("<bridge name='br0'/>");
    expect(await addrs("br0")).toEqual(["198.18.30.2"]);
    const d = await c.call("delete-network", { name: "office" }, { wait: 30 });
    expect(d.status, JSON.stringify(d.body)).toBe(200);
    expect(await linkState("br0")).toEqual(before.br);
    expect(await linkState("b0port")).toEqual(before.port);
    expect(await addrs("br0")).toEqual(before.addrs);
    expect((await linkState("br0")).mtu).toBe(1400);
  });
});
