/**
 * Cluster-wide reservations of network names and per-host subnets, taken
 * atomically at the API's door so two concurrent create calls cannot both be
 * accepted, and the per-host count placement balances on. A claim lives as
 * long as the network (or its pending create job); the worker releases it when
 * the create job fails or the network is deleted, and the API's sweeper when
 * nothing holds it any more (see releaseUnheldClaim).
 */
import type { Redis } from "ioredis";
import { AppError } from "../errors";
import { type Cidr, formatCidr, parseCidrOrThrow } from "../net/ipv4";
import { formatCidr6, hex128, parseCidr6OrThrow } from "../net/ipv6";
import { hostOverlapMessage } from "../net/protected";
import type { Keys } from "./keys";
import { evalScript } from "./scripts";

/* One script places and claims, so no other client can slip in between and
 * concurrent creates see each other's claims. KEYS: names, since, then 4 per
 * candidate host (claimed subnets, their index, occupied subnets, claimed
 * names of the host); ARGV: name, first, last, cidr, target, mode ('check':
 * only answer where it would be claimed, writing nothing), then the
 * candidate ids. Candidates are tried from the fewest claimed names (SCARD:
 * networks plus creates in flight, at this instant), ties in the order given;
 * the first whose subnets do not clash wins. A name clash ends it at once
 * (names are cluster-wide); when every candidate clashes, the first clash is
 * reported. With a target (the host whose queue the caller's transaction
 * enqueues on), a winner other than the target claims nothing and answers
 * {'PLACE', winner}: the caller commits again on that host.
 * Claimed subnets of a host never overlap each other (this script is the only
 * way in), so sorted by first address they are also sorted by last address:
 * the only claimed subnet that can overlap [f, l] is the one with the greatest
 * first address <= l. That makes the check O(log n) instead of a scan.
 * Index members whose hash entry is gone or different are stale (the hash is
 * the record) and are dropped on the way. Occupied subnets (host interfaces
 * and routes, few and possibly nested) are scanned. Bounds are uint32s, exact
 * in Lua's doubles.
 * IPv6 (ARGV[7]: '' or "first-last-cidr", bounds as 32 hex digits: equal
 * lengths, so text order is number order) is claimed in the same subnets hash
 * under the field "<name>|v6" (no name has a '|'), checked by a scan of that
 * hash's v6 fields (few: only networks with IPv6 have one). Candidates from
 * ARGV[8]. */
export const CLAIM_LUA = `
local names, since = KEYS[1], KEYS[2]
local name, first, last, cidr, target = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local check_only = ARGV[6] == 'check'
local v6 = ARGV[7]
local owner = redis.call('HGET', names, name)
if owner then return {'NAME_TAKEN', owner} end
local cands = {}
for i = 8, #ARGV do
  local k = 3 + (i - 8) * 4
  cands[#cands + 1] = {host = ARGV[i], order = i, subnets = KEYS[k], index = KEYS[k + 1], occupied = KEYS[k + 2],
    members = KEYS[k + 3], load = redis.call('SCARD', KEYS[k + 3])}
end
table.sort(cands, function(a, b) if a.load ~= b.load then return a.load < b.load end return a.order < b.order end)
local function clash(c, f, l)
  while true do
    local prev = redis.call('ZREVRANGEBYSCORE', c.index, l, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if not prev[1] then break end
    local n, e, pc = string.match(prev[1], '^(.-)|(%d+)|(.*)$')
    if n and redis.call('HGET', c.subnets, n) == prev[2] .. '-' .. e .. '-' .. pc then
      if tonumber(e) >= f then return {'CIDR_CONFLICT', c.host, 'network', n, pc} end
      break
    end
    redis.call('ZREM', c.index, prev[1])
  end
  local all = redis.call('HGETALL', c.occupied)
  local found = nil
  for i = 1, #all, 2 do
    local s, e, oc = string.match(all[i+1], '^(%d+)-(%d+)-(.*)$')
    if s and tonumber(s) <= l and f <= tonumber(e) then
      found = found or {'CIDR_CONFLICT', c.host, 'host', all[i], oc}
      -- An address the host must keep reaching (owner "a.b.c.d, what") is named before anything else it overlaps.
      if string.match(all[i], '^%d') then return {'CIDR_CONFLICT', c.host, 'host', all[i], oc} end
    end
  end
  return found
end
local v6f, v6l = string.match(v6, '^(%x+)-(%x+)-')
local function clash6(c)
  local all = redis.call('HGETALL', c.subnets)
  for i = 1, #all, 2 do
    local n = string.match(all[i], '^(.-)|v6$')
    if n and n ~= name then
      local f, l, oc = string.match(all[i+1], '^(%x+)-(%x+)-(.*)$')
      if f and f <= v6l and v6f <= l then return {'CIDR_CONFLICT', c.host, 'network', n, oc} end
    end
  end
  return nil
end
local firstClash = nil
for _, c in ipairs(cands) do
  local bad = nil
  if first ~= '' then bad = clash(c, tonumber(first), tonumber(last)) end
  if not bad and v6f then bad = clash6(c) end
  if bad then
    firstClash = firstClash or bad
  elseif target ~= '' and c.host ~= target then
    return {'PLACE', c.host}
  elseif check_only then
    return {'OK', c.host}
  else
    if first ~= '' then
      redis.call('HSET', c.subnets, name, first .. '-' .. last .. '-' .. cidr)
      redis.call('ZADD', c.index, first, name .. '|' .. last .. '|' .. cidr)
    end
    if v6f then redis.call('HSET', c.subnets, name .. '|v6', v6) end
    local t = redis.call('TIME')
    redis.call('HSET', names, name, c.host)
    redis.call('SADD', c.members, name)
    redis.call('HSET', since, name, tostring(t[1] * 1000 + math.floor(t[2] / 1000)))
    return {'OK', c.host}
  end
end
return firstClash
`;

