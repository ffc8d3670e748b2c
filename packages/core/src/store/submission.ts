/**
 * The one step that makes a job submission take effect, guarded by a
 * deadline that Redis itself checks. A submission that the API answered
 * with an error (503 after a timeout) may still have its commands buffered
 * in Redis (CLIENT PAUSE, a stalled server): they run later, see that the
 * deadline has passed (Redis's TIME, inside the script), and do nothing.
 *
 * The commit is one MULTI: [commit script] [BullMQ add] [tombstone drop].
 * The commit script takes the name/subnet claim (CLAIM_LUA, verbatim, which
 * also places: it claims only when the queue's host is the least-loaded one
 * that fits, else it names the host to commit on instead) and writes the job
 * record (SAVE_NEW_JOB_LUA, verbatim), or, when it refuses (deadline passed,
 * claim refused or placed elsewhere), leaves a tombstone hash at the BullMQ job key so that the BullMQ
 * add that follows in the same transaction sees "a job with this id exists"
 * and adds nothing (BullMQ's documented duplicate-id behaviour). The last
 * script removes the tombstone again. So claim, record and queue entry
 * appear together, or none of them does. (The job writes name keys the
 * script computes rather than declares: fine on one Redis, and on a Redis
 * Cluster when the prefix is a hash tag, as BullMQ's own scripts require.)
 */
import type { ChainableCommander } from "ioredis";
import type { AppError } from "../errors";
import { CLAIM_LUA, type PlacementRequest, claimScriptArgs, readClaimAnswer } from "./claims";
import { type JobRecord, SAVE_NEW_JOB_LUA, saveNewJobScriptArgs } from "./jobs";
import { PORT_CLAIM_LUA, type PortClaim, portClaimScriptArgs, portConflict } from "./port-claims";
import type { Keys } from "./keys";

/** Field marking a tombstone (a real BullMQ job hash never has it). */
const TOMBSTONE_FIELD = "netforge-tombstone";

/* KEYS[1] = the BullMQ job key of this submission (tombstone), then the
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
local ki, ai = 2, 2
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
if #pk > 0 then
  local res = portclaim(pk, pa)
  if res[1] ~= 'OK' then return refuse(res) end
end
if #ck > 0 then
  local res = claim(ck, ca)
  if res[1] ~= 'OK' then return refuse(res) end
end
save(sk, sa)
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
  /** The name/subnet claim a create takes with its record (its target: the queue's host); null for other actions. */
  claim: PlacementRequest | null;
  /** The host port a port forward claims with its record (configure-network-port-forward add); null or absent otherwise. */
  portClaim?: PortClaim | null;
  /** The BullMQ job key the add that follows in the same MULTI will use. */
  bullJobKey: string;
}

/**
 * Queue the commit script on `multi` (EVAL with the script text: inside a
 * transaction a NOSCRIPT error would not stop the commands after it).
 */
export function queueCommit(multi: ChainableCommander, keys: Keys, c: SubmissionCommit): void {
  const claim = c.claim ? claimScriptArgs(keys, c.claim) : { keys: [], argv: [] };
  const save = saveNewJobScriptArgs(keys, c.record);
  const port = c.portClaim ? portClaimScriptArgs(keys, c.portClaim) : { keys: [], argv: [] };
  const scriptKeys = [c.bullJobKey, ...claim.keys, ...save.keys, ...port.keys];
  multi.eval(
    COMMIT_LUA,
    scriptKeys.length,
    ...scriptKeys,
    String(c.deadlineMs),
    String(claim.keys.length),
    String(claim.argv.length),
    ...claim.argv,
    String(save.keys.length),
    String(save.argv.length),
    ...save.argv,
    String(port.keys.length),
    String(port.argv.length),
    ...port.argv,
  );
}

/** Queue the removal of a tombstone the commit script may have left (a real job at that key stays). */
export function queueTombstoneDrop(multi: ChainableCommander, bullJobKey: string): void {
  multi.eval(DROP_TOMBSTONE_LUA, 1, bullJobKey);
}

/**
 * The outcome of a commit script: applied, refused by the deadline, placed on
 * another host by the claim (nothing applied: commit again there), or refused
 * by the claim (its error).
 */
export type CommitOutcome =
  | { kind: "applied" }
  | { kind: "expired"; redisNowMs: number }
  | { kind: "place"; host: string }
  | { kind: "refused"; error: AppError };

/** Read the commit script's answer. */
export function commitOutcome(res: unknown, claim: PlacementRequest | null, portClaim: PortClaim | null = null): CommitOutcome {
  const r = res as string[];
  if (r[0] === "OK") return { kind: "applied" };
  if (r[0] === "EXPIRED") return { kind: "expired", redisNowMs: Number(r[1]) };
  if (r[0] === "PORT_CONFLICT" && portClaim) return { kind: "refused", error: portConflict(portClaim, String(r[1])) };
  if (claim === null) throw new Error(`unexpected commit answer ${JSON.stringify(res)}`);
  const answer = readClaimAnswer(claim, r);
  if (answer.kind === "claimed") throw new Error(`unexpected commit answer ${JSON.stringify(res)}`);
  return answer;
}
