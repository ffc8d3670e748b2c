/**
 * `netforge plan -f FILE`, `netforge apply -f FILE` and `netforge export` (docs/adr/0043): read the desired
 * state (fleet.ts), read the cluster (describe-network per network, list-networks for --prune), diff per
 * network, show each request's dry run (the exact commands), then run the requests: a network's in sequence,
 * each sent with If-Match (the version read at plan time, +1 per job since), different networks in parallel,
 * with each job's steps printed live as lines prefixed by the network. Loaded only by these commands.
 */
import { readFileSync } from "node:fs";
import type { ApiClient } from "./client";
import { actionAt } from "./command-table";
import { CliError, EXIT } from "./exit-codes";
import {
  exportFleet,
  type Fleet,
  type NetworkPlan,
  type NetworkView,
  parseFleet,
  planNetwork,
  type PlannedRequest,
  prunePlans,
} from "./fleet";
import { formatElapsed } from "./job-progress";
import { followJob, isTerminalState, type JobViewLike } from "./job-stream";
import type { Io } from "./program";
import { type Format, loadYaml, renderSteps, serialize, shellQuote } from "./render";

const VERSION_CONFLICT = "PRECONDITION_FAILED";

/** Read and validate a desired-state file (YAML or JSON; "-": stdin); every problem with its path, exit 2. */
export async function loadFleet(io: Io, path: string): Promise<Fleet> {
  let text: string;
  try {
    text = path === "-" ? io.readStdin() : readFileSync(path, "utf8");
  } catch (err) {
    throw new CliError(`-f ${path}: ${(err as Error).message}`, EXIT.VALIDATION);
  }
  const m = (await import("yaml")) as typeof import("yaml") & { default?: typeof import("yaml") };
  const yaml = typeof m.parseDocument === "function" ? m : (m.default as typeof import("yaml"));
  const doc = yaml.parseDocument(text);
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `  - ${e.message.split("\n")[0]}`);
    throw new CliError(`${path} is not valid YAML or JSON:\n${lines.join("\n")}`, EXIT.VALIDATION);
  }
  const r = parseFleet(doc.toJS());
  if (!r.ok) {
    const lines = r.issues.map((i) => `  - ${i.path || "(file)"}: ${i.message}`);
    throw new CliError(`${path} is invalid (nothing was read or changed):\n${lines.join("\n")}`, EXIT.VALIDATION, {
      code: "VALIDATION_FAILED",
      message: `${path} is invalid`,
      details: { file: path, issues: r.issues },
    });
  }
  return r.fleet;
}

/** describe-network, or null for a network that does not exist. */
async function describe(client: ApiClient, name: string): Promise<NetworkView | null> {
  try {
    return (await client.action(actionAt("network", "describe"), { name })).body.network as NetworkView;
  } catch (err) {
    if (err instanceof CliError && err.apiError?.code === "NOT_FOUND") return null;
    throw err;
  }
}

/** Every network's list row (all pages). */
async function listAll(client: ApiClient, filter: Record<string, unknown> = {}): Promise<NetworkView[]> {
  const out: NetworkView[] = [];
  let cursor: string | null = null;
  do {
    const body: Record<string, unknown> = { ...filter, limit: 1000, ...(cursor ? { cursor } : {}) };
    const res = await client.action(actionAt("network", "list"), body);
    out.push(...(res.body.networks as NetworkView[]));
    cursor = res.body.nextCursor as string | null;
  } while (cursor);
  return out;
}

/** Run `fn` over `items`, at most `limit` at a time. */
async function inParallel<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return out;
}

/** A planned request with what its dry run answered (or why there is none). */
interface ShownRequest extends PlannedRequest {
  action: string;
  plan?: { steps: Record<string, unknown>[]; warnings?: string[]; planHash?: string };
  error?: { code: string; message: string; details: Record<string, unknown> };
}
type ShownPlan = NetworkPlan & { shown: ShownRequest[] };

const ifMatchOf = (p: NetworkPlan): Record<string, string> => ("version" in p ? { "if-match": `"${p.version}"` } : {});

