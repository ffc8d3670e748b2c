/**
 * IP management end to end on a sandbox host, with namespace VMs (real
 * veths on the network's bridge, real udhcpc against libvirt's dnsmasq):
 * reservations honoured live, every refusal (and that a refused request
 * changed nothing on the host or in the spec), dry runs whose plan is what
 * the real call applies, DHCP range + lease time moved live, the IP table,
 * and reservations back after network/libvirtd/worker restarts and after a
 * host lost them behind netforge's back.
 */
import { createNamespaceVm, type NamespaceVm, restartLibvirtd, type SandboxHost } from "@netforge/sandbox";
import { parseNetworkXml, sha256Hex } from "@netforge/core/model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

/**
 * A job result names the definition it wrote by its sha256 (and a diff), not its text: the steps of a dry-run
 * plan with each XML replaced by its hash are what the real call applied.
 */
type Step = { xml?: string; xmlSha256?: string; xmlDiff?: string[] } & Record<string, unknown>;
const plannedTexts = (steps: Step[]) => steps.map(({ xml, ...st }) => (xml === undefined ? st : { ...st, xmlSha256: sha256Hex(xml) }));
const appliedTexts = (steps: Step[]) => steps.map(({ xmlDiff: _d, ...st }) => st);

let c: Cluster;
let h: SandboxHost;
const vms: NamespaceVm[] = [];
beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "ipam" }], label: "ipam" });
  h = c.hosts.get("ipam") as SandboxHost;
  const r = await c.call(
    "create-network",
    { name: "ipnet", type: "nat", cidr: "10.78.0.0/24", dhcp: { start: "10.78.0.100", end: "10.78.0.150", leaseTime: 600 } },
    { wait: 30 },
  );
  expect(r.status, JSON.stringify(r.body)).toBe(200);
});
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await c?.stop();
});

const MAC_A = "52:54:00:7a:00:0a";
const MAC_B = "52:54:00:7a:00:0b";
const MAC_C = "52:54:00:7a:00:0c";
const vm = async (name: string, mac: string) => {
  const v = await createNamespaceVm(h, { name, bridge: "nf-ipnet", mac });
  vms.push(v);
  return v;
};
/** Everything of the network on the host and in the index that a refused request must leave alone. */
const hostState = async () => ({
  live: (await h.virsh(["net-dumpxml", "ipnet"])).stdout,
  config: (await h.virsh(["net-dumpxml", "--inactive", "ipnet"])).stdout,
  spec: await c.redis.get(c.keys.networkSpec("ipnet")),
  record: await c.redis.get(c.keys.network("ipnet")),
});
const ips = async () => (await c.call("list-network-ips", { name: "ipnet" })).body.ips as any[];

