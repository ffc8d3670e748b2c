/**
 * The one step that makes a job submission take effect, guarded by a
 * deadline that Redis itself checks. A submission that the API answered
 * with an error (503 after a timeout) may still have its commands buffered
 * in Redis (CLIENT PAUSE, a stalled server): they run later, see that the
 * deadline has passed (Redis's TIME, inside the script), and do nothing.
 *
 * The commit is one MULTI: [commit script] [BullMQ add] [tombstone drop].
 * The commit script takes the name/subnet claim (CLAIM_LUA, verbatim) and
 * writes the job record, or, when it refuses (deadline passed, claim
 * refused), leaves a tombstone hash at the BullMQ job key so that the BullMQ
 * add that follows in the same transaction sees "a job with this id exists"
 * and adds nothing (BullMQ's documented duplicate-id behaviour). The last
 * script removes the tombstone again. So claim, record and queue entry
 * appear together, or none of them does. (The job writes name keys the
 * script computes rather than declares: fine on one Redis, and on a Redis
 * Cluster when the prefix is a hash tag, as BullMQ's own scripts require.)
 */
import type { ChainableCommander } from "ioredis";
import type { AppError } from "../errors";
import { CLAIM_LUA, type ClaimRequest, claimRefusal, claimScriptArgs } from "./claims";
import { type JobRecord, newJobWrites } from "./jobs";
import type { Keys } from "./keys";

/** Field marking a tombstone (a real BullMQ job hash never has it). */
const TOMBSTONE_FIELD = "netforge-tombstone";

/* KEYS[1] = the BullMQ job key of this submission (tombstone), KEYS[2..] = claim keys.
 * ARGV[1] = deadline (ms, Redis clock), ARGV[2] = number of claim keys,
 * ARGV[3] = number of claim args, ARGV[4..] = claim args, then the JSON list of writes.
 * The claim script is wrapped as a function whose parameters shadow KEYS/ARGV. */
const COMMIT_LUA = `
local function claim(KEYS, ARGV)
${CLAIM_LUA}
end
local tomb = KEYS[1]
local function refuse(res)
  if redis.call('EXISTS', tomb) == 0 then
    redis.call('HSET', tomb, '${TOMBSTONE_FIELD}', '1')
    redis.call('PEXPIRE', tomb, 60000)
  end
  return res
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[1]) then return refuse({'EXPIRED', tostring(now)}) end
local nk, na = tonumber(ARGV[2]), tonumber(ARGV[3])
if nk > 0 then
  local ck, ca = {}, {}
  for i = 1, nk do ck[i] = KEYS[1 + i] end
  for i = 1, na do ca[i] = ARGV[3 + i] end
  local res = claim(ck, ca)
  if res[1] ~= 'OK' then return refuse(res) end
end
for _, w in ipairs(cjson.decode(ARGV[4 + na])) do redis.call(unpack(w)) end
return {'OK'}
`;

const DROP_TOMBSTONE_LUA = `
if redis.call('HGET', KEYS[1], '${TOMBSTONE_FIELD}') then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** What one commit attempt applies. */
export interface SubmissionCommit {
  /** Latest Redis time (ms) at which the commit may still take effect. */
  deadlineMs: number;
  record: JobRecord;
  /** The name/subnet claim a create takes with its record; null for other actions. */
  claim: ClaimRequest | null;
  /** The BullMQ job key the add that follows in the same MULTI will use. */
  bullJobKey: string;
}

/**
 * Queue the commit script on `multi` (EVAL with the script text: inside a
 * transaction a NOSCRIPT error would not stop the commands after it).
 */
export function queueCommit(multi: ChainableCommander, keys: Keys, c: SubmissionCommit): void {
  const claim = c.claim ? claimScriptArgs(keys, c.claim) : { keys: [], argv: [] };
  const scriptKeys = [c.bullJobKey, ...claim.keys];
  multi.eval(
    COMMIT_LUA,
    scriptKeys.length,
    ...scriptKeys,
    String(c.deadlineMs),
    String(claim.keys.length),
    String(claim.argv.length),
    ...claim.argv,
    JSON.stringify(newJobWrites(keys, c.record)),
  );
}

/** Queue the removal of a tombstone the commit script may have left (a real job at that key stays). */
export function queueTombstoneDrop(multi: ChainableCommander, bullJobKey: string): void {
  multi.eval(DROP_TOMBSTONE_LUA, 1, bullJobKey);
}

/** The outcome of a commit script: applied, refused by the deadline, or refused by the claim (its error). */
export type CommitOutcome = { kind: "applied" } | { kind: "expired"; redisNowMs: number } | { kind: "refused"; error: AppError };

/** Read the commit script's answer. */
export function commitOutcome(res: unknown, claim: ClaimRequest | null): CommitOutcome {
  const r = res as string[];
  if (r[0] === "OK") return { kind: "applied" };
  if (r[0] === "EXPIRED") return { kind: "expired", redisNowMs: Number(r[1]) };
  if (claim === null) throw new Error(`unexpected commit answer ${JSON.stringify(res)}`);
  const error = claimRefusal(claim, r);
  if (!error) throw new Error(`unexpected commit answer ${JSON.stringify(res)}`);
  return { kind: "refused", error };
}