/** The plan of every network of the file (and, with `prune`, the networks to prune), each request dry-run. */
export async function computePlan(
  client: ApiClient,
  fleet: Fleet,
  opts: { prune: boolean; parallel: number },
): Promise<{ plans: ShownPlan[]; pruneCandidates: number }> {
  const views = await inParallel(fleet.networks, opts.parallel, (d) => describe(client, d.name));
  const plans: NetworkPlan[] = fleet.networks.map((d, i) => planNetwork(d, views[i] ?? null));
  const stale = prunePlans(fleet, await listAll(client));
  if (opts.prune) plans.push(...stale);
  const shown = await inParallel(plans, opts.parallel, async (p): Promise<ShownPlan> => {
    if (p.kind === "none") return { ...p, shown: [] };
    const out: ShownRequest[] = [];
    for (const r of p.requests) {
      const action = actionAt(...r.command);
      if (r.afterCreate) {
        out.push({ ...r, action });
        continue;
      }
      try {
        const res = await client.action(action, { ...r.body, dryRun: true }, { headers: ifMatchOf(p) });
        out.push({ ...r, action, plan: res.body.plan });
      } catch (err) {
        if (!(err instanceof CliError) || !err.apiError) throw err;
        out.push({ ...r, action, error: err.apiError });
      }
    }
    return { ...p, shown: out };
  });
  return { plans: shown, pruneCandidates: stale.length };
}

const HEADLINE: Record<NetworkPlan["kind"], string> = {
  none: "No changes",
  create: "create",
  update: "update",
  replace: "REPLACE (delete, then create again: VMs lose the network meanwhile)",
  prune: "PRUNE (delete: managed by this file, no longer listed)",
};

/** The plan as people read it: per network, each request and the exact commands its dry run showed. */
export function renderPlan(
  plans: ShownPlan[],
  opts: { allowReplace: boolean; prune: boolean; pruneCandidates: number; fleet: string },
): string {
  const lines: string[] = [];
  for (const p of plans) {
    const n = p.kind === "none" ? 0 : p.requests.length;
    lines.push(`network ${p.name}: ${HEADLINE[p.kind]}${n > 0 ? ` (${n} change${n === 1 ? "" : "s"})` : ""}`);
    if (p.kind === "replace") {
      for (const r of p.reasons) lines.push(`  because ${r}`);
      if (!opts.allowReplace) lines.push("  (apply runs a replacement only with --allow-replace)");
    }
    p.shown.forEach((r, i) => {
      lines.push(`  [${i + 1}] netforge ${r.command.join(" ")} ${p.name}: ${r.summary}`);
      if (r.error) lines.push(`      refused: ${r.error.code}: ${r.error.message}`);
      else if (r.plan) {
        lines.push(renderSteps(r.plan.steps).replace(/^/gm, "    "));
        for (const w of r.plan.warnings ?? []) lines.push(`      warning: ${w}`);
      } else lines.push(`      (its commands are planned once the network exists) request: ${JSON.stringify(r.body)}`);
    });
  }
  const changes = plans.reduce((s, p) => s + (p.kind === "none" ? 0 : p.requests.length), 0);
  if (changes === 0) lines.push(`No changes: the cluster matches the file (${opts.fleet}).`);
  else lines.push(`Plan: ${changes} change(s) to ${plans.filter((p) => p.kind !== "none").length} network(s).`);
  if (!opts.prune && opts.pruneCandidates > 0) {
    lines.push(`(${opts.pruneCandidates} network(s) managed by ${opts.fleet} are no longer in the file: --prune deletes them)`);
  }
  return lines.join("\n");
}

/** The plan as programs read it. */
function planDocument(fleet: Fleet, plans: ShownPlan[]): Record<string, unknown> {
  return {
    fleet: fleet.name,
    changes: plans.reduce((s, p) => s + (p.kind === "none" ? 0 : p.requests.length), 0),
    networks: plans.map((p) => ({
      name: p.name,
      kind: p.kind,
      ...("version" in p ? { version: p.version } : {}),
      ...(p.kind === "replace" ? { reasons: p.reasons } : {}),
      requests: p.shown.map((r) => ({ action: r.action, body: r.body, summary: r.summary, plan: r.plan ?? null, error: r.error ?? null })),
    })),
  };
}

const refusedCode = (plans: ShownPlan[]): number | null => {
  const e = plans.flatMap((p) => p.shown).find((r) => r.error);
  if (!e?.error) return null;
  return e.error.code === VERSION_CONFLICT ? EXIT.CONFLICT : e.error.code === "VALIDATION_FAILED" ? EXIT.VALIDATION : EXIT.CONFLICT;
};

export interface PlanOptions {
  prune: boolean;
  allowReplace: boolean;
  parallel: number;
}

