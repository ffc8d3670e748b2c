/**
 * Cluster-wide reservations of network names and per-host subnets, taken
 * atomically at the API's door so two concurrent create calls cannot both be
 * accepted. A claim lives as long as the network (or its pending create job);
 * the worker releases it when the create job fails or the network is deleted.
 */
import type { Redis } from "ioredis";
import { AppError } from "../errors";
import { type Cidr, formatCidr, parseCidrOrThrow } from "../net/ipv4";
import type { Keys } from "./keys";

/* One script does check-and-set so no other client can slip in between.
 * Subnets are stored as "first-last-cidr" (uint32 bounds fit Lua's doubles). */
const CLAIM_LUA = `
local names, subnets, occupied = KEYS[1], KEYS[2], KEYS[3]
local name, host, first, last, cidr = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local owner = redis.call('HGET', names, name)
if owner then return {'NAME_TAKEN', owner} end
if first ~= '' then
  local f, l = tonumber(first), tonumber(last)
  for _, key in ipairs({subnets, occupied}) do
    local all = redis.call('HGETALL', key)
    for i = 1, #all, 2 do
      local s, e, c = string.match(all[i+1], '^(%d+)-(%d+)-(.*)$')
      if s and tonumber(s) <= l and f <= tonumber(e) then
        return {'CIDR_CONFLICT', key == subnets and 'network' or 'host', all[i], c}
      end
    end
  end
  redis.call('HSET', subnets, name, first .. '-' .. last .. '-' .. cidr)
end
redis.call('HSET', names, name, host)
return {'OK'}
`;

const RELEASE_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
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
export async function claimNetwork(redis: Redis, keys: Keys, req: ClaimRequest): Promise<void> {
  let first = "";
  let last = "";
  let cidrText = "";
  if (req.cidr) {
    const c = parseCidrOrThrow(req.cidr);
    first = String(c.network);
    last = String(c.last);
    cidrText = formatCidr(c);
  }
  const res = (await redis.eval(
    CLAIM_LUA,
    3,
    keys.claimedNames,
    keys.claimedSubnets(req.host),
    keys.occupiedSubnets(req.host),
    req.name,
    req.host,
    first,
    last,
    cidrText,
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
  const n = await redis.eval(RELEASE_LUA, 2, keys.claimedNames, keys.claimedSubnets(host), name, host);
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
  if (present.length === 0) return;
  const multi = redis.multi();
  for (const p of present) {
    multi.hset(keys.claimedNames, p.name, host);
    if (p.cidr) multi.hset(keys.claimedSubnets(host), p.name, encodeSubnet(parseCidrOrThrow(p.cidr)));
  }
  await multi.exec();
}
