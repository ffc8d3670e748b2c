/** Jobs: status, listing, and the Server-Sent Events streams of one job and of all jobs. */
import { AppError, JobId, type JobView, type JobState, NetworkName, validationError } from "@netforge/core/contract";
import {
  compareStreamIds,
  getJob,
  getJobs,
  isTerminal,
  type JobEvent,
  type JobRecord,
  listJobIdsBy,
  readJobEventsAfter,
  readJobSnapshot,
  toJobView,
} from "@netforge/core/store";
import { Hono } from "hono";
import { requireRole } from "../auth";
import type { AppEnv, Services } from "../context";
import { Inbox, STOPPED, TIMED_OUT } from "../inbox";
import type { SseChannel } from "../sse";
import { actionRoute } from "./action-route";

const DEFAULT_JOB_LIMIT = 50;
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

function jobNotFound(id: string): AppError {
  return new AppError("NOT_FOUND", `job '${id}' does not exist (or has expired)`, { id });
}

/** The resume point of a reconnecting client, or null for a fresh subscription. */
function resumeFrom(header: string | undefined, query: string | undefined): string | null {
  const v = header ?? query;
  if (v === undefined || v === "") return null;
  if (!STREAM_ID.test(v)) {
    throw validationError([{ path: "header.Last-Event-ID", message: "must be an event id received from this stream" }]);
  }
  return v;
}

/**
 * Stream one job's events in order, exactly once each, ending after the
 * terminal one. `lastSent` is the newest id the client has; anything not
 * newer is a duplicate (the bus and catch-up reads overlap on purpose).
 */
async function pumpJobEvents(
  s: Services,
  ch: SseChannel,
  inbox: Inbox<JobEvent>,
  job: { id: string; network: string },
  lastSent: string,
): Promise<void> {
  let last = lastSent;
  /** Send if new; true when that was the terminal event. */
  const forward = async (ev: JobEvent): Promise<boolean> => {
    if (compareStreamIds(ev.id, last) <= 0) return false;
    await ch.send(ev.type, ev.id, ev.job);
    last = ev.id;
    return ev.type !== "progress";
  };
  for (;;) {
    const next = await inbox.take(ch.signal, s.config.sseHeartbeatMs);
    if (next === STOPPED) return;
    if (next === TIMED_OUT) {
      // Pub/sub is fire-and-forget (e.g. lost across a Redis reconnect): the stream is the record, re-read it.
      for (const ev of await readJobEventsAfter(s.redis, s.keys, job, last)) if (await forward(ev)) return;
      continue;
    }
    if (await forward(next)) return;
  }
}

/** Stream body of a new subscriber: the snapshot, then live events (the snapshot is not kept once sent). */
function snapshotThenEvents(
  s: Services,
  inbox: Inbox<JobEvent>,
  snapshot: NonNullable<Awaited<ReturnType<typeof readJobSnapshot>>>,
): (ch: SseChannel) => Promise<void> {
  let pending: typeof snapshot | null = snapshot;
  return async (ch) => {
    const snap = pending as typeof snapshot;
    pending = null;
    const ref = { id: snap.job.id, network: snap.job.network };
    const lastEventId = snap.lastEventId;
    await ch.send("snapshot", lastEventId, toJobView(snap.job));
    if (isTerminal(snap.job.state)) {
      const terminal = snap.lastEvent?.type === snap.job.state ? snap.lastEvent : null;
      await ch.send(snap.job.state, terminal?.id ?? lastEventId, terminal?.job ?? toJobView(snap.job));
      return;
    }
    await pumpJobEvents(s, ch, inbox, ref, lastEventId);
  };
}

/** Stream body of a resuming subscriber (Last-Event-ID): the events it missed, then live ones. */
function missedThenEvents(
  s: Services,
  inbox: Inbox<JobEvent>,
  job: JobRecord,
  missedEvents: JobEvent[],
  resumeAfter: string,
): (ch: SseChannel) => Promise<void> {
  const ref = { id: job.id, network: job.network };
  const terminal = isTerminal(job.state);
  let pending: JobEvent[] | null = missedEvents;
  return async (ch) => {
    const missed = pending as JobEvent[];
    pending = null;
    let last = resumeAfter;
    for (const ev of missed) {
      await ch.send(ev.type, ev.id, ev.job);
      last = ev.id;
      if (ev.type !== "progress") return;
    }
    // Terminal before our read and nothing missed: the client already has the end.
    if (terminal) return;
    await pumpJobEvents(s, ch, inbox, ref, last);
  };
}