/* Drop a name's subnet from the hash and the index (value "first-last-cidr"). */
const DROP_SUBNET_LUA = `
local function drop(subnets, index, name)
  local v = redis.call('HGET', subnets, name)
  if v then
    local f, l, c = string.match(v, '^(%d+)-(%d+)-(.*)$')
    if f then redis.call('ZREM', index, name .. '|' .. l .. '|' .. c) end
    redis.call('HDEL', subnets, name)
  end
  redis.call('HDEL', subnets, name .. '|v6')
end
`;

/* KEYS: names, subnets, index, host names, since; ARGV: name, host. */
const RELEASE_LUA = `${DROP_SUBNET_LUA}
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  drop(KEYS[2], KEYS[3], ARGV[1])
  redis.call('SREM', KEYS[4], ARGV[1])
  redis.call('HDEL', KEYS[5], ARGV[1])
  return 1
end
return 0
`;

/* Release a claim only if nothing holds it, checked in the same script:
 * the claim is still the one the caller inspected (same host, same taken-at),
 * it is older than the grace period (a create in flight writes its job within
 * it), none of the network's newest jobs is queued or running, and whether the
 * network's index record exists is still what the caller saw (a create that
 * finished in between wrote it before ending its job).
 * KEYS: names, subnets, index, host names, since, the network's job list, the
 * network's record; ARGV: name, host, taken-at as read ('' when none), job key
 * prefix, grace ms, '1'/'0' whether the caller saw the record. */
const RELEASE_UNHELD_LUA = `${DROP_SUBNET_LUA}
local name, host, seen, jobPrefix, grace = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if redis.call('HGET', KEYS[1], name) ~= host then return {'CHANGED'} end
local since = redis.call('HGET', KEYS[5], name) or ''
if since ~= seen then return {'CHANGED'} end
if tostring(redis.call('EXISTS', KEYS[7])) ~= ARGV[6] then return {'CHANGED'} end
if since ~= '' then
  local t = redis.call('TIME')
  local age = t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(since)
  if age < grace then return {'FRESH', tostring(age)} end
end
local ids = redis.call('ZREVRANGE', KEYS[6], 0, 20 - 1)
for _, id in ipairs(ids) do
  local raw = redis.call('GET', jobPrefix .. id)
  if raw then
    local ok, job = pcall(cjson.decode, raw)
    local state = ok and type(job) == 'table' and job.state or nil
    if state == 'queued' or state == 'running' then return {'LIVE_JOB', id, state} end
  end
end
redis.call('HDEL', KEYS[1], name)
drop(KEYS[2], KEYS[3], name)
redis.call('SREM', KEYS[4], name)
redis.call('HDEL', KEYS[5], name)
return {'RELEASED'}
`;

