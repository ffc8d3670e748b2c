/**
 * A chaos client: its own process, issuing random valid and invalid requests against the API processes for a
 * while, and writing every request and its answer to a JSON-lines log the checker reads. Seeded: the same seed and
 * client number make the same choices (the answers, and so the timing, differ from run to run).
 *
 * argv[2]: JSON { client, seed, apis: string[], token, hosts: string[], untilMs, log, pauseMs? }
 */
import { appendFileSync } from "node:fs";
import { type Op, REQUEST_BOUND_MS, type SeenJob, seenJobsFile } from "./history";
import { int, pick, rng } from "./rng";

interface Config {
  client: number;
  seed: number;
  apis: string[];
  token: string;
  hosts: string[];
  untilMs: number;
  log: string;
  pauseMs?: number;
  /** Whether creates include bridge networks (default true). */
  bridges?: boolean;
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as Config;
const r = rng(cfg.seed * 1000 + cfg.client);
/** The job watcher's own choices (which API to ask), apart from the request stream's, so a seed replays the same requests. */
const r2 = rng(cfg.seed * 1000 + cfg.client + 500);
const NAMES = 5;
/** Names are the client's own (no two clients race for one name), a small pool so requests meet existing networks. */
const name = (i: number) => `k${cfg.client}n${i}`;
/** Each name has its own /24 (no subnet conflicts between valid creates), inside 10.<60+client>.0.0/16. */
const cidrOf = (i: number) => `10.${60 + cfg.client}.${i * 4}.0/24`;
const ipOf = (i: number, host: number) => `10.${60 + cfg.client}.${i * 4}.${host}`;
const mac = (n: number) => `52:54:00:${cfg.client.toString(16).padStart(2, "0")}:00:${(n % 256).toString(16).padStart(2, "0")}`;

let seq = 0;

async function send(
  action: string,
  body: unknown,
  o: { network?: string; valid: boolean; idem?: string; retryOf?: number; raw?: string } = { valid: true },
): Promise<Op> {
  const api = pick(r, cfg.apis);
  const headers: Record<string, string> = { authorization: `Bearer ${cfg.token}`, "content-type": "application/json" };
  if (o.idem) headers["idempotency-key"] = o.idem;
  const op: Op = {
    client: cfg.client,
    seq: seq++,
    action,
    ...(o.network ? { network: o.network } : {}),
    dryRun: Boolean((body as { dryRun?: boolean } | null)?.dryRun),
    api,
    body,
    ...(o.idem ? { idempotencyKey: o.idem } : {}),
    ...(o.retryOf !== undefined ? { retryOf: o.retryOf } : {}),
    sentAt: Date.now(),
    ms: 0,
    status: 0,
    valid: o.valid,
  };
  const path = action === "bad-json" ? "create-network" : action;
  try {
    const res = await fetch(`${api}/api/${path}`, {
      method: "POST",
      headers,
      body: o.raw ?? JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_BOUND_MS),
    });
    op.status = res.status;
    const text = await res.text();
    let j: any = null;
    try {
      j = JSON.parse(text);
    } catch {
      op.error = `not JSON: ${text.slice(0, 200)}`;
    }
    const jobId = j?.job?.id ?? j?.error?.details?.jobId;
    if (typeof jobId === "string") op.jobId = jobId;
    if (j?.error) {
      op.code = j.error.code;
      if (j.error.details?.reason) op.reason = String(j.error.details.reason);
      if (res.status >= 500) op.error = String(j.error.message).slice(0, 300);
    }
    if (res.headers.get("idempotent-replayed") === "true") op.replayed = true;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    op.status = e.name === "TimeoutError" ? 0 : -1;
    op.error = `${e.name}: ${e.message} ${e.cause?.code ?? ""}`.trim();
  }
  op.ms = Date.now() - op.sentAt;
  appendFileSync(cfg.log, `${JSON.stringify(op)}\n`);
  if (op.jobId && !op.dryRun && op.status === 202) watching.add(op.jobId);
  return op;
}

/** Jobs this client was given and has not yet seen end. */
const watching = new Set<string>();
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Follows this client's jobs to their end (GET /api/jobs/<id>, as a client polling would) and logs each end it
 * sees. A job whose record is gone (404: a FLUSHALL) is given up; one unanswered is asked again next round.
 */
async function watchJobs(untilMs: number): Promise<void> {
  const file = seenJobsFile(cfg.log);
  while (Date.now() < untilMs && (watching.size > 0 || Date.now() < cfg.untilMs)) {
    for (const id of [...watching]) {
      try {
        const res = await fetch(`${pick(r2, cfg.apis)}/api/jobs/${id}`, {
          headers: { authorization: `Bearer ${cfg.token}` },
          signal: AbortSignal.timeout(5000),
        });
        if (res.status === 404) {
          watching.delete(id);
          continue;
        }
        if (res.status !== 200) continue;
        const j = ((await res.json()) as { job: { state: string; host?: string; createdAt: string; finishedAt?: string | null } }).job;
        if (!TERMINAL.has(j.state)) continue;
        watching.delete(id);
        const seen: SeenJob = {
          client: cfg.client,
          jobId: id,
          state: j.state,
          ...(j.host ? { host: j.host } : {}),
          createdAt: j.createdAt,
          finishedAt: j.finishedAt ?? null,
          seenAt: Date.now(),
        };
        appendFileSync(file, `${JSON.stringify(seen)}\n`);
      } catch {
        /* an API process down or slow: next round */
      }
    }
    await new Promise((res) => setTimeout(res, 300));
  }
}

