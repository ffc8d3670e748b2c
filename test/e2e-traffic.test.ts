/**
 * Traffic counters end to end on a sandbox host (docs/adr/0044-network-qos.md, "Traffic counters"): a known
 * amount (5 MiB over TCP, python) from a namespace VM to the host's outside namespace and back; the network's counters in
 * describe-network (stats.traffic) and the VM's in list-network-ips grow by at least that and by less than 1.2x (nft counts IP packets: headers and the reverse flow's ACKs are in); a firewall change and a whole
 * re-render of the table (a second network), a stop and start of the network and a worker restart keep the
 * counts; the /metrics series exist. Under the e2e lock.
 */
import { createNamespaceVm, type NamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";
import { COUNTED_CLIENT_PY, startCountedServer } from "./support/traffic";

let c: Cluster;
let h: SandboxHost;
let vm: NamespaceVm;
let vmIp: string;
let serverPid = "";

const MAC = "52:54:00:88:00:0a";
const BRIDGE = "nf-trafnet";
const AMOUNT = 5 * 1024 * 1024;

interface Traffic {
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  since?: string;
  peers?: Record<"outside" | "network", Omit<Traffic, "since" | "peers">> & { since?: string };
}
const ZERO: Traffic = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "traf" }], label: "traf", workerEnv: { NETFORGE_HEARTBEAT_MS: "500" } });
  h = c.hosts.get("traf") as SandboxHost;
  const r = await c.call("create-network", { name: "trafnet", type: "nat", cidr: "10.88.0.0/24" }, { wait: 30 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  vm = await createNamespaceVm(h, { name: "trafa", bridge: BRIDGE, mac: MAC });
  vmIp = (await vm.dhcp({ timeoutMs: 20_000 })).ip;
  serverPid = await startCountedServer(h.execOutside, "0.0.0.0", 5301, AMOUNT);
  await waitFor("the outside's TCP peer", async () => (await h.execOutside(["ss", "-Hltn", "sport = :5301"])).stdout.includes("5301"));
}, 60_000);
afterAll(async () => {
  // The peer started here, by its pid (a process keeps a deleted namespace alive).
  if (serverPid) await h.execOutside(["kill", serverPid], { reject: false }).catch(() => undefined);
  await vm?.destroy().catch(() => undefined);
  await c?.stop();
});

const networkTraffic = async (name = "trafnet"): Promise<Traffic> =>
  ((await c.call("describe-network", { name })).body.network.stats.traffic as Traffic | undefined) ?? ZERO;
const vmTraffic = async (): Promise<Traffic> => {
  const ips = (await c.call("list-network-ips", { name: "trafnet" })).body.ips as { mac: string; traffic?: Traffic }[];
  return ips.find((r) => r.mac === MAC)?.traffic ?? ZERO;
};

/** Send AMOUNT bytes of TCP payload from the VM to the outside (outbound) or back (inbound); all of it arrives. */
async function transfer(dir: "inbound" | "outbound"): Promise<number> {
  const r = await vm.exec(["python3", "-c", COUNTED_CLIENT_PY, h.outsideAddress, "5301", dir, String(AMOUNT)], { timeoutMs: 20_000 });
  expect(Number(r.stdout.trim())).toBe(AMOUNT);
  return AMOUNT;
}

/** Wait until `read` shows `field` grown by at least `amount` over `base` (published with the worker's heartbeat). */
const grown = (read: () => Promise<Traffic>, base: Traffic, field: "bytesIn" | "bytesOut", amount: number) =>
  waitFor(`${field} grown by ${amount}`, async () => {
    const t = await read();
    return t[field] - base[field] >= amount ? t : null;
  });