/** `netforge plan -f FILE`: the exit code (0 also with changes; a request a dry run refused: its class). */
export async function runPlan(io: Io, client: ApiClient, format: Format, fleet: Fleet, o: PlanOptions): Promise<number> {
  const { plans, pruneCandidates } = await computePlan(client, fleet, o);
  if (format === "table") io.out(renderPlan(plans, { ...o, pruneCandidates, fleet: fleet.name }));
  else io.out(serialize(format, planDocument(fleet, plans)));
  return refusedCode(plans) ?? EXIT.OK;
}

/** What running one network's requests came to. */
interface NetworkOutcome {
  name: string;
  applied: number;
  /** The exit code of its failure, or null. */
  failed: number | null;
  conflict: boolean;
  detachedJob?: string;
}

/** `netforge apply -f FILE`: plan, ask, run; the exit code. */
export async function runApply(
  io: Io,
  client: ApiClient,
  format: Format,
  fleet: Fleet,
  o: PlanOptions & { yes: boolean },
): Promise<number> {
  const { plans, pruneCandidates } = await computePlan(client, fleet, o);
  const say = (t: string) => (format === "table" ? io.out(t) : io.err(t));
  say(renderPlan(plans, { ...o, pruneCandidates, fleet: fleet.name }));
  const refused = refusedCode(plans);
  if (refused !== null) {
    io.err("apply: the dry runs above refused a change; nothing was applied");
    return refused;
  }
  const replacing = plans.filter((p) => p.kind === "replace");
  if (replacing.length > 0 && !o.allowReplace) {
    io.err(
      `apply: ${replacing.map((p) => p.name).join(", ")} must be replaced (type, host, cidr or another field no change can reach); nothing was applied: run again with --allow-replace`,
    );
    return EXIT.VALIDATION;
  }
  const work = plans.filter((p) => p.kind !== "none");
  if (work.length === 0) {
    if (format !== "table") io.out(serialize(format, { fleet: fleet.name, applied: 0, networks: [] }));
    return EXIT.OK;
  }
  const destructive = work.some((p) => p.kind === "replace" || p.kind === "prune");
  if (!o.yes) {
    if (io.interactive === true && io.ask) {
      const answer = await io.ask(
        `Apply ${work.reduce((s, p) => s + p.shown.length, 0)} change(s) to ${work.length} network(s)${destructive ? " (deleting networks)" : ""}? [y/N] `,
      );
      if (!/^y(es)?$/i.test(answer.trim())) {
        io.err("cancelled: nothing was applied");
        return EXIT.CANCELLED;
      }
    } else if (destructive) {
      io.err("apply: this plan deletes networks; not on a terminal, it runs only with --yes. Nothing was applied");
      return EXIT.CANCELLED;
    }
  }

  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on("SIGINT", onSigint);
  let outcomes: NetworkOutcome[];
  try {
    outcomes = await inParallel(work, o.parallel, (p) => applyNetwork(io, client, p, stop.signal));
  } finally {
    process.off("SIGINT", onSigint);
  }

  const detached = outcomes.filter((x) => x.detachedJob);
  if (stop.signal.aborted) {
    io.err(
      `detached: ${detached.map((x) => `${x.name} (job ${x.detachedJob}; netforge job watch ${x.detachedJob})`).join(", ") || "no job was running"}; requests not yet sent were not sent`,
    );
    return EXIT.DETACHED;
  }
  const conflicts = outcomes.filter((x) => x.conflict);
  for (const c of conflicts) {
    io.err(`network ${c.name} changed since the plan (412 PRECONDITION_FAILED): run plan again. The plan now:`);
    const d = fleet.networks.find((n) => n.name === c.name);
    const fresh = d ? [d] : [];
    const { plans: again } = await computePlan(client, { name: fleet.name, networks: fresh }, { prune: false, parallel: 1 });
    io.err(renderPlan(again, { ...o, prune: true, pruneCandidates: 0, fleet: fleet.name }).replace(/^/gm, "  "));
  }
  const applied = outcomes.reduce((s, x) => s + x.applied, 0);
  const failed = outcomes.filter((x) => x.failed !== null);
  if (format !== "table") io.out(serialize(format, { fleet: fleet.name, applied, networks: outcomes }));
  if (failed.length === 0) {
    say(`Apply complete: ${applied} change(s) applied to ${outcomes.length} network(s).`);
    return EXIT.OK;
  }
  io.err(`Apply failed: ${failed.map((x) => x.name).join(", ")}; ${applied} change(s) applied.`);
  return conflicts.length > 0 ? EXIT.CONFLICT : (failed[0]?.failed ?? EXIT.JOB_FAILED);
}