/* Re-assert one present network's claim (reconcile). KEYS: names, subnets,
 * index, host names, since; ARGV: name, host, first, last, cidr, key prefix of
 * host name sets (a claim moved from another host leaves that host's set),
 * the IPv6 prefix as encodeSubnet6 writes it ('' : none). */
const ASSERT_LUA = `${DROP_SUBNET_LUA}
local prev = redis.call('HGET', KEYS[1], ARGV[1])
-- Held by another host that still counts it as its own (a host that was offline when the store was reset, and
-- the name was taken again meanwhile): a conflict, reported, never moved (ADR 0047).
if prev and prev ~= ARGV[2] and redis.call('SISMEMBER', ARGV[6] .. prev, ARGV[1]) == 1 then return {'CONFLICT', prev} end
if prev and prev ~= ARGV[2] then redis.call('SREM', ARGV[6] .. prev, ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[5], ARGV[1], tostring(t[1] * 1000 + math.floor(t[2] / 1000)))
end
if ARGV[3] ~= '' then
  if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] .. '-' .. ARGV[4] .. '-' .. ARGV[5] then
    drop(KEYS[2], KEYS[3], ARGV[1])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. '-' .. ARGV[4] .. '-' .. ARGV[5])
    redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
  end
end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], ARGV[1] .. '|v6', ARGV[7])
else redis.call('HDEL', KEYS[2], ARGV[1] .. '|v6') end
return {'OK'}
`;

/** How many of a network's newest jobs the release check reads for a live one (jobs on a network run one at a time). */
export const LIVE_JOB_SCAN = 20;

/** What to claim: a name on a host, with its subnet for routed networks. */
export interface ClaimRequest {
  name: string;
  host: string;
  cidr: string | null;
  /** Its IPv6 prefix (absent or null: none). */
  cidr6?: string | null;
}

/** Encode a subnet the way the claim script reads it. */
export function encodeSubnet(c: Cidr): string {
  return `${c.network}-${c.last}-${formatCidr(c)}`;
}

/** Encode an IPv6 prefix the way the claim script reads it ("" for none). */
export function encodeSubnet6(cidr6: string | null | undefined): string {
  if (!cidr6) return "";
  const c = parseCidr6OrThrow(cidr6);
  return `${hex128(c.network)}-${hex128(c.last)}-${formatCidr6(c)}`;
}

/** A placement claim: the name (and subnet) on the least-loaded fitting candidate. */
export interface PlacementRequest {
  name: string;
  cidr: string | null;
  /** The network's IPv6 prefix (claimed beside the IPv4 subnet); absent or null: none. */
  cidr6?: string | null;
  /** Online hosts that may take it (one for an explicit host). */
  candidates: string[];
  /** Claim only if the winner is this host (else the answer names the winner); null: claim on the winner. */
  target: string | null;
  /** Only check: answer as the claim would, writing nothing (dry runs). */
  checkOnly?: boolean;
}

/** KEYS and ARGV of CLAIM_LUA (also used where the claim runs inside the submission's commit script). */
export function claimScriptArgs(keys: Keys, req: PlacementRequest): { keys: string[]; argv: string[] } {
  if (req.candidates.length === 0) throw new Error("a claim needs at least one candidate host");
  let first = "";
  let last = "";
  let cidrText = "";
  if (req.cidr) {
    const c = parseCidrOrThrow(req.cidr);
    first = String(c.network);
    last = String(c.last);
    cidrText = formatCidr(c);
  }
  const hostKeys = req.candidates.flatMap((h) => [
    keys.claimedSubnets(h),
    keys.claimedSubnetIndex(h),
    keys.occupiedSubnets(h),
    keys.claimedHostNames(h),
  ]);
  return {
    keys: [keys.claimedNames, keys.claimedSince, ...hostKeys],
    argv: [req.name, first, last, cidrText, req.target ?? "", req.checkOnly ? "check" : "", encodeSubnet6(req.cidr6), ...req.candidates],
  };
}

