/**
 * Bandwidth limits and traffic counters of an overlay network (issue 19 on issue 17's type: ADR 0044, "Overlay
 * networks"), end to end on three sandbox hosts on a fabric with real workers, libvirtd, dnsmasq, nft and tc. The
 * gateway is host 1 (A); the VM measured is on host 2 (B), which has no edge of its own; its peer VMs are on hosts 3
 * (C) and 1. Measured with iperf3 and the counted python peers of test/support/traffic.ts: the gateway's counters
 * for B's VM's outside traffic and for its traffic with A's VM; a VM limit each way to the outside and to C's VM; a
 * network limit holding B's VM's outside traffic at the gateway; a VM plugged in on B later fed at once; a qdisc
 * deleted by hand on B put back by B's reconcile; a member lacking a qdisc kind failing the job with nothing changed
 * on any member. Under the e2e lock.
 */
import {
  createFabric,
  createNamespaceVm,
  destroyFabric,
  type Fabric,
  joinFabric,
  type NamespaceVm,
  type SandboxHost,
} from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";
import { COUNTED_CLIENT_PY, interfaceIpBytes, startCountedServer } from "./support/traffic";

const A = "oqa";
const B = "oqb";
const C = "oqc";
const NAME = "ovq";
const MAC_A = "52:54:00:91:00:0a";
const MAC_B = "52:54:00:91:00:0b";
const MAC_B2 = "52:54:00:91:00:1b";
const MAC_C = "52:54:00:91:00:0c";
const under: Record<string, string> = { [A]: "172.31.7.1", [B]: "172.31.7.2", [C]: "172.31.7.3" };
const workerEnv = (id: string, extra: Record<string, string> = {}) => ({
  NETFORGE_UNDERLAY_IP: under[id] as string,
  NETFORGE_RECONCILE_MS: "2000",
  NETFORGE_HEARTBEAT_MS: "500",
  ...extra,
});

