/**
 * Overlay networks benchmark (BENCH_ONLY=overlay; docs/adr/0051-overlay-type.md "Benchmarks", issue 17's targets).
 * Eleven sandbox hosts (each its own libvirtd and a real worker, as the e2e tests' hosts) cabled to one fabric
 * namespace (the underlay, 172.31.20.0/24), the API and Redis of bench/run.ts:
 *  1. create-network of a 3-host overlay end to end (POST with Prefer: wait until the job succeeded: every
 *     member's part done) beside create-network of a single-host NAT network on the overlay's gateway host,
 *     interleaved rounds (the order flipped every round); each deleted before the next round. Target: at most
 *     1.5x (the members' parts run at the same time as the gateway's own steps).
 *  2. configure-network-hosts adding an 11th host to a 10-host overlay, end to end, then removing it again,
 *     alternately (the remove is measured too). Target: the add under 300 ms.
 *  3. iperf3 TCP goodput between two namespace VMs (veth pairs plugged into the overlay's bridge, as the e2e tests'
 *     VMs) on two hosts (VXLAN over the fabric), beside a pair on one host's bridge (the same server VM), interleaved.
 * Workers run with reconcile every 30 s (not the default 5 s of the tests): eleven workers' rounds on two cores
 * would otherwise be most of what the measurements see.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { buildOptions, TARGETS } from "../scripts/build";
import { getHost, getJob, hostStatus, type Keys, type Redis } from "@netforge/core/store";
import { spawnWorker, WORKER_JS_ENV, type WorkerProcess } from "@netforge/devstack";
import {
  createFabric,
  createNamespaceVm,
  createSandboxHost,
  destroyFabric,
  destroySandboxHost,
  type Fabric,
  joinFabric,
  type NamespaceVm,
  type SandboxHost,
} from "@netforge/sandbox";
import { median, ms, p95 } from "./stats";

type Post = (action: string, body: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WAIT = { prefer: "wait=60" };
const HOSTS = 11;
const under = (i: number) => `172.31.20.${i + 1}`;

async function waitUntil<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A job's own time (first step's start to its end, as the worker recorded them). */
const jobMs = (job: { startedAt?: string; finishedAt?: string }) =>
  job.startedAt && job.finishedAt ? Date.parse(job.finishedAt) - Date.parse(job.startedAt) : Number.NaN;

async function ok(post: Post, action: string, body: unknown): Promise<{ ms: number; job: any }> {
  let t0 = performance.now();
  let r = await post(action, body, WAIT);
  // On a loaded machine the API's store deadline may pass ("the request was not applied"): sent again, timed anew.
  for (let i = 0; i < 3 && r.status === 503 && r.body.error?.code === "UNAVAILABLE"; i++) {
    process.stderr.write(`bench overlay: ${action} answered 503 UNAVAILABLE (${r.body.error.message}); sent again\n`);
    t0 = performance.now();
    r = await post(action, body, WAIT);
  }
  const dt = performance.now() - t0;
  if (r.status !== 200 || r.body.job?.state !== "succeeded") throw new Error(`${action}: ${r.status} ${JSON.stringify(r.body)}`);
  return { ms: dt, job: r.body.job };
}

/** Each step's duration of a job, by step name (member names folded into <member>). */
function collectSteps(into: Map<string, number[]>, job: any, ids: string[]): void {
  const push = (k: string, v: number) => into.set(k, [...(into.get(k) ?? []), v]);
  let prevEnd: number | null = null;
  let prevName = "";
  for (const st of job.progress?.steps ?? []) {
    if (!st.startedAt || !st.finishedAt) continue;
    let k = String(st.name);
    for (const id of ids) k = k.replaceAll(id, "<member>");
    // Time in no step: between one step's end and the next one's start (what the job does between its steps).
    if (prevEnd !== null && !k.startsWith("host ")) push(`(between ${prevName} and ${k})`, Date.parse(st.startedAt) - prevEnd);
    push(k, Date.parse(st.finishedAt) - Date.parse(st.startedAt));
    prevEnd = Date.parse(st.finishedAt);
    prevName = k;
  }
  if (prevEnd !== null && job.finishedAt) push("(after the last step, to the job's end)", Date.parse(job.finishedAt) - prevEnd);
}
const stepRows = (steps: Map<string, number[]>, label: string) =>
  [...steps].map(([k, v]) => [`  ${label} step: ${k}`, `${v.length}`, ms(median(v)), ms(p95(v)), ""]);

