/**
 * Job records and their event streams. A job's record (`job:<id>`) is the
 * snapshot; every change also appends an event to the job's Redis stream
 * (whose ids are the SSE event ids, so `Last-Event-ID` resumes exactly) and is
 * published on one channel for live subscribers. All three writes happen in
 * one MULTI so a reader never sees a record newer than its stream.
 */
import { randomBase64Url } from "../random-id";
import type { Redis } from "ioredis";
import { JOB_STATES, type JobAction, type JobState, type JobStep, type JobView } from "../schemas/job";
import type { Keys } from "./keys";
import type { LockFenceArgs } from "./locks";
import { evalScript } from "./scripts";

/** How long finished jobs (and their events) are kept by default. */
export const JOB_RETENTION_SECONDS = 7 * 24 * 3600;
/** How long an unfinished job (and its events) is kept after its last change, by default. */
export const UNFINISHED_JOB_RETENTION_SECONDS = 30 * 24 * 3600;
/** A network's job list keeps its newest this many jobs (older ones stay readable by id until they expire). */
export const NETWORK_JOB_LIST_MAX = 100;
/** Expired jobs dropped from the indexes per call of the cleaner (bounded work per write). */
const INDEX_CLEAN_BATCH = 100;

/** Retention of job records and their event streams, in seconds. */
export interface JobRetention {
  finishedSeconds: number;
  unfinishedSeconds: number;
}

let cachedRetention: { raw: string; value: JobRetention } | null = null;

/**
 * Job retention from the environment (NETFORGE_JOB_RETENTION_SECONDS for
 * finished jobs, NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS for unfinished
 * ones), read by the API and the worker alike; throws naming the variable
 * when a value is not a positive whole number.
 */
export function jobRetention(env: Record<string, string | undefined> = process.env): JobRetention {
  const f = env.NETFORGE_JOB_RETENTION_SECONDS?.trim() ?? "";
  const u = env.NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS?.trim() ?? "";
  const raw = `${f}|${u}`;
  if (cachedRetention?.raw === raw) return cachedRetention.value;
  const parse = (name: string, v: string, dflt: number) => {
    if (v === "") return dflt;
    if (!/^[1-9][0-9]{0,9}$/.test(v)) throw new Error(`${name} must be a whole number of seconds (at least 1)`);
    return Number(v);
  };
  const value = {
    finishedSeconds: parse("NETFORGE_JOB_RETENTION_SECONDS", f, JOB_RETENTION_SECONDS),
    unfinishedSeconds: parse("NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS", u, UNFINISHED_JOB_RETENTION_SECONDS),
  };
  cachedRetention = { raw, value };
  return value;
}

/* Drop jobs whose record has expired from the global, their network's, their
 * host's and the state indexes, oldest expiry first, up to a batch. A job
 * still alive (a writer's clock behind Redis's) is due again when Redis
 * expires it. Expiry members are "id|network|host" ("id|network" before the
 * host index existed). */
const DROP_EXPIRED_FN = `
local JOB_STATES = {${JOB_STATES.map((s) => `'${s}'`).join(", ")}}
local function dropExpired(expiry, all, now, netPrefix, jobPrefix, batch, hostPrefix, statePrefix)
  local due = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, batch)
  for _, m in ipairs(due) do
    local id, rest = string.match(m, '^([^|]+)|(.*)$')
    local pttl = id and redis.call('PTTL', jobPrefix .. id) or -2
    if pttl > 0 then
      redis.call('ZADD', expiry, now + pttl, m)
    else
      if pttl == -2 and id then
        local net, host = string.match(rest, '^([^|]*)|(.*)$')
        if not net then net = rest end
        redis.call('ZREM', all, id)
        redis.call('ZREM', netPrefix .. net, id)
        if host then redis.call('ZREM', hostPrefix .. host, id) end
        for _, s in ipairs(JOB_STATES) do redis.call('ZREM', statePrefix .. s, id) end
      end
      redis.call('ZREM', expiry, m)
    end
  end
  return #due
end
`;

/* KEYS: expiry, jobs; ARGV: now ms, network list key prefix, job key prefix, batch, host list key prefix,
 * state list key prefix. */
const DROP_EXPIRED_LUA = `${DROP_EXPIRED_FN}
return dropExpired(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6])
`;

