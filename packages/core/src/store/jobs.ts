/**
 * Job records and their event streams. A job's record (`job:<id>`) is the
 * snapshot; every change also appends an event to the job's Redis stream
 * (whose ids are the SSE event ids, so `Last-Event-ID` resumes exactly) and is
 * published on one channel for live subscribers. All three writes happen in
 * one MULTI so a reader never sees a record newer than its stream.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { ErrorBody } from "../errors";
import type { JobAction, JobProgress, JobState, JobStep, JobView } from "../schemas/job";
import type { Keys } from "./keys";

/** How long finished jobs (and their events) are kept. */
export const JOB_RETENTION_SECONDS = 7 * 24 * 3600;

/** The stored job: the public view without links, plus the payload the worker needs. */
export interface JobRecord extends Omit<JobView, "links"> {
  payload: unknown;
  requestId: string | null;
}

/** Event types carried by job streams (snapshot is synthesised by readers). */
export type JobEventType = "progress" | "succeeded" | "failed";

/** A job event as published and streamed. */
export interface JobEvent {
  /** Stream entry id ("<ms>-<seq>"), used as the SSE id. */
  id: string;
  jobId: string;
  network: string;
  type: JobEventType;
  /** The job view at that moment. */
  job: JobView;
}

/** A new job id: "j_" + 20 url-safe random characters. */
export function newJobId(): string {
  return `j_${randomBytes(15).toString("base64url")}`;
}

/** Public view of a record (links added, internals dropped). */
export function toJobView(r: JobRecord): JobView {
  const { payload: _p, requestId: _r, ...rest } = r;
  return { ...rest, links: { self: `/api/jobs/${r.id}`, events: `/api/jobs/${r.id}/events` } };
}

/** A fresh record for a job about to be queued. */
export function newJobRecord(args: {
  id?: string;
  action: JobAction;
  network: string;
  host: string;
  payload: unknown;
  steps: string[];
  requestId?: string | null;
}): JobRecord {
  return {
    id: args.id ?? newJobId(),
    action: args.action,
    network: args.network,
    host: args.host,
    state: "queued",
    progress: {
      percent: 0,
      step: null,
      steps: args.steps.map((name) => ({ name, state: "pending", startedAt: null, finishedAt: null })),
    },
    result: null,
    error: null,
    warnings: [],
    attempts: 0,
    createdAt: new Date().toISOString(),
    startedAt: null,
    finishedAt: null,
    payload: args.payload,
    requestId: args.requestId ?? null,
  };
}

/**
 * The writes that store a new job record and index it (newest-first listing,
 * per network), as commands: run in a MULTI by saveNewJob, or inside the
 * deadline-guarded submission script (store/submission.ts).
 */
export function newJobWrites(keys: Keys, r: JobRecord): [string, ...string[]][] {
  const score = Date.parse(r.createdAt);
  return [
    ["SET", keys.job(r.id), JSON.stringify(r)],
    ["ZADD", keys.jobs, String(score), r.id],
    ["ZADD", keys.networkJobs(r.network), String(score), r.id],
    ["ZREMRANGEBYSCORE", keys.jobs, "-inf", String(score - JOB_RETENTION_SECONDS * 1000)],
  ];
}

/** Store a new job record and index it. */
export async function saveNewJob(redis: Redis, keys: Keys, r: JobRecord): Promise<void> {
  const multi = redis.multi();
  for (const [cmd, ...args] of newJobWrites(keys, r)) multi.call(cmd, ...args);
  await multi.exec();
}

/** Read a job record, or null. */
export async function getJob(redis: Redis, keys: Keys, id: string): Promise<JobRecord | null> {
  const raw = await redis.get(keys.job(id));
  return raw ? (JSON.parse(raw) as JobRecord) : null;
}

/** Read several job records in one round trip (missing ones dropped). */
export async function getJobs(redis: Redis, keys: Keys, ids: string[]): Promise<JobRecord[]> {
  if (ids.length === 0) return [];
  const raws = await redis.mget(ids.map((id) => keys.job(id)));
  return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as JobRecord);
}

/**
 * Write a changed record and its event atomically, then return the event.
 * Terminal events also start the retention clock of the record and stream.
 */
export async function commitJobEvent(redis: Redis, keys: Keys, r: JobRecord, type: JobEventType): Promise<JobEvent> {
  const view = toJobView(r);
  const multi = redis
    .multi()
    .set(keys.job(r.id), JSON.stringify(r))
    .xadd(keys.jobEvents(r.id), "*", "type", type, "job", JSON.stringify(view));
  if (type !== "progress") {
    multi.expire(keys.job(r.id), JOB_RETENTION_SECONDS).expire(keys.jobEvents(r.id), JOB_RETENTION_SECONDS);
  }
  const res = await multi.exec();
  const id = res?.[1]?.[1] as string;
  const ev: JobEvent = { id, jobId: r.id, network: r.network, type, job: view };
  await redis.publish(keys.eventsChannel, JSON.stringify(ev));
  return ev;
}

/** Parse raw XRANGE entries into events. */
export function parseStreamEntries(r: JobRecord | { id: string; network: string }, entries: [string, string[]][]): JobEvent[] {
  return entries.map(([id, fields]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
    return { id, jobId: r.id, network: r.network, type: f.type as JobEventType, job: JSON.parse(f.job ?? "null") };
  });
}

/** Events of a job after `afterId` (exclusive), oldest first. */
export async function readJobEventsAfter(redis: Redis, keys: Keys, job: JobRecord, afterId: string): Promise<JobEvent[]> {
  const entries = (await redis.xrange(keys.jobEvents(job.id), `(${afterId}`, "+")) as [string, string[]][];
  return parseStreamEntries(job, entries);
}

/**
 * The record and the id of the newest event, read atomically: the snapshot a
 * new subscriber starts from (events with greater ids are news to it).
 */
export async function readJobSnapshot(
  redis: Redis,
  keys: Keys,
  id: string,
): Promise<{ job: JobRecord; lastEventId: string; lastEvent: JobEvent | null } | null> {
  const res = await redis.multi().get(keys.job(id)).xrevrange(keys.jobEvents(id), "+", "-", "COUNT", 1).exec();
  const raw = res?.[0]?.[1] as string | null;
  if (!raw) return null;
  const job = JSON.parse(raw) as JobRecord;
  const entries = (res?.[1]?.[1] ?? []) as [string, string[]][];
  const last = parseStreamEntries(job, entries)[0] ?? null;
  return { job, lastEventId: last?.id ?? "0-0", lastEvent: last };
}

/** Compare two stream ids ("ms-seq"): negative when a < b. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am !== bm ? am - bm : as - bs;
}

/** True for states after which nothing changes. */
export function isTerminal(state: JobState): boolean {
  return state === "succeeded" || state === "failed";
}

/** Percent done from the step list (finished steps / all steps). */
export function percentOf(steps: JobStep[]): number {
  if (steps.length === 0) return 0;
  const done = steps.filter((s) => s.state === "succeeded" || s.state === "skipped").length;
  return Math.round((done / steps.length) * 100);
}

/** Newest-first job ids, optionally of one network; `offset` skips that many of the newest (paging). */
export async function listJobIds(redis: Redis, keys: Keys, network: string | undefined, count: number, offset = 0): Promise<string[]> {
  const key = network ? keys.networkJobs(network) : keys.jobs;
  return redis.zrevrange(key, offset, offset + count - 1);
}

export type { ErrorBody, JobProgress };
