/**
 * The checker: after the faults stopped and the cluster settled, reads the hosts with its own virsh/ip/nft calls
 * (never through netforge), Redis with its own connection, and the clients' logs, and counts each invariant.
 */
import { readFileSync } from "node:fs";
import { getJob, isTerminal, type JobRecord, openHostQueue, sweepClaims } from "@netforge/core/store";
import { netnsPids, pidComm, type SandboxHost } from "@netforge/sandbox";
import type { ChaosEnv } from "./env";
import { TOKEN } from "./env";
import { type Op, type SeenJob, seenJobsFile } from "./history";
import type { DoneFault } from "./nemesis";

const NETFORGE_XMLNS = "https://netforge.dev/xmlns/network/1";

export interface Invariant {
  name: string;
  /** What was counted (shown on the line). */
  counts: Record<string, number>;
  violations: string[];
}

export interface HostNet {
  name: string;
  host: string;
  active: boolean;
  type: string;
  bridge: string | null;
}

interface HostView {
  id: string;
  nets: HostNet[];
  bridges: string[];
  /** The host's "physical" NICs (lan0..) and the bridge each is enslaved to. */
  nics: { ifname: string; master: string | null }[];
  /** dnsmasq processes: pid -> network (from its --conf-file). */
  dnsmasq: { pid: number; network: string }[];
  /** Networks with chains in `table inet netforge` (`<name>-in`); null: no such table. */
  chains: Set<string> | null;
  /** Rules per chain of netforge's table. */
  ruleCount: Map<string, number>;
  /** Each chain of netforge's table as `nft list table` prints it: its rule lines, trimmed. */
  chainLines: Map<string, string[]>;
  /** Elements of the IPv4 tcp forward map: "hostPort>vmIp:vmPort". */
  forwards: Set<string>;
  /** Live XML of each running network. */
  liveXml: Map<string, string>;
}

async function readHost(id: string, h: SandboxHost): Promise<HostView> {
  const names = (await h.virsh(["net-list", "--all", "--name"])).stdout
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);
  const active = new Set(
    (await h.virsh(["net-list", "--name"])).stdout
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const nets: HostNet[] = [];
  const liveXml = new Map<string, string>();
  for (const name of names) {
    const x = await h.virsh(["net-dumpxml", "--inactive", name], { reject: false });
    if (x.exitCode !== 0 || !x.stdout.includes(NETFORGE_XMLNS)) continue;
    const type = /<nf:type>([a-z]+)<\/nf:type>/.exec(x.stdout)?.[1] ?? "?";
    const live = active.has(name) ? (await h.virsh(["net-dumpxml", name], { reject: false })).stdout : x.stdout;
    const bridge = /<bridge name='([^']+)'/.exec(live)?.[1] ?? null;
    if (active.has(name)) liveXml.set(name, live);
    nets.push({ name, host: id, active: active.has(name), type, bridge });
  }
  const links = JSON.parse((await h.exec(["ip", "-j", "link", "show", "type", "bridge"])).stdout || "[]") as { ifname: string }[];
  const all = JSON.parse((await h.exec(["ip", "-j", "link", "show"])).stdout || "[]") as { ifname: string; master?: string }[];
  const nics = all.filter((l) => /^lan\d+$/.test(l.ifname)).map((l) => ({ ifname: l.ifname, master: l.master ?? null }));
  const pids = await netnsPids(h.netns);
  const dnsmasq: HostView["dnsmasq"] = [];
  for (const pid of pids) {
    try {
      if (pidComm(pid) !== "dnsmasq") continue;
      const conf = readFileSync(`/proc/${pid}/cmdline`, "utf8")
        .split("\0")
        .find((a) => a.startsWith("--conf-file="));
      const network = /\/([^/]+)\.conf$/.exec(conf ?? "")?.[1] ?? "?";
      dnsmasq.push({ pid, network });
    } catch {
      /* exited meanwhile */
    }
  }
  const t = await h.exec(["nft", "-j", "list", "table", "inet", "netforge"], { reject: false });
  let chains: Set<string> | null = null;
  const ruleCount = new Map<string, number>();
  const forwards = new Set<string>();
  if (t.exitCode === 0) {
    chains = new Set();
    for (const o of (JSON.parse(t.stdout) as { nftables: Record<string, any>[] }).nftables) {
      const c = o.chain?.name as string | undefined;
      const m = c ? /^(.+)-in$/.exec(c) : null;
      if (m?.[1]) chains.add(m[1]);
      if (o.rule) ruleCount.set(o.rule.chain, (ruleCount.get(o.rule.chain) ?? 0) + 1);
      if (o.map?.name === "fwd-tcp")
        for (const e of (o.map.elem ?? []) as [number, { concat: [string, number] }][])
          forwards.add(`${e[0]}>${e[1].concat[0]}:${e[1].concat[1]}`);
    }
  }
  const chainLines = new Map<string, string[]>();
  const text = await h.exec(["nft", "list", "table", "inet", "netforge"], { reject: false });
  if (text.exitCode === 0)
    for (const m of text.stdout.matchAll(/^\tchain (\S+) \{\n([\s\S]*?)\n\t\}/gm))
      chainLines.set(
        m[1] as string,
        (m[2] as string)
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l && !l.startsWith("type ")),
      );
  return { id, nets, bridges: links.map((l) => l.ifname), nics, dnsmasq, chains, ruleCount, chainLines, forwards, liveXml };
}

