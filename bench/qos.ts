/**
 * Bandwidth limits benchmark (BENCH_ONLY=qos; docs/adr/0044-network-qos.md, issue 19's "Speed"):
 *  1. configure-network-qos of a 100-VM set end to end (POST with Prefer: wait until the job succeeded), every
 *     round changing every VM's rate both ways (200 classes and 200 filters replaced, the internal classes too);
 *     with the job's own step timings;
 *  2. forwarding cost: iperf3 TCP goodput of a namespace VM to the host's outside namespace (and back, -R)
 *     with no QoS, and with a network limit and the VM's own limit far above line rate (100 Gbit/s: the
 *     frames pass the port feed, the IFB and the HTB classes but are never held), interleaved;
 *  3. describe-network with traffic counters over 1,000 networks of one host (records and published stats as
 *     the workers write them), from the load generator in its own process (bench/loadgen.ts).
 */
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Keys, putHost, putNetwork, putNetworkStats, type Redis } from "@netforge/core/store";
import { TSX_LOADER } from "@netforge/devstack";
import { createNamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { execa } from "execa";
import { benchNetworkRecord } from "./network-record";
import { median, ms, p95 } from "./stats";

type Post = (action: string, body: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WAIT = { prefer: "wait=30" };
const NET = "qbench";
const MAX = 100_000_000; // kbit/s: 100 Gbit/s, far above what veth carries here

const mac = (i: number) => `52:54:00:5b:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;

/** A 100-VM set whose every rate depends on the round (so each round changes every class). */
function hundred(round: number) {
  return Array.from({ length: 100 }, (_, i) => {
    const kbps = 10_000 + (round % 2) * 1_000 + i;
    return { mac: mac(i), inbound: { averageKbps: kbps }, outbound: { averageKbps: kbps } };
  });
}

/** Gbit/s of a 3 s iperf3 flow (1 s left out) from the VM to the outside, or toward it (-R). */
async function gbit(vm: Awaited<ReturnType<typeof createNamespaceVm>>, h: SandboxHost, reverse: boolean): Promise<number> {
  const args = ["iperf3", "-c", h.outsideAddress, "-p", "5311", "-t", "3", "-O", "1", "-J", ...(reverse ? ["-R"] : [])];
  const r = await vm.exec(args, { timeoutMs: 30_000 });
  return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
}

export async function benchQos(
  h: SandboxHost,
  post: Post,
  redis: Redis,
  keys: Keys,
  rounds: number,
  api: { base: string; token: string },
): Promise<string[][]> {
  const rows: string[][] = [];
  const c = await post("create-network", { name: NET, type: "nat", cidr: "10.151.0.0/24" }, WAIT);
  if (c.body.job?.state !== "succeeded") throw new Error(`create ${NET}: ${JSON.stringify(c.body)}`);
  const bridge = c.body.job.result.bridge.name as string;

  // 1. A 100-VM set changed end to end.
  const e2e: number[] = [];
  const steps = new Map<string, number[]>();
  for (let r = 0; r < rounds + 2; r++) {
    const t0 = performance.now();
    const res = await post("configure-network-qos", { name: NET, network: { inbound: { averageKbps: 5_000_000 } }, vms: hundred(r) }, WAIT);
    const dt = performance.now() - t0;
    if (res.body.job?.state !== "succeeded") throw new Error(`configure-network-qos: ${JSON.stringify(res.body)}`);
    if (r < 2) continue; // the first rounds make the qdiscs and IFBs and warm up
    e2e.push(dt);
    for (const st of res.body.job.progress.steps)
      if (st.startedAt && st.finishedAt)
        steps.set(st.name, [...(steps.get(st.name) ?? []), Date.parse(st.finishedAt) - Date.parse(st.startedAt)]);
  }
  rows.push(["configure-network-qos, 100-VM set changed (each way), end to end", `${e2e.length}`, ms(median(e2e)), ms(p95(e2e)), ""]);
  for (const [k, v] of steps) rows.push([`  job step: ${k}`, `${v.length}`, ms(median(v)), ms(p95(v)), ""]);

  // 2. Forwarding cost: no QoS vs limits far above line rate, interleaved.
  const vm = await createNamespaceVm(h, { name: "qbvm", bridge, mac: "52:54:00:5b:ff:01" });
  try {
    await vm.dhcp({ timeoutMs: 20_000 });
    await h.execOutside(["iperf3", "-s", "-D", "-B", h.outsideAddress, "-p", "5311"]);
    await new Promise((res) => setTimeout(res, 300));
    const limit = { averageKbps: MAX };
    const withQos = {
      name: NET,
      network: { inbound: limit, outbound: limit },
      vms: [{ mac: "52:54:00:5b:ff:01", inbound: limit, outbound: limit }],
    };
    const without = { name: NET, network: null, vms: [] };
    const runs = { offOut: [] as number[], onOut: [] as number[], offIn: [] as number[], onIn: [] as number[] };
    const n = Math.max(3, Math.min(rounds, 10));
    for (let r = 0; r < n; r++) {
      for (const on of [false, true]) {
        const res = await post("configure-network-qos", on ? withQos : without, WAIT);
        if (res.body.job?.state !== "succeeded") throw new Error(`configure-network-qos: ${JSON.stringify(res.body)}`);
        (on ? runs.onOut : runs.offOut).push(await gbit(vm, h, false));
        (on ? runs.onIn : runs.offIn).push(await gbit(vm, h, true));
      }
    }
    const pct = (on: number[], off: number[]) => `${(((median(off) - median(on)) / median(off)) * 100).toFixed(1)}% overhead`;
    const g = (x: number[]) => `${median(x).toFixed(2)} Gbit/s`;
    const lo = (x: number[]) => `${Math.min(...x).toFixed(2)} Gbit/s`;
    rows.push(["iperf3 VM -> outside, no QoS (median; min in p95 column)", `${runs.offOut.length}`, g(runs.offOut), lo(runs.offOut), ""]);
    rows.push([
      "iperf3 VM -> outside, limits at 100 Gbit/s (network + VM)",
      `${runs.onOut.length}`,
      g(runs.onOut),
      lo(runs.onOut),
      pct(runs.onOut, runs.offOut),
    ]);
    rows.push(["iperf3 outside -> VM, no QoS", `${runs.offIn.length}`, g(runs.offIn), lo(runs.offIn), ""]);
    rows.push([
      "iperf3 outside -> VM, limits at 100 Gbit/s (network + VM)",
      `${runs.onIn.length}`,
      g(runs.onIn),
      lo(runs.onIn),
      pct(runs.onIn, runs.offIn),
    ]);
  } finally {
    await vm.destroy().catch(() => undefined);
  }
  await post("delete-network", { name: NET }, WAIT);

  // 3. describe-network with counters over 1,000 networks of one host.
  const now = new Date().toISOString();
  const host = "qos-seeded";
  await putHost(redis, keys, {
    id: host,
    hostname: host,
    libvirtVersion: null,
    interfaces: [],
    occupied: [],
    networks: 1000,
    sriovPfs: [],
    startedAt: now,
    lastSeenAt: new Date(Date.now() + 3600_000).toISOString(),
  });
  for (let i = 0; i < 1000; i++) {
    const name = `d${String(i).padStart(4, "0")}`;
    await putNetwork(
      redis,
      keys,
      benchNetworkRecord({
        name,
        uuid: randomUUID(),
        host,
        cidr: `10.${160 + Math.floor(i / 256)}.${i % 256}.0/24`,
        gateway: `10.${160 + Math.floor(i / 256)}.${i % 256}.1`,
        dhcp: { enabled: true, start: null, end: null, leaseTime: 3600 },
        bridge: `nf-${name}`,
        at: now,
      }),
    );
    await putNetworkStats(redis, keys, name, {
      connectedVms: 3,
      allocatedIps: 3,
      observedAt: now,
      traffic: { bytesIn: 1_000_000_000 + i, bytesOut: 2_000_000_000 + i, packetsIn: 900_000 + i, packetsOut: 1_800_000 + i, since: now },
    });
  }
  const probe = await post("describe-network", { name: "d0500" });
  if (probe.body.network?.stats?.traffic?.bytesIn !== 1_000_000_500)
    throw new Error(`describe-network: no counters: ${JSON.stringify(probe.body)}`);
  for (const client of ["http", "fetch"] as const) {
    const r = await execa(process.execPath, ["--import", TSX_LOADER, join(ROOT, "bench/loadgen.ts")], {
      env: {
        LOAD_URL: `${api.base}/api/describe-network`,
        LOAD_MODE: "latency-post",
        LOAD_BODY: JSON.stringify({ name: "d0500" }),
        LOAD_TOKEN: api.token,
        LOAD_CLIENT: client,
        LOAD_REQUESTS: "2000",
      },
    });
    const out = JSON.parse(r.stdout.trim().split("\n").pop() as string) as { total: number; p50: number; p99: number; non2xx: number };
    if (out.non2xx > 0) throw new Error(`describe-network: ${out.non2xx} answers not 2xx`);
    const ms2 = (x: number) => `${x.toFixed(2)} ms`;
    rows.push([
      `describe-network with counters, 1,000 networks on the host (${client}; p99 in p95 column)`,
      `${out.total}`,
      ms2(out.p50),
      ms2(out.p99),
      "",
    ]);
  }
  return rows;
}