let c: Cluster;
const hosts: Record<string, SandboxHost> = {};
let fabric: Fabric | undefined;
const vms: NamespaceVm[] = [];
let va: NamespaceVm;
let vb: NamespaceVm;
let vc: NamespaceVm;
let ipA = "";
let ipC = "";
let uuid = "";
let vni = 0;
const t0 = Date.now();
const lap = (what: string) => console.info(`[overlay-qos ${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);

beforeAll(async () => {
  c = await startCluster({
    hosts: [{ id: A }, { id: B, uplinkCidr: "198.51.111.0/24" }, { id: C, uplinkCidr: "198.51.112.0/24" }],
    label: "ovqos",
  });
  for (const id of [A, B, C]) hosts[id] = c.hosts.get(id) as SandboxHost;
  fabric = await createFabric("oqf");
  await Promise.all(
    [A, B, C].map(async (id) => {
      await joinFabric(fabric as Fabric, hosts[id] as SandboxHost, { cidr: `${under[id]}/24` });
      await c.startWorker(id, { env: workerEnv(id) });
    }),
  );
  await waitFor("the fabric underlays", async () => {
    const r = await c.call("list-hosts", {});
    return r.body.hosts.every((h: { id: string; underlay?: { ip: string } }) => h.underlay?.ip === under[h.id]);
  });
  const r = await c.call(
    "create-network",
    { name: NAME, type: "overlay", cidr: "10.91.0.0/24", hosts: [A, B, C], gatewayHost: A },
    { wait: 60 },
  );
  expect(r.body.job?.state, JSON.stringify(r.body)).toBe("succeeded");
  const d = (await c.call("describe-network", { name: NAME })).body.network;
  uuid = d.uuid;
  vni = d.overlay.vni;
  lap("cluster, fabric, overlay");
  // One VM per member. B's and A's lease from the gateway's dnsmasq (B's row in list-network-ips comes from its lease;
  // A's on a static address was unreachable from B's VM, "No route to host", in one run: not looked into, likely the
  // gateway host's port security, which knows leased addresses); C's, only a peer, takes an address below
  // the DHCP range (a lease over the overlay takes seconds, and two at the same moment can miss one: ADR 0051 "Boot"). Each has the overlay's MTU, as a DHCP client applies it
  // (a 1500-byte frame does not fit the VXLAN device).
  const plug = async (id: string, name: string, mac: string, ip?: string) => {
    const vm = await createNamespaceVm(hosts[id] as SandboxHost, { name, bridge: `nfov${vni}`, mac });
    vms.push(vm);
    await vm.exec(["ip", "link", "set", "dev", "eth0", "mtu", "1450"]);
    if (ip === undefined) return { vm, ip: (await vm.dhcp({ timeoutMs: 20_000 })).ip };
    await vm.exec(["ip", "addr", "add", `${ip}/24`, "dev", "eth0"]);
    await vm.exec(["ip", "route", "add", "default", "via", "10.91.0.1"]);
    return { vm, ip };
  };
  ({ vm: vb } = await plug(B, "oqvb", MAC_B));
  // (C's leased too since its VM-to-VM counts have a row: list-network-ips lists the gateway's leases.)
  ({ vm: vc, ip: ipC } = await plug(C, "oqvc", MAC_C));
  ({ vm: va, ip: ipA } = await plug(A, "oqva", MAC_A));
  const ha = hosts[A] as SandboxHost;
  await ha.execOutside(["iperf3", "-s", "-D", "-B", ha.outsideAddress, "-p", "5201"]);
  await vc.exec(["iperf3", "-s", "-D", "-B", ipC, "-p", "5202"]);
  lap("VMs with leases, iperf3 servers");
}, 120_000);
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await c?.stop();
  if (fabric) await destroyFabric(fabric);
});

const host = (id: string) => hosts[id] as SandboxHost;
const ifb = () => `nfq-${uuid.replace(/-/g, "").slice(0, 11)}`;
const ifbIn = () => `nfi-${uuid.replace(/-/g, "").slice(0, 11)}`;
const qdiscs = async (id: string) => (await host(id).exec(["tc", "qdisc", "show"])).stdout;

/** iperf3 goodput (Mbit/s) from `vm` to `ip:port` (reverse: toward the VM), 2 s after a first second left out. */
async function rate(vm: NamespaceVm, ip: string, port: number, reverse = false): Promise<number> {
  const args = ["iperf3", "-c", ip, "-p", String(port), "-t", "2", "-O", "1", "-J", ...(reverse ? ["-R"] : [])];
  const r = await vm.exec(args, { timeoutMs: 20_000, reject: false });
  const out = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second: number } }; error?: string };
  if (!out.end?.sum_received) throw new Error(`iperf3 to ${ip}:${port}: ${out.error ?? r.stderr}`);
  return out.end.sum_received.bits_per_second / 1e6;
}

/** A job followed to its end (Prefer: wait, then polled). */
async function run(action: string, body: unknown): Promise<any> {
  const r = await c.call(action, body, { wait: 60 });
  let job = r.body.job;
  expect(job, JSON.stringify(r.body)).toBeTruthy();
  const deadline = Date.now() + 60_000;
  while (job.state !== "succeeded" && job.state !== "failed" && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 200));
    job = (await c.get(`/api/jobs/${job.id}`)).body.job;
  }
  return job;
}
const took = (job: { startedAt: string; finishedAt: string }) => Date.parse(job.finishedAt) - Date.parse(job.startedAt);

describe("an overlay's traffic counters (the gateway's edge, every member's VM to VM)", () => {
  it("B's VM to the outside: the totals and the outside split; to A's VM: the network split once; to C's VM: counted by B and C, not at the gateway's edge", async () => {
    const N = 8 * 1024 * 1024;
    const ha = host(A);
    const servers = [
      { run: ha.execOutside, pid: await startCountedServer(ha.execOutside, ha.outsideAddress, 5301, N) },
      { run: va.exec, pid: await startCountedServer(va.exec, ipA, 5301, N) },
      { run: vc.exec, pid: await startCountedServer(vc.exec, ipC, 5301, N) },
    ];
    try {
      await waitFor("the counted peers listening", async () => {
        for (const s of servers) if (!(await s.run(["ss", "-Hltn", "sport = :5301"])).stdout.includes("5301")) return false;
        return true;
      });
      type Counts = { bytesIn: number; bytesOut: number };
      type Split = Counts & { peers?: { outside: Counts; network: Counts } };
      // B's row first: the stats read after it are of the same publish or a later one (one atomic write of both).
      const read = async () => {
        const rows = (await c.call("list-network-ips", { name: NAME })).body.ips as { mac: string; traffic?: Split }[];
        const net = (await c.call("describe-network", { name: NAME })).body.network.stats?.traffic as Split | undefined;
        return { net, b: rows.find((r) => r.mac === MAC_B)?.traffic, c: rows.find((r) => r.mac === MAC_C)?.traffic };
      };
      const zero = { bytesIn: 0, bytesOut: 0 };
      const of = ({ net: s, b, c: rc }: Awaited<ReturnType<typeof read>>) => ({
        rowOutsideOut: b?.peers?.outside.bytesOut ?? 0,
        rowNetworkOut: b?.peers?.network.bytesOut ?? 0,
        rowCNetworkIn: rc?.peers?.network.bytesIn ?? 0,
        out: s?.bytesOut ?? 0,
        in: s?.bytesIn ?? 0,
        outsideOut: s?.peers?.outside.bytesOut ?? 0,
        outsideIn: s?.peers?.outside.bytesIn ?? 0,
        networkOut: (s?.peers?.network ?? zero).bytesOut,
        networkIn: (s?.peers?.network ?? zero).bytesIn,
      });
      const ratios: Record<string, string> = {};
      /** N bytes from B's VM to `to`; the counters once `shown` says they have them; B's and the peer's interface bytes. */
      const transfer = async (to: string, peer: NamespaceVm | null, shown: (d: ReturnType<typeof of>) => number) => {
        const s0 = of(await read());
        const i0 = { b: await interfaceIpBytes(vb.exec, "eth0"), p: peer ? await interfaceIpBytes(peer.exec, "eth0") : { tx: 0, rx: 0 } };
        const r = await vb.exec(["python3", "-c", COUNTED_CLIENT_PY, to, "5301", "outbound", String(N)], { timeoutMs: 30_000 });
        expect(Number(r.stdout.trim())).toBe(N);
        const i1 = { b: await interfaceIpBytes(vb.exec, "eth0"), p: peer ? await interfaceIpBytes(peer.exec, "eth0") : { tx: 0, rx: 0 } };
        const settle = async () => {
          const s = of(await read());
          const d = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v - s0[k as keyof typeof s0]])) as ReturnType<typeof of>;
          return d;
        };
        const d = await waitFor(`${to} in the published counters`, async () => {
          const x = await settle();
          return shown(x) >= N ? x : null;
        }).catch(async () => settle());
        return { d, bTx: i1.b.tx - i0.b.tx, pTx: i1.p.tx - i0.p.tx };
      };
      const counted = (what: string, delta: number, reference: number) => {
        ratios[what] = `${delta} (${(delta / N).toFixed(4)}x payload, ${(delta / reference).toFixed(4)}x interface)`;
        expect(delta, `${what}: ${delta} for ${N}`).toBeGreaterThanOrEqual(N);
        expect(Math.abs(delta - reference), `${what}: ${delta}, the interfaces ${reference}`).toBeLessThanOrEqual(reference * 0.01);
      };
      const quiet = (what: string, delta: number) => {
        ratios[what] = String(delta);
        expect(delta, `${what}: ${delta}`).toBeLessThan(N * 0.01);
      };

      // B's VM -> the outside: routed at the gateway (host 1) after the VXLAN: its totals and its outside split.
      const out = await transfer(ha.outsideAddress, null, (d) => d.outsideOut);
      counted("edge total out (B's VM -> outside)", out.d.out, out.bTx);
      counted("outside out (B's VM -> outside)", out.d.outsideOut, out.bTx);
      quiet("network out (B's VM -> outside)", out.d.networkOut);
      // B's VM's own row (list-network-ips), from the gateway's per-VM sets: its MAC's frames routed there.
      counted("B's row outside out", out.d.rowOutsideOut, out.bTx);
      // B's VM -> A's VM (on the gateway host): counted by the members' bridge tables (ADR 0044 "Overlay members
      // counted"): B's data out at B and in at A, A's ACKs out at A and in at B; once each way, not twice (the
      // gateway's inet bridged rules are left out for overlays); not the edge.
      const toA = await transfer(ipA, va, (d) => Math.min(d.networkIn, d.networkOut));
      counted("network out (B's VM -> A's VM)", toA.d.networkOut, toA.bTx + toA.pTx);
      counted("network in (B's VM -> A's VM)", toA.d.networkIn, toA.bTx + toA.pTx);
      quiet("edge total out (B's VM -> A's VM)", toA.d.out);
      counted("B's row network out (-> A's VM)", toA.d.rowNetworkOut, toA.bTx);
      // B's VM -> C's VM: host 2 to host 3 over the fabric, never through the gateway host: counted by B (out) and C
      // (in), C's ACKs by C (out) and B (in), published with their parts and summed by the API; the edge unchanged.
      const toC = await transfer(ipC, vc, (d) => Math.min(d.networkIn, d.networkOut, d.rowCNetworkIn));
      counted("network out (B's VM -> C's VM)", toC.d.networkOut, toC.bTx + toC.pTx);
      counted("network in (B's VM -> C's VM)", toC.d.networkIn, toC.bTx + toC.pTx);
      counted("B's row network out (-> C's VM)", toC.d.rowNetworkOut, toC.bTx);
      counted("C's row network in (from B's VM)", toC.d.rowCNetworkIn, toC.bTx);
      quiet("edge total out (B's VM -> C's VM)", toC.d.out);
      quiet("edge total in (B's VM -> C's VM)", toC.d.in);
      quiet("outside out (B's VM -> C's VM)", toC.d.outsideOut);
      console.info(`overlay counters for ${N} bytes of TCP payload:`, ratios);
    } finally {
      for (const s of servers) await s.run(["kill", s.pid]).catch(() => undefined);
    }
  });
});

describe("an overlay's bandwidth limits (configure-network-qos: one job across its members)", () => {
  const vmSet = {
    name: NAME,
    network: { inbound: { averageKbps: 40000 }, outbound: { averageKbps: 40000 } },
    vms: [
      { mac: MAC_B, inbound: { averageKbps: 20000 }, outbound: { averageKbps: 20000 } },
      { mac: MAC_B2, outbound: { averageKbps: 10000 } },
    ],
  };
  const within = (mbit: number, limit: number) => mbit > limit * 0.9 && mbit < limit * 1.1;

  it("dry run: each member's tc text (the gateway's VXLAN port fed for frames to the gateway only, a member's not at all)", async () => {
    const r = await c.call("configure-network-qos", { ...vmSet, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const tcOf = (pred: (s: { step: string }) => boolean) =>
      r.body.plan.steps
        .filter(pred)
        .map((s: { tc?: string }) => s.tc ?? "")
        .join("");
    const gw = tcOf((s) => s.step === "applying change");
    expect(gw).toContain(`tc qdisc replace dev nfov${vni} root handle 1: htb default 2`);
    expect(gw).toMatch(
      new RegExp(
        `tc filter replace dev nfvx${vni} parent ffff: .* match ether dst <bridge-mac> action mirred egress redirect dev ${ifb()}`,
      ),
    );
    const onB = tcOf((s) => s.step === `host ${B}: configure-network-qos`);
    expect(onB).toContain(`# nfvx${vni} (VXLAN) is no VM's port: not fed`);
    expect(onB).toContain(`tc filter add dev ${ifb()} parent 1: protocol all prio 2 u32 match ether src ${MAC_B} flowid 1:2010`);
    expect(onB).not.toContain(`dev nfov${vni} root`);
    expect(tcOf((s) => s.step === `host ${C}: configure-network-qos`)).toContain("not fed");
    for (const id of [A, B, C]) expect(await qdiscs(id), id).not.toMatch(/qdisc htb/);
  });

  it("a VM on a non-gateway member held to its limit each way, to the outside and to a VM on another member", async () => {
    const job = await run("configure-network-qos", vmSet);
    expect(job.state, JSON.stringify(job.error)).toBe("succeeded");
    const steps = job.progress.steps.map((s: { name: string; state: string }) => `${s.name}=${s.state}`);
    expect(steps).toEqual(
      expect.arrayContaining([`host ${B}: configure-network-qos=succeeded`, `host ${C}: configure-network-qos=succeeded`]),
    );
    lap(`the set on three members: job ${took(job)} ms`);
    // The VXLAN port: on the gateway its ingress feeds the outbound IFB; on B and C it carries no qdisc of netforge's.
    expect(await qdiscs(A)).toContain(`qdisc ingress ffff: dev nfvx${vni} `);
    expect(await qdiscs(A)).not.toContain(`qdisc htb 1: dev nfvx${vni} root`);
    for (const id of [B, C]) expect(await qdiscs(id), id).not.toMatch(new RegExp(`qdisc (htb|ingress) \\S+ dev nfvx${vni} `));
    // Nothing on B's or C's bridge device (no edge there), the VMs' ports fed on B.
    expect(await qdiscs(B)).not.toContain(`qdisc htb 1: dev nfov${vni} root`);
    expect(await qdiscs(B)).toContain(`qdisc ingress ffff: dev ${vb.hostIfname} `);
    const ha = host(A);
    const rates = {
      "B -> outside": await rate(vb, ha.outsideAddress, 5201),
      "outside -> B": await rate(vb, ha.outsideAddress, 5201, true),
      "B -> C's VM": await rate(vb, ipC, 5202),
      "C's VM -> B": await rate(vb, ipC, 5202, true),
    };
    console.info("B's VM, 20 Mbit/s each way:", rates);
    for (const [what, mbit] of Object.entries(rates)) expect(within(mbit, 20), `${what}: ${mbit} Mbit/s`).toBe(true);
    lap("four flows measured");
  });

  it("a VM plugged in on B later is fed on its member at once; a qdisc deleted by hand on B comes back", async () => {
    const hb = host(B);
    const plugged = Date.now();
    const late = await createNamespaceVm(hb, { name: "oqvb2", bridge: `nfov${vni}`, mac: MAC_B2 });
    vms.push(late);
    await waitFor(
      "the late VM's port fed on B",
      async () => (await qdiscs(B)).includes(`qdisc ingress ffff: dev ${late.hostIfname} `),
      1500,
      50,
    );
    lap(`late port fed after ${Date.now() - plugged} ms`);
    await hb.exec(["tc", "qdisc", "del", "dev", ifb(), "root"]);
    await waitFor(
      "B's reconcile puts the IFB's HTB back",
      async () => (await qdiscs(B)).includes(`qdisc htb 1: dev ${ifb()} root`),
      10_000,
    );
    expect(await qdiscs(B)).toContain(`qdisc htb 1: dev ${ifbIn()} root`);
  });

  it("the network's limit holds B's VM's outside traffic at the gateway (no VM limits: nothing on B but its definition)", async () => {
    const set = { name: NAME, network: { inbound: { averageKbps: 15000 }, outbound: { averageKbps: 15000 } }, vms: [] };
    const job = await run("configure-network-qos", set);
    expect(job.state, JSON.stringify(job.error)).toBe("succeeded");
    lap(`network limit only: job ${took(job)} ms`);
    for (const id of [B, C]) {
      expect(await qdiscs(id), id).not.toMatch(/qdisc (htb|ingress)/);
      expect((await host(id).exec(["ip", "link", "show", "dev", ifb()], { reject: false })).exitCode, id).not.toBe(0);
    }
    const classBytes = async () => {
      const s = (await host(A).exec(["tc", "-s", "class", "show", "dev", ifb(), "classid", "1:1"])).stdout;
      return Number(/Sent (\d+) bytes/.exec(s)?.[1] ?? 0);
    };
    const before = await classBytes();
    const ha = host(A);
    const rates = {
      "B -> outside": await rate(vb, ha.outsideAddress, 5201),
      "outside -> B": await rate(vb, ha.outsideAddress, 5201, true),
      "B -> C's VM (not the edge)": await rate(vb, ipC, 5202),
    };
    console.info("B's VM under a 15 Mbit/s network:", rates);
    expect(within(rates["B -> outside"], 15), `out ${rates["B -> outside"]}`).toBe(true);
    expect(within(rates["outside -> B"], 15), `in ${rates["outside -> B"]}`).toBe(true);
    expect(rates["B -> C's VM (not the edge)"]).toBeGreaterThan(100);
    // B's frames crossed the gateway's network class (over its VXLAN port's feed).
    expect((await classBytes()) - before).toBeGreaterThan(2 * 1024 * 1024);
  });

  it("a member lacking a qdisc kind fails the job naming it; no member is changed", async () => {
    await c.startWorker(C, { env: workerEnv(C, { NETFORGE_QOS_QDISCS: "htb,sfq" }) });
    await waitFor("host C's qos capability in list-hosts", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts?.find((h: { id: string }) => h.id === C)?.qos?.supported === false;
    });
    const before: Record<string, string> = { [A]: await qdiscs(A), [B]: await qdiscs(B), [C]: await qdiscs(C) };
    const set = {
      name: NAME,
      network: null,
      vms: [
        { mac: MAC_B, outbound: { averageKbps: 5000 } },
        { mac: MAC_C, inbound: { averageKbps: 5000 } },
      ],
    };
    const job = await run("configure-network-qos", set);
    lap(`failing job: ${took(job)} ms`);
    expect(job.state).toBe("failed");
    expect(job.error.message).toContain(`host ${C}`);
    expect(job.error.message).toContain("the sfq qdisc");
    // Host A's and B's parts ran and were undone: every member's qdiscs as before (and no IFB left on B or C).
    const strip = (s: string) =>
      s
        .split("\n")
        .map((l) => l.replace(/ refcnt \d+/, ""))
        .sort()
        .join("\n");
    for (const id of [A, B, C]) expect(strip(await qdiscs(id)), id).toBe(strip(before[id] as string));
    expect((await c.call("describe-network", { name: NAME })).body.network.qos).toMatchObject({ vms: [] });
    await c.startWorker(C, { env: workerEnv(C) });
    await waitFor("host C's qos capability back", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts?.find((h: { id: string }) => h.id === C)?.qos?.supported === true;
    });
  });

  it("a member added later (configure-network-hosts) shapes its VMs from its create", async () => {
    const set = await run("configure-network-qos", {
      name: NAME,
      network: null,
      vms: [{ mac: MAC_C, inbound: { averageKbps: 10000 }, outbound: { averageKbps: 10000 } }],
    });
    expect(set.state, JSON.stringify(set.error)).toBe("succeeded");
    expect(await qdiscs(C)).toContain(`qdisc htb 1: dev ${ifb()} root`);
    await vc.destroy();
    const removed = await run("configure-network-hosts", { name: NAME, remove: [C] });
    expect(removed.state, JSON.stringify(removed.error)).toBe("succeeded");
    expect(await qdiscs(C)).not.toContain(`dev ${ifb()} root`);
    const added = await run("configure-network-hosts", { name: NAME, add: [C] });
    expect(added.state, JSON.stringify(added.error)).toBe("succeeded");
    lap(`host C removed and added again with the set: jobs ${took(removed)} and ${took(added)} ms`);
    // Right after the add's job (its create's qos step): C's own VMs' classes on both IFBs, the VXLAN port not fed.
    const shown = await qdiscs(C);
    expect(shown).toContain(`qdisc htb 1: dev ${ifb()} root`);
    expect(shown).toContain(`qdisc htb 1: dev ${ifbIn()} root`);
    expect(shown).not.toMatch(new RegExp(`qdisc (htb|ingress) \\S+ dev nfvx${vni} `));
    const filters = (await host(C).exec(["tc", "filter", "show", "dev", ifb(), "parent", "1:"])).stdout;
    expect(filters).toContain("flowid 1:2010");
  });

  it("the gateway moved with limits set: the move's own steps shape the new gateway and take the old one's shaping away", async () => {
    const set = await run("configure-network-qos", {
      name: NAME,
      network: { inbound: { averageKbps: 15000 }, outbound: { averageKbps: 15000 } },
      vms: [],
    });
    expect(set.state, JSON.stringify(set.error)).toBe("succeeded");
    expect(await qdiscs(A)).toContain(`qdisc htb 1: dev nfov${vni} root`);
    // The dry run has the shaping in both role changes; the move runs exactly that plan.
    const dry = await c.call("configure-network-hosts", { name: NAME, gatewayHost: B, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    const names: string[] = dry.body.plan.steps.map((x: { step: string; name: string }) => `${x.step}: ${x.name}`);
    expect(names.filter((n) => n.startsWith(`host ${B}: configure-network-hosts: `) && n.includes("bandwidth limits"))).toHaveLength(1);
    expect(names.filter((n) => n.startsWith("stopping the old gateway: ") && n.includes("bandwidth limits"))).toHaveLength(1);
    const moved = await run("configure-network-hosts", { name: NAME, gatewayHost: B, expectPlan: dry.body.plan.planHash });
    expect(moved.state, JSON.stringify(moved.error)).toBe("succeeded");
    lap(`gateway moved A -> B with a network limit: job ${took(moved)} ms`);
    // Right at the job's end: B's bridge has the edge tree; A (a member, no limited VM of its own) has nothing.
    expect(await qdiscs(B)).toContain(`qdisc htb 1: dev nfov${vni} root`);
    expect((await host(A).exec(["ip", "link", "show", "dev", ifb()], { reject: false })).exitCode).not.toBe(0);
    expect(await qdiscs(A)).not.toContain(`qdisc htb 1: dev nfov${vni} root`);
    // B's VM (its lease handed over to B's dnsmasq with the gateway) reaches its gateway on B.
    const t1 = Date.now();
    let pinged = false;
    for (let i = 0; i < 40 && !pinged; i++) {
      pinged = (await vb.exec(["busybox", "ping", "-c", "1", "-W", "1", "10.91.0.1"], { reject: false })).exitCode === 0;
      if (!pinged) await new Promise((res) => setTimeout(res, 250));
    }
    console.info(`B's VM pings its gateway on B after the move: ${pinged} (${Date.now() - t1} ms)`);
    if (!pinged) {
      console.info((await host(B).exec(["nft", "list", "table", "bridge", "netforge"])).stdout.slice(0, 4000));
      console.info((await host(B).exec(["cat", `/var/lib/libvirt/dnsmasq/nfov${vni}.status`], { reject: false })).stdout);
      console.info((await vb.exec(["ip", "neigh"], { reject: false })).stdout);
    }
    expect(pinged).toBe(true);
    // B's VM's outside traffic, through B now, held to the network's limit there.
    const hb = host(B);
    await hb.execOutside(["iperf3", "-s", "-D", "-B", hb.outsideAddress, "-p", "5201"]);
    await new Promise((res) => setTimeout(res, 300));
    const out = await rate(vb, hb.outsideAddress, 5201);
    console.info(`B's VM -> outside through the new gateway, 15 Mbit/s network limit: ${out.toFixed(2)} Mbit/s`);
    expect(within(out, 15), `out ${out}`).toBe(true);
  });
});
