/**
 * The reads of a request about an existing network, in one round trip: its
 * index record, the record of the host it names, and (when asked) the spec and
 * IP table its worker published. The host's key is only known from the
 * network's entry, so read one after the other they were three round trips;
 * here a small read-only script resolves the host (its id from the network's
 * list-networks summary, then its record) and the other keys are plain GETs
 * sent with it, all before the first answer comes back.
 */
import type { Redis } from "ioredis";
import type { HostRecord } from "../schemas/host";
import type { NetSpec } from "../planner/network-spec";
import { getHost } from "./hosts";
import { SUM_RULE_COUNTS_LUA } from "./network-index";
import type { Keys } from "./keys";
import { hostRulesOf, type NetworkRecord } from "./network-index";
import { type PublishedIps, parsePublishedIps } from "./network-ips";
import { evalScript } from "./scripts";

/*
 * KEYS: the list-networks summaries hash; ARGV: the network's name, the host key prefix (keys.host("")).
 * Answers {host id, host record} (nil for each missing). The host id comes from the network's summary entry
 * ("type SOH state SOH host(JSON) SOH ...", written with the record in one MULTI), not from the record:
 * decoding a record with 1,000 forwards (~100 KB) in cjson would hold Redis for ~0.7 ms per call, and even
 * passing it through the script costs ~0.1 ms, where a GET of it costs a few microseconds.
 */
export const HOST_OF_NETWORK_LUA = `
local s = redis.call('HGET', KEYS[1], ARGV[1])
if not s then return {false, false} end
local sep = string.char(1)
local a = string.find(s, sep, 1, true)
local b = a and string.find(s, sep, a + 1, true)
local c = b and string.find(s, sep, b + 1, true)
if not c then return {false, false} end
local ok, host = pcall(cjson.decode, string.sub(s, b + 1, c - 1))
if not ok or type(host) ~= 'string' then return {false, false} end
return {host, redis.call('GET', ARGV[2] .. host)}
`;

/*
 * HOST_OF_NETWORK_LUA, plus the firewall rules and port forwards of the host's other networks (the counts their
 * workers published with their records; the names claimed on the host): the door's check of rules per host in
 * the same round trip. ARGV adds the claimed-names key prefix and the rule counts hash.
 */
export const HOST_AND_RULES_OF_NETWORK_LUA = `${SUM_RULE_COUNTS_LUA}
local function hostOf()
${HOST_OF_NETWORK_LUA}
end
local r = hostOf()
if not r[1] then return {false, false, 0} end
local sum = sumRuleCounts(redis.call('SMEMBERS', ARGV[3] .. r[1]), ARGV[4], ARGV[1])
return {r[1], r[2], sum}
`;

/** What readNetworkAtDoor read; `host` is the record of `net.host`. */
export interface NetworkAtDoor {
  net: NetworkRecord | null;
  host: HostRecord | null;
  spec: NetSpec | null;
  ips: PublishedIps | null;
  /** Only with `want.hostRules`: firewall rules plus forwards of the other networks of `net.host`. */
  hostRules?: number;
}

/**
 * A network's record and its host's record, plus its published spec and/or IP table when asked, in one
 * round trip (every command is sent before the first answer). Each is null when missing; all are null when
 * the network is not indexed. `ips` is as getNetworkIps answers it (leases expired by `now` dropped). The
 * host is the one the record names: should the summary name another (the record changed between the two
 * reads) or be missing (a record written before summaries), the record's host is read after.
 */
export async function readNetworkAtDoor(
  redis: Redis,
  keys: Keys,
  name: string,
  want: { spec?: boolean; ips?: boolean; hostRules?: boolean } = {},
  now = Date.now(),
): Promise<NetworkAtDoor> {
  const [rawNet, hostOf, rawSpec, rawIps] = await Promise.all([
    redis.get(keys.network(name)),
    (want.hostRules
      ? evalScript(
          redis,
          HOST_AND_RULES_OF_NETWORK_LUA,
          1,
          keys.networkSummaries,
          name,
          keys.host(""),
          keys.claimedHostNames(""),
          keys.networkRuleCounts,
        )
      : evalScript(redis, HOST_OF_NETWORK_LUA, 1, keys.networkSummaries, name, keys.host(""))) as Promise<
      [string | null, string | null, number?]
    >,
    want.spec ? redis.get(keys.networkSpec(name)) : null,
    want.ips ? redis.get(keys.networkIps(name)) : null,
  ]);
  if (!rawNet) return { net: null, host: null, spec: null, ips: null };
  const net = JSON.parse(rawNet) as NetworkRecord;
  const [hostId, rawHost, rules] = hostOf ?? [null, null];
  const same = hostId === net.host;
  const host = same ? (rawHost ? (JSON.parse(rawHost) as HostRecord) : null) : await getHost(redis, keys, net.host);
  const out: NetworkAtDoor = {
    net,
    host,
    spec: rawSpec ? (JSON.parse(rawSpec) as NetSpec) : null,
    ips: rawIps ? parsePublishedIps(rawIps, now) : null,
  };
  if (want.hostRules) out.hostRules = same ? Number(rules ?? 0) : await hostRulesOf(redis, keys, net.host, name);
  return out;
}
