/**
 * Jobs spanning hosts (an overlay's create, start, stop, delete: ADR 0051). The job runs on its coordinating
 * host (the overlay's gateway host), under the network's lock. Each other member's part is a job of the same
 * action on that member's own queue, run by that member's own worker (which sees only its own host), under
 * the coordinator's lock (borrowed with its token, never taken: processor.ts), so a part can never run once the
 * coordinator let go of the network. Each part is a job step of the coordinator ("host <id>: <action>"), and a
 * job record of its own with its own steps and events. All or nothing: a part that fails undoes its own steps
 * (as any job does) and fails the coordinator; a part that succeeded is undone by the coordinator's revert,
 * which queues the undoing action on that member and waits for it; a part that does not finish within the bound
 * is cancelled (its record failed, its queue entry removed) and counted as failed, its undo queued anyway.
 */
import { AppError, type CreateNetworkPayload, JOB_STEPS, type JobAction, type JobPayloads, partUndoOf } from "@netforge/core/contract";
import {
  getJob,
  getJobs,
  isTerminal,
  type JobRecord,
  type LeftPart,
  markLeftPart,
  newJobRecord,
  openHostQueue,
  saveNewJob,
} from "@netforge/core/store";
import type { JobContext } from "../context";
import { JobReporter } from "../job-reporter";

/** How long the coordinator waits for a member's part (and for a member's undo) before giving up on it (default). */
export const MEMBER_PART_TIMEOUT_MS = 30_000;
/** This host's bound on a member's part (NETFORGE_MEMBER_PART_TIMEOUT_MS). */
export const partTimeoutOf = (ctx: Pick<JobContext, "memberPartTimeoutMs">): number => ctx.memberPartTimeoutMs ?? MEMBER_PART_TIMEOUT_MS;

/**
 * How often a job's unfinished parts are read (all of them in one MGET): a part is seen done at most this long
 * after it ended. Was 50 ms with a GET per part (ten parts of an add: ten round trips a poll, and up to 50 ms lost
 * after the last part; ADR 0051, "Benchmarks", 2026-12-08).
 */
const POLL_MS = 15;

export interface MemberParts {
  /** Wait until every part finished; throws the first failure, naming its host. */
  wait(): Promise<void>;
  /** Each part's host and job record id. */
  ids: { host: string; id: string }[];
  /**
   * With `deferUndo`: register now the revert that takes the parts back (a gateway move registers the new
   * gateway's undo only once the old gateway is down, so the job's undo stops the new one before the old one
   * starts again). Without: a no-op (registered when the parts were queued).
   */
  registerUndo(): void;
}

/**
 * Mark `host`'s part of this job as left (its part, or the undo of it, did not finish): the host's worker checks
 * the part against the network's spec when it is back, before it reports online (drivers/overlay-left-parts.ts).
 * A part that reaches no worker any more cannot run under this job's lock, so nothing else would take it away.
 */
async function markLeft(ctx: JobContext, host: string, action: JobAction, payload: unknown): Promise<void> {
  const p = payload && typeof payload === "object" ? payload : {};
  const uuid = "uuid" in p && typeof p.uuid === "string" ? p.uuid : undefined;
  const door = "overlayDoor" in p && p.overlayDoor && typeof p.overlayDoor === "object" ? p.overlayDoor : {};
  const vni = "vni" in door && typeof door.vni === "number" ? door.vni : undefined;
  const left: LeftPart = { job: ctx.report.record.id, action, ...(uuid ? { uuid } : {}), ...(vni !== undefined ? { vni } : {}) };
  await markLeftPart(ctx.redis, ctx.keys, host, ctx.report.record.network, left);
  ctx.logger.warn(
    { host, network: ctx.report.record.network, ...left },
    "member part left on a host that did not answer: it removes it when back",
  );
}

/** Queue `action` on `host` as a part of the running job (record + queue entry); its record id. */
async function queuePart<A extends JobAction>(ctx: JobContext, action: A, host: string, payload: JobPayloads[A]): Promise<string> {
  if (!ctx.lockToken) throw new AppError("INTERNAL", "a job spanning hosts needs its lock token", {});
  const rec = newJobRecord({
    action,
    network: ctx.report.record.network,
    host,
    payload,
    steps: JOB_STEPS[action],
    requestId: ctx.report.record.requestId,
  });
  await saveNewJob(ctx.redis, ctx.keys, rec);
  const queue = openHostQueue(ctx.redis, ctx.keys, host);
  try {
    await queue.add(
      action,
      { jobId: rec.id, action, payload, parent: { jobId: ctx.report.record.id, host: ctx.hostId, lockToken: ctx.lockToken } },
      { jobId: rec.id, attempts: 1, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 604_800 } },
    );
  } finally {
    await queue.close().catch(() => undefined);
  }
  return rec.id;
}

