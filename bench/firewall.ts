/**
 * Firewall benchmark entries (BENCH_ONLY=firewall, or as part of the full run):
 *  6. create-network and delete-network end to end (Prefer: wait) beside raw
 *     `virsh net-define + net-start + net-autostart` and `net-destroy +
 *     net-undefine` of a libvirt NAT network (<forward mode='nat'/>, libvirt's
 *     own iptables rules) with the same addressing, interleaved;
 *  7. one more port forward (add, Prefer: wait) on a host holding 1, 100 and
 *     1,000 forwards, and a real TCP connection through the 1,000th forward;
 *  8. replacing a 100-rule firewall (Prefer: wait).
 */
import { writeFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { parseNetworkXml, type RoutedNetSpec, renderNetworkXml } from "@netforge/core/model";
import { getNetworkSpec, type Keys, type Redis } from "@netforge/core/store";
import { createNamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { dhcpListening, median, ms, p95 } from "./stats";

type Post = (action: string, body: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;

const WAIT = { prefer: "wait=30" };

/** Where a job's time went: queueing before its first step, each step (from the job's own timings). */
const stepTimes = new Map<string, number[]>();
function recordSteps(label: string, job: any, sentAt?: number): void {
  const push = (k: string, v: number) => stepTimes.set(`${label}: ${k}`, [...(stepTimes.get(`${label}: ${k}`) ?? []), v]);
  // The API's part before the job exists (auth, validation, claims, commit), and after it ended (the waiting
  // request learning of it and answering), in wall-clock ms of this machine (one clock: same host).
  if (sentAt !== undefined) push("request sent -> queued", Date.parse(job.createdAt) - sentAt);
  push("queued -> first step", Date.parse(job.progress.steps[0].startedAt) - Date.parse(job.createdAt));
  for (const st of job.progress.steps)
    if (st.startedAt && st.finishedAt) push(st.name, Date.parse(st.finishedAt) - Date.parse(st.startedAt));
  push("last step -> finished", Date.parse(job.finishedAt) - Date.parse(job.progress.steps.at(-1).finishedAt));
  if (sentAt !== undefined) push("finished -> answer received", Date.now() - Date.parse(job.finishedAt));
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export async function benchFirewall(h: SandboxHost, post: Post, redis: Redis, keys: Keys, rounds: number): Promise<string[][]> {
  const rows: string[][] = [];
  // 6. create/delete vs a raw libvirt NAT network.
  const nfCreate: number[] = [];
  const nfDelete: number[] = [];
  const rawCreate: number[] = [];
  const rawDelete: number[] = [];
  for (let i = 0; i < rounds + 2; i++) {
    const warm = i < 2;
    const name = `fr${i}`;
    const spec: RoutedNetSpec = {
      type: "nat",
      name,
      uuid: randomUUID(),
      description: "",
      createdAt: new Date().toISOString(),
      bridge: `nf-${name}`,
      cidr: `10.${60 + (i % 20)}.${i}.0/24`,
      gateway: `10.${60 + (i % 20)}.${i}.1`,
      dhcp: { enabled: true, start: `10.${60 + (i % 20)}.${i}.128`, end: `10.${60 + (i % 20)}.${i}.254`, leaseTime: 3600 },
      reservations: [],
    };
    // libvirt's own NAT (what netforge defined before it owned the rules).
    const xml = renderNetworkXml(spec).replace("<forward mode='open'/>", "<forward mode='nat'/>");
    const file = join(h.dir, `${name}.xml`);
    await writeFile(file, xml);
    const rc = await timed(async () => {
      const r = await h.virsh([`net-define ${file} ; net-start ${name} ; net-autostart ${name}`]);
      if (r.exitCode !== 0) throw new Error(r.stderr);
      await dhcpListening(h, `nf-${name}`); // netforge's create ends with proof that DHCP answers: so does this
    });
    const rd = await timed(async () => {
      const r = await h.virsh([`net-destroy ${name} ; net-undefine ${name}`]);
      if (r.exitCode !== 0) throw new Error(r.stderr);
    });
    const nname = `fn${i}`;
    const cidr = `10.${80 + (i % 20)}.${i}.0/24`;
    let created = 0;
    const nc = await timed(async () => {
      const c = await post("create-network", { name: nname, type: "nat", cidr }, WAIT);
      if (c.status !== 200) throw new Error(`create: ${JSON.stringify(c.body)}`);
      created = 1;
    });
    const nd = await timed(async () => {
      const d = await post("delete-network", { name: nname }, WAIT);
      if (d.status !== 200) throw new Error(`delete: ${JSON.stringify(d.body)}`);
    });
    if (!warm && created) {
      rawCreate.push(rc);
      rawDelete.push(rd);
      nfCreate.push(nc);
      nfDelete.push(nd);
    }
  }
  rows.push([
    "create-network e2e, nft-owned rules (Prefer: wait)",
    `${nfCreate.length}`,
    ms(median(nfCreate)),
    ms(p95(nfCreate)),
    `${(median(nfCreate) / median(rawCreate)).toFixed(2)}x raw`,
  ]);
  rows.push([
    "raw virsh define+start+autostart + DHCP check, libvirt NAT",
    `${rawCreate.length}`,
    ms(median(rawCreate)),
    ms(p95(rawCreate)),
    "1.00x",
  ]);
  rows.push([
    "delete-network e2e (Prefer: wait)",
    `${nfDelete.length}`,
    ms(median(nfDelete)),
    ms(p95(nfDelete)),
    `${(median(nfDelete) / median(rawDelete)).toFixed(2)}x raw`,
  ]);
  rows.push(["raw virsh destroy+undefine, libvirt NAT", `${rawDelete.length}`, ms(median(rawDelete)), ms(p95(rawDelete)), "1.00x"]);

  // 7. one more forward at 1, 100, 1,000 forwards on the host, all into a real VM service.
  const c = await post("create-network", { name: "fwd", type: "nat", cidr: "10.99.0.0/16" }, WAIT);
  if (c.status !== 200) throw new Error(`create fwd: ${JSON.stringify(c.body)}`);
  const vm = await createNamespaceVm(h, { name: "fwdvm", bridge: c.body.job.result.bridge.name });
  const vmIp = (await vm.dhcp()).ip;
  const svc = join(h.dir, "bench-svc.py");
  await writeFile(
    svc,
    'import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 7000)); s.listen(64)\nwhile True:\n    c,a=s.accept(); c.sendall(b"ok\\n"); c.close()\n',
  );
  await vm.exec(["sh", "-c", `python3 ${svc} >/dev/null 2>&1 &`]);
  const perLevel = new Map<number, number[]>();
  for (const n of [1, 100, 1000]) {
    // n forwards at once: the spec redefined (the worker's reconcile applies the table, every 2 s here).
    const spec = parseNetworkXml((await h.virsh(["net-dumpxml", "--inactive", "fwd"])).stdout).spec as RoutedNetSpec;
    const forwards = Array.from({ length: n }, (_, k) => ({ protocol: "tcp" as const, hostPort: 20000 + k, vmIp, vmPort: 7000 }));
    const file = join(h.dir, "fwd.xml");
    await writeFile(file, renderNetworkXml({ ...spec, portForwards: forwards }));
    await h.virsh(["net-define", file]);
    for (let i = 0; i < 300; i++) {
      const table = (await h.exec(["nft", "list", "map", "inet", "netforge", "fwd-tcp"], { reject: false })).stdout;
      if (
        ((await getNetworkSpec(redis, keys, "fwd")) as RoutedNetSpec | null)?.portForwards?.length === n &&
        table.includes(`${20000 + n - 1} :`)
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const lat: number[] = [];
    for (let i = 0; i < rounds + 2; i++) {
      const port = 40000 + i;
      const t = await timed(async () => {
        const sentAt = Date.now();
        const r = await post("configure-network-port-forward", { name: "fwd", protocol: "tcp", hostPort: port, vmIp, vmPort: 7000 }, WAIT);
        if (r.status !== 200) throw new Error(`forward: ${JSON.stringify(r.body)}`);
        if (i >= 2) recordSteps(`  forward at ${n}`, r.body.job, sentAt);
      });
      if (i >= 2) lat.push(t);
      const rm = await post("configure-network-port-forward", { name: "fwd", action: "remove", protocol: "tcp", hostPort: port }, WAIT);
      if (rm.status !== 200) throw new Error(`remove: ${JSON.stringify(rm.body)}`);
    }
    perLevel.set(n, lat);
    const last = 20000 + n - 1;
    const got = await h.execOutside(
      [
        "python3",
        "-c",
        `import socket; print(socket.create_connection(("${h.hostAddress}", ${last}), timeout=3).recv(8).decode().strip())`,
      ],
      {
        reject: false,
        timeoutMs: 5000,
      },
    );
    if (got.stdout.trim() !== "ok") throw new Error(`forward ${last} at ${n} forwards did not reach the VM: ${got.stderr}`);
    rows.push([
      `one more port forward e2e at ${n} forward(s) (TCP through #${n}: ok)`,
      `${lat.length}`,
      ms(median(lat)),
      ms(p95(lat)),
      n === 1 ? "" : `${(median(lat) / median(perLevel.get(1) ?? lat)).toFixed(2)}x the 1 case`,
    ]);
  }
  await vm.destroy();

  // 8. replacing a 100-rule firewall (two rule sets alternate, so every call changes all of it).
  const ruleSet = (k: number) =>
    Array.from({ length: 100 }, (_, j) => ({
      direction: j % 2 ? "inbound" : "outbound",
      protocol: "tcp",
      source: `10.${(j + k) % 250}.0.0/16`,
      ports: `${1000 + j + k}`,
      action: j % 3 ? "accept" : "reject",
    }));
  const fw: number[] = [];
  for (let i = 0; i < rounds + 2; i++) {
    const t = await timed(async () => {
      const sentAt = Date.now();
      const r = await post("configure-network-firewall", { name: "fwd", defaultInbound: "drop", rules: ruleSet(i % 2) }, WAIT);
      if (r.status !== 200) throw new Error(`firewall: ${JSON.stringify(r.body)}`);
      if (i >= 2) recordSteps("  100-rule firewall", r.body.job, sentAt);
    });
    if (i >= 2) fw.push(t);
  }
  rows.push(["replace a 100-rule firewall e2e (Prefer: wait)", `${fw.length}`, ms(median(fw)), ms(p95(fw)), ""]);
  for (const [k, v] of stepTimes) rows.push([k, `${v.length}`, ms(median(v)), ms(p95(v)), ""]);
  await post("delete-network", { name: "fwd" }, WAIT);
  return rows;
}