/** What a CLAIM_LUA answer means: claimed (on which host), placed elsewhere (no claim taken), or refused. */
export type ClaimAnswer = { kind: "claimed"; host: string } | { kind: "place"; host: string } | { kind: "refused"; error: AppError };

/** Read a CLAIM_LUA answer. */
export function readClaimAnswer(req: { name: string; cidr: string | null; cidr6?: string | null }, res: string[]): ClaimAnswer {
  if (res[0] === "OK") return { kind: "claimed", host: res[1] as string };
  if (res[0] === "PLACE") return { kind: "place", host: res[1] as string };
  if (res[0] === "NAME_TAKEN") {
    return {
      kind: "refused",
      error: new AppError("NAME_TAKEN", `network name '${req.name}' is already used (on host ${res[1]})`, {
        name: req.name,
        host: res[1],
      }),
    };
  }
  if (res[0] !== "CIDR_CONFLICT") throw new Error(`unexpected claim answer ${JSON.stringify(res)}`);
  const [, host, kind, field, other] = res as [string, string, string, string, string];
  // An occupied entry's field is "owner|cidr" (unique per subnet; older workers wrote the owner alone).
  const owner = kind === "network" ? field : (field.split("|")[0] as string);
  // A clash with an IPv6 prefix names the request's IPv6 prefix (the script answers the other's in its text).
  const mine = other.includes(":") && req.cidr6 ? req.cidr6 : req.cidr;
  const message =
    kind === "network"
      ? `${mine} overlaps network '${owner}' (${other}) on host ${host}`
      : hostOverlapMessage(mine ?? "", owner, other, host);
  return {
    kind: "refused",
    error: new AppError("CIDR_CONFLICT", message, {
      cidr: mine,
      host,
      conflictsWith: kind === "network" ? { network: owner, cidr: other } : { owner, cidr: other },
    }),
  };
}

/**
 * Place a network on the least-loaded of `candidates` (fewest claimed names
 * at this instant: networks plus creates in flight) whose subnets do not
 * clash, and claim it there, in one script. Returns the chosen host; throws
 * NAME_TAKEN, or the first candidate's CIDR_CONFLICT when none fits. (Job
 * submissions claim inside their commit instead: store/submission.ts.)
 */
export async function placeAndClaimNetwork(
  redis: Redis,
  keys: Keys,
  req: { name: string; cidr: string | null; cidr6?: string | null },
  candidates: string[],
  opts: { checkOnly?: boolean } = {},
): Promise<string> {
  const a = claimScriptArgs(keys, { ...req, candidates, target: null, checkOnly: opts.checkOnly ?? false });
  const answer = readClaimAnswer(req, (await evalScript(redis, CLAIM_LUA, a.keys.length, ...a.keys, ...a.argv)) as string[]);
  if (answer.kind === "refused") throw answer.error;
  return answer.host;
}

/**
 * Claim a name (and subnet) on the given host atomically; throws NAME_TAKEN
 * or CIDR_CONFLICT naming what is in the way. `checkOnly`: the same answer,
 * nothing claimed (dry runs).
 */
export async function claimNetwork(redis: Redis, keys: Keys, req: ClaimRequest, opts: { checkOnly?: boolean } = {}): Promise<void> {
  await placeAndClaimNetwork(redis, keys, { name: req.name, cidr: req.cidr, cidr6: req.cidr6 ?? null }, [req.host], opts);
}

/** Release a claim if it is still held for that host. Returns whether something was released. */
export async function releaseNetworkClaim(redis: Redis, keys: Keys, name: string, host: string): Promise<boolean> {
  const n = await evalScript(
    redis,
    RELEASE_LUA,
    5,
    keys.claimedNames,
    keys.claimedSubnets(host),
    keys.claimedSubnetIndex(host),
    keys.claimedHostNames(host),
    keys.claimedSince,
    name,
    host,
  );
  return n === 1;
}

/* KEYS: names, from's subnets, from's index, from's host names, to's subnets, to's index, to's host names;
 * ARGV: name, from, to. The claim (name and subnets) moves only while `from` holds it. */
