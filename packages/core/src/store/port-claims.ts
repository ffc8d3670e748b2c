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
}

export const portField = (protocol: string, port: number) => `${protocol}/${port}`;

/* KEYS[1] = the host's port claims; ARGV: field, network, mode ('claim' | 'check'). A port already held by
 * the same network is fine (replacing its own forward). */
export const PORT_CLAIM_LUA = `
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] then return {'PORT_CONFLICT', owner} end
if ARGV[3] ~= 'check' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return {'OK'}
`;

export function portClaimScriptArgs(keys: Keys, c: PortClaim, mode: "claim" | "check" = "claim") {
  return { keys: [keys.portClaims(c.host)], argv: [portField(c.protocol, c.hostPort), c.network, mode] };
}

export function portConflict(c: PortClaim, owner: string): AppError {
  return new AppError("PORT_CONFLICT", `${c.protocol} port ${c.hostPort} of host ${c.host} is already forwarded by network '${owner}'`, {
    host: c.host,
    protocol: c.protocol,
    hostPort: c.hostPort,
    heldBy: { network: owner },
  });
}

/** The check of a dry run: would the claim be granted (nothing written)? Throws PORT_CONFLICT. */
export async function checkPortClaim(redis: Redis, keys: Keys, c: PortClaim): Promise<void> {
  const owner = await redis.hget(keys.portClaims(c.host), portField(c.protocol, c.hostPort));
  if (owner && owner !== c.network) throw portConflict(c, owner);
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