describe("traffic counters of a nat network", () => {
  it("counts a known amount each way, per network and per VM, within 1.2x", async () => {
    for (const [dir, field] of [
      ["outbound", "bytesOut"],
      ["inbound", "bytesIn"],
    ] as const) {
      const net0 = await networkTraffic();
      const vm0 = await vmTraffic();
      const received = await transfer(dir);
      const net1 = await grown(networkTraffic, net0, field, received);
      const vm1 = await grown(vmTraffic, vm0, field, received);
      const netDelta = net1[field] - net0[field];
      const vmDelta = vm1[field] - vm0[field];
      console.log(`${dir} ${received} bytes of TCP payload: network +${netDelta} bytes, VM +${vmDelta} bytes`);
      expect(netDelta).toBeLessThan(AMOUNT * 1.2);
      expect(vmDelta).toBeLessThan(AMOUNT * 1.2);
      expect(net1.packetsIn + net1.packetsOut).toBeGreaterThan(net0.packetsIn + net0.packetsOut);
    }
    const t = await networkTraffic();
    expect(Date.parse(t.since as string)).toBeGreaterThan(Date.now() - 10 * 60_000);
    // The kernel's counters are in netforge's table.
    const listed = (await h.exec(["nft", "list", "counter", "inet", "netforge", "trafnet-traffic-out"])).stdout;
    expect(listed).toMatch(/packets \d+ bytes \d+/);
    expect(vmIp).toMatch(/^10\.88\.0\./);
  });

  it("keeps the counts across a firewall change, a whole re-render of the table, a network restart and a worker restart", async () => {
    const before = await networkTraffic();
    const vmBefore = await vmTraffic();
    const fw = await c.call(
      "configure-network-firewall",
      {
        name: "trafnet",
        defaultInbound: "drop",
        defaultOutbound: "accept",
        rules: [{ direction: "inbound", protocol: "tcp", ports: "22", action: "accept" }],
      },
      { wait: 30 },
    );
    expect(fw.body.job?.state, JSON.stringify(fw.body)).toBe("succeeded");
    // A second network: the whole table is rendered again (the counters carried over from the kernel's).
    const other = await c.call("create-network", { name: "trafnet2", type: "isolated", cidr: "10.89.0.0/24" }, { wait: 30 });
    expect(other.body.job?.state, JSON.stringify(other.body)).toBe("succeeded");
    // A stop and start of the network: its rules leave the table and come back, its counters stay.
    await vm.detach();
    for (const a of ["stop-network", "start-network"]) {
      const r = await c.call(a, { name: "trafnet" }, { wait: 30 });
      expect(r.body.job?.state, `${a} ${JSON.stringify(r.body)}`).toBe("succeeded");
    }
    const restarted = Date.now();
    await c.startWorker("traf");
    // Stats published by the new worker (its first whole table read the kernel's counters and carried them over).
    await waitFor("stats of the restarted worker", async () => {
      const at = (await c.call("describe-network", { name: "trafnet" })).body.network.stats.observedAt as string | null;
      return at !== null && Date.parse(at) > restarted;
    });
    const after = await networkTraffic();
    // The VM's row as the restarted worker publishes it. Once under CI's load (two lanes) its row read right after
    // the stats above showed 0 bytes in while the network's totals had kept theirs; the cause was not found (ADR
    // 0044 "Sixth round", noticed): waited for here, up to 15 s, and the wait is printed.
    const rowWait = Date.now();
    const vmAfter = await waitFor(
      "the VM's row with its kept counts",
      async () => {
        const t = await vmTraffic();
        return t.bytesIn >= vmBefore.bytesIn && t.bytesOut >= vmBefore.bytesOut ? t : null;
      },
      15_000,
      200,
    ).catch(() => vmTraffic());
    console.info(`the VM's row had its kept counts ${Date.now() - rowWait} ms after the restarted worker's stats`);
    for (const k of ["bytesIn", "bytesOut", "packetsIn", "packetsOut"] as const) {
      expect(after[k], k).toBeGreaterThanOrEqual(before[k]);
      expect(vmAfter[k], `VM ${k}`).toBeGreaterThanOrEqual(vmBefore[k]);
    }
    expect(after.since).toBe(before.since);
    // The split by peer the same way (the VM's outbound amount was with the outside).
    expect(before.peers?.outside.bytesOut).toBeGreaterThanOrEqual(AMOUNT);
    for (const p of ["outside", "network"] as const)
      for (const k of ["bytesIn", "bytesOut", "packetsIn", "packetsOut"] as const) {
        expect(after.peers?.[p][k], `${p} ${k}`).toBeGreaterThanOrEqual(before.peers?.[p][k] ?? Number.POSITIVE_INFINITY);
        expect(vmAfter.peers?.[p][k], `VM ${p} ${k}`).toBeGreaterThanOrEqual(vmBefore.peers?.[p][k] ?? Number.POSITIVE_INFINITY);
      }
    expect(after.peers?.since).toBe(before.peers?.since);
    const kernel = (await h.exec(["nft", "list", "counter", "inet", "netforge", "trafnet-traffic-out"])).stdout;
    expect(Number(/bytes (\d+)/.exec(kernel)?.[1])).toBeGreaterThanOrEqual(before.bytesOut);
    // The new network has counters of its own from its start.
    await waitFor("trafnet2's counters", async () => (await networkTraffic("trafnet2")).since !== undefined);
  });

  it("/metrics has the per-network series, by direction", async () => {
    const t = await networkTraffic();
    const m = await c.get("/metrics");
    expect(m.status).toBe(200);
    const value = (metric: string, direction: string) => {
      const line = (m.body as string).split("\n").find((l) => l.startsWith(`${metric}{network="trafnet",direction="${direction}"}`));
      return line ? Number(line.split(" ").pop()) : null;
    };
    expect(value("netforge_network_bytes_total", "out")).toBeGreaterThanOrEqual(t.bytesOut);
    expect(value("netforge_network_bytes_total", "in")).toBeGreaterThanOrEqual(t.bytesIn);
    expect(t.bytesIn).toBeGreaterThanOrEqual(AMOUNT);
    expect(value("netforge_network_packets_total", "out")).toBeGreaterThan(0);
    expect(value("netforge_network_packets_total", "in")).toBeGreaterThanOrEqual(t.packetsIn > 0 ? 1 : 0);
  });
});