/** Run one network's requests in order, each followed live; stops at its first failure. */
async function applyNetwork(io: Io, client: ApiClient, p: ShownPlan, signal: AbortSignal): Promise<NetworkOutcome> {
  const out: NetworkOutcome = { name: p.name, applied: 0, failed: null, conflict: false };
  const tag = `[${p.name}]`;
  let version: number | null = "version" in p ? p.version : null;
  for (const r of p.shown) {
    if (signal.aborted) return out;
    const headers: Record<string, string> =
      version !== null && r.command.join(" ") !== "network create" ? { "if-match": `"${version}"` } : {};
    io.err(`${tag} ${shellQuote(["netforge", ...r.command, p.name])}: ${r.summary}`);
    let job: JobViewLike;
    try {
      job = (await client.action(r.action, r.body, { idempotent: true, headers })).body.job as JobViewLike;
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      out.conflict = err.apiError?.code === VERSION_CONFLICT;
      out.failed = err.exitCode;
      io.err(`${tag} ✖ refused: ${err.message}`);
      return out;
    }
    const final = await follow(io, client, job, tag, signal);
    if (!final) {
      out.detachedJob = job.id;
      return out;
    }
    if (final.state !== "succeeded") {
      const e = final.error ?? { code: "FAILED", message: "the job failed", details: {} };
      out.conflict = e.code === VERSION_CONFLICT;
      out.failed = out.conflict ? EXIT.CONFLICT : EXIT.JOB_FAILED;
      io.err(`${tag} ✖ ${final.action} failed on host ${final.host}: ${e.code}: ${e.message}`);
      return out;
    }
    out.applied += 1;
    // The worker counts one version per job that succeeded: a create's network starts at 1, a delete's is gone.
    version = r.command.join(" ") === "network create" ? 1 : r.command.join(" ") === "network delete" ? null : (version ?? 0) + 1;
  }
  io.err(`${tag} ✔ done (${out.applied} change(s))`);
  return out;
}

/** Follow one job, printing each finished step as a line; the final job, or null when detached (Ctrl-C). */
async function follow(io: Io, client: ApiClient, first: JobViewLike, tag: string, signal: AbortSignal): Promise<JobViewLike | null> {
  const printed = new Map<string, string>();
  const show = (j: JobViewLike) => {
    for (const s of j.progress.steps) {
      if (s.state === "pending" || s.state === "running" || printed.get(s.name) === s.state) continue;
      printed.set(s.name, s.state);
      const symbol = s.state === "succeeded" ? "✔" : s.state === "failed" ? "✖" : s.state === "undone" ? "↶" : "↓";
      const took = s.startedAt && s.finishedAt ? ` (${formatElapsed(Date.parse(s.finishedAt) - Date.parse(s.startedAt))})` : "";
      io.err(`${tag}   ${symbol} ${s.name}${s.state === "skipped" || s.state === "undone" ? ` ${s.state}` : took}`);
    }
  };
  let latest = first;
  show(first);
  if (isTerminalState(first.state)) return first;
  for await (const j of followJob(client, first.id, { signal })) {
    latest = j;
    show(j);
  }
  return isTerminalState(latest.state) ? latest : null;
}

/** `netforge export`: the current state as a desired-state file. */
export async function runExport(
  io: Io,
  client: ApiClient,
  format: Format,
  o: { host?: string; name?: string; names: string[] },
): Promise<number> {
  const rows = o.names.length > 0 ? o.names.map((name) => ({ name })) : await listAll(client, o.host ? { host: o.host } : {});
  const views = (await inParallel(rows, 8, (r) => describe(client, r.name))).filter((v): v is NetworkView => {
    return v !== null && (o.host === undefined || v.host === o.host);
  });
  const missing = o.names.filter((n) => !views.some((v) => v.name === n));
  if (missing.length > 0) throw new CliError(`no such network: ${missing.join(", ")}`, EXIT.NOT_FOUND);
  // The file's name: the one every exported network is managed by, else "exported" (or --name).
  const owners = new Set(views.map((v) => v.managedBy ?? null));
  const only = owners.size === 1 ? [...owners][0] : null;
  const name = o.name ?? (typeof only === "string" ? only : "exported");
  const doc = exportFleet(name, views);
  if (format !== "json") await loadYaml();
  io.out(serialize(format === "json" ? "json" : "yaml", doc));
  return EXIT.OK;
}
