/**
 * Idempotency-Key support for job actions. The key record is taken with
 * SET NX before anything else happens (claims, job record, queue), so of two
 * concurrent requests with one key exactly one does the work; the other
 * answers with that job. Records are scoped per token: two clients using the
 * same key string never see each other's jobs.
 */
import { createHash } from "node:crypto";
import { AppError, validationError } from "@netforge/core/contract";
import { evalScript, type Keys, type Redis } from "@netforge/core/store";

/** How long a key is remembered (the contract's 24 h). */
export const IDEMPOTENCY_TTL_SECONDS = 86_400;

const PRINTABLE_1_TO_200 = /^[\x20-\x7e]{1,200}$/;

/** The Idempotency-Key header value, null when absent; VALIDATION_FAILED when it is not 1-200 printable characters. */
export function parseIdempotencyKey(header: string | undefined | null): string | null {
  if (header === undefined || header === null) return null;
  if (!PRINTABLE_1_TO_200.test(header)) {
    throw validationError([{ path: "header.Idempotency-Key", message: "must be 1-200 printable ASCII characters" }]) as AppError;
  }
  return header;
}

/**
 * JSON with object keys sorted at every level, so bodies that differ only in
 * key order or whitespace hash alike. Written as text (never rebuilt as an
 * object) so a "__proto__" key stays data.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const entries = Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`);
  return `{${entries.join(",")}}`;
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** Fingerprint of a request: the action and its canonical body. */
export function requestFingerprint(action: string, body: unknown): string {
  return sha256(`${action}\n${canonicalJson(body)}`);
}

/**
 * Redis key of a (token, Idempotency-Key) pair; hashed so neither appears in
 * Redis. The token is hashed on its own first: a fixed-length prefix makes the
 * pair unambiguous (with `token:key`, token "x" + key "y:k1" and token "x:y" +
 * key "k1" were the same scope, so one token could replay another's job).
 */
export function idempotencyRedisKey(keys: Keys, token: string, key: string): string {
  return keys.idempotency(sha256(`${sha256(token)}\n${key}`));
}

interface StoredIdempotency {
  hash: string;
  jobId: string;
  /** Redis time (ms) after which the request that took the key can no longer create its job. */
  deadline?: number;
}

/** Result of taking a key: ours (go ahead with `jobId`) or a repeat of an earlier request for `jobId`. */
export type IdempotencyClaim = { kind: "new" } | { kind: "repeat"; jobId: string };

/* Take the key unless it is held. A key whose request's deadline has passed
 * (Redis's clock) without its job record appearing can never get that job:
 * the request failed (e.g. answered 503 during an outage), so it is taken
 * over. Refused after our own deadline, like every write of a submission.
 * KEYS[1] key; ARGV: value, ttl, our deadline, job key prefix. */
const TAKE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[3]) then return {'EXPIRED'} end
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, prev = pcall(cjson.decode, raw)
  local stale = ok and type(prev) == 'table' and type(prev.deadline) == 'number' and now > prev.deadline
    and redis.call('EXISTS', ARGV[4] .. tostring(prev.jobId)) == 0
  if not stale then return {'HELD', raw} end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {'OK'}`;

/**
 * Take the key for a request that will create job `jobId` by `deadlineMs`
 * (Redis time). A repeat with the same fingerprint gets the original job id;
 * a different fingerprint is IDEMPOTENCY_MISMATCH. Past the deadline (the
 * command reached Redis late): UNAVAILABLE, nothing written.
 */
export async function claimIdempotencyKey(
  redis: Redis,
  keys: Keys,
  redisKey: string,
  hash: string,
  jobId: string,
  deadlineMs: number,
): Promise<IdempotencyClaim> {
  const value: StoredIdempotency = { hash, jobId, deadline: deadlineMs };
  const res = (await evalScript(
    redis,
    TAKE_LUA,
    1,
    redisKey,
    JSON.stringify(value),
    String(IDEMPOTENCY_TTL_SECONDS),
    String(deadlineMs),
    keys.job(""),
  )) as string[];
  if (res[0] === "OK") return { kind: "new" };
  if (res[0] === "EXPIRED") throw new AppError("UNAVAILABLE", "the store (Redis) answered too late; the request was not applied", {});
  const prev = JSON.parse(res[1] as string) as StoredIdempotency;
  if (prev.hash !== hash) {
    throw new AppError("IDEMPOTENCY_MISMATCH", "this Idempotency-Key was already used with a different request body", {
      originalJobId: prev.jobId,
    });
  }
  return { kind: "repeat", jobId: prev.jobId };
}

const RELEASE_LUA = `
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw).jobId == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Forget the key (only if it still belongs to `jobId`): the request failed before its job existed. */
export async function releaseIdempotencyKey(redis: Redis, redisKey: string, jobId: string): Promise<void> {
  await evalScript(redis, RELEASE_LUA, 1, redisKey, jobId);
}
