/**
 * The one step that makes a job submission take effect, guarded by a
 * deadline that Redis itself checks. A submission that the API answered
 * with an error (503 after a timeout) may still have its commands buffered
 * in Redis (CLIENT PAUSE, a stalled server): they run later, see that the
 * deadline has passed (Redis's TIME, inside the script), and do nothing.
 *
 * The commit is one MULTI: [tombstone] [commit script] [BullMQ add]
 * [tombstone drop]. The tombstone is a hash written by a plain HSET at the
 * BullMQ job key of this submission, so the BullMQ add that follows in the
 * same transaction sees "a job with this id exists" and adds nothing
 * (BullMQ's documented duplicate-id behaviour), unless the commit script
 * removed it. The commit script takes the name/subnet claim (CLAIM_LUA,
 * verbatim, which also places: it claims only when the queue's host is the
 * least-loaded one that fits, else it names the host to commit on instead)
 * and writes the job record (SAVE_NEW_JOB_LUA, verbatim), and only then
 * deletes the tombstone. When it refuses (deadline passed, claim refused or
 * placed elsewhere) the tombstone stays. The last command, a plain HDEL of
 * the tombstone's field, removes a tombstone that stayed (a hash whose last
 * field goes is deleted) and leaves a real job alone (it has no such field).
 * So claim, record and queue entry appear together, or none of them does.
 *
 * The commit script is sent as EVALSHA (its text is ~4 KB, which EVAL wrote
 * to the socket and Redis hashed with every submission). Inside a MULTI a NOSCRIPT
 * (SCRIPT FLUSH, a restarted or failed-over Redis) does not stop the commands
 * after it; the guard is the tombstone: it is written by a plain command
 * before the script and removed only by the script, so a commit script that
 * did not run leaves the add a no-op (fail closed: nothing applied). The
 * caller then loads the scripts (loadSubmissionScripts) and commits again.
 * The scripts are loaded together, in one MULTI, with BullMQ's add scripts:
 * a SCRIPT FLUSH removes all of them, so "the commit script is present"
 * implies "the add script is present" and a commit that ran is never
 * followed by an add that NOSCRIPTs (which would leave a record without a
 * queue entry; the caller still handles that case by failing the job).
 * (The job writes name keys the script computes rather than declares: fine
 * on one Redis, and on a Redis Cluster when the prefix is a hash tag, as
 * BullMQ's own scripts require.)
 */
import { createHash } from "node:crypto";
import type { ChainableCommander, Redis } from "ioredis";
import type { AppError } from "../errors";
import { CLAIM_LUA, type PlacementRequest, claimScriptArgs, readClaimAnswer } from "./claims";
import { type JobRecord, jobRetention, SAVE_NEW_JOB_LUA, saveNewJobScriptArgs } from "./jobs";
import { limitReached } from "../limits";
import { PORT_CLAIM_LUA, type PortClaim, portClaimScriptArgs, portConflict } from "./port-claims";
import type { Keys } from "./keys";
import { STORE_SETTLED_LUA } from "./store-epoch";

/** Field marking a tombstone (a real BullMQ job hash never has it). */
const TOMBSTONE_FIELD = "netforge-tombstone";

/* KEYS[1] = the BullMQ job key of this submission (tombstone), KEYS[2] and
 * KEYS[3] the store's epoch and rebuilding marks (store-epoch.ts: nothing is
 * granted while the store re-publishes after losing its data), then the
 * claim's keys, then the record's keys. ARGV[1] = deadline (ms, Redis clock),
 * then for the claim and for the record each: number of keys, number of
 * args, the args. The claim and save scripts are wrapped as functions whose
 * parameters shadow KEYS/ARGV. */