const MOVE_LUA = `${DROP_SUBNET_LUA}
local name, from, to = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', KEYS[1], name) ~= from then return 0 end
local v = redis.call('HGET', KEYS[2], name)
local v6 = redis.call('HGET', KEYS[2], name .. '|v6')
drop(KEYS[2], KEYS[3], name)
if v then
  local f, l, c = string.match(v, '^(%d+)-(%d+)-(.*)$')
  redis.call('HSET', KEYS[5], name, v)
  if f then redis.call('ZADD', KEYS[6], f, name .. '|' .. l .. '|' .. c) end
end
if v6 then redis.call('HSET', KEYS[5], name .. '|v6', v6) end
redis.call('HSET', KEYS[1], name, to)
redis.call('SREM', KEYS[4], name)
redis.call('SADD', KEYS[7], name)
return 1
`;

/**
 * Move a network's claim (its name and subnets) from host `from` to host `to` in one step, only while `from`
 * holds it (an overlay's gateway moved: the network's host in the index is its gateway host). Whether it moved.
 */
export async function moveNetworkClaim(redis: Redis, keys: Keys, name: string, from: string, to: string): Promise<boolean> {
  const n = await evalScript(
    redis,
    MOVE_LUA,
    7,
    keys.claimedNames,
    keys.claimedSubnets(from),
    keys.claimedSubnetIndex(from),
    keys.claimedHostNames(from),
    keys.claimedSubnets(to),
    keys.claimedSubnetIndex(to),
    keys.claimedHostNames(to),
    name,
    from,
    to,
  );
  return n === 1;
}

/** A claim as stored: the host it is on and when it was taken (null for claims older than the timestamp). */
export interface ClaimInfo {
  name: string;
  host: string;
  takenAt: number | null;
}

/** One claim, or null when the name is not claimed. */
export async function getClaim(redis: Redis, keys: Keys, name: string): Promise<ClaimInfo | null> {
  const [host, since] = await redis
    .multi()
    .hget(keys.claimedNames, name)
    .hget(keys.claimedSince, name)
    .exec()
    .then((r) => [r?.[0]?.[1] as string | null, r?.[1]?.[1] as string | null]);
  if (!host) return null;
  return { name, host, takenAt: since ? Number(since) : null };
}

/** Every claim, in batches (HSCAN: never one huge reply). */
export async function* scanClaims(redis: Redis, keys: Keys): AsyncGenerator<{ name: string; host: string }> {
  let cursor = "0";
  do {
    const [next, flat] = await redis.hscan(keys.claimedNames, cursor, "COUNT", 500);
    cursor = next;
    for (let i = 0; i + 1 < flat.length; i += 2) yield { name: flat[i] as string, host: flat[i + 1] as string };
  } while (cursor !== "0");
}

/** Why a claim was not released by releaseUnheldClaim. */
export type ClaimHold = { kind: "changed" } | { kind: "fresh"; ageMs: number } | { kind: "live-job"; jobId: string; state: string };

/**
 * Release `claim` unless, atomically re-checked: it changed since it was read
 * (or the network's record appeared or went), it is younger than `graceMs`,
 * or one of the network's newest jobs is queued or running. The caller has
 * already ruled out a network on an online host.
 */
export async function releaseUnheldClaim(
  redis: Redis,
  keys: Keys,
  claim: ClaimInfo,
  graceMs: number,
  networkSeen: boolean,
): Promise<ClaimHold | null> {
  const res = (await evalScript(
    redis,
    RELEASE_UNHELD_LUA,
    7,
    keys.claimedNames,
    keys.claimedSubnets(claim.host),
    keys.claimedSubnetIndex(claim.host),
    keys.claimedHostNames(claim.host),
    keys.claimedSince,
    keys.networkJobs(claim.name),
    keys.network(claim.name),
    claim.name,
    claim.host,
    claim.takenAt === null ? "" : String(claim.takenAt),
    keys.job(""),
    String(Math.max(0, Math.floor(graceMs))),
    networkSeen ? "1" : "0",
  )) as string[];
  switch (res[0]) {
    case "RELEASED":
      return null;
    case "FRESH":
      return { kind: "fresh", ageMs: Number(res[1]) };
    case "LIVE_JOB":
      return { kind: "live-job", jobId: res[1] as string, state: res[2] as string };
    default:
      return { kind: "changed" };
  }
}