interface Watched {
  deadline: number;
  resolve: (r: JobRecord | null) => void;
  reject: (err: unknown) => void;
}

/** The parts a job waits for, read together: one MGET a poll whatever their number, while any is unfinished. */
class PartWatcher {
  private readonly watched = new Map<string, Watched[]>();
  private running = false;

  constructor(private readonly ctx: JobContext) {}

  wait(id: string, timeoutMs: number): Promise<JobRecord | null> {
    return new Promise((resolve, reject) => {
      const list = this.watched.get(id) ?? [];
      list.push({ deadline: Date.now() + timeoutMs, resolve, reject });
      this.watched.set(id, list);
      if (!this.running) {
        this.running = true;
        void this.loop();
      }
    });
  }

  private async loop(): Promise<void> {
    while (this.watched.size > 0) {
      const ids = [...this.watched.keys()];
      let recs: JobRecord[];
      try {
        recs = await getJobs(this.ctx.redis, this.ctx.keys, ids);
      } catch (err) {
        // A failed read fails the waits it was for (as each part's own read did).
        for (const id of ids) for (const w of this.watched.get(id) ?? []) w.reject(err);
        for (const id of ids) this.watched.delete(id);
        continue;
      }
      const byId = new Map(recs.map((r) => [r.id, r]));
      const now = Date.now();
      for (const id of ids) {
        const r = byId.get(id);
        const keep = (this.watched.get(id) ?? []).filter((w) => {
          if (r && isTerminal(r.state)) w.resolve(r);
          else if (now > w.deadline) w.resolve(null);
          else return true;
          return false;
        });
        if (keep.length > 0) this.watched.set(id, keep);
        else this.watched.delete(id);
      }
      if (this.watched.size > 0) await new Promise((res) => setTimeout(res, POLL_MS));
    }
    this.running = false;
  }
}

const watchers = new WeakMap<JobContext, PartWatcher>();

/** The part's record once it finished, or null after `timeoutMs`. */
function finished(ctx: JobContext, id: string, timeoutMs: number): Promise<JobRecord | null> {
  let w = watchers.get(ctx);
  if (!w) {
    w = new PartWatcher(ctx);
    watchers.set(ctx, w);
  }
  return w.wait(id, timeoutMs);
}

/**
 * Give up on a part that did not finish: out of its queue if it has not started, its record failed then (nothing
 * else would end it: it never runs). A part that started ends its record itself, when delivered again (processor.ts).
 */
async function cancelPart(ctx: JobContext, host: string, id: string): Promise<void> {
  const queue = openHostQueue(ctx.redis, ctx.keys, host);
  let removed = false;
  try {
    const job = await queue.getJob(id);
    if (job && (await job.isWaiting()))
      removed = await job.remove().then(
        () => true,
        () => false,
      );
  } finally {
    await queue.close().catch(() => undefined);
  }
  const rec = removed ? await getJob(ctx.redis, ctx.keys, id) : null;
  if (rec && !isTerminal(rec.state)) {
    await new JobReporter(ctx.redis, ctx.keys, rec).failed(
      new AppError(
        "HOST_UNAVAILABLE",
        `host ${host} did not take this part up in time: given up on, not applied`,
        { host, parent: ctx.report.record.id, notApplied: true },
        { retryable: false },
      ),
    );
  }
  ctx.logger.warn({ host, part: id }, "member part did not finish in time: given up on (it can no longer run under this job's lock)");
}

function partFailed(host: string, action: string, rec: JobRecord | null, id: string, timeoutMs: number): AppError {
  if (!rec) {
    return new AppError(
      "HOST_UNAVAILABLE",
      `host ${host} did not finish its part of this ${action} within ${timeoutMs / 1000} s; what the other hosts did is undone`,
      { host, memberJob: id, permanent: true },
      // Not retried as a whole either: each attempt waited the bound again on a host that is away (three attempts
      // took 28 s with a 4 s bound); the host removes what it has of the part when it is back (overlay-left-parts.ts).
      { retryable: false },
    );
  }
  const e = rec.error;
  const code = e?.code ?? "INTERNAL";
  // Not retried as a whole (ADR 0051): the part already undid its steps, the coordinator undoes the others; a
  // retryable code (HOST_COMMAND_FAILED) made BullMQ run the whole job across hosts again (seen with the gateway move).
  return new AppError(
    code as AppError["code"],
    `host ${host}: ${e?.message ?? "its part failed"}`,
    {
      ...(e?.details ?? {}),
      host,
      memberJob: id,
      permanent: true,
    },
    { retryable: false },
  );
}