async function api(env: ChaosEnv, action: string, body: unknown): Promise<any> {
  const base = env.apis.find((a) => a.proc)?.base;
  const res = await fetch(`${base}/api/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const j = (await res.json()) as any;
  if (res.status !== 200) throw new Error(`${action}: ${res.status} ${JSON.stringify(j)}`);
  return j;
}

export interface IndexedNet {
  name: string;
  host: string;
  state: string;
  type: string;
}

export async function readIndex(env: ChaosEnv): Promise<IndexedNet[]> {
  const out: IndexedNet[] = [];
  let cursor: string | null = null;
  do {
    const j: any = await api(env, "list-networks", { limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...(j.networks as IndexedNet[]));
    cursor = j.nextCursor;
  } while (cursor);
  return out;
}

export function readHistory(files: string[]): Op[] {
  const ops: Op[] = [];
  for (const f of files) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const l of text.split("\n")) if (l.trim()) ops.push(JSON.parse(l) as Op);
  }
  return ops.sort((a, b) => a.sentAt - b.sentAt);
}

/** Jobs' ends as their clients saw them, by job id (the first end seen). */
export function readSeenJobs(files: string[]): Map<string, SeenJob> {
  const out = new Map<string, SeenJob>();
  for (const f of files) {
    let text = "";
    try {
      text = readFileSync(seenJobsFile(f), "utf8");
    } catch {
      continue;
    }
    for (const l of text.split("\n")) {
      if (!l.trim()) continue;
      const j = JSON.parse(l) as SeenJob;
      if (!out.has(j.jobId)) out.set(j.jobId, j);
    }
  }
  return out;
}

/** What the checker knows of each job's end (filled by check), shown in histories. */
const jobEnds = new Map<string, string>();

const show = (o: Op) =>
  `${o.jobId && jobEnds.has(o.jobId) ? `[${jobEnds.get(o.jobId)}] ` : ""}c${o.client}#${o.seq} ${new Date(o.sentAt).toISOString().slice(11, 23)} ${o.action}${o.dryRun ? " (dry run)" : ""} ${JSON.stringify(o.body)} -> ${o.status}${o.code ? ` ${o.code}` : ""}${o.jobId ? ` job ${o.jobId}` : ""}${o.error ? ` (${o.error})` : ""} [${o.ms} ms]`;

/** Ops on a name, for a violation's history. */
const historyOf = (ops: Op[], name: string) =>
  ops
    .filter((o) => o.network === name)
    .map((o) => `      ${show(o)}`)
    .join("\n");

/** What BullMQ holds for a job (its state there, attempts, timestamps) and the network lock: for a stuck job's report. */
async function queueView(env: ChaosEnv, rec: JobRecord): Promise<string> {
  const q = openHostQueue(env.redis, env.keys, rec.host);
  try {
    const j = await q.getJob(rec.id);
    const lock = await env.redis.get(env.keys.networkLock(rec.network));
    const lockTtl = await env.redis.pttl(env.keys.networkLock(rec.network));
    if (!j) return `BullMQ: no such job in host-${rec.host}; network lock ${lock ? `held (ttl ${lockTtl} ms)` : "free"}`;
    const state = await j.getState();
    const counts = await q.getJobCounts();
    return `BullMQ: state ${state}, attemptsMade ${j.attemptsMade}/${j.opts.attempts}, delay ${j.opts.delay ?? 0}, timestamp ${new Date(j.timestamp).toISOString()}, processedOn ${j.processedOn ? new Date(j.processedOn).toISOString() : "-"}, finishedOn ${j.finishedOn ? new Date(j.finishedOn).toISOString() : "-"}, failedReason ${JSON.stringify(j.failedReason ?? null)}; queue ${JSON.stringify(counts)}; network lock ${lock ? `held (ttl ${lockTtl} ms)` : "free"}`;
  } catch (err) {
    return `BullMQ: could not read (${(err as Error).message})`;
  } finally {
    await q.close().catch(() => undefined);
  }
}

interface SpecRule {
  direction: string;
  protocol: string;
  ports: string | null;
  action: string;
}

/**
 * What the clients' firewall rules (tcp/udp, one port, no addresses) must look like in `nft list`: the checker's own
 * reading of ADR 0023, not the renderer's code. Accept is `return` outbound (the target's inbound rules still apply),
 * a TCP reject is a reset.
 */
export function expectedRuleLines(fw: { rules: SpecRule[]; defaultInbound: string; defaultOutbound: string }): {
  inbound: string[];
  outbound: string[];
} {
  const line = (r: SpecRule, accept: string) => {
    const v = r.action === "accept" ? accept : r.action === "drop" ? "drop" : r.protocol === "tcp" ? "reject with tcp reset" : "reject";
    return `${r.protocol} dport ${r.ports} ${v}`;
  };
  const dflt = (a: string, accept: string) => (a === "accept" ? accept : a === "drop" ? "drop" : "reject");
  return {
    inbound: [...fw.rules.filter((r) => r.direction === "inbound").map((r) => line(r, "accept")), dflt(fw.defaultInbound, "accept")],
    outbound: [...fw.rules.filter((r) => r.direction === "outbound").map((r) => line(r, "return")), dflt(fw.defaultOutbound, "return")],
  };
}

export async function check(env: ChaosEnv, ops: Op[], faults: DoneFault[], seen: Map<string, SeenJob> = new Map()): Promise<Invariant[]> {
  const inv: Invariant[] = [];
  const flushes = faults.filter((f) => f.kind === "redis-flushall").map((f) => f.startedAt);
  const lastFlush = Math.max(0, ...flushes);

  // 1. Every request answered 2xx/4xx/503, never a 500, never a hang.
  {
    const v: string[] = [];
    const c = { requests: ops.length, "2xx": 0, "4xx": 0, "503": 0, "connection refused/reset (API process down)": 0, hang: 0, other: 0 };
    for (const o of ops) {
      if (o.status >= 200 && o.status < 300) c["2xx"]++;
      else if (o.status >= 400 && o.status < 500) c["4xx"]++;
      else if (o.status === 503) c["503"]++;
      else if (o.status === -1) c["connection refused/reset (API process down)"]++;
      else if (o.status === 0) {
        c.hang++;
        v.push(`no answer within the bound: ${show(o)}`);
      } else {
        c.other++;
        v.push(`answered ${o.status}: ${show(o)}`);
      }
    }
    inv.push({ name: "answers: 2xx/4xx/503 only, no hang", counts: c, violations: v });
  }

  // 2. Invalid requests: a clear 4xx, never accepted.
  {
    const bad = ops.filter((o) => !o.valid);
    const v = bad.filter((o) => o.status >= 200 && o.status < 300).map((o) => `invalid request accepted: ${show(o)}`);
    inv.push({
      name: "invalid requests refused with 4xx",
      counts: { invalid: bad.length, "4xx": bad.filter((o) => o.status >= 400 && o.status < 500).length },
      violations: v,
    });
  }

  // 3. Idempotent retries name the first request's job.
  {
    const bySeq = new Map(ops.map((o) => [`${o.client}/${o.seq}`, o]));
    const retries = ops.filter((o) => o.retryOf !== undefined);
    const v: string[] = [];
    let same = 0;
    for (const r of retries) {
      const first = bySeq.get(`${r.client}/${r.retryOf}`);
      if (!first?.jobId || !r.jobId || r.status >= 300) continue;
      if (first.jobId === r.jobId) same++;
      else if (!(first.sentAt < lastFlush && r.sentAt > first.sentAt))
        v.push(`retry got another job:\n      ${show(first)}\n      ${show(r)}`);
    }
    inv.push({ name: "idempotent retries answer the same job", counts: { retries: retries.length, "same job": same }, violations: v });
  }

  // 4. Every accepted job terminal, or lost only to a FLUSHALL after it was sent.
  const jobs = new Map<string, JobRecord | null>();
  {
    const accepted = ops.filter((o) => o.jobId && !o.dryRun);
    const v: string[] = [];
    const c = {
      accepted: 0,
      succeeded: 0,
      failed: 0,
      "ended, seen by its client, record lost to a FLUSHALL": 0,
      "lost to a FLUSHALL": 0,
      "not confirmed (503 with a job id), not taken": 0,
      unfinished: 0,
      "lost otherwise": 0,
    };
    for (const o of accepted) {
      const id = o.jobId as string;
      if (jobs.has(id)) continue;
      c.accepted++;
      const rec = await getJob(env.redis, env.keys, id);
      const saw = seen.get(id);
      if (!rec && saw && flushes.some((t) => t >= o.sentAt)) {
        // Its end is known from its client: judge its effect by it (a synthetic record of what the client saw).
        c["ended, seen by its client, record lost to a FLUSHALL"]++;
        jobs.set(id, {
          id,
          state: saw.state,
          host: saw.host,
          createdAt: saw.createdAt,
          finishedAt: saw.finishedAt,
        } as unknown as JobRecord);
        continue;
      }
      jobs.set(id, rec);
      // A 503 that carries a job id ("not confirmed on a replica: GET /api/jobs/<id> tells") is in doubt: gone is
      // its allowed outcome (it did not survive); present, it must end like any accepted job.
      if (!rec && o.status !== 202) {
        c["not confirmed (503 with a job id), not taken"]++;
        continue;
      }
      if (rec && saw && saw.state !== rec.state) {
        v.push(`job ${id}: its client saw it end ${saw.state}, its record says ${rec.state}: ${show(o)}`);
        continue;
      }
      if (!rec) {
        if (flushes.some((t) => t >= o.sentAt)) c["lost to a FLUSHALL"]++;
        else {
          c["lost otherwise"]++;
          v.push(`job lost without a FLUSHALL after it: ${show(o)}\n${historyOf(ops, o.network ?? "")}`);
        }
      } else if (!isTerminal(rec.state)) {
        c.unfinished++;
        v.push(
          `job not terminal after the settle time (${rec.state}, step ${rec.progress.step}): ${show(o)}\n      ${await queueView(env, rec)}\n${historyOf(ops, o.network ?? "")}`,
        );
      } else if (rec.state === "succeeded") c.succeeded++;
      else c.failed++;
    }
    inv.push({ name: "accepted jobs terminal (or lost to a FLUSHALL)", counts: c, violations: v });
  }

  for (const [id, rec] of jobs)
    jobEnds.set(
      id,
      rec
        ? `${rec.state}${rec.finishedAt ? ` ${rec.finishedAt.slice(11, 23)}` : ""}${seen.has(id) && !rec.progress ? " (seen by client)" : ""}`
        : "lost",
    );

  // Hosts, read directly.
  const views: HostView[] = [];
  for (const id of env.hostIds) views.push(await readHost(id, env.hosts.get(id) as SandboxHost));
  const onHosts = views.flatMap((h) => h.nets);
  const index = await readIndex(env);
  const hostsAnswer: any = await api(env, "list-hosts", {});
  const conflicts = new Set<string>();
  for (const h of hostsAnswer.hosts as { id: string; nameConflicts?: { network: string }[] }[])
    for (const c of h.nameConflicts ?? []) conflicts.add(`${c.network}@${h.id}`);

  // 5. No effect applied twice: a network exists once.
  {
    const by = new Map<string, HostNet[]>();
    for (const n of onHosts) by.set(n.name, [...(by.get(n.name) ?? []), n]);
    const v: string[] = [];
    let reported = 0;
    for (const [name, ns] of by) {
      if (ns.length < 2) continue;
      if (ns.some((n) => conflicts.has(`${name}@${n.host}`))) reported++;
      else v.push(`${name} exists on ${ns.map((n) => n.host).join(", ")}, no conflict reported\n${historyOf(ops, name)}`);
    }
    inv.push({ name: "each network exists once", counts: { networks: by.size, "reported conflicts": reported }, violations: v });
  }

  // 6. Index == hosts.
  {
    const v: string[] = [];
    const hostSet = new Map(onHosts.map((n) => [`${n.name}@${n.host}`, n]));
    const idxSet = new Map(index.map((n) => [`${n.name}@${n.host}`, n]));
    let stateMismatch = 0;
    for (const [k, n] of idxSet) {
      const h = hostSet.get(k);
      if (!h) v.push(`indexed but not on its host: ${k}\n${historyOf(ops, n.name)}`);
      else if ((n.state === "active") !== h.active) {
        stateMismatch++;
        v.push(`${k}: index says ${n.state}, host says ${h.active ? "active" : "inactive"}\n${historyOf(ops, n.name)}`);
      }
    }
    for (const [k, n] of hostSet)
      if (!idxSet.has(k) && !conflicts.has(k)) v.push(`on its host but not indexed: ${k}\n${historyOf(ops, n.name)}`);
    inv.push({
      name: "index equals hosts",
      counts: {
        indexed: index.length,
        "on hosts": onHosts.length,
        "of them bridge networks": onHosts.filter((n) => n.type === "bridge").length,
        "state mismatches": stateMismatch,
      },
      violations: v,
    });
  }

  // 6b. The live configuration is the spec's: DHCP range and reservations in libvirt's live XML, the firewall's
  //     inbound rules and default in the network's chain, port forwards in the forward map (none left over).
  {
    const v: string[] = [];
    const c = { "networks compared": 0, reservations: 0, "firewall rules": 0, forwards: 0 };
    const wantForwards = new Map<string, Set<string>>(env.hostIds.map((h) => [h, new Set<string>()]));
    for (const n of index) {
      const h = views.find((x) => x.id === n.host);
      const xml = h?.liveXml.get(n.name);
      if (!h || !xml || n.state !== "active" || (n.type !== "nat" && n.type !== "isolated")) continue;
      let d: any;
      try {
        d = (await api(env, "describe-network", { name: n.name })).network;
      } catch {
        continue;
      }
      if (d.host !== n.host) continue;
      c["networks compared"]++;
      const range = /<range start='([^']+)' end='([^']+)'/.exec(xml);
      if (d.dhcp?.enabled && (range?.[1] !== d.dhcp.start || range?.[2] !== d.dhcp.end))
        v.push(
          `${n.name}@${n.host}: DHCP range ${range?.[1]}-${range?.[2]} live, ${d.dhcp.start}-${d.dhcp.end} in the spec\n${historyOf(ops, n.name)}`,
        );
      const live = new Set([...xml.matchAll(/<host mac='([^']+)'[^>]*ip='([^']+)'/g)].map((m) => `${m[1]}=${m[2]}`));
      const spec = new Set((d.reservations as { mac: string; ip: string }[]).map((r) => `${r.mac}=${r.ip}`));
      c.reservations += spec.size;
      if (live.size !== spec.size || [...spec].some((x) => !live.has(x)))
        v.push(`${n.name}@${n.host}: reservations live [${[...live].join(" ")}], spec [${[...spec].join(" ")}]\n${historyOf(ops, n.name)}`);
      c["firewall rules"] += d.firewall.rules.length;
      // The rules as nft lists them, against what the spec's rules must render to (the clients' rules are one
      // protocol and one port each): the inbound rules + the inbound default in `<name>-in-rules`, the outbound
      // ones + the outbound default at the end of `<name>-out`, after its fixed head.
      const want = expectedRuleLines(d.firewall);
      const gotIn = h.chainLines.get(`${n.name}-in-rules`) ?? [];
      if (gotIn.join("\n") !== want.inbound.join("\n"))
        v.push(
          `${n.name}@${n.host}: ${n.name}-in-rules is [${gotIn.join("; ")}], the spec renders [${want.inbound.join("; ")}]\n${historyOf(ops, n.name)}`,
        );
      const out = h.chainLines.get(`${n.name}-out`) ?? [];
      const tail = out.slice(out.indexOf("ct state established,related return") + 1);
      if (tail.join("\n") !== want.outbound.join("\n"))
        v.push(
          `${n.name}@${n.host}: ${n.name}-out ends [${tail.join("; ")}], the spec renders [${want.outbound.join("; ")}]\n${historyOf(ops, n.name)}`,
        );
      if (n.type === "nat")
        for (const f of d.portForwards as { protocol: string; hostPort: number; vmIp: string; vmPort: number }[])
          if (f.protocol === "tcp") {
            c.forwards++;
            wantForwards.get(n.host)?.add(`${f.hostPort}>${f.vmIp}:${f.vmPort}`);
          }
    }
    for (const h of views) {
      const want = wantForwards.get(h.id) ?? new Set<string>();
      for (const f of want) if (!h.forwards.has(f)) v.push(`${h.id}: forward ${f} in a spec, not in the forward map`);
      for (const f of h.forwards) if (!want.has(f)) v.push(`${h.id}: forward map element ${f} that no running network's spec has`);
    }
    inv.push({ name: "live configuration equals the spec", counts: c, violations: v });
  }

  // 7. No orphans on hosts; every running nat/isolated network has its DHCP server and its firewall chains.
  {
    const v: string[] = [];
    const c = { bridges: 0, "NICs in bridge networks": 0, dnsmasq: 0, "firewall chains": 0 };
    for (const h of views) {
      // A stopped bridge network keeps its bridge and NIC (ADR 0021): its bridge is in use while it is defined.
      const bridgesInUse = new Set(h.nets.filter((n) => (n.active || n.type === "bridge") && n.bridge).map((n) => n.bridge));
      const bridgeNets = new Set(h.nets.filter((n) => n.type === "bridge" && n.bridge).map((n) => n.bridge));
      for (const nic of h.nics) {
        if (nic.master === null) continue;
        c["NICs in bridge networks"]++;
        if (!bridgeNets.has(nic.master))
          v.push(`${h.id}: NIC ${nic.ifname} enslaved to ${nic.master}, which no bridge network of the host has`);
      }
      for (const b of h.bridges.filter((b) => b.startsWith("nf-"))) {
        c.bridges++;
        if (!bridgesInUse.has(b)) v.push(`${h.id}: bridge ${b} without a running network`);
      }
      const activeL3 = h.nets.filter((n) => n.active && (n.type === "nat" || n.type === "isolated"));
      const activeNames = new Set(h.nets.filter((n) => n.active).map((n) => n.name));
      for (const d of h.dnsmasq) {
        c.dnsmasq++;
        if (!activeNames.has(d.network)) v.push(`${h.id}: dnsmasq ${d.pid} of ${d.network}, which is not running`);
      }
      for (const n of activeL3) {
        if (!h.dnsmasq.some((d) => d.network === n.name)) v.push(`${h.id}: ${n.name} runs without its dnsmasq\n${historyOf(ops, n.name)}`);
        if (!h.chains?.has(n.name)) v.push(`${h.id}: ${n.name} runs without its firewall chains\n${historyOf(ops, n.name)}`);
      }
      for (const name of h.chains ?? []) {
        c["firewall chains"]++;
        if (!activeL3.some((n) => n.name === name)) v.push(`${h.id}: firewall chains of ${name}, which is not running there`);
      }
    }
    inv.push({ name: "no orphans on hosts; running networks whole", counts: c, violations: v });
  }

  // 8. No orphans in Redis: claims without networks (after the sweeper's pass), locks, jobs without expiry.
  {
    const v: string[] = [];
    const indexed = new Set(index.map((n) => n.name));
    const claims = Object.keys(await env.redis.hgetall(env.keys.claimedNames));
    const unheld = claims.filter((n) => !indexed.has(n));
    // The sweeper's rules with no grace: what it would release once its grace passed.
    const released = await sweepClaims(env.redis, env.keys, { graceMs: 0, offlineHostGraceMs: 15_000 });
    const still = unheld.filter((n) => !released.includes(n));
    for (const n of still) v.push(`claim ${n} without a network, not released by the sweeper\n${historyOf(ops, n)}`);
    const scan = async (glob: string) => {
      const out: string[] = [];
      let cur = "0";
      do {
        const [next, batch] = await env.redis.scan(cur, "MATCH", glob, "COUNT", 1000);
        cur = next;
        out.push(...batch);
      } while (cur !== "0");
      return out;
    };
    const locks = await scan(`${env.prefix}:lock:*`);
    for (const k of locks) if ((await env.redis.pttl(k)) < 0) v.push(`lock ${k} without expiry`);
    const jobKeys = (await scan(`${env.prefix}:job:*`)).filter((k) => !k.endsWith(":lock"));
    let noTtl = 0;
    for (const k of jobKeys)
      if ((await env.redis.pttl(k)) === -1) {
        noTtl++;
        v.push(`job ${k} without expiry`);
      }
    inv.push({
      name: "no orphans in Redis",
      counts: {
        claims: claims.length,
        "claims without a network": unheld.length,
        "released by the sweeper": released.length,
        locks: locks.length,
        jobs: jobKeys.length,
        "jobs without expiry": noTtl,
      },
      violations: v,
    });
  }

  // 9. The clients' record agrees with the final state: the last create/delete that succeeded decides whether a
  //    name exists, unless a request in doubt (lost job, unanswered, 503 with a job id) came after it.
  // 10. A 503 (or any refusal) never took effect: a name that exists had an accepted or in-doubt create.
  {
    const v: string[] = [];
    const v503: string[] = [];
    const c = { names: 0, decided: 0, "in doubt": 0, "changes compared": 0, "kept by another host": 0 };
    const c503 = { "503 answers": ops.filter((o) => o.status === 503).length, "names existing": 0 };
    const names = [...new Set(ops.filter((o) => o.network && /^k\d+n\d+$/.test(o.network)).map((o) => o.network as string))];
    const exists = new Set(onHosts.map((n) => n.name));
    for (const name of names) {
      c.names++;
      const mine = ops.filter((o) => o.network === name && !o.dryRun && o.valid);
      const lifecycle = mine.filter((o) => o.action === "create-network" || o.action === "delete-network");
      let last: { op: Op; rec: JobRecord } | null = null;
      for (const o of lifecycle) {
        const rec = o.jobId ? jobs.get(o.jobId) : null;
        if (rec?.state === "succeeded" && (!last || Date.parse(rec.finishedAt ?? "") > Date.parse(last.rec.finishedAt ?? "")))
          last = { op: o, rec };
      }
      const inDoubt = lifecycle.filter((o) => {
        if (last && o.sentAt < Date.parse(last.rec.createdAt)) return false;
        if (o.status === -1 || o.status === 0) return true;
        if (o.jobId) {
          const rec = jobs.get(o.jobId);
          return !rec || !isTerminal(rec.state);
        }
        return false;
      });
      if (exists.has(name)) {
        c503["names existing"]++;
        const creates = mine.filter((o) => o.action === "create-network" && (o.jobId || o.status === -1 || o.status === 0));
        if (creates.length === 0) v503.push(`${name} exists, but no create of it was accepted\n${historyOf(ops, name)}`);
      }
      if (inDoubt.length > 0 || !last) {
        if (inDoubt.length > 0) c["in doubt"]++;
        else if (exists.has(name) && !mine.some((o) => o.action === "create-network" && (o.jobId || o.status <= 0)))
          v.push(`${name} exists with no create accepted\n${historyOf(ops, name)}`);
        continue;
      }
      c.decided++;
      const want = last.op.action === "create-network";
      // A delete removes the instance on its job's host; a host that was away when the name was taken again keeps
      // its own instance and takes the name back once the other is gone (ADR 0047): another network, not this one.
      const hostOfLast = (last.rec as { host?: string }).host;
      if (!want && hostOfLast && exists.has(name) && !onHosts.some((n) => n.name === name && n.host === hostOfLast)) {
        c["kept by another host"]++;
        continue;
      }
      // A FLUSHALL after the deciding job: its effect is on the host (found by the re-publish), so the same rule holds.
      if (want !== exists.has(name))
        v.push(
          `${name}: last succeeded ${last.op.action} (${last.rec.id}, finished ${last.rec.finishedAt}) but the network ${exists.has(name) ? "exists" : "does not exist"}\n${historyOf(ops, name)}`,
        );
    }
    // A change acknowledged as succeeded is what the spec holds now: the last succeeded firewall set and DHCP range
    // of a name (after its last succeeded create), unless a change of the same kind in doubt came after it.
    const lastOk = (name: string, action: string) => {
      let best: { op: Op; rec: JobRecord } | null = null;
      for (const o of ops.filter((x) => x.network === name && x.action === action && !x.dryRun && x.jobId)) {
        const rec = jobs.get(o.jobId as string);
        if (rec?.state === "succeeded" && (!best || Date.parse(rec.finishedAt ?? "") > Date.parse(best.rec.finishedAt ?? "")))
          best = { op: o, rec };
      }
      return best;
    };
    const doubtAfter = (name: string, action: string, since: number) =>
      ops.some((o) => {
        if (o.network !== name || o.action !== action || o.dryRun || o.sentAt < since) return false;
        if (o.status === -1 || o.status === 0) return true;
        if (!o.jobId) return false;
        const rec = jobs.get(o.jobId);
        return !rec || !isTerminal(rec.state);
      });
    for (const n of index) {
      if (n.type !== "nat" && n.type !== "isolated") continue;
      // The network as it is now began with its last succeeded create or delete: a change before that is gone.
      const lifecycle = [lastOk(n.name, "create-network"), lastOk(n.name, "delete-network")]
        .map((x) => Date.parse(x?.rec.finishedAt ?? ""))
        .filter((t) => !Number.isNaN(t));
      const began = Math.max(0, ...lifecycle);
      for (const action of ["configure-network-firewall", "configure-network-dhcp"]) {
        const last = lastOk(n.name, action);
        if (!last) continue;
        if (began > Date.parse(last.rec.finishedAt ?? "")) continue;
        // A create or delete after the change that is in doubt (or any that succeeded: the create's check above)
        // may have replaced the network and its spec: not judged.
        const since = Date.parse(last.rec.createdAt);
        if (
          doubtAfter(n.name, action, since) ||
          doubtAfter(n.name, "create-network", since) ||
          doubtAfter(n.name, "delete-network", since)
        ) {
          c["in doubt"]++;
          continue;
        }
        let d: any;
        try {
          d = (await api(env, "describe-network", { name: n.name })).network;
        } catch {
          continue;
        }
        c["changes compared"]++;
        const b = last.op.body as any;
        const same =
          action === "configure-network-firewall"
            ? JSON.stringify(
                (d.firewall.rules as any[]).map((r) => [r.direction, r.protocol, r.ports, r.action]).concat([[d.firewall.defaultInbound]]),
              ) === JSON.stringify((b.rules as any[]).map((r) => [r.direction, r.protocol, r.ports, r.action]).concat([[b.defaultInbound]]))
            : d.dhcp?.start === b.start && d.dhcp?.end === b.end && (b.leaseTime === undefined || d.dhcp?.leaseTime === b.leaseTime);
        if (!same)
          v.push(
            `${n.name}: last succeeded ${action} (${last.rec.id}, finished ${last.rec.finishedAt}) is not what describe shows (${JSON.stringify(action === "configure-network-firewall" ? d.firewall : d.dhcp)})\n${historyOf(ops, n.name)}`,
          );
      }
    }
    inv.push({ name: "acknowledged results visible in the final state", counts: c, violations: v });
    inv.push({ name: "refused requests (503/4xx) took no effect", counts: c503, violations: v503 });
  }
  return inv;
}