/** Replace the subnets a host's interfaces, routes and foreign libvirt networks occupy (from its inventory). */
export async function setOccupiedSubnets(
  redis: Redis,
  keys: Keys,
  host: string,
  occupied: { owner: string; cidr: string }[],
): Promise<void> {
  const key = keys.occupiedSubnets(host);
  const multi = redis.multi().del(key);
  const fields: string[] = [];
  // One field per owner and subnet: an interface with two addresses, or routes through one device, are all kept.
  for (const o of occupied) fields.push(`${o.owner}|${o.cidr}`, encodeSubnet(parseCidrOrThrow(o.cidr)));
  if (fields.length > 0) multi.hset(key, ...fields);
  await multi.exec();
}

/**
 * Re-assert the claims of networks a host really has (reconcile, e.g. after
 * Redis lost its data). Claims are only added here: a claim without a network
 * may belong to a create job still in flight; claims that nothing holds any
 * more are released by the API's claim sweeper (releaseUnheldClaim).
 */
export async function syncHostClaims(
  redis: Redis,
  keys: Keys,
  host: string,
  present: { name: string; cidr: string | null; cidr6?: string | null }[],
): Promise<NameConflict[]> {
  const conflicts: NameConflict[] = [];
  for (const p of present) {
    const c = p.cidr ? parseCidrOrThrow(p.cidr) : null;
    const r = (await evalScript(
      redis,
      ASSERT_LUA,
      5,
      keys.claimedNames,
      keys.claimedSubnets(host),
      keys.claimedSubnetIndex(host),
      keys.claimedHostNames(host),
      keys.claimedSince,
      p.name,
      host,
      c ? String(c.network) : "",
      c ? String(c.last) : "",
      c ? formatCidr(c) : "",
      keys.claimedHostNames(""),
      encodeSubnet6(p.cidr6),
    )) as string[];
    if (r[0] === "CONFLICT") conflicts.push({ network: p.name, heldBy: String(r[1]) });
  }
  return conflicts;
}

/** A network this host has whose name another host holds (claimed there, with a network of that name). */
export interface NameConflict {
  network: string;
  heldBy: string;
}

/** One other host that also has a network of a name (describe-network's `conflicts`). */
export interface NetworkConflict {
  host: string;
  since: string;
}

/* KEYS: conflicts hash. ARGV: host, now (ISO), then the names this host conflicts on. Rewrites this host's part. */
const SET_CONFLICTS_LUA = `
local host = ARGV[1]
local mine = {}
for i = 3, #ARGV do mine[ARGV[i]] = true end
local all = redis.call('HGETALL', KEYS[1])
local seen = {}
for i = 1, #all, 2 do
  local name, list = all[i], cjson.decode(all[i + 1])
  local keep, had = {}, false
  for _, e in ipairs(list) do
    if e.host == host then had = true; if mine[name] then table.insert(keep, e); seen[name] = true end
    else table.insert(keep, e) end
  end
  if had then
    if #keep == 0 then redis.call('HDEL', KEYS[1], name) else redis.call('HSET', KEYS[1], name, cjson.encode(keep)) end
  end
end
for name, _ in pairs(mine) do
  if not seen[name] then
    local raw = redis.call('HGET', KEYS[1], name)
    local list = raw and cjson.decode(raw) or {}
    table.insert(list, { host = host, since = ARGV[2] })
    redis.call('HSET', KEYS[1], name, cjson.encode(list))
  end
end
return 1
`;

/**
 * Publish the name conflicts of `host` (from its reconcile): each name it conflicts on lists the host (kept with
 * its first `since`), names it no longer conflicts on drop it. Nothing is deleted on any host: the operator
 * decides (delete one of the two, or rename).
 */
export async function setHostConflicts(redis: Redis, keys: Keys, host: string, names: string[]): Promise<void> {
  if (names.length === 0 && (await redis.hlen(keys.networkConflicts)) === 0) return;
  await evalScript(redis, SET_CONFLICTS_LUA, 1, keys.networkConflicts, host, new Date().toISOString(), ...names);
}

/** The other hosts that also have a network named `name` (empty: none). */
export async function getNetworkConflicts(redis: Redis, keys: Keys, name: string): Promise<NetworkConflict[]> {
  const raw = await redis.hget(keys.networkConflicts, name);
  return raw ? (JSON.parse(raw) as NetworkConflict[]) : [];
}