/* A new job: its record (expiring as an unfinished job), its entries in the
 * global, the network's, the host's and its state's index and in the expiry
 * index, the network's list trimmed to its newest entries and given an
 * expiry no shorter than its newest job's life; global, host and state
 * entries older than any job can live are cut (entries that predate the
 * expiry index), and a batch of expired jobs is dropped from the indexes.
 * KEYS: job, jobs, network jobs, expiry, host jobs, state jobs; ARGV: record,
 * score ms, id, unfinished ttl s, list max, longest life s, expiry member,
 * expiry ms, cut ms, now ms, network list key prefix, job key prefix, batch,
 * host list key prefix, state list key prefix. */
export const SAVE_NEW_JOB_LUA = `${DROP_EXPIRED_FN}
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[7])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. ARGV[9])
dropExpired(KEYS[4], KEYS[2], tonumber(ARGV[10]), ARGV[11], ARGV[12], tonumber(ARGV[13]), ARGV[14], ARGV[15])
return 1
`;

/** The expiry-index member of a job. */
const expiryMember = (r: { id: string; network: string; host: string }) => `${r.id}|${r.network}|${r.host}`;

/**
 * Drop index entries of expired jobs (the global list and each network's),
 * a bounded batch per call: run on every new job and by the API's sweeper,
 * so listings never point at records that are gone. Returns how many expiry
 * entries were due.
 */
export async function dropExpiredJobEntries(redis: Redis, keys: Keys, now = Date.now()): Promise<number> {
  return (await evalScript(
    redis,
    DROP_EXPIRED_LUA,
    2,
    keys.jobExpiry,
    keys.jobs,
    String(now),
    keys.networkJobs(""),
    keys.job(""),
    String(INDEX_CLEAN_BATCH),
    keys.hostJobs(""),
    keys.stateJobs(""),
  )) as number;
}

/** The stored job: the public view without links, plus the payload the worker needs. */
export interface JobRecord extends Omit<JobView, "links"> {
  payload: unknown;
  requestId: string | null;
  /** A hash of the token that submitted it (never the token): its queued-jobs quota is released when the job ends. */
  owner?: string | null;
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
  return `j_${randomBase64Url(15)}`;
}

/** Public view of a record (links added, internals dropped). */
export function toJobView(r: JobRecord): JobView {
  const { payload: _p, requestId: _r, owner: _o, ...rest } = r;
  return { ...rest, links: { self: `/api/jobs/${r.id}`, events: `/api/jobs/${r.id}/events` } };
}

/** A fresh record for a job about to be queued. */
export function newJobRecord(args: {
  id?: string;
  action: JobAction;
  network: string;
  host: string;
  payload: unknown;
  steps: readonly string[];
  requestId?: string | null;
  owner?: string | null;
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
    ...(args.owner ? { owner: args.owner } : {}),
  };
}

/**
 * KEYS and ARGV of SAVE_NEW_JOB_LUA for a new record: run by saveNewJob, or
 * inside the deadline-guarded submission script (store/submission.ts).
 */
export function saveNewJobScriptArgs(keys: Keys, r: JobRecord, now = Date.now()): { keys: string[]; argv: string[] } {
  const ret = jobRetention();
  return {
    keys: [keys.job(r.id), keys.jobs, keys.networkJobs(r.network), keys.jobExpiry, keys.hostJobs(r.host), keys.stateJobs(r.state)],
    argv: [
      JSON.stringify(r),
      String(Date.parse(r.createdAt)),
      r.id,
      String(ret.unfinishedSeconds),
      String(NETWORK_JOB_LIST_MAX),
      String(ret.unfinishedSeconds + ret.finishedSeconds),
      expiryMember(r),
      String(now + ret.unfinishedSeconds * 1000),
      String(now - (ret.unfinishedSeconds + ret.finishedSeconds) * 1000),
      String(now),
      keys.networkJobs(""),
      keys.job(""),
      String(INDEX_CLEAN_BATCH),
      keys.hostJobs(""),
      keys.stateJobs(""),
    ],
  };
}

