/**
 * The VXLAN ids (VNIs) of overlay networks (issue 17), allocated cluster-wide and claimed at the door like
 * names and subnets: one script takes the lowest free VNI of the range for a network, so two concurrent
 * creates never get one VNI, and a network asking again (a retried submission) gets the one it holds.
 * `claim:vni` (hash VNI -> network) and `claim:vni-of` (hash network -> VNI) are kept together by the scripts.
 */
import type { Redis } from "ioredis";
import { AppError } from "../errors";
import { VNI_MAX, VNI_MIN } from "../render/vxlan";
import type { Keys } from "./keys";
import { evalScript } from "./scripts";

/** The VNI range netforge allocates from ("first-last"; default 10000-19999; the API's setting once overlays exist). */
export interface VniRange {
  first: number;
  last: number;
}

export const DEFAULT_VNI_RANGE: VniRange = { first: 10_000, last: 19_999 };

/** Parse "first-last" (both 1..16777215, first <= last); throws a plain Error naming what is wrong. */
export function parseVniRange(text: string): VniRange {
  const m = /^(\d{1,8})-(\d{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`must be "first-last" (VXLAN ids), like 10000-19999: got ${JSON.stringify(text)}`);
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first < VNI_MIN || last > VNI_MAX) throw new Error(`VXLAN ids are ${VNI_MIN} to ${VNI_MAX}: got ${text}`);
  if (first > last) throw new Error(`the first VXLAN id is above the last: ${text}`);
  return { first, last };
}

const vniKeys = (keys: Keys) => [`${keys.prefix}:claim:vni`, `${keys.prefix}:claim:vni-of`];

/* KEYS: by VNI, by network. ARGV: network, first, last. The network's VNI if it holds one, else the lowest free
 * one (a scan of the hash of taken ones: a range holds at most a few thousand overlays), else FULL. */
const CLAIM_VNI_LUA = `
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then return {'OK', held} end
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
local taken = {}
local all = redis.call('HKEYS', KEYS[1])
for _, v in ipairs(all) do taken[tonumber(v)] = true end
for v = first, last do
  if not taken[v] then
    redis.call('HSET', KEYS[1], tostring(v), ARGV[1])
    redis.call('HSET', KEYS[2], ARGV[1], tostring(v))
    return {'OK', tostring(v)}
  end
end
return {'FULL', tostring(#all)}
`;

/** Claim a VNI for `network` (the one it holds, else the lowest free in `range`); 409-class refusal when full. */
export async function claimVni(redis: Redis, keys: Keys, network: string, range: VniRange = DEFAULT_VNI_RANGE): Promise<number> {
  const r = (await evalScript(redis, CLAIM_VNI_LUA, 2, ...vniKeys(keys), network, String(range.first), String(range.last))) as string[];
  if (r[0] === "OK") return Number(r[1]);
  throw new AppError(
    "INVALID_STATE",
    `no free VXLAN id in the range ${range.first}-${range.last} (${r[1]} taken): widen the range or delete an overlay`,
    { range: `${range.first}-${range.last}` },
  );
}

/* KEYS: by VNI, by network. ARGV: network. */
const RELEASE_VNI_LUA = `
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], held) == ARGV[1] then redis.call('HDEL', KEYS[1], held) end
return 1
`;

/** Give `network`'s VNI back (its delete, or a create that failed); false when it held none. */
export async function releaseVni(redis: Redis, keys: Keys, network: string): Promise<boolean> {
  return (await evalScript(redis, RELEASE_VNI_LUA, 2, ...vniKeys(keys), network)) === 1;
}

/* KEYS: by VNI, by network. ARGV: network, vni. Re-assert a VNI a host's overlay has (after a store reset):
 * CONFLICT when another network holds it. */
const ASSERT_VNI_LUA = `
local owner = redis.call('HGET', KEYS[1], ARGV[2])
if owner and owner ~= ARGV[1] then return {'CONFLICT', owner} end
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held and held ~= ARGV[2] and redis.call('HGET', KEYS[1], held) == ARGV[1] then redis.call('HDEL', KEYS[1], held) end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'OK'}
`;

/** Re-assert that `network` holds `vni` (reconcile); the other holder's name when another network has it. */
export async function assertVni(redis: Redis, keys: Keys, network: string, vni: number): Promise<string | null> {
  const r = (await evalScript(redis, ASSERT_VNI_LUA, 2, ...vniKeys(keys), network, String(vni))) as string[];
  return r[0] === "CONFLICT" ? String(r[1]) : null;
}

/** The VNI `network` holds, or null. */
export async function vniOf(redis: Redis, keys: Keys, network: string): Promise<number | null> {
  const v = await redis.hget(vniKeys(keys)[1] as string, network);
  return v === null ? null : Number(v);
}
