/**
 * Host ports forwarded by port forwards are a host-wide resource: a port
 * (per protocol) belongs to at most one network of the host. Claimed at the
 * API's door inside the guarded submission commit (PORT_CLAIM_LUA runs in
 * the commit script, so of two concurrent requests for one port exactly one
 * is accepted, and a submission past its deadline claims nothing), released
 * by the worker when a forward is removed, its add fails, or the network is
 * deleted; the worker's reconcile keeps the hash equal to its networks'
 * specs (plus claims of jobs in flight).
 */
import type { Redis } from "ioredis";
import { AppError } from "../errors";
import type { Keys } from "./keys";
import { evalScript } from "./scripts";

export interface PortClaim {
  host: string;
  protocol: "tcp" | "udp";
  hostPort: number;
  network: string;
  /** The one host address the forward is bound to; absent: every address of the host. */
  hostIp?: string | undefined;
}

/** The claim's field: "tcp/2222" (every host address) or "tcp/2222@198.51.100.3" (that address only). */
export const portField = (protocol: string, port: number, hostIp?: string | undefined) =>
  hostIp === undefined ? `${protocol}/${port}` : `${protocol}/${port}@${hostIp}`;

/* KEYS[1] = the host's port claims; ARGV: field, network, mode ('claim' | 'check'). A port already held by
 * the same network is fine (replacing its own forward; overlaps inside one network are the planner's). A
 * port claimed on every address ("tcp/22") overlaps each one-address claim of it ("tcp/22@a") and back. */
export const PORT_CLAIM_LUA = `
local field, net = ARGV[1], ARGV[2]
local owner = redis.call('HGET', KEYS[1], field)
if owner and owner ~= net then return {'PORT_CONFLICT', owner, field} end
local at = string.find(field, '@', 1, true)
if at then
  local all = string.sub(field, 1, at - 1)
  local o = redis.call('HGET', KEYS[1], all)
  if o and o ~= net then return {'PORT_CONFLICT', o, all} end
else
  local cursor = '0'
  repeat
    local r = redis.call('HSCAN', KEYS[1], cursor, 'MATCH', field .. '@*', 'COUNT', 1000)
    cursor = r[1]
    for i = 1, #r[2], 2 do
      if r[2][i + 1] ~= net then return {'PORT_CONFLICT', r[2][i + 1], r[2][i]} end
    end
  until cursor == '0'
end
if ARGV[3] ~= 'check' then redis.call('HSET', KEYS[1], field, net) end
return {'OK'}
`;

export function portClaimScriptArgs(keys: Keys, c: PortClaim, mode: "claim" | "check" = "claim") {
  return { keys: [keys.portClaims(c.host)], argv: [portField(c.protocol, c.hostPort, c.hostIp), c.network, mode] };
}

/** PORT_CONFLICT for claim `c`; `heldField` is the claim that holds it ("tcp/22" or "tcp/22@198.51.100.3"). */
export function portConflict(c: PortClaim, owner: string, heldField?: string): AppError {
  const at = heldField?.indexOf("@") ?? -1;
  const heldIp = heldField && at > 0 ? heldField.slice(at + 1) : undefined;
  // An IPv6 address with its port in brackets ("[fd00::2]:2222"): "fd00::2:2222" would read as one address.
  const withPort = (ip: string) => (ip.includes(":") ? `[${ip}]:${c.hostPort}` : `${ip}:${c.hostPort}`);
  const what = c.hostIp === undefined ? `${c.protocol} port ${c.hostPort}` : `${c.protocol} port ${withPort(c.hostIp)}`;
  const held = heldIp !== undefined ? ` (on host address ${heldIp})` : c.hostIp !== undefined ? " (on every host address)" : "";
  return new AppError("PORT_CONFLICT", `${what} of host ${c.host} is already forwarded by network '${owner}'${held}`, {
    host: c.host,
    protocol: c.protocol,
    hostPort: c.hostPort,
    ...(c.hostIp === undefined ? {} : { hostIp: c.hostIp }),
    heldBy: { network: owner, ...(heldIp === undefined ? {} : { hostIp: heldIp }) },
  });
}

/** The check of a dry run: would the claim be granted (nothing written)? Throws PORT_CONFLICT. */
export async function checkPortClaim(redis: Redis, keys: Keys, c: PortClaim): Promise<void> {
  const a = portClaimScriptArgs(keys, c, "check");
  const r = (await evalScript(redis, PORT_CLAIM_LUA, a.keys.length, ...a.keys, ...a.argv)) as string[];
  if (r[0] === "PORT_CONFLICT") throw portConflict(c, String(r[1]), r[2] === undefined ? undefined : String(r[2]));
}

/* KEYS[1] = the host's port claims; ARGV: network, then fields to release (none: every field it holds). */
const RELEASE_LUA = `
local n = 0
if #ARGV > 1 then
  for i = 2, #ARGV do
    if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end
  end
else
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if all[i + 1] == ARGV[1] then n = n + redis.call('HDEL', KEYS[1], all[i]) end
  end
end
return n
`;

/** Release ports `network` holds on `host` (only those it holds; all of them when `fields` is omitted). */
export async function releasePortClaims(redis: Redis, keys: Keys, host: string, network: string, fields?: string[]): Promise<number> {
  return Number(await evalScript(redis, RELEASE_LUA, 1, keys.portClaims(host), network, ...(fields ?? [])));
}

/** Every claim of a host: field -> network. */
export async function hostPortClaims(redis: Redis, keys: Keys, host: string): Promise<Record<string, string>> {
  return redis.hgetall(keys.portClaims(host));
}

/** Make sure `network` holds `fields` (reconcile: the forwards its spec has). Never takes a port another network holds. */
export async function assertPortClaims(redis: Redis, keys: Keys, host: string, network: string, fields: string[]): Promise<void> {
  if (fields.length === 0) return;
  const p = redis.pipeline();
  for (const f of fields) p.hsetnx(keys.portClaims(host), f, network);
  await p.exec();
}
