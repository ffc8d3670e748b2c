/**
 * IP management benchmark entries (called by bench/run.ts on its sandbox host and worker):
 *  4. assign-static-ip end to end (Prefer: wait) beside a raw
 *     `virsh net-update <net> add ip-dhcp-host "<host .../>" --live --config` of
 *     the same host entry, interleaved, on a network holding 1 and one holding
 *     1,000 reservations;
 *  5. list-network-ips over a network with 1,000 entries: median latency;
 *  4b. configure-network-dhcp (a running network's pool moved) end to end beside raw libvirt's own way,
 *     `virsh net-update delete` + `add ip-dhcp-range --live --config` on a network of the same shape that
 *     netforge does not manage, interleaved.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RoutedNetSpec as NetSpec, parseNetworkXml, renderDhcpHost, renderNetworkXml } from "@netforge/core/model";
import { getNetworkSpec, type Keys, type Redis } from "@netforge/core/store";
import type { SandboxHost } from "@netforge/sandbox";
import { median, ms, p95 } from "./stats";

type Post = (action: string, body: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;

const mac = (i: number) =>
  `52:54:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
const ipOf = (second: number, i: number) => `10.${second}.${10 + Math.floor(i / 250)}.${1 + (i % 250)}`;

/** A network created through the API, then given `n` reservations at once (redefined and restarted), published to the index. */
async function networkWithReservations(
  h: SandboxHost,
  post: Post,
  redis: Redis,
  keys: Keys,
  name: string,
  second: number,
  n: number,
): Promise<void> {
  const c = await post("create-network", { name, type: "nat", cidr: `10.${second}.0.0/16` }, { prefer: "wait=30" });
  if (c.status !== 200) throw new Error(`create ${name}: ${JSON.stringify(c.body)}`);
  const spec = parseNetworkXml((await h.virsh(["net-dumpxml", "--inactive", name])).stdout).spec as NetSpec;
  const full: NetSpec = {
    ...spec,
    reservations: Array.from({ length: n }, (_, i) => ({ mac: mac(i), ip: ipOf(second, i), hostname: null })),
  };
  const file = join(h.dir, `${name}.xml`);
  await writeFile(file, renderNetworkXml(full));
  await h.virsh(["net-define", file]);
  await h.virsh(["net-destroy", name]);
  await h.virsh(["net-start", name]);
  // The worker publishes the spec on its next reconcile (the bench worker runs it every 2 s).
  for (let i = 0; i < 300; i++) {
    if (((await getNetworkSpec(redis, keys, name)) as NetSpec | null)?.reservations.length === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`spec of ${name} with ${n} reservations was not published`);
}

export async function benchIpam(h: SandboxHost, post: Post, redis: Redis, keys: Keys, rounds: number): Promise<string[][]> {
  const rows: string[][] = [];
  const cases = [
    { name: "ipb1", second: 91, existing: 1 },
    { name: "ipb1k", second: 92, existing: 1000 },
  ];
  const medians = new Map<number, number>();
  for (const cs of cases) {
    await networkWithReservations(h, post, redis, keys, cs.name, cs.second, cs.existing);
    const nf: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < rounds + 2; i++) {
      const warm = i < 2;
      const entry = { mac: mac(0x100000 + i), ip: ipOf(cs.second, 1100 + i), hostname: null };
      let t0 = performance.now();
      const a = await post("assign-static-ip", { name: cs.name, mac: entry.mac, ip: entry.ip }, { prefer: "wait=30" });
      if (a.status !== 200) throw new Error(`assign: ${JSON.stringify(a.body)}`);
      if (!warm) nf.push(performance.now() - t0);
      const u = await post("unassign-static-ip", { name: cs.name, mac: entry.mac }, { prefer: "wait=30" });
      if (u.status !== 200) throw new Error(`unassign: ${JSON.stringify(u.body)}`);
      const x = renderDhcpHost(entry);
      t0 = performance.now();
      const r = await h.virsh(["net-update", cs.name, "add", "ip-dhcp-host", x, "--live", "--config"]);
      if (r.exitCode !== 0) throw new Error(r.stderr);
      if (!warm) raw.push(performance.now() - t0);
      await h.virsh(["net-update", cs.name, "delete", "ip-dhcp-host", x, "--live", "--config"]);
    }
    medians.set(cs.existing, median(nf));
    rows.push([
      `assign-static-ip e2e, ${cs.existing} reservation(s) (Prefer: wait)`,
      `${nf.length}`,
      ms(median(nf)),
      ms(p95(nf)),
      `${(median(nf) / median(raw)).toFixed(2)}x raw`,
    ]);
    rows.push([
      `raw virsh net-update add ip-dhcp-host --live --config, ${cs.existing}`,
      `${raw.length}`,
      ms(median(raw)),
      ms(p95(raw)),
      "1.00x",
    ]);
  }
  rows.push([
    "assign-static-ip at 1,000 vs at 1 reservation",
    "",
    "",
    "",
    `${((medians.get(1000) ?? 0) / (medians.get(1) ?? 1)).toFixed(2)}x`,
  ]);

  // 4b. A running network's DHCP pool moved, two ranges in turn; raw libvirt on a foreign twin network.
  {
    const rawXml = `<network><name>ipbraw</name><forward mode='open'/><bridge name='nf-ipbraw' stp='on' delay='0'/>
<ip address='10.93.0.1' prefix='24'><dhcp><range start='10.93.0.100' end='10.93.0.199'/></dhcp></ip></network>`;
    const rawFile = join(h.dir, "ipbraw.xml");
    await writeFile(rawFile, rawXml);
    await h.virsh(["net-define", rawFile]);
    await h.virsh(["net-start", "ipbraw"]);
    const rawRanges = [
      ["10.93.0.100", "10.93.0.199"],
      ["10.93.0.50", "10.93.0.99"],
    ];
    const nfRanges = [
      ["10.91.200.1", "10.91.200.200"],
      ["10.91.201.1", "10.91.201.200"],
    ];
    const nf: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < rounds + 2; i++) {
      const warm = i < 2;
      const [start, end] = nfRanges[i % 2] as [string, string];
      let t0 = performance.now();
      const r = await post("configure-network-dhcp", { name: "ipb1", start, end, leaseTime: 3600 }, { prefer: "wait=30" });
      if (r.status !== 200) throw new Error(`configure-network-dhcp: ${JSON.stringify(r.body)}`);
      if (!warm) nf.push(performance.now() - t0);
      const [oldStart, oldEnd] = rawRanges[i % 2] as [string, string];
      const [newStart, newEnd] = rawRanges[(i + 1) % 2] as [string, string];
      t0 = performance.now();
      for (const [op, s, e] of [
        ["delete", oldStart, oldEnd],
        ["add", newStart, newEnd],
      ] as const) {
        const u = await h.virsh(["net-update", "ipbraw", op, "ip-dhcp-range", `<range start='${s}' end='${e}'/>`, "--live", "--config"]);
        if (u.exitCode !== 0) throw new Error(u.stderr);
      }
      if (!warm) raw.push(performance.now() - t0);
    }
    rows.push([
      "configure-network-dhcp e2e (pool moved, Prefer: wait)",
      `${nf.length}`,
      ms(median(nf)),
      ms(p95(nf)),
      `${(median(nf) / median(raw)).toFixed(2)}x raw`,
    ]);
    rows.push(["raw virsh net-update delete + add ip-dhcp-range --live --config", `${raw.length}`, ms(median(raw)), ms(p95(raw)), "1.00x"]);
    await h.virsh(["net-destroy", "ipbraw"]);
    await h.virsh(["net-undefine", "ipbraw"]);
  }

  // 5. list-network-ips over 1,000 entries (the 1,000 reservations of ipb1k).
  const lat: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t = performance.now();
    const r = await post("list-network-ips", { name: "ipb1k" });
    if (r.status !== 200 || r.body.ips.length < 1000) throw new Error(`list-network-ips returned ${r.body.ips?.length}`);
    if (i >= 10) lat.push(performance.now() - t);
  }
  rows.push(["list-network-ips over 1,000 entries", `${lat.length}`, ms(median(lat)), ms(p95(lat)), ""]);
  for (const cs of cases) await post("delete-network", { name: cs.name }, { prefer: "wait=30" });
  return rows;
}