/**
 * Start the parts of `action` on `hosts` (each with its own payload) and register, for each, the revert that
 * takes it back if the job fails. Returns a handle to wait on them all.
 */
export async function startMemberParts<A extends JobAction>(
  ctx: JobContext,
  action: A,
  hosts: readonly string[],
  payloadFor: (host: string) => JobPayloads[A],
  undoPayloadFor: (host: string) => JobPayloads[JobAction],
  /** The action that takes a part back when it is not the usual one (configure-network-hosts: a removed member's delete, undone by a create). */
  undoAction?: JobAction,
  opts: { deferUndo?: boolean } = {},
): Promise<MemberParts> {
  const parts: { host: string; id: string; done: Promise<JobRecord | null> }[] = [];
  const deferred: (() => void)[] = [];
  const timeoutMs = partTimeoutOf(ctx);
  // Every part queued at once (one record and one queue entry each: each queued in sequence cost the last one
  // ~6-12 ms of the others' round trips, ADR 0051 "Benchmarks" 2026-12-08); their undos registered in the hosts'
  // order as before, for each part that was queued, before the first failure to queue one is thrown.
  const queued = await Promise.allSettled(hosts.map((host) => queuePart(ctx, action, host, payloadFor(host))));
  for (const [i, host] of hosts.entries()) {
    const q = queued[i] as PromiseSettledResult<string>;
    if (q.status === "rejected") continue;
    const step = `host ${host}: ${action}`;
    const payload = payloadFor(host);
    const id = q.value;
    const done = finished(ctx, id, timeoutMs);
    done.catch(() => undefined);
    parts.push({ host, id, done });
    const undo = undoAction ?? partUndoOf(action);
    if (undo) {
      const add = (...args: Parameters<JobContext["revert"]["add"]>) =>
        opts.deferUndo ? deferred.push(() => ctx.revert.add(...args)) : ctx.revert.add(...args);
      add(
        `undo ${action} on host ${host}`,
        async () => {
          const rec = await done;
          if (rec?.state === "failed") return; // it undid its own steps
          if (!rec) await cancelPart(ctx, host, id);
          const undoId = await queuePart(ctx, undo, host, undoPayloadFor(host) as JobPayloads[typeof undo]);
          const out = await finished(ctx, undoId, timeoutMs);
          if (out?.state !== "succeeded") {
            // The host did not take its part back: it does so when it is back (before it reports online).
            if (!out) await cancelPart(ctx, host, undoId);
            await markLeft(ctx, host, action, payload);
            throw new AppError(
              "HOST_COMMAND_FAILED",
              `host ${host}: undoing its ${action} did not succeed (${out?.error?.message ?? "no answer"})`,
              {
                host,
                memberJob: undoId,
              },
            );
          }
        },
        step,
      );
    }
  }
  const failed = queued.find((q): q is PromiseRejectedResult => q.status === "rejected");
  if (failed) {
    // The parts that were queued are taken back with the job (a deferred undo too: nobody registers it later).
    for (const r of deferred.splice(0)) r();
    throw failed.reason;
  }
  return {
    ids: parts.map((p) => ({ host: p.host, id: p.id })),
    registerUndo() {
      for (const r of deferred.splice(0)) r();
    },
    async wait() {
      // One job step per member (they ran in parallel; reported here in order): which host did what.
      for (const p of parts) {
        await ctx.report.step(`host ${p.host}: ${action}`, async () => {
          const rec = await p.done;
          if (rec?.state !== "succeeded") {
            if (!rec) await cancelPart(ctx, p.host, p.id);
            throw partFailed(p.host, action, rec, p.id, timeoutMs);
          }
        });
      }
    },
  };
}

/**
 * Start configure-network-hosts's parts that `change` (add or remove) `hosts`: `create` gives a member's create
 * payload (an added member's part, or a removed member's part made again by the undo).
 */
export function startMembershipParts(
  ctx: JobContext,
  change: "add" | "remove",
  hosts: readonly string[],
  name: string,
  create: (host: string) => CreateNetworkPayload,
  opts: { deferUndo?: boolean } = {},
): Promise<MemberParts> {
  const ref = () => ({ name });
  // An added member makes its part as a create does (undone by a delete, its definition's partUndoneBy); a removed
  // member takes its part down as a delete does, refused while something is attached there, and is undone by
  // making the part again.
  return change === "add"
    ? startMemberParts(ctx, "create-network", hosts, create, ref, undefined, opts)
    : startMemberParts(ctx, "delete-network", hosts, ref, create, "create-network", opts);
}