const COMMIT_LUA = `
local function claim(KEYS, ARGV)
${CLAIM_LUA}
end
local function save(KEYS, ARGV)
${SAVE_NEW_JOB_LUA}
end
local function portclaim(KEYS, ARGV)
${PORT_CLAIM_LUA}
end
${STORE_SETTLED_LUA}
local tomb = KEYS[1]
-- A refusal (any early return) leaves the tombstone the transaction wrote before this script: the add after it adds nothing.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[1]) then return {'EXPIRED', tostring(now)} end
local unsettled = storeSettled(KEYS[2], KEYS[3], now, ARGV[2])
if unsettled then return unsettled end
local ki, ai = 4, 3
local function part()
  local nk, na = tonumber(ARGV[ai]), tonumber(ARGV[ai + 1])
  local k, a = {}, {}
  for i = 1, nk do k[i] = KEYS[ki + i - 1] end
  for i = 1, na do a[i] = ARGV[ai + 1 + i] end
  ki, ai = ki + nk, ai + 2 + na
  return k, a
end
local ck, ca = part()
local sk, sa = part()
local pk, pa = part()
local qk, qa = part()
if #qk > 0 then
  redis.call('ZREMRANGEBYSCORE', qk[1], '-inf', now)
  local n = redis.call('ZCARD', qk[1])
  if n >= tonumber(qa[1]) then return {'LIMIT_REACHED', qa[1], tostring(n)} end
end
if #pk > 0 then
  local res = portclaim(pk, pa)
  if res[1] ~= 'OK' then return res end
end
if #ck > 0 then
  local res = claim(ck, ca)
  if res[1] ~= 'OK' then return res end
end
save(sk, sa)
if #qk > 0 then
  redis.call('ZADD', qk[1], now + tonumber(qa[3]), qa[2])
  redis.call('PEXPIRE', qk[1], tonumber(qa[3]))
end
if redis.call('HGET', tomb, '${TOMBSTONE_FIELD}') then redis.call('DEL', tomb) end
return {'OK'}
`;

const COMMIT_SHA = createHash("sha1").update(COMMIT_LUA).digest("hex");

/** True for the error of an EVALSHA whose script Redis does not hold. */
export function isNoScriptError(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("NOSCRIPT");
}

/**
 * Load the commit script, together with `alongside` (BullMQ's add scripts),
 * in one MULTI: atomic, so no SCRIPT FLUSH can fall between them (see the
 * file comment for why they must come and go together).
 */
export async function loadSubmissionScripts(redis: Redis, alongside: string[]): Promise<void> {
  const multi = redis.multi();
  for (const lua of alongside) multi.script("LOAD", lua);
  multi.script("LOAD", COMMIT_LUA);
  const res = await multi.exec();
  for (const [err] of res ?? []) if (err) throw err;
}

/** What one commit attempt applies. */
export interface SubmissionCommit {
  /** Latest Redis time (ms) at which the commit may still take effect. */
  deadlineMs: number;
  record: JobRecord;
  /** The name/subnet claim a create takes with its record (its target: the queue's host); null for other actions. */
  claim: PlacementRequest | null;
  /** The host port a port forward claims with its record (configure-network-port-forward add); null or absent otherwise. */
  portClaim?: PortClaim | null;
  /** The BullMQ job key the add that follows in the same MULTI will use. */
  bullJobKey: string;
  /** The submitting token's queued-jobs quota (its set and limit); null or absent: none. */
  quota?: TokenQuota | null;
  /** The store epoch the door saw settled (store-epoch.ts): another one at commit time refuses. Absent: none seen. */
  storeEpoch?: string | null;
}

/** A token's quota of unfinished jobs: `key` is keys.tokenJobs(label). */
export interface TokenQuota {
  key: string;
  limit: number;
}

/**
 * Queue the tombstone and the commit script on `multi` (EVALSHA: a NOSCRIPT
 * leaves the tombstone, so the add after it adds nothing). The commit
 * script's answer is the second result of the transaction.
 */
