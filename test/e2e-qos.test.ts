/**
 * Bandwidth limits end to end on a sandbox host (docs/adr/0044-network-qos.md), measured with real traffic
 * (iperf3 between namespace VMs and the host's outside namespace): a network limit and a VM limit each way,
 * an unlimited VM next to a limited one (it runs at the network's limit), traffic between two VMs limited only
 * by their own VM limits (a limited VM's 20 Mbit/s each way; an unlimited pair far above the network's limit),
 * a live change of the limit with the VM's port staying on the bridge, a VM plugged in after the set (its port
 * fed to the IFB within 1 s on its link event), the dry
 * run's tc text, reconcile putting back a qdisc deleted by hand, an empty set and delete-network taking the
 * qdiscs and the IFB away, and a host lacking a qdisc kind (named by NETFORGE_QOS_QDISCS) refusing the job with
 * nothing changed. Under the e2e lock.
 */
import { readFileSync } from "node:fs";
import { addLanNic, createNamespaceVm, type NamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor, workerLog } from "./support/cluster";
import { COUNTED_CLIENT_PY, interfaceIpBytes, startCountedServer } from "./support/traffic";

let c: Cluster;
let h: SandboxHost;
const vms: NamespaceVm[] = [];
let vmA: NamespaceVm;
let vmB: NamespaceVm;
let vmD: NamespaceVm;
let uuid: string;
let ipA: string;
let ipB: string;
let ipD: string;

const MAC_A = "52:54:00:87:00:0a";
const MAC_B = "52:54:00:87:00:0b";
const MAC_C = "52:54:00:87:00:0c";
const MAC_D = "52:54:00:87:00:0d";
const BRIDGE = "nf-qosnet";

beforeAll(async () => {
  c = await startCluster({
    hosts: [{ id: "qos" }],
    label: "qos",
    workerEnv: { NETFORGE_RECONCILE_MS: "3000", NETFORGE_HEARTBEAT_MS: "500" },
  });
  h = c.hosts.get("qos") as SandboxHost;
  const r = await c.call("create-network", { name: "qosnet", type: "nat", cidr: "10.87.0.0/24" }, { wait: 30 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  uuid = (await c.call("describe-network", { name: "qosnet" })).body.network.uuid;
  vmA = await vmOn("qosa", MAC_A);
  vmB = await vmOn("qosb", MAC_B);
  vmD = await vmOn("qosd", MAC_D);
  ipA = (await vmA.dhcp({ timeoutMs: 20_000 })).ip;
  ipB = (await vmB.dhcp({ timeoutMs: 20_000 })).ip;
  ipD = (await vmD.dhcp({ timeoutMs: 20_000 })).ip;
  await h.execOutside(["iperf3", "-s", "-D", "-B", h.outsideAddress, "-p", "5201"]);
  // iperf3 servers in the VMs, for the traffic between them.
  await vmA.exec(["iperf3", "-s", "-D", "-B", ipA, "-p", "5203"]);
  await vmB.exec(["iperf3", "-s", "-D", "-B", ipB, "-p", "5202"]);
  await vmD.exec(["iperf3", "-s", "-D", "-B", ipD, "-p", "5204"]);
  // JSON servers: a client's --get-server-output then carries the receiver's intervals as JSON.
  await h.execOutside(["iperf3", "-s", "-D", "-J", "-B", h.outsideAddress, "-p", "5205"]);
  await vmB.exec(["iperf3", "-s", "-D", "-J", "-B", ipB, "-p", "5206"]);
}, 60_000);
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await c?.stop();
});

async function vmOn(name: string, mac: string): Promise<NamespaceVm> {
  const vm = await createNamespaceVm(h, { name, bridge: BRIDGE, mac });
  vms.push(vm);
  return vm;
}

const ifb = () => `nfq-${uuid.replace(/-/g, "").slice(0, 11)}`;
const ifbIn = () => `nfi-${uuid.replace(/-/g, "").slice(0, 11)}`;

/**
 * Mbit/s a VM gets to (outbound) or from (inbound, iperf3 -R) the outside, over 2 s after a first second
 * left out (the burst a fresh flow gets before the rate holds).
 */
async function measure(vm: NamespaceVm, dir: "inbound" | "outbound"): Promise<number> {
  const args = ["iperf3", "-c", h.outsideAddress, "-p", "5201", "-t", "2", "-O", "1", "-J", ...(dir === "inbound" ? ["-R"] : [])];
  const r = await vm.exec(args, { timeoutMs: 15_000 });
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e6;
}

/** Mbit/s from one VM to another's iperf3 server, over 2 s after a first second left out. */
async function between(from: NamespaceVm, ip: string, port: number): Promise<number> {
  const r = await from.exec(["iperf3", "-c", ip, "-p", String(port), "-t", "2", "-O", "1", "-J"], { timeoutMs: 15_000 });
  return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
}

/**
 * The receiver's Mbit/s per second of a 5 s iperf3 flow (no second left out: the burst is what is measured):
 * inbound the VM receives (-R, the client's own intervals); outbound the VM sends to the outside or, with `to`,
 * to another VM's server (the server's intervals, --get-server-output from a server started with -J).
 */
async function perSecond(vm: NamespaceVm, dir: "inbound" | "outbound", to?: { ip: string; port: number }): Promise<number[]> {
  const target = to ? ["-c", to.ip, "-p", String(to.port)] : ["-c", h.outsideAddress, "-p", dir === "inbound" ? "5201" : "5205"];
  const args = ["iperf3", ...target, "-t", "5", "-i", "1", "-J", ...(dir === "inbound" ? ["-R"] : ["--get-server-output"])];
  type Interval = { sum: { bits_per_second: number; seconds: number } };
  const j = JSON.parse((await vm.exec(args, { timeoutMs: 20_000 })).stdout) as {
    intervals: Interval[];
    server_output_json?: { intervals: Interval[] };
  };
  const ivs = dir === "inbound" ? j.intervals : (j.server_output_json?.intervals ?? []);
  // A server's last interval can be a sliver after the flow ended: whole seconds only.
  return ivs.filter((i) => i.sum.seconds >= 0.5).map((i) => i.sum.bits_per_second / 1e6);
}

/** What a flow's seconds say about a limit: its first second, the last two seconds' mean, the KiB above that mean. */
function burstOf(mbit: number[]): { first: number; tail: number; excessKib: number } {
  const tail = ((mbit.at(-1) ?? 0) + (mbit.at(-2) ?? 0)) / 2;
  const excessKib = mbit.reduce((sum, r) => sum + Math.max(0, r - tail), 0) * (1e6 / 8 / 1024);
  return { first: mbit[0] ?? 0, tail, excessKib };
}

