/**
 * The reads of a request about an existing network, in one round trip: its
 * index record, the record of the host it names, and (when asked) the spec
 * and IP table its worker published. The host's key comes from the record,
 * so a plain pipeline would need a second round trip; one read-only script
 * reads both (and is a consistent snapshot: nothing can change between them).
 */
import type { Redis } from "ioredis";
import type { HostRecord } from "../schemas/host";
import type { NetSpec } from "../spec/network-spec";
import type { Keys } from "./keys";
import type { NetworkRecord } from "./network-index";
import { type PublishedIps, parsePublishedIps } from "./network-ips";
import { evalScript } from "./scripts";

/*
 * KEYS: the network's record, then optionally its spec and/or IP table keys; ARGV: the host key prefix
 * (keys.host("")). Answers {record, host record, spec, ips}, nil for each missing;
 * the rest is not read when the network is not indexed. A record that is not JSON with a string host
 * reads no host (the caller parses it and fails as it would have).
 */
export const READ_NETWORK_DOOR_LUA = `
local out = {}
local net = redis.call('GET', KEYS[1])
out[1] = net
if not net then return out end
local ok, rec = pcall(cjson.decode, net)
if ok and type(rec) == 'table' and type(rec.host) == 'string' then
  out[2] = redis.call('GET', ARGV[1] .. rec.host)
else
  out[2] = false
end
for i = 2, #KEYS do out[i + 1] = redis.call('GET', KEYS[i]) end
return out
`;

/** What readNetworkAtDoor read; `host` is the record of `net.host`. */
export interface NetworkAtDoor {
  net: NetworkRecord | null;
  host: HostRecord | null;
  spec: NetSpec | null;
  ips: PublishedIps | null;
}

/**
 * A network's record and its host's record, plus its published spec and/or IP table when asked, in one
 * round trip (see READ_NETWORK_DOOR_LUA). Each is null when missing; all are null when the network is not
 * indexed. `ips` is as getNetworkIps answers it (leases expired by `now` dropped).
 */
export async function readNetworkAtDoor(
  redis: Redis,
  keys: Keys,
  name: string,
  want: { spec?: boolean; ips?: boolean } = {},
  now = Date.now(),
): Promise<NetworkAtDoor> {
  const extra: string[] = [];
  if (want.spec) extra.push(keys.networkSpec(name));
  if (want.ips) extra.push(keys.networkIps(name));
  const keyArgs = [keys.network(name), ...extra];
  const res = ((await evalScript(redis, READ_NETWORK_DOOR_LUA, keyArgs.length, ...keyArgs, keys.host(""))) ?? []) as (string | null)[];
  const [rawNet, rawHost] = res;
  if (!rawNet) return { net: null, host: null, spec: null, ips: null };
  const net = JSON.parse(rawNet) as NetworkRecord;
  // A record without a string host has no host record (as getHost of its host would answer).
  const host = rawHost ? (JSON.parse(rawHost) as HostRecord) : null;
  let i = 2;
  const rawSpec = want.spec ? res[i++] : null;
  const rawIps = want.ips ? res[i++] : null;
  return {
    net,
    host,
    spec: rawSpec ? (JSON.parse(rawSpec) as NetSpec) : null,
    ips: rawIps ? parsePublishedIps(rawIps, now) : null,
  };
}