export function queueCommit(multi: ChainableCommander, keys: Keys, c: SubmissionCommit): void {
  const claim = c.claim ? claimScriptArgs(keys, c.claim) : { keys: [], argv: [] };
  const save = saveNewJobScriptArgs(keys, c.record);
  const port = c.portClaim ? portClaimScriptArgs(keys, c.portClaim) : { keys: [], argv: [] };
  const quota = c.quota
    ? { keys: [c.quota.key], argv: [String(c.quota.limit), c.record.id, String(jobRetention().unfinishedSeconds * 1000)] }
    : { keys: [], argv: [] };
  const scriptKeys = [c.bullJobKey, keys.storeEpoch, keys.storeRebuilding, ...claim.keys, ...save.keys, ...port.keys, ...quota.keys];
  // The object form: the multi may be BullMQ's adapter, whose hset takes { field: value } (so does ioredis's).
  multi.hset(c.bullJobKey, { [TOMBSTONE_FIELD]: "1" });
  multi.evalsha(
    COMMIT_SHA,
    scriptKeys.length,
    ...scriptKeys,
    String(c.deadlineMs),
    c.storeEpoch ?? "",
    String(claim.keys.length),
    String(claim.argv.length),
    ...claim.argv,
    String(save.keys.length),
    String(save.argv.length),
    ...save.argv,
    String(port.keys.length),
    String(port.argv.length),
    ...port.argv,
    String(quota.keys.length),
    String(quota.argv.length),
    ...quota.argv,
  );
}

/**
 * Queue the removal of a tombstone the commit script left (a plain HDEL: a
 * hash whose last field goes is deleted; a real job has no such field).
 */
export function queueTombstoneDrop(multi: ChainableCommander, bullJobKey: string): void {
  multi.hdel(bullJobKey, TOMBSTONE_FIELD);
}

/**
 * The outcome of a commit script: applied, refused by the deadline, placed on
 * another host by the claim (nothing applied: commit again there), or refused
 * by the claim (its error).
 */
export type CommitOutcome =
  | { kind: "applied" }
  | { kind: "expired"; redisNowMs: number }
  | { kind: "rebuilding"; settlesInMs: number }
  | { kind: "place"; host: string }
  | { kind: "refused"; error: AppError };

/** Read the commit script's answer. */
export function commitOutcome(res: unknown, claim: PlacementRequest | null, portClaim: PortClaim | null = null): CommitOutcome {
  const r = res as string[];
  if (r[0] === "OK") return { kind: "applied" };
  if (r[0] === "LIMIT_REACHED") return { kind: "refused", error: quotaReached(Number(r[1]), Number(r[2]) + 1) };
  if (r[0] === "EXPIRED") return { kind: "expired", redisNowMs: Number(r[1]) };
  if (r[0] === "REBUILDING") return { kind: "rebuilding", settlesInMs: Number(r[2]) };
  if (r[0] === "PORT_CONFLICT" && portClaim) {
    return { kind: "refused", error: portConflict(portClaim, String(r[1]), r[2] === undefined ? undefined : String(r[2])) };
  }
  if (claim === null) throw new Error(`unexpected commit answer ${JSON.stringify(res)}`);
  const answer = readClaimAnswer(claim, r);
  if (answer.kind === "claimed") throw new Error(`unexpected commit answer ${JSON.stringify(res)}`);
  return answer;
}

/** The refusal of a submission over its token's quota of unfinished jobs. */
export function quotaReached(limit: number, count: number): AppError {
  return limitReached("queuedJobsPerToken", limit, count, "this token has too many jobs queued or running; wait for some to finish");
}

/** The quota check alone, nothing written (a dry run gets the answer the real call would). */
export async function checkTokenQuota(redis: Redis, quota: TokenQuota): Promise<void> {
  const n = await redis.zcount(quota.key, `(${Date.now()}`, "+inf");
  if (n >= quota.limit) throw quotaReached(quota.limit, n + 1);
}