/** Store a new job record and index it (newest-first listing, per network), trimming and cleaning both indexes. */
export async function saveNewJob(redis: Redis, keys: Keys, r: JobRecord): Promise<void> {
  const a = saveNewJobScriptArgs(keys, r);
  await evalScript(redis, SAVE_NEW_JOB_LUA, a.keys.length, ...a.keys, ...a.argv);
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
 * Every write sets the retention of the record and stream: the unfinished
 * bound again on progress, the finished one on a terminal event. The
 * network's job list is kept alive as long as the longest a job can live.
 */
/*
 * One job event in one round trip: the record, the stream entry, their expiries, the expiry index, and the
 * publish to live subscribers, whose message carries the stream id XADD just chose (so it cannot be sent
 * in the same MULTI). A script is atomic as the MULTI was: no reader sees a record newer than its stream.
 * KEYS: job, job events, network's job list, expiry index. ARGV: record JSON, ttl, event type, view JSON,
 * network list ttl, expiry score, expiry member, the published message after its id (`,"jobId":...}`),
 * the events channel, [10, 11: the fenced script's], state list key prefix, the job's state, its createdAt
 * ms, its id, and its owner's quota set ("" for none: released when the state is terminal). The job moves
 * to its state's index in the same script, so list-jobs by state never disagrees with the record.
 */
const COMMIT_EVENT_LUA = `
local JOB_STATES = {${JOB_STATES.map((s) => `'${s}'`).join(", ")}}
for _, s in ipairs(JOB_STATES) do
  if s ~= ARGV[13] then redis.call('ZREM', ARGV[12] .. s, ARGV[15]) end
end
redis.call('ZADD', ARGV[12] .. ARGV[13], ARGV[14], ARGV[15])
if ARGV[16] ~= '' and (ARGV[13] == 'succeeded' or ARGV[13] == 'failed') then redis.call('ZREM', ARGV[16], ARGV[15]) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local id = redis.call('XADD', KEYS[2], '*', 'type', ARGV[3], 'job', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
redis.call('PUBLISH', ARGV[9], '{"id":' .. cjson.encode(id) .. ARGV[8])
return id
`;

/*
 * The same event written only under a lock, fence and write in one round trip: when KEYS[5] (the network
 * lock) holds ARGV[10] (this run's token), it is renewed to ARGV[11] ms and the event written; otherwise
 * nothing is written or renewed and the answer is "lost" (never a stream id, which is "<ms>-<seq>").
 * Atomic, so no other holder can take the lock between the check and the write.
 * A job record that is gone (KEYS[1]: the store lost its data, or the record expired) is answered "lost" too and
 * never written back: its queue entry went with it, so a record written again would show the job queued or
 * running for its whole retention, with nothing left to run it (found by the chaos run, ADR 0048). A record that
 * already ended (succeeded or failed) is answered "lost" as well: its outcome stands, and another delivery of the
 * same job (BullMQ gave it out again after its lock lapsed) must not write its own over it (chaos seed 3003: a
 * delete's "succeeded", seen by its client, overwritten by the other delivery's "failed: not found").
 */
export const FENCED_COMMIT_EVENT_LUA = `
if redis.call('GET', KEYS[5]) ~= ARGV[10] then return 'lost' end
local stored = redis.call('GET', KEYS[1])
if not stored then return 'lost' end
local ended = cjson.decode(stored)['state']
if ended == 'succeeded' or ended == 'failed' then return 'lost' end
redis.call('PEXPIRE', KEYS[5], ARGV[11])
${COMMIT_EVENT_LUA}`;

/** The answer of FENCED_COMMIT_EVENT_LUA when the lock was not held (nothing written). */
const FENCE_LOST = "lost";

/** KEYS and ARGV of the event scripts for a record's event. */
function commitEventArgs(
  keys: Keys,
  r: JobRecord,
  type: JobEventType,
): { keys: string[]; argv: string[]; indexArgv: string[]; view: JobView } {
  const view = toJobView(r);
  const ret = jobRetention();
  const ttl = type === "progress" ? ret.unfinishedSeconds : ret.finishedSeconds;
  const viewJson = JSON.stringify(view);
  // The published event, as JSON.stringify would write it, minus its first member (the id Redis picks).
  const rest = `,"jobId":${JSON.stringify(r.id)},"network":${JSON.stringify(r.network)},"type":${JSON.stringify(type)},"job":${viewJson}}`;
  const scriptKeys = [keys.job(r.id), keys.jobEvents(r.id), keys.networkJobs(r.network), keys.jobExpiry];
  const argv = [
    JSON.stringify(r),
    String(ttl),
    type,
    viewJson,
    String(ret.unfinishedSeconds + ret.finishedSeconds),
    String(Date.now() + ttl * 1000),
    expiryMember(r),
    rest,
    keys.eventsChannel,
  ];
  const indexArgv = [keys.stateJobs(""), r.state, String(Date.parse(r.createdAt)), r.id, r.owner ? keys.tokenJobs(r.owner) : ""];
  return { keys: scriptKeys, argv, indexArgv, view };
}

export async function commitJobEvent(redis: Redis, keys: Keys, r: JobRecord, type: JobEventType): Promise<JobEvent> {
  const e = commitEventArgs(keys, r, type);
  const id = (await evalScript(redis, COMMIT_EVENT_LUA, e.keys.length, ...e.keys, ...e.argv, "", "", ...e.indexArgv)) as string;
  return { id, jobId: r.id, network: r.network, type, job: e.view };
}

/**
 * commitJobEvent under a held lock (`lock`: its key, this holder's token, the TTL to renew it to), in one
 * round trip: renews the lock and writes the event only while the lock holds the token; null when it does
 * not (nothing written, nothing renewed). Pass it to HeldLock.renewWith so the lock learns what was found.
 */
export async function commitFencedJobEvent(
  redis: Redis,
  keys: Keys,
  r: JobRecord,
  type: JobEventType,
  lock: LockFenceArgs,
): Promise<JobEvent | null> {
  const e = commitEventArgs(keys, r, type);
  const fencedKeys = [...e.keys, lock.key];
  const id = (await evalScript(
    redis,
    FENCED_COMMIT_EVENT_LUA,
    fencedKeys.length,
    ...fencedKeys,
    ...e.argv,
    lock.token,
    String(lock.ttlMs),
    ...e.indexArgv,
  )) as string;
  if (id === FENCE_LOST) return null;
  return { id, jobId: r.id, network: r.network, type, job: e.view };
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
export async function readJobEventsAfter(
  redis: Redis,
  keys: Keys,
  job: JobRecord | { id: string; network: string },
  afterId: string,
): Promise<JobEvent[]> {
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

/*
 * Newest-first ids of the jobs in every given index (KEYS: one to three of the network's, host's and state's
 * lists, or the global one), up to ARGV[1]. Read-only: the smallest index is walked newest first, in chunks,
 * and each id is kept when every other index holds it, so a filter no job matches reads no job (and an empty
 * index ends it at once).
 */
const LIST_JOB_IDS_LUA = `
local want = tonumber(ARGV[1])
local drive, size = 1, -1
for i = 1, #KEYS do
  local n = redis.call('ZCARD', KEYS[i])
  if size < 0 or n < size then drive, size = i, n end
end
local out = {}
local offset = 0
while #out < want and offset < size do
  local ids = redis.call('ZREVRANGE', KEYS[drive], offset, offset + 199)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local all = true
    for i = 1, #KEYS do
      if i ~= drive and not redis.call('ZSCORE', KEYS[i], id) then all = false break end
    end
    if all then
      out[#out + 1] = id
      if #out >= want then break end
    end
  end
  offset = offset + 200
end
return out
`;

/** list-jobs filters answered from the indexes. */
export interface JobFilter {
  network?: string | undefined;
  host?: string | undefined;
  state?: JobState | undefined;
}

/**
 * Newest-first ids of the jobs matching every filter, up to `count`, from the network, host and state indexes
 * (the global one without filters): one read-only script, no job record read.
 */
export async function listJobIdsBy(redis: Redis, keys: Keys, f: JobFilter, count: number): Promise<string[]> {
  const idx: string[] = [];
  if (f.network !== undefined) idx.push(keys.networkJobs(f.network));
  if (f.host !== undefined) idx.push(keys.hostJobs(f.host));
  if (f.state !== undefined) idx.push(keys.stateJobs(f.state));
  if (idx.length === 0) idx.push(keys.jobs);
  return (await evalScript(redis, LIST_JOB_IDS_LUA, idx.length, ...idx, String(count))) as string[];
}