const within = (mbit: number, limit: number, tolerance = 0.25) => mbit > limit * (1 - tolerance) && mbit < limit * (1 + tolerance);

const qdiscs = async () => (await h.exec(["tc", "qdisc", "show"])).stdout;

describe("bandwidth limits of a nat network (configure-network-qos)", () => {
  const set = {
    name: "qosnet",
    network: { inbound: { averageKbps: 40000 }, outbound: { averageKbps: 40000 } },
    vms: [
      { mac: MAC_A, inbound: { averageKbps: 20000 }, outbound: { averageKbps: 20000 } },
      { mac: MAC_C, inbound: { averageKbps: 10000 }, outbound: { averageKbps: 10000 } },
    ],
  };

  it("a dry run shows the tc lines and changes nothing", async () => {
    const r = await c.call("configure-network-qos", { ...set, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const step = r.body.plan.steps.find((s: { command: string[] }) => s.command.join(" ") === "tc -batch -");
    expect(step.tc).toContain(`tc qdisc replace dev ${BRIDGE} root handle 1: htb default 2    # unless present`);
    expect(step.tc).toContain(
      `tc filter replace dev ${BRIDGE} parent 1: protocol all prio 1 handle 800::1 u32 match ether dst ${MAC_A} flowid 1:10`,
    );
    expect(step.tc).toContain(`action mirred egress redirect dev ${ifb()}`);
    // Between VMs, toward A: the inbound IFB fed from every port's egress, A's class by ether dst.
    expect(step.tc).toContain(`action mirred egress redirect dev ${ifbIn()}`);
    expect(step.tc).toContain(`tc filter add dev ${ifbIn()} parent 1: protocol all prio 2 u32 match ether dst ${MAC_A} flowid 1:2010`);
    expect(await qdiscs()).not.toMatch(/qdisc htb/);
  });

  it("counts by peer (before any limit): a known amount VM -> VM with the network's peers, VM <-> outside with the outside, each within 1 %", async () => {
    const N = 8 * 1024 * 1024;
    const pids = [
      { run: vmD.exec, pid: await startCountedServer(vmD.exec, ipD, 5301, N) },
      { run: h.execOutside, pid: await startCountedServer(h.execOutside, h.outsideAddress, 5301, N) },
    ];
    try {
      await waitFor("the counted peers listening", async () => {
        const ss = async (run: typeof vmD.exec) => (await run(["ss", "-Hltn", "sport = :5301"])).stdout.includes("5301");
        return (await ss(vmD.exec)) && (await ss(h.execOutside));
      });
      type Counts = { bytesIn: number; bytesOut: number };
      type Split = Counts & { peers: { outside: Counts; network: Counts } };
      // The rows first: the stats read after them are of the same publish or a later one (one atomic write of both).
      const read = async () => {
        const ips = (await c.call("list-network-ips", { name: "qosnet" })).body.ips as { mac: string; traffic?: Split }[];
        const net = (await c.call("describe-network", { name: "qosnet" })).body.network.stats.traffic as Split | undefined;
        const zero = { bytesIn: 0, bytesOut: 0 };
        const none: Split = { ...zero, peers: { outside: zero, network: zero } };
        const row = (mac: string) => ips.find((r) => r.mac === mac)?.traffic ?? none;
        return { net: net ?? none, a: row(MAC_A), d: row(MAC_D) };
      };
      /**
       * Send N bytes from A to `to`'s peer (outbound) or get N from it (inbound); the counters published once they
       * show it, and what A's and D's own interfaces sent and received meanwhile (IP bytes: the reference).
       */
      const transfer = async (to: string, dir: "inbound" | "outbound", shown: (s0: Snap, s1: Snap) => number) => {
        const s0 = await read();
        const i0 = { a: await interfaceIpBytes(vmA.exec, "eth0"), d: await interfaceIpBytes(vmD.exec, "eth0") };
        const r = await vmA.exec(["python3", "-c", COUNTED_CLIENT_PY, to, "5301", dir, String(N)], { timeoutMs: 30_000 });
        expect(Number(r.stdout.trim())).toBe(N);
        const i1 = { a: await interfaceIpBytes(vmA.exec, "eth0"), d: await interfaceIpBytes(vmD.exec, "eth0") };
        const s1 = await waitFor(`${dir} to ${to} in the published counters`, async () => {
          const s = await read();
          return shown(s0, s) >= N ? s : null;
        });
        const d = (f: (s: Snap) => number) => f(s1) - f(s0);
        const iface = { aTx: i1.a.tx - i0.a.tx, aRx: i1.a.rx - i0.a.rx, dTx: i1.d.tx - i0.d.tx, dRx: i1.d.rx - i0.d.rx };
        return { d, iface };
      };
      type Snap = Awaited<ReturnType<typeof read>>;
      const ratios: Record<string, string> = {};
      /** All the payload counted, and within 1 % of the IP bytes the VMs' interfaces passed (headers, retransmissions). */
      const counted = (what: string, delta: number, reference: number) => {
        ratios[what] = `${delta} (${(delta / N).toFixed(4)}x payload, ${(delta / reference).toFixed(4)}x interface)`;
        expect(delta, `${what}: ${delta} for ${N}`).toBeGreaterThanOrEqual(N);
        expect(Math.abs(delta - reference), `${what}: ${delta}, the interfaces ${reference}`).toBeLessThanOrEqual(reference * 0.01);
      };
      const quiet = (what: string, delta: number) => expect(delta, `${what}: ${delta}`).toBeLessThan(N * 0.01);

      // A -> D: out of A and into D, both with the network's peers (D's ACKs too: out of D, into A); nothing
      // crosses the edge.
      const vv = await transfer(ipD, "outbound", (s0, s1) => s1.d.peers.network.bytesIn - s0.d.peers.network.bytesIn);
      counted(
        "network's network-peer out",
        vv.d((s) => s.net.peers.network.bytesOut),
        vv.iface.aTx + vv.iface.dTx,
      );
      counted(
        "network's network-peer in",
        vv.d((s) => s.net.peers.network.bytesIn),
        vv.iface.aRx + vv.iface.dRx,
      );
      counted(
        "A's network-peer out",
        vv.d((s) => s.a.peers.network.bytesOut),
        vv.iface.aTx,
      );
      counted(
        "D's network-peer in",
        vv.d((s) => s.d.peers.network.bytesIn),
        vv.iface.dRx,
      );
      quiet(
        "network's outside out",
        vv.d((s) => s.net.peers.outside.bytesOut),
      );
      quiet(
        "network's edge total out",
        vv.d((s) => s.net.bytesOut),
      );
      quiet(
        "A's outside out",
        vv.d((s) => s.a.peers.outside.bytesOut),
      );

      // A -> outside and back: with the outside peers (and in the edge's totals); the network's peers stay quiet.
      const vo = await transfer(h.outsideAddress, "outbound", (s0, s1) => s1.a.peers.outside.bytesOut - s0.a.peers.outside.bytesOut);
      counted(
        "network's outside out",
        vo.d((s) => s.net.peers.outside.bytesOut),
        vo.iface.aTx,
      );
      counted(
        "network's edge total out",
        vo.d((s) => s.net.bytesOut),
        vo.iface.aTx,
      );
      counted(
        "A's outside out",
        vo.d((s) => s.a.peers.outside.bytesOut),
        vo.iface.aTx,
      );
      quiet(
        "network's network-peer out",
        vo.d((s) => s.net.peers.network.bytesOut),
      );
      const vi = await transfer(h.outsideAddress, "inbound", (s0, s1) => s1.a.peers.outside.bytesIn - s0.a.peers.outside.bytesIn);
      counted(
        "network's outside in",
        vi.d((s) => s.net.peers.outside.bytesIn),
        vi.iface.aRx,
      );
      counted(
        "A's outside in",
        vi.d((s) => s.a.peers.outside.bytesIn),
        vi.iface.aRx,
      );
      quiet(
        "network's network-peer in",
        vi.d((s) => s.net.peers.network.bytesIn),
      );
      console.log(`counted bytes for ${N} bytes of TCP payload:`, ratios);
    } finally {
      for (const p of pids) await p.run(["kill", p.pid]).catch(() => undefined);
    }
  });

  it("limits a VM to its own rate and an unlimited VM to the network's, each way, measured with iperf3", async () => {
    const r = await c.call("configure-network-qos", set, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.state).toBe("succeeded");
    const rates = {
      aIn: await measure(vmA, "inbound"),
      aOut: await measure(vmA, "outbound"),
      bIn: await measure(vmB, "inbound"),
      bOut: await measure(vmB, "outbound"),
    };
    console.log("measured Mbit/s (VM A limit 20, VM B unlimited under the network's 40):", rates);
    expect(within(rates.aIn, 20), `A inbound ${rates.aIn}`).toBe(true);
    expect(within(rates.aOut, 20), `A outbound ${rates.aOut}`).toBe(true);
    expect(within(rates.bIn, 40), `B inbound ${rates.bIn}`).toBe(true);
    expect(within(rates.bOut, 40), `B outbound ${rates.bOut}`).toBe(true);
    const d = await c.call("describe-network", { name: "qosnet" });
    expect(d.body.network.qos).toEqual({ network: set.network, vms: set.vms });
  });

  it("the network's limit is the aggregate: A (its own 20) and B (no VM limit) at once share the network's 40", async () => {
    // Two servers outside (iperf3 serves one test at a time): A to 5201, B to the JSON one on 5205.
    const flow = async (vm: NamespaceVm, port: number, reverse: boolean) => {
      const args = ["iperf3", "-c", h.outsideAddress, "-p", String(port), "-t", "3", "-O", "1", "-J", ...(reverse ? ["-R"] : [])];
      const r = await vm.exec(args, { timeoutMs: 20_000 });
      return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
    };
    for (const reverse of [false, true]) {
      const [a, b] = await Promise.all([flow(vmA, 5201, reverse), flow(vmB, 5205, reverse)]);
      console.log(`A and B at once, ${reverse ? "inbound" : "outbound"} Mbit/s:`, { a, b, sum: a + b });
      // Goodput runs ~5 % under the shaped frames: the sum within 10 % of 40, A at its 20, B the rest.
      expect(within(a + b, 40 * 0.95, 0.1), `sum ${a + b}`).toBe(true);
      expect(within(a, 20 * 0.95, 0.15), `A ${a}`).toBe(true);
      expect(within(b, 20 * 0.95, 0.15), `B ${b}`).toBe(true);
    }
  });

  it("between two VMs of the network only their own limits apply: A's 20 Mbit/s each way, an unlimited pair at line rate", async () => {
    // A -> B leaves A (A's outbound limit); B -> A goes toward A (A's inbound limit). Neither is the network's 40.
    const ab = await between(vmA, ipB, 5202);
    const ba = await between(vmB, ipA, 5203);
    // B and D have no VM limit: not shaped at all between them, far above the network's limit.
    const bd = await between(vmB, ipD, 5204);
    const db = await between(vmD, ipB, 5202);
    console.log("between VMs, measured Mbit/s (A limited to 20 each way; B, D unlimited):", { ab, ba, bd, db });
    expect(within(ab, 20, 0.1), `A -> B ${ab}`).toBe(true);
    expect(within(ba, 20, 0.1), `B -> A ${ba}`).toBe(true);
    expect(bd, `B -> D ${bd}`).toBeGreaterThan(400);
    expect(db, `D -> B ${db}`).toBeGreaterThan(400);
  });

  it("a changed limit holds at once, live: the VM's port stays on the bridge", async () => {
    const next = { ...set, vms: [{ mac: MAC_A, inbound: { averageKbps: 8000 }, outbound: { averageKbps: 8000 } }, set.vms[1]] };
    const r = await c.call("configure-network-qos", next, { wait: 30 });
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("succeeded");
    const aOut = await measure(vmA, "outbound");
    const aIn = await measure(vmA, "inbound");
    console.log("measured Mbit/s after the change to 8:", { aIn, aOut });
    expect(within(aOut, 8), `A outbound ${aOut}`).toBe(true);
    expect(within(aIn, 8), `A inbound ${aIn}`).toBe(true);
    const [port] = JSON.parse((await h.exec(["ip", "-j", "link", "show", "dev", vmA.hostIfname])).stdout) as { master?: string }[];
    expect(port?.master).toBe(BRIDGE);
  });

  it("a VM plugged in after the set: inbound by its MAC on the bridge at once, outbound fed within 1 s by the link event", async () => {
    // Plug C in; its port fed (both feeds) within `fedMs`, and by whom: the link event's handler, or a reconcile
    // round (every 3 s here) that happened to hold the network's lock when the port appeared and fed it first.
    const plug = async () => {
      const logBefore = readFileSync(workerLog(c.prefix, "qos"), "utf8").length;
      const vm = await vmOn("qosc", MAC_C);
      const plugged = Date.now();
      // Inbound: its MAC's filter on the bridge is there already. Outbound: the link event feeds its port to the IFB.
      await waitFor(
        "the new port fed to the IFB",
        async () => (await qdiscs()).includes(`qdisc ingress ffff: dev ${vm.hostIfname} `),
        10_000,
        50,
      );
      const fedMs = Date.now() - plugged;
      // Its egress feeds the inbound IFB too (VM A has an inbound limit: frames toward A pass every port's egress).
      expect(await qdiscs()).toContain(`qdisc htb 1: dev ${vm.hostIfname} root`);
      // Who fed it: the log lines written since the plug (a moment after the feed).
      const since = () => readFileSync(workerLog(c.prefix, "qos"), "utf8").slice(logBefore);
      const by = await waitFor(
        "the feed in the worker's log",
        async () =>
          since().includes("new ports fed to the bandwidth limits' IFB")
            ? "link event"
            : /"network":"qosnet","reapplied":\["bandwidth limits \(tc\)"\]/.test(since())
              ? "reconcile"
              : null,
        5000,
      );
      return { vm, fedMs, by };
    };
    let { vm: vmC, fedMs, by } = await plug();
    if (by === "reconcile") {
      // The round came first (its lock made the link handler wait): once more, so the link event's own path is proven.
      console.log("a reconcile round fed the port first; plugging it in again");
      await vmC.destroy();
      vms.splice(vms.indexOf(vmC), 1);
      ({ vm: vmC, fedMs, by } = await plug());
    }
    expect(by).toBe("link event");
    expect(fedMs).toBeLessThan(1000);
    await vmC.dhcp();
    const cIn = await measure(vmC, "inbound");
    const cOut = await measure(vmC, "outbound");
    console.log("a VM plugged in later (limit 10): port fed after ms", fedMs, "measured Mbit/s", { cIn, cOut });
    expect(within(cIn, 10), `C inbound ${cIn}`).toBe(true);
    expect(within(cOut, 10), `C outbound ${cOut}`).toBe(true);
  });

  it("reconcile puts back a qdisc deleted by hand", async () => {
    await h.exec(["tc", "qdisc", "del", "dev", ifb(), "root"]);
    await waitFor("the IFB's HTB put back by reconcile", async () => (await qdiscs()).includes(`qdisc htb 1: dev ${ifb()} root`), 15_000);
    const aOut = await measure(vmA, "outbound");
    expect(within(aOut, 8), `A outbound ${aOut}`).toBe(true);
  });

  it("burst and peak: after a quiet time burstKib goes faster (at line rate, or at up to peakKbps), then the average holds", async () => {
    // Inbound: a burst at line rate (HTB on the bridge, rate = ceil = 8 Mbit/s, 4 MiB buckets). Outbound: the
    // same burst capped at a 24 Mbit/s peak (to the outside: a TBF leaf under A's class on the IFB; to B: A's
    // root class, ceil 24 with a small ceil bucket).
    const burstKib = 4096;
    const r = await c.call(
      "configure-network-qos",
      {
        ...set,
        vms: [
          { mac: MAC_A, inbound: { averageKbps: 8000, burstKib }, outbound: { averageKbps: 8000, peakKbps: 24000, burstKib } },
          set.vms[1],
        ],
      },
      { wait: 30 },
    );
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("succeeded");
    // The peak's TBF under A's edge class on the IFB; none on the bridge (no peak inbound).
    expect((await h.exec(["tc", "qdisc", "show", "dev", ifb()])).stdout).toMatch(
      /qdisc tbf 10: parent 1:10 rate 8Mbit burst 4Mb peakrate 24Mbit/,
    );
    expect((await h.exec(["tc", "qdisc", "show", "dev", BRIDGE])).stdout).not.toContain("qdisc tbf");
    // A bucket of 4 MiB refills at 8 Mbit/s in 4.2 s: wait that long before the first flow. The three flows use
    // three buckets (inbound: A's class on the bridge; outbound: A's edge class and TBF on the IFB; to B: A's root
    // class there), each idle while the others run (what the others' ACKs take of it refills in milliseconds), so
    // one quiet time serves all three.
    await new Promise((res) => setTimeout(res, 5_000));
    const inbound = burstOf(await perSecond(vmA, "inbound"));
    const outbound = burstOf(await perSecond(vmA, "outbound"));
    const toB = burstOf(await perSecond(vmA, "outbound", { ip: ipB, port: 5206 }));
    console.log("burst 4096 KiB, average 8 Mbit/s (first second, last two seconds, KiB above them):", { inbound, outbound, toB });
    // Line rate: the whole burst arrives in the first second, far above the average and the peak of the others.
    expect(inbound.first, `inbound first second ${inbound.first}`).toBeGreaterThan(32);
    for (const [what, m] of Object.entries({ inbound, outbound, toB })) {
      expect(within(m.tail, 8, 0.1), `${what}: long-run ${m.tail}`).toBe(true);
      expect(within(m.excessKib, burstKib, 0.15), `${what}: KiB above the average ${m.excessKib}`).toBe(true);
    }
    // The peak: the burst goes at 24 Mbit/s, not faster.
    for (const [what, m] of Object.entries({ outbound, toB }))
      expect(within(m.first, 24, 0.1), `${what}: first second ${m.first}`).toBe(true);
  });

  it("refuses bad input with a 4xx, sriov-style refusals are for other types, and changes nothing", async () => {
    for (const body of [
      { name: "qosnet", vms: [{ mac: "nope", inbound: { averageKbps: 1 } }] },
      { name: "qosnet", network: { inbound: { averageKbps: 0 } } },
      { name: "qosnet", network: { inbound: { averageKbps: 1000, peakKbps: 10 } } },
      {
        name: "qosnet",
        vms: [
          { mac: MAC_A, inbound: { averageKbps: 1000 } },
          { mac: MAC_A, outbound: { averageKbps: 1000 } },
        ],
      },
    ]) {
      const r = await c.call("configure-network-qos", body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.code).toBe("VALIDATION_FAILED");
    }
  });

  it("an empty set removes netforge's qdiscs and the IFB; the VMs run unlimited", async () => {
    const r = await c.call("configure-network-qos", { name: "qosnet", network: null, vms: [] }, { wait: 30 });
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("succeeded");
    const shown = await qdiscs();
    expect(shown).not.toMatch(/qdisc htb/);
    expect(shown).not.toContain("qdisc ingress ffff:");
    expect((await h.exec(["ip", "link", "show", "dev", ifb()], { reject: false })).exitCode).not.toBe(0);
    expect((await h.exec(["ip", "link", "show", "dev", ifbIn()], { reject: false })).exitCode).not.toBe(0);
    const aOut = await measure(vmA, "outbound");
    expect(aOut).toBeGreaterThan(100);
    expect((await c.call("describe-network", { name: "qosnet" })).body.network.qos).toBeNull();
  });

  it("a host lacking a qdisc kind: list-hosts says what is missing, the job fails naming it and changes nothing", async () => {
    await c.startWorker("qos", { env: { NETFORGE_QOS_QDISCS: "htb,sfq" } });
    await waitFor("qos capability in list-hosts", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts?.[0]?.qos?.supported === false;
    });
    const hosts = (await c.call("list-hosts", {}, { token: "admin-token-0123456789" })).body.hosts;
    expect(hosts[0].qos.missing).toEqual([expect.stringContaining("the sfq qdisc")]);
    const r = await c.call("configure-network-qos", set, { wait: 30 });
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("failed");
    expect(r.body.job.error.code).toBe("HOST_COMMAND_FAILED");
    expect(r.body.job.error.message).toContain("the sfq qdisc");
    expect(await qdiscs()).not.toMatch(/qdisc htb/);
    expect((await c.call("describe-network", { name: "qosnet" })).body.network.qos).toBeNull();
    await c.startWorker("qos");
    await waitFor("qos supported again", async () => {
      const l = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return l.body.hosts?.[0]?.qos?.supported === true;
    });
  });

  it("start-network applies the set with the start (a step of its plan); delete-network removes the IFB", async () => {
    const r = await c.call("configure-network-qos", set, { wait: 30 });
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("succeeded");
    expect((await h.exec(["ip", "link", "show", "dev", ifb()], { reject: false })).exitCode).toBe(0);
    for (const vm of vms) await vm.destroy();
    vms.length = 0;
    const stop = await c.call("stop-network", { name: "qosnet" }, { wait: 30 });
    expect(stop.body.job?.state, JSON.stringify(stop.body)).toBe("succeeded");
    const start = await c.call("start-network", { name: "qosnet" }, { wait: 30 });
    expect(start.body.job?.state, JSON.stringify(start.body)).toBe("succeeded");
    // At once, with the job (not by reconcile's next round).
    expect(await qdiscs()).toContain(`qdisc htb 1: dev ${BRIDGE} root`);
    const del = await c.call("delete-network", { name: "qosnet" }, { wait: 30 });
    expect(del.body.job?.state, JSON.stringify(del.body)).toBe("succeeded");
    expect((await h.exec(["ip", "link", "show", "dev", ifb()], { reject: false })).exitCode).not.toBe(0);
    expect((await h.exec(["ip", "link", "show", "dev", ifbIn()], { reject: false })).exitCode).not.toBe(0);
  });
});

/**
 * A bridge network (docs/adr/0044-network-qos.md, fourth round): VM <-> LAN frames cross the uplink NIC's port,
 * never the bridge device, so the network is shaped there: outbound on the NIC's egress, inbound on an IFB fed
 * from its ingress. The host's own frames over the same NIC (the bridge's address here) are never limited; the
 * NIC's qdiscs are exactly the kernel's default again once the set is removed; another tool's qdisc on the NIC
 * refuses the job. One network, one VM with a static address on the LAN (192.0.2.0/24, the outside namespace's
 * end at .1), 2 s flows.
 */
describe("bandwidth limits of a bridge network, at its uplink NIC", () => {
  const NIC = "qlan0";
  const LAN_PEER = "192.0.2.1";
  const MAC_E = "52:54:00:87:00:0e";
  const IP_E = "192.0.2.50";
  const HOST_IP = "192.0.2.2";
  const LAN_BRIDGE = "nf-qlan";
  const bset = {
    name: "qlan",
    network: { inbound: { averageKbps: 40000 }, outbound: { averageKbps: 40000 } },
    vms: [{ mac: MAC_E, inbound: { averageKbps: 20000 }, outbound: { averageKbps: 20000 } }],
  };
  let vmE: NamespaceVm;
  let vmF: NamespaceVm;
  let vmG: NamespaceVm;
  let nicBefore = "";
  let lanIfb = "";
  const nicQdiscs = async () => (await h.exec(["tc", "qdisc", "show", "dev", NIC])).stdout;

  /** Mbit/s from `run` (a VM's or the host's exec) to the LAN peer's iperf3 (-R: toward it), 2 s after 1 s left out. */
  async function lanRate(run: (argv: string[], opts: { timeoutMs: number }) => Promise<{ stdout: string }>, reverse: boolean) {
    const args = ["iperf3", "-c", LAN_PEER, "-p", "5211", "-t", "2", "-O", "1", "-J", ...(reverse ? ["-R"] : [])];
    const r = await run(args, { timeoutMs: 15_000 });
    return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  }

  /**
   * Traffic counters of the bridge network (before any limit): a known amount VM E -> LAN and back, counted at the
   * NIC for the network (describe-network) and for E by its MAC (list-network-ips), each within 1 %; the host's own
   * traffic over the same NIC is not counted.
   */
  async function countedAtTheNic() {
    const N = 8 * 1024 * 1024;
    type Counts = { bytesIn: number; bytesOut: number };
    // The rows first: the stats read after them are of the same publish or a later one.
    const read = async () => {
      const ips = (await c.call("list-network-ips", { name: "qlan" })).body.ips as { ip: string; mac: string; traffic?: Counts }[];
      const net = (await c.call("describe-network", { name: "qlan" })).body.network.stats.traffic as Counts | undefined;
      return { net, e: ips.find((r) => r.mac === MAC_E) };
    };
    // Published by the next heartbeat (counted since the create job).
    await waitFor("the bridge network's counters", async () => (await read()).net, 15_000);
    const pid = await startCountedServer(h.execOutside, LAN_PEER, 5302, N);
    try {
      await waitFor("the LAN's counted peer", async () => (await h.execOutside(["ss", "-Hltn", "sport = :5302"])).stdout.includes("5302"));
      const counted: Record<string, number> = {};
      const reference: Record<string, number> = {};
      for (const [dir, field, side] of [
        ["outbound", "bytesOut", "tx"],
        ["inbound", "bytesIn", "rx"],
      ] as const) {
        const s0 = await read();
        const i0 = await interfaceIpBytes(vmE.exec, "eth0");
        const r = await vmE.exec(["python3", "-c", COUNTED_CLIENT_PY, LAN_PEER, "5302", dir, String(N)], { timeoutMs: 30_000 });
        expect(Number(r.stdout.trim())).toBe(N);
        const i1 = await interfaceIpBytes(vmE.exec, "eth0");
        const s1 = await waitFor(`${dir} in E's row`, async () => {
          const s = await read();
          return (s.e?.traffic?.[field] ?? 0) - (s0.e?.traffic?.[field] ?? 0) >= N ? s : null;
        });
        counted[`net ${field}`] = (s1.net?.[field] ?? 0) - (s0.net?.[field] ?? 0);
        counted[`E ${field}`] = (s1.e?.traffic?.[field] ?? 0) - (s0.e?.traffic?.[field] ?? 0);
        reference[`net ${field}`] = reference[`E ${field}`] = i1[side] - i0[side];
        expect(s1.e?.ip).toBe("");
      }
      // The host's own traffic over the NIC (an address on the bridge device) is not the network's: the kernel's
      // counter (what the next publish shows) before and after.
      const kernelOut = async () =>
        Number(/bytes (\d+)/.exec((await h.exec(["nft", "list", "counter", "bridge", "netforge", "qlan_lan-out"])).stdout)?.[1]);
      const k0 = await kernelOut();
      await h.exec(["ip", "addr", "add", `${HOST_IP}/24`, "dev", LAN_BRIDGE]);
      const r = await h.exec(["python3", "-c", COUNTED_CLIENT_PY, LAN_PEER, "5302", "outbound", String(N)], { timeoutMs: 30_000 });
      await h.exec(["ip", "addr", "del", `${HOST_IP}/24`, "dev", LAN_BRIDGE]);
      expect(Number(r.stdout.trim())).toBe(N);
      counted["net bytesOut (host's own)"] = (await kernelOut()) - k0;
      console.log(`bridge network, counted bytes for ${N} bytes of TCP payload:`, counted);
      console.log("the same, E's interface (IP bytes):", reference);
      // All the payload, and within 1 % of the IP bytes E's interface passed (headers and retransmissions included).
      for (const k of ["net bytesOut", "E bytesOut", "net bytesIn", "E bytesIn"]) {
        expect(counted[k], k).toBeGreaterThanOrEqual(N);
        expect(Math.abs((counted[k] ?? 0) - (reference[k] ?? 0)), `${k}: ${counted[k]}, E's interface ${reference[k]}`).toBeLessThanOrEqual(
          (reference[k] ?? 0) * 0.01,
        );
      }
      expect(counted["net bytesOut (host's own)"]).toBeLessThan(N * 0.01);
    } finally {
      await h.execOutside(["kill", pid]).catch(() => undefined);
    }
  }

  it("shapes VM <-> LAN at the uplink: a VM's 20 Mbit/s each way; the host's own traffic over the NIC is not limited", async () => {
    await addLanNic(h, { hostIfname: NIC, outsideIfname: "qlan0-peer", outsideCidr: `${LAN_PEER}/24` });
    await h.execOutside(["iperf3", "-s", "-D", "-B", LAN_PEER, "-p", "5211"]);
    await waitFor("the NIC in the inventory", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts?.[0]?.interfaces?.some((i: { name: string }) => i.name === NIC);
    });
    const made = await c.call("create-network", { name: "qlan", type: "bridge", interface: NIC }, { wait: 30 });
    expect(made.body.job?.state, JSON.stringify(made.body)).toBe("succeeded");
    // Counted from its create job (sixth round), not from the next reconcile round (3 s here): the counter and the
    // LAN mark are in the bridge table when the job is done.
    const rules = (await h.exec(["nft", "list", "chain", "bridge", "netforge", "forward"])).stdout;
    expect(rules).toContain(`iifname "${NIC}" meta mark set meta mark | 0x00100000 counter name "qlan_lan-in"`);
    lanIfb = `nfq-${(await c.call("describe-network", { name: "qlan" })).body.network.uuid.replace(/-/g, "").slice(0, 11)}`;
    vmE = await createNamespaceVm(h, { name: "qose", bridge: LAN_BRIDGE, mac: MAC_E });
    vms.push(vmE);
    await vmE.exec(["ip", "addr", "add", `${IP_E}/24`, "dev", "eth0"]);
    nicBefore = await nicQdiscs();
    expect(nicBefore).toMatch(/^qdisc \S+ 0: root/);
    await countedAtTheNic();

    const dry = await c.call("configure-network-qos", { ...bset, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    const tc = dry.body.plan.steps.find((s: { tc?: string }) => s.tc)?.tc as string;
    expect(tc).toContain(`tc qdisc replace dev ${NIC} root handle 4e46: htb default 3    # unless present`);
    expect(tc).toContain(
      `tc filter replace dev ${NIC} parent ffff: protocol all prio 1 handle 800::1 u32 match u32 0 0 action mirred egress redirect dev ${lanIfb}`,
    );
    // Between two VMs: the VM ports (not the NIC) feed nfo- and nfi-, the egress feed passing the LAN's marked frames.
    expect(tc).toContain(`# on each port of ${LAN_BRIDGE} but ${NIC}, unless present`);
    expect(tc).toMatch(/prio 2 handle 1 bpf bytecode "[^"]+" action mirred egress redirect dev nfi-/);

    const r = await c.call("configure-network-qos", bset, { wait: 30 });
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("succeeded");
    // VM limits now hold between two VMs of the network too (sixth round): nothing left for the job to warn of.
    expect(r.body.job.warnings ?? []).toEqual([]);
    expect(await nicQdiscs()).toMatch(/qdisc htb 4e46: root/);
    expect((await c.call("describe-network", { name: "qlan" })).body.network.qos).toEqual({ network: bset.network, vms: bset.vms });
    const e = { out: await lanRate(vmE.exec, false), in: await lanRate(vmE.exec, true) };
    // The host's own address on the bridge: its frames cross the same NIC (from and to the bridge's MAC).
    await h.exec(["ip", "addr", "add", `${HOST_IP}/24`, "dev", LAN_BRIDGE]);
    const host = { out: await lanRate(h.exec, false), in: await lanRate(h.exec, true) };
    await h.exec(["ip", "addr", "del", `${HOST_IP}/24`, "dev", LAN_BRIDGE]);
    console.log("bridge network, Mbit/s (VM E limited to 20 each way under 40; the host's own traffic unlimited):", { e, host });
    expect(within(e.out, 20, 0.1), `E outbound ${e.out}`).toBe(true);
    expect(within(e.in, 20, 0.1), `E inbound ${e.in}`).toBe(true);
    expect(host.out, `host outbound ${host.out}`).toBeGreaterThan(400);
    expect(host.in, `host inbound ${host.in}`).toBeGreaterThan(400);
  });

  it("between two VMs of the bridge network their own limits apply: E's 20 Mbit/s each way; an unlimited pair unshaped; E <-> LAN still 20", async () => {
    vmF = await createNamespaceVm(h, { name: "qosf", bridge: LAN_BRIDGE, mac: "52:54:00:87:00:0f" });
    vms.push(vmF);
    vmG = await createNamespaceVm(h, { name: "qosg", bridge: LAN_BRIDGE, mac: "52:54:00:87:00:1f" });
    vms.push(vmG);
    await vmF.exec(["ip", "addr", "add", "192.0.2.51/24", "dev", "eth0"]);
    await vmG.exec(["ip", "addr", "add", "192.0.2.52/24", "dev", "eth0"]);
    await vmE.exec(["iperf3", "-s", "-D", "-B", IP_E, "-p", "5214"]);
    await vmF.exec(["iperf3", "-s", "-D", "-B", "192.0.2.51", "-p", "5212"]);
    await vmG.exec(["iperf3", "-s", "-D", "-B", "192.0.2.52", "-p", "5213"]);
    // The new ports are fed on their link events (their VM ports' ingress and egress).
    await waitFor("F's and G's ports fed", async () => {
      const q = await qdiscs();
      return [vmF.hostIfname, vmG.hostIfname].every(
        (p) => q.includes(`qdisc htb 1: dev ${p} root`) && q.includes(`qdisc ingress ffff: dev ${p} `),
      );
    });
    const ef = await between(vmE, "192.0.2.51", 5212);
    const fe = await between(vmF, IP_E, 5214);
    const fg = await between(vmF, "192.0.2.52", 5213);
    const gf = await between(vmG, "192.0.2.51", 5212);
    // LAN -> E: marked by the bridge table, so E's port lets it pass without the inbound IFB (shaped at the uplink).
    const ifbInBytes = async () =>
      (
        JSON.parse((await h.exec(["ip", "-j", "-s", "link", "show", "dev", `nfi-${lanIfb.slice(4)}`])).stdout) as {
          stats64: { rx: { bytes: number } };
        }[]
      )[0]?.stats64.rx.bytes ?? 0;
    const b0 = await ifbInBytes();
    const lanIn = await lanRate(vmE.exec, true);
    const viaIfb = (await ifbInBytes()) - b0;
    console.log("bridge network, between VMs Mbit/s (E limited to 20 each way; F, G unlimited), and LAN -> E:", {
      ef,
      fe,
      fg,
      gf,
      lanIn,
      viaIfb,
    });
    expect(within(ef, 20, 0.1), `E -> F ${ef}`).toBe(true);
    expect(within(fe, 20, 0.1), `F -> E ${fe}`).toBe(true);
    expect(fg, `F -> G ${fg}`).toBeGreaterThan(400);
    expect(gf, `G -> F ${gf}`).toBeGreaterThan(400);
    // E's LAN limit still holds, and the LAN's 3 s at 20 Mbit/s (7.5 MB) did not take the IFB hop (ACKs of
    // E's own and ARP aside: under 1 %).
    expect(within(lanIn, 20, 0.1), `LAN -> E ${lanIn}`).toBe(true);
    expect(viaIfb, "bytes of LAN -> E through the inbound IFB").toBeLessThan(75_000);

    // Counted (sixth round): 8 MiB F -> G (unlimited, so quick) in the network's `network` peer and F's and G's
    // rows, each within 1 % of the IP bytes F's and G's interfaces passed; the LAN's (`outside`) untouched.
    const N = 8 * 1024 * 1024;
    type Counts = { bytesIn: number; bytesOut: number };
    type Split = Counts & { peers?: { outside: Counts; network: Counts } };
    const read = async () => {
      const ips = (await c.call("list-network-ips", { name: "qlan" })).body.ips as { mac: string; traffic?: Split }[];
      const net = (await c.call("describe-network", { name: "qlan" })).body.network.stats.traffic as Split | undefined;
      const zero = { bytesIn: 0, bytesOut: 0 };
      const peer = (t: Split | undefined) => t?.peers?.network ?? zero;
      return {
        net: peer(net),
        lan: net?.peers?.outside ?? zero,
        f: peer(ips.find((r) => r.mac === "52:54:00:87:00:0f")?.traffic),
        g: peer(ips.find((r) => r.mac === "52:54:00:87:00:1f")?.traffic),
      };
    };
    const pid = await startCountedServer(vmG.exec, "192.0.2.52", 5303, N);
    try {
      await waitFor("G's counted peer", async () => (await vmG.exec(["ss", "-Hltn", "sport = :5303"])).stdout.includes("5303"));
      await waitFor(
        "the split published",
        async () => (await c.call("describe-network", { name: "qlan" })).body.network.stats.traffic?.peers,
      );
      const s0 = await read();
      const i0 = { f: await interfaceIpBytes(vmF.exec, "eth0"), g: await interfaceIpBytes(vmG.exec, "eth0") };
      const sent = await vmF.exec(["python3", "-c", COUNTED_CLIENT_PY, "192.0.2.52", "5303", "outbound", String(N)], { timeoutMs: 30_000 });
      expect(Number(sent.stdout.trim())).toBe(N);
      const i1 = { f: await interfaceIpBytes(vmF.exec, "eth0"), g: await interfaceIpBytes(vmG.exec, "eth0") };
      const s1 = await waitFor("F -> G in the published counters", async () => {
        const x = await read();
        return x.g.bytesIn - s0.g.bytesIn >= N ? x : null;
      });
      const fTx = i1.f.tx - i0.f.tx;
      const gTx = i1.g.tx - i0.g.tx;
      const got = {
        "net out": [s1.net.bytesOut - s0.net.bytesOut, fTx + gTx],
        "net in": [s1.net.bytesIn - s0.net.bytesIn, fTx + gTx],
        "F out": [s1.f.bytesOut - s0.f.bytesOut, fTx],
        "G in": [s1.g.bytesIn - s0.g.bytesIn, i1.g.rx - i0.g.rx],
      } as const;
      console.log("bridge network, F -> G counted [counter, interfaces] for", N, "bytes of payload:", got, {
        lanOut: s1.lan.bytesOut - s0.lan.bytesOut,
      });
      for (const [k, [counted, reference]] of Object.entries(got)) {
        expect(counted, k).toBeGreaterThanOrEqual(N);
        expect(Math.abs(counted - reference), `${k}: ${counted}, interfaces ${reference}`).toBeLessThanOrEqual(reference * 0.01);
      }
      expect(s1.lan.bytesOut - s0.lan.bytesOut).toBeLessThan(N * 0.01);
    } finally {
      await vmG.exec(["kill", pid]).catch(() => undefined);
    }
  });

  it("the bridge's MAC changes (a port with a lower one): the uplink's host filters follow it on the link event; the host stays unlimited", async () => {
    const bridgeMac = async () =>
      (JSON.parse((await h.exec(["ip", "-j", "link", "show", "dev", LAN_BRIDGE])).stdout) as { address: string }[])[0]?.address;
    const low = "00:00:5e:00:53:01";
    expect(await bridgeMac()).not.toBe(low);
    const changed = Date.now();
    await h.exec(["ip", "link", "set", "dev", vmE.hostIfname, "address", low]);
    await waitFor("the bridge taking its lowest port's MAC", async () => (await bridgeMac()) === low, 5_000, 50);
    const filters = async () => (await h.exec(["tc", "filter", "show", "dev", NIC, "parent", "4e46:"])).stdout;
    await waitFor(
      "the host's filter on the NIC following it",
      async () => (await filters()).includes("match 00005e00/ffffffff at -8"),
      10_000,
      50,
    );
    const followedMs = Date.now() - changed;
    await waitFor("the follow in the worker's log", async () =>
      readFileSync(workerLog(c.prefix, "qos"), "utf8").includes("the bridge's MAC changed: the uplink's filters follow it"),
    );
    await h.exec(["ip", "addr", "add", `${HOST_IP}/24`, "dev", LAN_BRIDGE]);
    const host = { out: await lanRate(h.exec, false), in: await lanRate(h.exec, true) };
    await h.exec(["ip", "addr", "del", `${HOST_IP}/24`, "dev", LAN_BRIDGE]);
    console.log("the bridge's MAC changed: host filters followed after ms", followedMs, "host Mbit/s", host);
    // The log line above is followBridgeMacs' own (reconcile's repair logs "re-applied state"): the link event did it.
    expect(followedMs).toBeLessThan(10_000);
    expect(host.out, `host outbound ${host.out}`).toBeGreaterThan(400);
    expect(host.in, `host inbound ${host.in}`).toBeGreaterThan(400);
  });

  it("reconcile puts back the NIC's root qdisc, and a filter, deleted by hand, each counted as re-applied in /metrics", async () => {
    const reapplied = async () =>
      Number(/netforge_state_reapplied_total\{host="qos"\} (\d+)/.exec((await c.get("/metrics")).body as string)?.[1] ?? 0);
    const n0 = await reapplied();
    await h.exec(["tc", "qdisc", "del", "dev", NIC, "root"]);
    await waitFor("the uplink's HTB put back by reconcile", async () => /qdisc htb 4e46: root/.test(await nicQdiscs()), 15_000);
    await waitFor("the qdisc's repair counted", async () => (await reapplied()) > n0, 10_000);
    const n1 = await reapplied();
    // VM E's filter (its class by MAC) alone: the qdiscs stay, E's frames would fall to the network's class 2.
    const filters = async () => (await h.exec(["tc", "filter", "show", "dev", NIC, "parent", "4e46:"])).stdout;
    expect(await filters()).toContain("fh 800::1 ");
    await h.exec(["tc", "filter", "del", "dev", NIC, "parent", "4e46:", "protocol", "all", "prio", "1", "handle", "800::1", "u32"]);
    expect(await filters()).not.toContain("fh 800::1 ");
    await waitFor("the filter put back by reconcile", async () => (await filters()).includes("fh 800::1 "), 15_000);
    await waitFor("the filter's repair counted", async () => (await reapplied()) > n1, 10_000);
    const out = await lanRate(vmE.exec, false);
    expect(within(out, 20, 0.1), `E outbound after the repair ${out}`).toBe(true);
  });

  it("an empty set gives the NIC back its qdiscs exactly as they were and removes the IFB", async () => {
    const r = await c.call("configure-network-qos", { name: "qlan", network: null, vms: [] }, { wait: 30 });
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("succeeded");
    expect(await nicQdiscs()).toBe(nicBefore);
    for (const dev of [lanIfb, `nfo-${lanIfb.slice(4)}`, `nfi-${lanIfb.slice(4)}`])
      expect((await h.exec(["ip", "link", "show", "dev", dev], { reject: false })).exitCode, dev).not.toBe(0);
    // The VM ports' feeds went with them.
    const q = await qdiscs();
    for (const p of [vmE.hostIfname, vmF.hostIfname]) expect(q).not.toMatch(new RegExp(`qdisc (htb 1|ingress ffff): dev ${p} `));
    expect(await lanRate(vmE.exec, false)).toBeGreaterThan(100);
  });

  it("a root qdisc another tool set on the NIC refuses the job (PRECONDITION_FAILED) and stays; nothing changes", async () => {
    await h.exec(["tc", "qdisc", "add", "dev", NIC, "root", "handle", "8001:", "tbf", "rate", "1gbit", "burst", "1mb", "latency", "50ms"]);
    const theirs = await nicQdiscs();
    const r = await c.call("configure-network-qos", bset, { wait: 30 });
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("failed");
    expect(r.body.job.error.code).toBe("PRECONDITION_FAILED");
    expect(r.body.job.error.message).toContain(`uplink ${NIC} has its root qdisc set by another tool`);
    expect(await nicQdiscs()).toBe(theirs);
    expect((await h.exec(["ip", "link", "show", "dev", lanIfb], { reject: false })).exitCode).not.toBe(0);
    expect((await c.call("describe-network", { name: "qlan" })).body.network.qos).toBeNull();
    await h.exec(["tc", "qdisc", "del", "dev", NIC, "root"]);
  });

  it("delete-network takes netforge's qdiscs off the NIC before giving it back", async () => {
    const r = await c.call("configure-network-qos", bset, { wait: 30 });
    expect(r.body.job?.state, JSON.stringify(r.body)).toBe("succeeded");
    for (const vm of [vmE, vmF, vmG]) await vm.destroy();
    const del = await c.call("delete-network", { name: "qlan" }, { wait: 30 });
    expect(del.body.job?.state, JSON.stringify(del.body)).toBe("succeeded");
    expect(await nicQdiscs()).toBe(nicBefore);
    expect((await h.exec(["ip", "link", "show", "dev", lanIfb], { reject: false })).exitCode).not.toBe(0);
  });
});