/**
 * list-jobs through the indexes (network, host, state: kept by the scripts that write the records): the ids
 * come from one read-only script and only the records listed are read, so a filter that matches nothing reads
 * no record. The records are checked against the filters again (an index entry is written in the same script
 * as its record, so this only drops an entry whose record changed between the two reads).
 */
async function listJobs(s: Services, q: { network?: string; state?: JobState; host?: string; limit?: number }): Promise<JobView[]> {
  const limit = q.limit ?? DEFAULT_JOB_LIMIT;
  const ids = await listJobIdsBy(s.redis, s.keys, q, limit);
  const out: JobView[] = [];
  for (const r of await getJobs(s.redis, s.keys, ids)) {
    if (q.network !== undefined && r.network !== q.network) continue;
    if (q.state !== undefined && r.state !== q.state) continue;
    if (q.host !== undefined && r.host !== q.host) continue;
    out.push(toJobView(r));
  }
  return out;
}

export function jobRoutes(s: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  actionRoute(app, "list-jobs", async (c, body) => c.json({ jobs: await listJobs(s, body) }));

  app.get("/api/jobs/:id", requireRole("viewer", "read jobs"), async (c) => {
    const id = c.req.param("id");
    const rec = JobId.safeParse(id).success ? await getJob(s.redis, s.keys, id) : null;
    if (!rec) throw jobNotFound(id);
    return c.json({ job: toJobView(rec) });
  });

  app.get("/api/jobs/:id/events", requireRole("viewer", "read jobs"), async (c) => {
    const id = c.req.param("id");
    if (!JobId.safeParse(id).success) throw jobNotFound(id);
    const resumeAfter = resumeFrom(c.req.header("Last-Event-ID"), c.req.query("lastEventId"));
    const slot = s.sse.reserve(c.get("token"));
    const inbox = new Inbox<JobEvent>();
    // Listen before reading, so an event published right after the read is not lost.
    const off = s.bus.onJob(id, (ev) => inbox.push(ev));
    let handedOver = false;
    try {
      await s.bus.readyWithin(s.config.redisTimeoutMs);
      // A stream lives for as long as its job runs (10,000 at once on one API): it keeps only the job's id and
      // network; the snapshot or the missed events are dropped once sent.
      if (resumeAfter === null) {
        const snap = await readJobSnapshot(s.redis, s.keys, id);
        if (!snap) throw jobNotFound(id);
        handedOver = true;
        return s.sse.respond(c, slot, snapshotThenEvents(s, inbox, snap), off);
      }
      const job = await getJob(s.redis, s.keys, id);
      if (!job) throw jobNotFound(id);
      const missed = await readJobEventsAfter(s.redis, s.keys, job, resumeAfter);
      handedOver = true;
      return s.sse.respond(c, slot, missedThenEvents(s, inbox, job, missed, resumeAfter), off);
    } finally {
      if (!handedOver) {
        off();
        slot.release();
      }
    }
  });

  app.get("/api/events", requireRole("viewer", "read job events"), async (c) => {
    const network = c.req.query("network");
    if (network !== undefined && !NetworkName.safeParse(network).success) {
      throw validationError([{ path: "query.network", message: "must be a network name" }]);
    }
    const slot = s.sse.reserve(c.get("token"));
    const inbox = new Inbox<JobEvent>();
    const off = s.bus.onAny((ev) => {
      if (network === undefined || ev.network === network) inbox.push(ev);
    });
    let handedOver = false;
    try {
      await s.bus.readyWithin(s.config.redisTimeoutMs);
      handedOver = true;
      return s.sse.respond(
        c,
        slot,
        async (ch) => {
          for (;;) {
            const next = await inbox.take(ch.signal, 3_600_000);
            if (next === STOPPED) return;
            if (next === TIMED_OUT) continue;
            await ch.send(next.type, next.id, next.job);
          }
        },
        off,
      );
    } finally {
      if (!handedOver) {
        off();
        slot.release();
      }
    }
  });

  return app;
}
