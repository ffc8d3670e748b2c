/**
 * Cluster-wide reservations of network names and per-host subnets, taken
 * atomically at the API's door so two concurrent create calls cannot both be
 * accepted. A claim lives as long as the network (or its pending create job);
 * the worker releases it when the create job fails or the network is deleted.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { AppError } from "../errors";
import { type Cidr, formatCidr, parseCidrOrThrow } from "../net/ipv4";
import type { Keys } from "./keys";

/* One script does check-and-set so no other client can slip in between.
 * Claimed subnets of a host never overlap each other (this script is the only
 * way in), so sorted by first address they are also sorted by last address:
 * the only claimed subnet that can overlap [f, l] is the one with the greatest
 * first address <= l. That makes the check O(log n) instead of a scan.
 * Index members whose hash entry is gone or different are stale (the hash is
 * the record) and are dropped on the way. Occupied subnets (host interfaces
 * and routes, few and possibly nested) are scanned. Bounds are uint32s, exact
 * in Lua's doubles. */
const CLAIM_LUA = `
local names, subnets, index, occupied = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local name, host, first, last, cidr = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local check_only = ARGV[6] == 'check'
local owner = redis.call('HGET', names, name)
if owner then return {'NAME_TAKEN', owner} end
if first ~= '' then
  local f, l = tonumber(first), tonumber(last)
  while true do
    local prev = redis.call('ZREVRANGEBYSCORE', index, l, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if not prev[1] then break end
    local n, e, c = string.match(prev[1], '^(.-)|(%d+)|(.*)$')
    if n and redis.call('HGET', subnets, n) == prev[2] .. '-' .. e .. '-' .. c then
      if tonumber(e) >= f then return {'CIDR_CONFLICT', 'network', n, c} end
      break
    end
    redis.call('ZREM', index, prev[1])
  end
  local all = redis.call('HGETALL', occupied)
  for i = 1, #all, 2 do
    local s, e, c = string.match(all[i+1], '^(%d+)-(%d+)-(.*)$')
    if s and tonumber(s) <= l and f <= tonumber(e) then return {'CIDR_CONFLICT', 'host', all[i], c} end
  end
  if check_only then return {'OK'} end
  redis.call('HSET', subnets, name, first .. '-' .. last .. '-' .. cidr)
  redis.call('ZADD', index, first, name .. '|' .. last .. '|' .. cidr)
end
if check_only then return {'OK'} end
redis.call('HSET', names, name, host)
return {'OK'}
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
end
`;

const RELEASE_LUA = `${DROP_SUBNET_LUA}
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  drop(KEYS[2], KEYS[3], ARGV[1])
  return 1
end
return 0
`;

/* Re-assert one present network's claim (reconcile). */
const ASSERT_LUA = `${DROP_SUBNET_LUA}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then
  if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] .. '-' .. ARGV[4] .. '-' .. ARGV[5] then
    drop(KEYS[2], KEYS[3], ARGV[1])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. '-' .. ARGV[4] .. '-' .. ARGV[5])
    redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
  end
end
return 1
`;

/** What to claim: a name on a host, with its subnet for routed networks. */
export interface ClaimRequest {
  name: string;
  host: string;
  cidr: string | null;
}

/** Encode a subnet the way the claim script reads it. */
export function encodeSubnet(c: Cidr): string {
  return `${c.network}-${c.last}-${formatCidr(c)}`;
}

/** Claim a name (and subnet) atomically; throws NAME_TAKEN or CIDR_CONFLICT naming what is in the way. */
export async function claimNetwork(redis: Redis, keys: Keys, req: ClaimRequest, opts: { checkOnly?: boolean } = {}): Promise<void> {
  let first = "";
  let last = "";
  let cidrText = "";
  if (req.cidr) {
    const c = parseCidrOrThrow(req.cidr);
    first = String(c.network);
    last = String(c.last);
    cidrText = formatCidr(c);
  }
  const res = (await evalScript(
    redis,
    CLAIM_LUA,
    4,
    keys.claimedNames,
    keys.claimedSubnets(req.host),
    keys.claimedSubnetIndex(req.host),
    keys.occupiedSubnets(req.host),
    req.name,
    req.host,
    first,
    last,
    cidrText,
    opts.checkOnly ? "check" : "",
  )) as string[];
  if (res[0] === "OK") return;
  if (res[0] === "NAME_TAKEN") {
    throw new AppError("NAME_TAKEN", `network name '${req.name}' is already used (on host ${res[1]})`, {
      name: req.name,
      host: res[1],
    });
  }
  const [, kind, owner, other] = res;
  const what = kind === "network" ? `network '${owner}' (${other})` : `${owner} (${other})`;
  throw new AppError("CIDR_CONFLICT", `${req.cidr} overlaps ${what} on host ${req.host}`, {
    cidr: req.cidr,
    host: req.host,
    conflictsWith: kind === "network" ? { network: owner, cidr: other } : { owner, cidr: other },
  });
}

/** Release a claim if it is still held for that host. Returns whether something was released. */
export async function releaseNetworkClaim(redis: Redis, keys: Keys, name: string, host: string): Promise<boolean> {
  const n = await evalScript(
    redis,
    RELEASE_LUA,
    3,
    keys.claimedNames,
    keys.claimedSubnets(host),
    keys.claimedSubnetIndex(host),
    name,
    host,
  );
  return n === 1;
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
  for (const o of occupied) fields.push(o.owner, encodeSubnet(parseCidrOrThrow(o.cidr)));
  if (fields.length > 0) multi.hset(key, ...fields);
  await multi.exec();
}

/**
 * Re-assert the claims of networks a host really has (reconcile, e.g. after
 * Redis lost its data). Claims are only added here: a claim without a network
 * may belong to a create job still in flight, and is released by that job.
 */
export async function syncHostClaims(
  redis: Redis,
  keys: Keys,
  host: string,
  present: { name: string; cidr: string | null }[],
): Promise<void> {
  for (const p of present) {
    const c = p.cidr ? parseCidrOrThrow(p.cidr) : null;
    await evalScript(
      redis,
      ASSERT_LUA,
      3,
      keys.claimedNames,
      keys.claimedSubnets(host),
      keys.claimedSubnetIndex(host),
      p.name,
      host,
      c ? String(c.network) : "",
      c ? String(c.last) : "",
      c ? formatCidr(c) : "",
    );
  }
}

const sha1 = (s: string) => createHash("sha1").update(s).digest("hex");
const SHAS = new Map<string, string>();

/** EVALSHA with the script's hash (no script text on the wire), loading it on NOSCRIPT. */
async function evalScript(redis: Redis, script: string, numKeys: number, ...args: string[]): Promise<unknown> {
  let sha = SHAS.get(script);
  if (!sha) {
    sha = sha1(script);
    SHAS.set(script, sha);
  }
  try {
    return await redis.evalsha(sha, numKeys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes("NOSCRIPT")) throw err;
    return redis.eval(script, numKeys, ...args);
  }
}