/** Gbit/s of a 3 s iperf3 TCP flow (1 s left out) from `client` to `server` (its iperf3 on `port`). */
async function gbit(client: NamespaceVm, serverIp: string, port: number): Promise<number> {
  const r = await client.exec(["iperf3", "-c", serverIp, "-p", String(port), "-t", "3", "-O", "1", "-J"], { timeoutMs: 30_000 });
  return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
}

export async function benchOverlay(
  post: Post,
  redis: Redis,
  keys: Keys,
  redisUrl: string,
  prefix: string,
  rounds: number,
): Promise<string[][]> {
  const rows: string[][] = [];
  const tag = randomBytes(2).toString("hex");
  const hosts: SandboxHost[] = [];
  const workers: WorkerProcess[] = [];
  const ids = Array.from({ length: HOSTS }, (_, i) => `ob${String(i + 1).padStart(2, "0")}`);
  let fabric: Fabric | undefined;
  const vms: NamespaceVm[] = [];
  const t0 = performance.now();
  // The worker as production runs it (node on the bundle), built once, as the test run does: eleven starts through
  // the TypeScript loader at once would take most of two cores for a minute.
  let buildDir: string | undefined;
  if (!process.env[WORKER_JS_ENV]) {
    buildDir = join(ROOT, ".netforge", `bench-build-${tag}`);
    const target = TARGETS.find((t) => t.entry === "apps/worker/src/index.ts") as (typeof TARGETS)[number];
    await build({ ...buildOptions(target), outfile: join(buildDir, "worker.js"), sourcemap: false, absWorkingDir: ROOT });
    process.env[WORKER_JS_ENV] = join(buildDir, "worker.js");
  }
  try {
    process.stderr.write(`bench overlay: creating ${HOSTS} sandbox hosts on a fabric...\n`);
    fabric = await createFabric(`obf${tag}`);
    // Three at a time: each libvirtd start is mostly waiting on its socket, and two cores are enough for three.
    for (let i = 0; i < HOSTS; i += 3) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(3, HOSTS - i) }, (_, k) =>
          createSandboxHost({ id: `ob${tag}${String(i + k + 1).padStart(2, "0")}` }),
        ),
      );
      hosts.push(...batch);
    }
    for (const [i, h] of hosts.entries()) {
      await joinFabric(fabric, h, { cidr: `${under(i)}/24` });
      workers.push(
        spawnWorker({
          hostId: ids[i] as string,
          redisUrl,
          prefix,
          enter: h.nsenterPrefix,
          env: { LOG_LEVEL: "warn", NETFORGE_UNDERLAY_IP: under(i), NETFORGE_RECONCILE_MS: "30000" },
        }),
      );
    }
    await waitUntil(
      "every worker online with its fabric underlay",
      async () => {
        for (const [i, id] of ids.entries()) {
          const rec = await getHost(redis, keys, id);
          if (!rec || hostStatus(rec) !== "online" || rec.underlay?.ip !== under(i)) return false;
        }
        return true;
      },
      120_000,
    );
    const setupS = (performance.now() - t0) / 1000;
    process.stderr.write(`bench overlay: ${HOSTS} hosts and workers ready in ${setupS.toFixed(1)} s\n`);
    const [h1, h2, h3] = ids as [string, string, string];

    // 1. A 3-host overlay beside a single-host NAT network, interleaved.
    const n1 = Math.max(3, Math.min(rounds, 10));
    const ov: number[] = [];
    const ovJob: number[] = [];
    const nat: number[] = [];
    const natJob: number[] = [];
    const ovSteps = new Map<string, number[]>();
    const natSteps = new Map<string, number[]>();
    for (let r = 0; r < n1 + 1; r++) {
      const warm = r === 0;
      const runOverlay = async () => {
        const c = await ok(post, "create-network", {
          name: `obov${r}`,
          type: "overlay",
          cidr: `10.170.${r}.0/24`,
          hosts: [h1, h2, h3],
          gatewayHost: h1,
        });
        if (!warm) {
          ov.push(c.ms);
          ovJob.push(jobMs(c.job));
          collectSteps(ovSteps, c.job, ids);
        }
      };
      const runNat = async () => {
        const c = await ok(post, "create-network", { name: `obnat${r}`, type: "nat", host: h1, cidr: `10.171.${r}.0/24` });
        if (!warm) {
          nat.push(c.ms);
          natJob.push(jobMs(c.job));
          collectSteps(natSteps, c.job, ids);
        }
      };
      if (r % 2) {
        await runNat();
        await runOverlay();
      } else {
        await runOverlay();
        await runNat();
      }
      await ok(post, "delete-network", { name: `obov${r}` });
      await ok(post, "delete-network", { name: `obnat${r}` });
    }
    rows.push([
      "create-network, 3-host overlay, end to end (Prefer: wait)",
      `${ov.length}`,
      ms(median(ov)),
      ms(p95(ov)),
      `${(median(ov) / median(nat)).toFixed(2)}x nat (target <= 1.5x)`,
    ]);
    rows.push(["create-network, 1-host nat on the gateway host, end to end", `${nat.length}`, ms(median(nat)), ms(p95(nat)), "1.00x"]);
    rows.push([
      "  overlay create job (first step to end)",
      `${ovJob.length}`,
      ms(median(ovJob)),
      ms(p95(ovJob)),
      `${(median(ovJob) / median(natJob)).toFixed(2)}x nat job`,
    ]);
    rows.push(["  nat create job (first step to end)", `${natJob.length}`, ms(median(natJob)), ms(p95(natJob)), ""]);
    rows.push(...stepRows(ovSteps, "overlay"), ...stepRows(natSteps, "nat"));

    // 2. An 11th host added to (and removed from) a 10-host overlay, alternately.
    const ten = ids.slice(0, 10);
    const eleventh = ids[10] as string;
    const big = await ok(post, "create-network", { name: "ob10", type: "overlay", cidr: "10.172.0.0/24", hosts: ten, gatewayHost: h1 });
    rows.push(["create-network, 10-host overlay (once)", "1", ms(big.ms), "", `job ${ms(jobMs(big.job))}`]);
    const n2 = Math.max(3, Math.min(rounds, 10));
    const add: number[] = [];
    const addJob: number[] = [];
    const rem: number[] = [];
    const addSteps = new Map<string, number[]>();
    const remJob: number[] = [];
    // Each member part's own record (its queue wait and its run), read back from Redis after each add.
    const partRun: number[] = [];
    const partQueued: number[] = [];
    const seen = new Set<string>();
    const partsOf = async (job: any, into: boolean) => {
      for (const id of await redis.zrange(keys.networkJobs("ob10"), 0, -1)) {
        if (seen.has(id) || id === job.id) continue;
        seen.add(id);
        const rec = await getJob(redis, keys, id);
        if (!into || !rec?.startedAt || !rec.finishedAt || rec.host === h1) continue;
        partRun.push(Date.parse(rec.finishedAt) - Date.parse(rec.startedAt));
        partQueued.push(Date.parse(rec.startedAt) - Date.parse(rec.createdAt));
      }
    };
    for (let r = 0; r < n2 + 1; r++) {
      const a = await ok(post, "configure-network-hosts", { name: "ob10", add: [eleventh] });
      await partsOf(a.job, r > 0);
      const d = await ok(post, "configure-network-hosts", { name: "ob10", remove: [eleventh] });
      await partsOf(d.job, false);
      if (r === 0) continue;
      add.push(a.ms);
      addJob.push(jobMs(a.job));
      collectSteps(addSteps, a.job, ids);
      rem.push(d.ms);
      remJob.push(jobMs(d.job));
    }
    const addMet = median(add) < 300 ? "met" : "not met";
    rows.push([
      "configure-network-hosts: add an 11th host to a 10-host overlay, end to end",
      `${add.length}`,
      ms(median(add)),
      ms(p95(add)),
      `target < 300 ms: ${addMet}`,
    ]);
    rows.push(["  its job (first step to end)", `${addJob.length}`, ms(median(addJob)), ms(p95(addJob)), ""]);
    rows.push(...stepRows(addSteps, "add"));
    rows.push([
      "  add: a member part's own run (its record: first step to end)",
      `${partRun.length}`,
      ms(median(partRun)),
      ms(p95(partRun)),
      "",
    ]);
    rows.push(["  add: a member part's wait in its host's queue", `${partQueued.length}`, ms(median(partQueued)), ms(p95(partQueued)), ""]);
    rows.push(["configure-network-hosts: remove it again, end to end", `${rem.length}`, ms(median(rem)), ms(p95(rem)), ""]);
    rows.push(["  its job (first step to end)", `${remJob.length}`, ms(median(remJob)), ms(p95(remJob)), ""]);
    await ok(post, "delete-network", { name: "ob10" });

    // 3. iperf3 VM to VM: across two hosts (VXLAN over the fabric) beside the same server VM's neighbour on its bridge.
    const tp = await ok(post, "create-network", {
      name: "obtp",
      type: "overlay",
      cidr: "10.173.0.0/24",
      hosts: [h1, h2, h3],
      gatewayHost: h1,
    });
    const vni = tp.job.result?.overlay?.vni ?? (await post("describe-network", { name: "obtp" })).body.network.overlay.vni;
    const bridge = `nfov${vni}`;
    const [, hB, hC] = hosts as [SandboxHost, SandboxHost, SandboxHost];
    const mk = async (h: SandboxHost, name: string, ip: string) => {
      const vm = await createNamespaceVm(h, { name, bridge });
      vms.push(vm);
      // Static addresses (no DHCP round trip) at the overlay's MTU, as the gateway's DHCP would give it.
      await vm.exec(["ip", "link", "set", "eth0", "mtu", "1450"]);
      await vm.exec(["ip", "addr", "add", `${ip}/24`, "dev", "eth0"]);
      return vm;
    };
    const remote = await mk(hB, "obtpa", "10.173.0.11"); // client on host 2
    const server = await mk(hC, "obtpb", "10.173.0.12"); // server on host 3
    const local = await mk(hC, "obtpc", "10.173.0.13"); // client beside the server on host 3
    for (const v of [remote, local]) {
      const p = await v.exec(["busybox", "ping", "-c", "2", "-W", "2", "10.173.0.12"], { reject: false });
      if (p.exitCode !== 0) throw new Error(`ping from ${v.name}: ${p.stdout}${p.stderr}`);
    }
    // Known unicast goes to the one member with the MAC once every member wrote the others' entries (about a second);
    // without them the flow is flooded to every member (head-end replication), which is not the steady state measured.
    await waitUntil(
      "unicast entries for both VMs across hosts",
      async () => {
        const b = (await hB.exec(["bridge", "fdb", "show", "dev", `nfvx${vni}`])).stdout;
        const c = (await hC.exec(["bridge", "fdb", "show", "dev", `nfvx${vni}`])).stdout;
        return b.includes(`${server.mac} dst ${under(2)}`) && c.includes(`${remote.mac} dst ${under(1)}`);
      },
      15_000,
    );
    await server.exec(["iperf3", "-s", "-D", "-B", "10.173.0.12", "-p", "5321"]);
    await new Promise((r) => setTimeout(r, 300));
    const across: number[] = [];
    const same: number[] = [];
    const n3 = Math.max(3, Math.min(rounds, 5));
    for (let r = 0; r < n3; r++) {
      across.push(await gbit(remote, "10.173.0.12", 5321));
      same.push(await gbit(local, "10.173.0.12", 5321));
    }
    const g = (x: number[]) => `${median(x).toFixed(2)} Gbit/s`;
    const lo = (x: number[]) => `${Math.min(...x).toFixed(2)} Gbit/s`;
    rows.push([
      "iperf3 TCP VM -> VM across two hosts (VXLAN; median, min in p95 column)",
      `${across.length}`,
      g(across),
      lo(across),
      `${(median(across) / median(same)).toFixed(2)}x one host`,
    ]);
    rows.push(["iperf3 TCP VM -> VM on one host's bridge (the same server VM)", `${same.length}`, g(same), lo(same), "1.00x"]);
    for (const v of vms.splice(0)) await v.destroy();
    await ok(post, "delete-network", { name: "obtp" });
    rows.push(["(setup: 11 sandbox hosts, fabric, workers online)", "1", `${setupS.toFixed(1)} s`, "", ""]);
  } finally {
    for (const v of vms) await v.destroy().catch(() => undefined);
    for (const w of workers) await w.stop().catch(() => undefined);
    for (const h of hosts) await destroySandboxHost(h).catch((e: unknown) => process.stderr.write(`cleanup ${h.id}: ${e}\n`));
    if (fabric) await destroyFabric(fabric);
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
    process.stderr.write(`bench overlay: ${((performance.now() - t0) / 1000).toFixed(1)} s in all\n`);
  }
  return rows;
}