describe("static IPs", () => {
  it("assigns live: the VM gets exactly the reserved IP; the IP table shows it static", async () => {
    const r = await c.call(
      "assign-static-ip",
      { name: "ipnet", mac: MAC_A.toUpperCase(), ip: "10.78.0.20", hostname: "fixed" },
      { wait: 30 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.result.changed).toEqual(["reserved 10.78.0.20 for 52:54:00:7a:00:0a"]);
    expect(r.body.job.result.applied[0].command).toEqual([
      "virsh",
      "net-update",
      "ipnet",
      "add",
      "ip-dhcp-host",
      "<host mac='52:54:00:7a:00:0a' name='fixed' ip='10.78.0.20'/>",
      "--live",
    ]);
    // Live (dnsmasq) and persistent, and in the spec in the metadata.
    expect((await h.virsh(["net-dumpxml", "ipnet"])).stdout).toContain("<host mac='52:54:00:7a:00:0a' name='fixed' ip='10.78.0.20'/>");
    const config = (await h.virsh(["net-dumpxml", "--inactive", "ipnet"])).stdout;
    expect(config).toContain("<host mac='52:54:00:7a:00:0a' name='fixed' ip='10.78.0.20'/>");
    expect(config).toMatch(/<nf:reservation mac=.52:54:00:7a:00:0a. ip=.10.78.0.20. hostname=.fixed.\/>/);

    const a = await vm("a", MAC_A);
    expect((await a.dhcp()).ip).toBe("10.78.0.20");
    const t0 = Date.now();
    const row = await waitFor(
      "the lease in list-network-ips",
      async () => (await ips()).find((x) => x.mac === MAC_A && x.leaseExpiresAt),
      5000,
      50,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
    // dnsmasq records the reservation's name over the one the client sent.
    expect(row).toMatchObject({ ip: "10.78.0.20", static: true, hostname: "fixed", vmName: null });
    const stats = (await c.call("describe-network", { name: "ipnet" })).body.network.stats;
    expect(stats.allocatedIps).toBe((await ips()).filter((x) => x.leaseExpiresAt).length);
  });

  it("refuses outside the subnet, network/gateway/broadcast, reserved IP or MAC, leased IP; a refusal changes nothing", async () => {
    const b = await vm("b", MAC_B);
    const leased = (await b.dhcp()).ip;
    await waitFor("B's lease published", async () => (await ips()).some((x) => x.mac === MAC_B), 5000, 50);
    const before = await hostState();
    const cases: [Record<string, unknown>, number, string][] = [
      [{ mac: MAC_C, ip: "10.79.0.5" }, 400, "VALIDATION_FAILED"],
      [{ mac: MAC_C, ip: "10.78.0.0" }, 409, "IP_CONFLICT"],
      [{ mac: MAC_C, ip: "10.78.0.1" }, 409, "IP_CONFLICT"],
      [{ mac: MAC_C, ip: "10.78.0.255" }, 409, "IP_CONFLICT"],
      [{ mac: MAC_C, ip: "10.78.0.20" }, 409, "IP_CONFLICT"],
      [{ mac: MAC_A, ip: "10.78.0.21" }, 409, "IP_CONFLICT"],
      [{ mac: MAC_C, ip: leased }, 409, "IP_CONFLICT"],
      [{ mac: "52:54:00:zz:00:0c", ip: "10.78.0.22" }, 400, "VALIDATION_FAILED"],
    ];
    for (const [body, status, code] of cases) {
      for (const dryRun of [true, false]) {
        const r = await c.call("assign-static-ip", { name: "ipnet", ...body, ...(dryRun ? { dryRun } : {}) }, { wait: 30 });
        expect(r.status, `${JSON.stringify(body)} dryRun=${dryRun}: ${JSON.stringify(r.body)}`).toBe(status);
        expect(r.body.error.code).toBe(code);
      }
    }
    const un = await c.call("unassign-static-ip", { name: "ipnet", mac: MAC_C }, { wait: 30 });
    expect(un.status).toBe(404);
    expect(await hostState()).toEqual(before);
    expect((await c.call("list-jobs", { network: "ipnet", state: "running" })).body.jobs).toEqual([]);

    // The host re-checks what the door cannot see: a lease newer than the published table.
    const forced = await c.call("assign-static-ip", { name: "ipnet", mac: MAC_C, ip: leased, force: true }, { wait: 30 });
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    expect(forced.body.job.warnings.join(" ")).toMatch(/inside the dynamic range/);
    expect(forced.body.job.warnings.join(" ")).toContain(`leased to ${MAC_B}`);
  });

  it("expectPlan: the previewed plan runs; after a change in between the job fails before any step, nothing changed", async () => {
    const body = { name: "ipnet", mac: "52:54:00:7a:00:1e", ip: "10.78.0.31", hostname: "previewed" };
    const dry = await c.call("assign-static-ip", { ...body, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.plan.planHash).toMatch(/^[0-9a-f]{32}$/);
    expect(dry.body.plan.steps.every((st: { step: string }) => st.step === "applying change")).toBe(true);
    // A malformed hash is the caller's mistake: 400, nothing queued.
    expect((await c.call("assign-static-ip", { ...body, expectPlan: "abc" })).status).toBe(400);

    // Another change lands after the preview: the same request now plans differently (the written definition).
    const other = await c.call("assign-static-ip", { name: "ipnet", mac: "52:54:00:7a:00:1f", ip: "10.78.0.32" }, { wait: 30 });
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    const before = await hostState();
    const stale = await c.call("assign-static-ip", { ...body, expectPlan: dry.body.plan.planHash }, { wait: 30 });
    expect(stale.status, JSON.stringify(stale.body)).toBe(409);
    expect(stale.body.error.code).toBe("INVALID_STATE");
    expect(stale.body.error.message).toContain("differs from the one previewed");
    expect(stale.body.error.details.expectPlan).toBe(dry.body.plan.planHash);
    expect(await hostState()).toEqual(before);

    // Previewed again, the plan runs as previewed.
    const again = await c.call("assign-static-ip", { ...body, dryRun: true });
    const real = await c.call("assign-static-ip", { ...body, expectPlan: again.body.plan.planHash }, { wait: 30 });
    expect(real.status, JSON.stringify(real.body)).toBe(200);
    expect(appliedTexts(real.body.job.result.applied)).toEqual(plannedTexts(again.body.plan.steps));
    for (const mac of [body.mac, "52:54:00:7a:00:1f"]) {
      expect((await c.call("unassign-static-ip", { name: "ipnet", mac }, { wait: 30 })).status).toBe(200);
    }
  });

  it("dry run answers the exact plan, changes nothing, and the real call applies the same texts", async () => {
    const before = await hostState();
    const body = { name: "ipnet", mac: "52:54:00:7a:00:0d", ip: "10.78.0.30", hostname: "planned" };
    const dry = await c.call("assign-static-ip", { ...body, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.plan.host).toBe("ipam");
    expect(dry.body.plan.warnings).toEqual([]);
    expect(await hostState()).toEqual(before);
    const real = await c.call("assign-static-ip", body, { wait: 30 });
    expect(real.status).toBe(200);
    expect(appliedTexts(real.body.job.result.applied)).toEqual(plannedTexts(dry.body.plan.steps));
    expect(real.body.job.result.applied.at(-1).xmlDiff.join("\n")).toContain("52:54:00:7a:00:0d");
    expect(JSON.stringify(real.body.job)).not.toContain("<network");
    const after = (await h.virsh(["net-dumpxml", "--inactive", "ipnet"])).stdout;
    const written = dry.body.plan.steps.at(-1).xml as string;
    expect(written).toBe(dry.body.plan.libvirtXml);
    // libvirt re-serialises the metadata (double quotes): compare what it means.
    expect(after).toMatch(/<nf:reservation mac=.52:54:00:7a:00:0d. ip=.10.78.0.30. hostname=.planned.\/>/);

    const undry = await c.call("unassign-static-ip", { name: "ipnet", mac: "52:54:00:7a:00:0d", dryRun: true });
    expect(undry.status).toBe(200);
    const unreal = await c.call("unassign-static-ip", { name: "ipnet", mac: "52:54:00:7a:00:0d" }, { wait: 30 });
    expect(unreal.status).toBe(200);
    expect(appliedTexts(unreal.body.job.result.applied)).toEqual(plannedTexts(undry.body.plan.steps));
    expect((await h.virsh(["net-dumpxml", "ipnet"])).stdout).not.toContain("52:54:00:7a:00:0d");
    expect((await h.virsh(["net-dumpxml", "--inactive", "ipnet"])).stdout).not.toContain("52:54:00:7a:00:0d");
  });
});

describe("DHCP pool", () => {
  it("moves range and lease time live; the next client gets the new range and lease time; refusals change nothing", async () => {
    const before = await hostState();
    for (const bad of [
      { start: "10.78.0.1", end: "10.78.0.60" },
      { start: "10.78.0.60", end: "10.78.0.50" },
      { start: "10.78.0.50", end: "10.78.1.60" },
      { start: "10.78.0.50", end: "10.78.0.60", leaseTime: 5 },
    ]) {
      const r = await c.call("configure-network-dhcp", { name: "ipnet", ...bad }, { wait: 30 });
      expect(r.status, JSON.stringify(bad)).toBe(400);
    }
    expect(await hostState()).toEqual(before);

    const body = { name: "ipnet", start: "10.78.0.50", end: "10.78.0.60", leaseTime: 300 };
    const dry = await c.call("configure-network-dhcp", { ...body, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(await hostState()).toEqual(before);
    const r = await c.call("configure-network-dhcp", body, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // The plan names the dnsmasq to end by the network; the job names the pid it found (one per update).
    const pids: string[] = [];
    const resolved = appliedTexts(r.body.job.result.applied).map((a) => {
      const cmd = a.command as string[];
      if (cmd[0] !== "kill") return a;
      pids.push(cmd[2] as string);
      return { ...a, command: ["kill", "-TERM", "<pid of ipnet's dnsmasq>"] };
    });
    expect(resolved).toEqual(plannedTexts(dry.body.plan.steps));
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(pid).toMatch(/^\d+$/);
    expect(r.body.job.result.notLive).toEqual([]);
    expect(r.body.job.result.changed).toEqual(["range 10.78.0.100-10.78.0.150 -> 10.78.0.50-10.78.0.60", "lease time 600 s -> 300 s"]);

    const d = await vm("d", "52:54:00:7a:00:0e");
    const lease = await d.dhcp();
    const last = Number(lease.ip.split(".")[3]);
    expect(last >= 50 && last <= 60, lease.ip).toBe(true);
    expect(lease.leaseSeconds).toBe(300);
    const net = (await c.call("describe-network", { name: "ipnet" })).body.network;
    expect(net.dhcp).toEqual({ enabled: true, start: "10.78.0.50", end: "10.78.0.60", leaseTime: 300 });

    // The host re-checks what the door cannot see: here the door's copy of the leases is made empty (as if
    // the lease were newer than the last publish); the worker reads the lease on the host and refuses.
    await waitFor("d's lease published", async () => (await ips()).some((x) => x.ip === lease.ip), 5000, 50);
    const state = await hostState();
    await c.redis.set(c.keys.networkIps("ipnet"), JSON.stringify({ ips: [], observedAt: new Date().toISOString() }));
    const raced = await c.call("assign-static-ip", { name: "ipnet", mac: "52:54:00:7a:00:0f", ip: lease.ip }, { wait: 30 });
    expect(raced.status, JSON.stringify(raced.body)).toBe(409);
    expect(raced.body.error.code).toBe("IP_CONFLICT");
    expect(raced.body.job.error.details.leasedTo).toBe("52:54:00:7a:00:0e");
    expect(await hostState()).toEqual(state);
  });
});

describe("reservations survive restarts and come back when a host lost them", () => {
  /** libvirt's own <host> element for A (what dnsmasq is told), not the metadata's copy. */
  const hasA = async (which: "live" | "config") =>
    (await h.virsh(which === "live" ? ["net-dumpxml", "ipnet"] : ["net-dumpxml", "--inactive", "ipnet"])).stdout.includes(
      `<host mac='${MAC_A}'`,
    );

  it("network restart, libvirtd restart, worker restart", async () => {
    const a = vms[0] as NamespaceVm;
    await a.detach(); // nothing attached, so the network can be restarted
    for (const v of vms.slice(1)) await v.detach();
    expect((await c.call("stop-network", { name: "ipnet" }, { wait: 30 })).status).toBe(200);
    expect((await c.call("start-network", { name: "ipnet" }, { wait: 30 })).status).toBe(200);
    expect(await hasA("live")).toBe(true);
    h = await restartLibvirtd(h);
    c.hosts.set("ipam", h);
    expect(await hasA("live")).toBe(true);
    await c.startWorker("ipam");
    expect(await hasA("live")).toBe(true);
    const v = await vm("a2", MAC_A);
    expect((await v.dhcp()).ip).toBe("10.78.0.20");
    expect((await ips()).find((x) => x.mac === MAC_A)).toMatchObject({ ip: "10.78.0.20", static: true });
  });

  it("re-applies a reservation the running network lost, logs and counts it", async () => {
    const metric = async () => {
      const text = (await c.get("/metrics")).body as string;
      return Number(/netforge_state_reapplied_total\{host="ipam"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const n0 = await metric();
    const del = await h.virsh([
      "net-update",
      "ipnet",
      "delete",
      "ip-dhcp-host",
      `<host mac='${MAC_A}' name='fixed' ip='10.78.0.20'/>`,
      "--live",
    ]);
    expect(del.exitCode, del.stderr).toBe(0);
    expect(await hasA("live")).toBe(false);
    expect(await hasA("config")).toBe(true);
    await waitFor("the reservation re-applied", () => hasA("live"), 15_000, 200);
    // The worker counts right after the virsh command that made it live: give that write a moment.
    await waitFor("the re-apply counted", async () => (await metric()) > n0, 5_000, 100);
    expect(await metric()).toBeGreaterThan(n0);
  });
});

describe("dry runs of the lifecycle actions", () => {
  it("answer the plan after the real checks, claim and change nothing; create's XML is what the real call defines", async () => {
    const claimsBefore = await c.redis.hgetall(c.keys.claimedNames);
    const netsBefore = (await h.virsh(["net-list", "--all", "--name"])).stdout;
    const body = { name: "drynet", type: "isolated", cidr: "10.81.0.0/24", description: "planned" };
    const dry = await c.call("create-network", { ...body, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.plan.steps.map((st: any) => st.command)).toEqual([
      ["virsh", "net-define", "<file>"],
      ["virsh", "net-start", "drynet"],
      ["nft", "-f", "-"],
      ["virsh", "net-autostart", "drynet"],
    ]);
    expect(dry.body.plan.nft).toContain('chain drynet-out {\n\t\toifname != "nf-drynet" reject');
    expect(await c.redis.hgetall(c.keys.claimedNames)).toEqual(claimsBefore);
    expect((await h.virsh(["net-list", "--all", "--name"])).stdout).toBe(netsBefore);
    // The same refusals as the real call.
    expect((await c.call("create-network", { ...body, cidr: "10.78.0.0/25", dryRun: true })).body.error.code).toBe("CIDR_CONFLICT");
    expect((await c.call("create-network", { ...body, name: "ipnet", dryRun: true })).body.error.code).toBe("NAME_TAKEN");
    expect((await c.call("create-network", { ...body, dryRun: "yes" })).status).toBe(400);

    // The create runs only as previewed: the worker plans again from the host and compares (uuid and createdAt
    // left out: the real call draws its own).
    const real = await c.call("create-network", { ...body, expectPlan: dry.body.plan.planHash }, { wait: 30 });
    expect(real.status, JSON.stringify(real.body)).toBe(200);
    const defined = (await h.virsh(["net-dumpxml", "--inactive", "drynet"])).stdout;
    const norm = (x: string) => parseNetworkXml(x).spec;
    expect({ ...norm(defined), uuid: "", createdAt: "" }).toEqual({ ...norm(dry.body.plan.libvirtXml), uuid: "", createdAt: "" });

    const stopDry = await c.call("stop-network", { name: "drynet", dryRun: true });
    // Each step names the job step it runs in, as the job's progress will.
    expect(stopDry.body.plan.steps).toEqual([
      { step: "stopping network", name: "stop network", command: ["virsh", "net-destroy", "drynet"], live: true },
      { step: "stopping network", name: "remove firewall (one nft transaction)", command: ["nft", "-f", "-"], live: true },
    ]);
    // The stop runs as previewed; sent again, the network is stopped: refused (409), nothing run.
    expect((await c.call("stop-network", { name: "drynet", expectPlan: stopDry.body.plan.planHash }, { wait: 30 })).status).toBe(200);
    const late = await c.call("stop-network", { name: "drynet", expectPlan: stopDry.body.plan.planHash }, { wait: 30 });
    expect(late.status).toBe(409);
    const st = await c.call("start-network", { name: "drynet", dryRun: true });
    expect(st.body.plan.steps.map((x: { step: string; command: string[] }) => [x.step, x.command.join(" ")])).toEqual([
      ["starting network", "virsh net-start drynet"],
      ["starting network", "nft -f -"],
    ]);
    expect((await c.call("start-network", { name: "drynet", expectPlan: st.body.plan.planHash }, { wait: 30 })).status).toBe(200);
    const delDry = await c.call("delete-network", { name: "drynet", dryRun: true });
    expect(delDry.body.plan.steps.map((st: any) => st.command)).toEqual([
      ["virsh", "net-destroy", "drynet"],
      ["nft", "-f", "-"],
      ["virsh", "net-undefine", "drynet"],
    ]);
    expect((await c.call("start-network", { name: "drynet", dryRun: true })).body.error.code).toBe("INVALID_STATE");
    expect((await h.virsh(["net-info", "drynet"])).stdout).toMatch(/Active:\s+yes/);
    expect((await c.call("delete-network", { name: "drynet" }, { wait: 30 })).status).toBe(200);
  });
});

describe("a deleted network", () => {
  it("its leases and reservations never show again, also under a new network of the same name", async () => {
    for (const v of vms) await v.destroy();
    const del = await c.call("delete-network", { name: "ipnet" }, { wait: 30 });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(await c.redis.exists(c.keys.networkIps("ipnet"), c.keys.networkSpec("ipnet"))).toBe(0);
    expect((await c.call("list-network-ips", { name: "ipnet" })).status).toBe(404);
    const again = await c.call("create-network", { name: "ipnet", type: "nat", cidr: "10.78.0.0/24" }, { wait: 30 });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    await new Promise((r) => setTimeout(r, 2500)); // a few heartbeats: every table is republished
    expect(await ips()).toEqual([]);
  });
});
