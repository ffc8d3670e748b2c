/**
 * configure-network-dns end to end on a sandbox host: a namespace VM (its lease from the network's dnsmasq)
 * resolves the network's DNS host records through the network's DNS server (the gateway), the old records stop
 * resolving when they are replaced, a dry run changes nothing, and the records are back after a network and a
 * libvirtd restart and after the running network lost one behind netforge's back. Under the e2e lock.
 */
import { createNamespaceVm, type NamespaceVm, restartLibvirtd, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
let vm: NamespaceVm;
const GW = "10.87.0.1";

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "dns" }], label: "dns" });
  h = c.hosts.get("dns") as SandboxHost;
  const r = await c.call("create-network", { name: "dnsnet", type: "nat", cidr: "10.87.0.0/24" }, { wait: 30 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  vm = await createNamespaceVm(h, { name: "dnsvm", bridge: "nf-dnsnet", mac: "52:54:00:87:00:01" });
  await vm.dhcp();
});
afterAll(async () => {
  await vm?.destroy().catch(() => undefined);
  await c?.stop();
});

/** The address `name` resolves to through the network's DNS server, as the VM asks it; null when it does not. */
async function resolve(name: string): Promise<string | null> {
  const r = await vm.exec(["busybox", "nslookup", "-type=a", name, GW], { reject: false });
  const answer = r.stdout.split(/\n\s*\n/).find((block) => block.includes(`Name:`) && block.toLowerCase().includes(name.toLowerCase()));
  return answer ? (/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)/.exec(answer)?.[1] ?? null) : null;
}

describe("DNS host records", () => {
  it("the VM resolves each name of each record through the network's DNS server; describe shows them", async () => {
    expect(await resolve("db")).toBeNull();
    const r = await c.call(
      "configure-network-dns",
      {
        name: "dnsnet",
        hosts: [
          { ip: "10.87.0.10", names: ["db", "DB.internal"] },
          { ip: "192.0.2.44", names: ["outside"] },
        ],
      },
      { wait: 30 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.result.changed).toEqual(["DNS db db.internal -> 10.87.0.10", "DNS outside -> 192.0.2.44"]);
    expect(await resolve("db")).toBe("10.87.0.10");
    expect(await resolve("db.internal")).toBe("10.87.0.10");
    expect(await resolve("outside")).toBe("192.0.2.44");
    const d = await c.call("describe-network", { name: "dnsnet" });
    await waitFor(
      "the record in the index",
      async () => (await c.call("describe-network", { name: "dnsnet" })).body.network.dnsHosts.length === 2,
    );
    expect(d.status).toBe(200);
    expect((await c.call("describe-network", { name: "dnsnet" })).body.network.dnsHosts).toEqual([
      { ip: "10.87.0.10", names: ["db", "db.internal"] },
      { ip: "192.0.2.44", names: ["outside"] },
    ]);
    // Persistent and in the spec.
    const config = (await h.virsh(["net-dumpxml", "--inactive", "dnsnet"])).stdout;
    expect(config).toContain("<hostname>db.internal</hostname>");
    // (libvirt writes the metadata back with its own quotes)
    expect(config).toMatch(/<nf:dnsHost ip=["']10\.87\.0\.10["'] names=["']db db\.internal["']\/>/);
  });

  it("a dry run shows the commands and changes nothing; replacing the records drops the old names", async () => {
    const body = { name: "dnsnet", hosts: [{ ip: "10.87.0.11", names: ["cache"] }] };
    const before = (await h.virsh(["net-dumpxml", "dnsnet"])).stdout;
    const plan = await c.call("configure-network-dns", { ...body, dryRun: true });
    expect(plan.status, JSON.stringify(plan.body)).toBe(200);
    expect(plan.body.plan.steps.map((s: { command: string[] }) => s.command.slice(1, 5).join(" "))).toEqual([
      "net-update dnsnet delete dns-host",
      "net-update dnsnet delete dns-host",
      "net-update dnsnet add dns-host",
      "net-define <file>",
    ]);
    expect((await h.virsh(["net-dumpxml", "dnsnet"])).stdout).toBe(before);
    expect(await resolve("cache")).toBeNull();
    const r = await c.call("configure-network-dns", body, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await resolve("cache")).toBe("10.87.0.11");
    expect(await resolve("db")).toBeNull();
    expect(await resolve("outside")).toBeNull();
  });

  it("refuses a name in two records and a name that is no DNS name, changing nothing", async () => {
    const dup = await c.call("configure-network-dns", {
      name: "dnsnet",
      hosts: [
        { ip: "10.87.0.12", names: ["x"] },
        { ip: "10.87.0.13", names: ["x"] },
      ],
    });
    expect(dup.status).toBe(400);
    expect(dup.body.error.details.issues).toEqual([
      { path: "hosts.1.names.0", message: "x is in record 0 too: a name resolves to one address" },
    ]);
    const bad = await c.call("configure-network-dns", { name: "dnsnet", hosts: [{ ip: "10.87.0.12", names: ["-x"] }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe("hosts.0.names.0");
    expect(await resolve("cache")).toBe("10.87.0.11");
  });

  it("the records are back after a network restart, a libvirtd restart, and after the running network lost one", async () => {
    // Nothing attached, so the network can stop; a new VM asks after the restarts.
    await vm.destroy();
    expect((await c.call("stop-network", { name: "dnsnet" }, { wait: 30 })).status).toBe(200);
    expect((await c.call("start-network", { name: "dnsnet" }, { wait: 30 })).status).toBe(200);
    h = await restartLibvirtd(h);
    c.hosts.set("dns", h);
    await c.startWorker("dns");
    vm = await createNamespaceVm(h, { name: "dnsvm2", bridge: "nf-dnsnet", mac: "52:54:00:87:00:02" });
    await vm.dhcp();
    expect(await resolve("cache")).toBe("10.87.0.11");
    // Lost behind netforge's back (live only): reconcile puts it back.
    await h.virsh(["net-update", "dnsnet", "delete", "dns-host", "<host ip='10.87.0.11'><hostname>cache</hostname></host>", "--live"]);
    expect(await resolve("cache")).toBeNull();
    await waitFor("the record re-applied by reconcile", async () => (await resolve("cache")) === "10.87.0.11", 30_000);
  });
});