/** One random request (sometimes repeated with the same Idempotency-Key). */
async function step(): Promise<void> {
  const i = int(r, 0, NAMES - 1);
  const n = name(i);
  const dryRun = r() < 0.1;
  const dr = dryRun ? { dryRun: true } : {};
  const roll = r();
  let action: string;
  let body: Record<string, unknown> | null;
  let valid = true;
  let raw: string | undefined;
  if (roll < 0.28) {
    action = "create-network";
    const t = r();
    const type = t < 0.5 ? "nat" : t < 0.8 || cfg.bridges === false ? "isolated" : "bridge";
    body = {
      name: n,
      type,
      // A bridge network takes the client's own NIC on its host (a second one there is refused: the NIC is taken).
      ...(type === "bridge" ? { interface: `lan${cfg.client}` } : { cidr: cidrOf(i) }),
      ...(r() < 0.5 ? { host: pick(r, cfg.hosts) } : {}),
      ...(r() < 0.15 ? { start: false } : {}),
      ...dr,
    };
  } else if (roll < 0.46) {
    action = "delete-network";
    body = { name: n, ...dr };
  } else if (roll < 0.52) {
    action = "start-network";
    body = { name: n, ...dr };
  } else if (roll < 0.58) {
    action = "stop-network";
    body = { name: n, ...dr };
  } else if (roll < 0.64) {
    action = "configure-network-dhcp";
    const lo = int(r, 100, 150);
    body = {
      name: n,
      start: ipOf(i, lo),
      end: ipOf(i, lo + int(r, 10, 90)),
      ...(r() < 0.5 ? { leaseTime: int(r, 120, 7200) } : {}),
      ...dr,
    };
  } else if (roll < 0.7) {
    action = "assign-static-ip";
    body = { name: n, mac: mac(int(r, 1, 20)), ip: ipOf(i, int(r, 10, 60)), ...dr };
  } else if (roll < 0.74) {
    action = "unassign-static-ip";
    body = { name: n, mac: mac(int(r, 1, 20)), ...dr };
  } else if (roll < 0.81) {
    action = "configure-network-firewall";
    const rules = Array.from({ length: int(r, 0, 4) }, () => ({
      direction: pick(r, ["inbound", "outbound"] as const),
      protocol: pick(r, ["tcp", "udp"] as const),
      ports: String(int(r, 1000, 9000)),
      action: pick(r, ["accept", "drop", "reject"] as const),
    }));
    body = { name: n, defaultInbound: pick(r, ["accept", "drop"]), rules, ...dr };
  } else if (roll < 0.87) {
    action = "configure-network-port-forward";
    const add = r() < 0.7;
    body = {
      name: n,
      action: add ? "add" : "remove",
      protocol: "tcp",
      hostPort: 20000 + cfg.client * 100 + int(r, 0, 9),
      ...(add ? { vmIp: ipOf(i, int(r, 10, 60)), vmPort: int(r, 1, 1000) } : {}),
      ...dr,
    };
  } else {
    // Invalid on purpose: each must be a clear 4xx, never a 500 or a change.
    valid = false;
    const kind = int(r, 0, 5);
    if (kind === 0) {
      action = "create-network";
      body = { name: n, type: "nat", cidr: "10.1.2.3/33" };
    } else if (kind === 1) {
      action = "assign-static-ip";
      body = { name: n, mac: mac(1), ip: "192.0.2.77" };
    } else if (kind === 2) {
      action = "configure-network-port-forward";
      body = { name: n, action: "add", protocol: "tcp", hostPort: 22, vmIp: ipOf(i, 10) };
    } else if (kind === 3) {
      action = "configure-network-firewall";
      body = { name: `k${cfg.client}zz`, rules: [] };
    } else if (kind === 4) {
      action = "create-network";
      body = { name: `${n}_BAD!`, type: "nat", cidr: cidrOf(i) };
    } else {
      action = "bad-json";
      body = null;
      raw = `{"name": "${n}", "type":`;
    }
  }
  const idem = r() < 0.25 ? `c${cfg.client}-${seq}-${Math.floor(r() * 1e9)}` : undefined;
  const first = await send(action, body, { network: n, valid, ...(idem ? { idem } : {}), ...(raw !== undefined ? { raw } : {}) });
  // The same request again with the same key, as a client that lost the answer would: it must name the same job.
  if (idem && r() < 0.6) await send(action, body, { network: n, valid, idem, retryOf: first.seq });
}

async function main(): Promise<void> {
  // Jobs still open at the end are followed for a while longer (the run's settle reads Redis after that).
  const watcher = watchJobs(cfg.untilMs + 20_000);
  while (Date.now() < cfg.untilMs) {
    await step();
    await new Promise((res) => setTimeout(res, cfg.pauseMs ?? int(r, 50, 400)));
  }
  await watcher;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
