/**
 * Every Redis key netforge uses, in one place. All keys start with the
 * installation prefix (NETFORGE_PREFIX) so several installations or test runs
 * share one Redis without seeing each other.
 */
export interface Keys {
  prefix: string;
  /** BullMQ's own prefix (its keys are `<bull>:<queue>:…`). */
  bull: string;
  /** JSON network record. */
  network(name: string): string;
  /** ZSET of all network names (score 0: lexical order for cursors). */
  networks: string;
  /** HASH name -> the network's list-networks summary, pre-serialised (written with the record). */
  networkSummaries: string;
  /** HASH name -> the network's firewall rules plus port forwards (written with the record): rules per host. */
  networkRuleCounts: string;
  /**
   * HASH name -> the network's version: +1 by the worker on every job that succeeded on it (under its lock),
   * gone with the network. What If-Match is compared with (docs/adr/0043).
   */
  networkVersions: string;
  /** JSON live stats of a network, refreshed by its worker. */
  networkStats(name: string): string;
  /**
   * HASH overlay name -> JSON state of that overlay's part on the host (OverlayPartState), plus "_at": when the
   * host last published it. Replaced whole by every full stats refresh of the host's worker; expires.
   */
  overlayParts(host: string): string;
  /** HASH name -> host: every network name claimed in the cluster (pending or existing). */
  claimedNames: string;
  /** HASH name -> "first-last-cidr": subnets claimed on a host. */
  claimedSubnets(host: string): string;
  /** ZSET of the same subnets, score = first address, member "name|last|cidr": O(log n) overlap checks. */
  claimedSubnetIndex(host: string): string;
  /** SET of the names claimed on a host: its load for placement (SCARD), kept by the claim scripts. */
  claimedHostNames(host: string): string;
  /** HASH name -> ms when the claim was taken (TIME of Redis): fresh claims may belong to a create in flight. */
  claimedSince: string;
  /**
   * HASH "owner|cidr" -> "first-last-cidr": subnets held by host interfaces, routes and foreign libvirt networks,
   * and (as /32) the addresses the host must keep reaching (its gateways, Redis, resolvers, the API).
   */
  occupiedSubnets(host: string): string;
  /** SET of host ids ever registered. */
  hosts: string;
  /** JSON host record. */
  host(id: string): string;
  /** JSON job record. */
  job(id: string): string;
  /** STREAM of a job's events (ids are the SSE event ids). */
  jobEvents(id: string): string;
  /** ZSET job id -> createdAt ms. */
  jobs: string;
  /** ZSET "<job id>|<network>" -> ms when the job's record expires: which index entries to drop, in order. */
  jobExpiry: string;
  /** ZSET of a network's job ids -> createdAt ms. */
  networkJobs(name: string): string;
  /** ZSET of a host's job ids -> createdAt ms (list-jobs by host). */
  hostJobs(host: string): string;
  /** ZSET of the ids of jobs in a state -> createdAt ms (list-jobs by state; moved with each event). */
  stateJobs(state: string): string;
  /** ZSET of a token's unfinished job ids -> ms when the record expires (the queued-jobs quota); `label` is a hash of the token. */
  tokenJobs(label: string): string;
  /** Pub/sub channel carrying every job event. */
  eventsChannel: string;
  /** Idempotency record. */
  idempotency(key: string): string;
  /** Per-network lock held by the worker running a job on it. */
  networkLock(name: string): string;
  /**
   * STRING: a gateway move's hand-over between its coordinator (job `jobId`, the old gateway) and the new
   * gateway's part: "prepared" (set by the part, ready to start) and "go" ("down": the old gateway is stopped;
   * "abort": the coordinator gave up), and "leases": the old gateway's dynamic leases (libvirt's status file rows,
   * JSON), handed over with "down". Expires after 10 minutes.
   */
  gatewayMove(jobId: string, signal: "prepared" | "go" | "leases"): string;
  /**
   * HASH network name -> JSON { job, action, uuid? }: the parts of jobs spanning hosts that their coordinator gave up
   * on while `host` was away (its part, or the undo of it, did not finish in time). The host's worker checks each
   * against the network's spec when it is back, before it reports online, and removes a part it should not have.
   */
  leftParts(host: string): string;
  /** BullMQ queue name of a host. */
  hostQueue(host: string): string;
  /** HASH counter -> count: what the host's worker counted (lock waits, drift repairs...), for /metrics. */
  workerCounters(host: string): string;
  /** JSON spec of a network as its worker last read it from libvirt (IP management door checks, dry runs). */
  networkSpec(name: string): string;
  /** JSON leases + reservations of a network, published by its worker when leases change (list-network-ips). */
  networkIps(name: string): string;
  /** HASH host -> how many pieces of lost state its worker re-applied (shown in /metrics). */
  reappliedCounter: string;
  /** HASH "<protocol>/<port>" -> network forwarding that host port (per host; claimed at the door). */
  portClaims(host: string): string;
  /** ZSET address -> ms until which an API instance said it is reached there (workers protect these addresses). */
  apiAddresses: string;
  /** Hash: the store's epoch (id, createdAt, settledAt); gone when the store lost its data (store-epoch.ts). */
  storeEpoch: string;
  /** Hash: host id -> the epoch id under which that host last published its whole part of the index. */
  storePublished: string;
  /** Sorted set: hosts re-publishing their part of the index after a store reset (score: when the mark expires, ms). */
  storeRebuilding: string;
  /** Hash: network name -> JSON list of the other hosts that also hold a network of that name (name conflicts). */
  networkConflicts: string;
}

/** Build the key set for a prefix (e.g. "netforge"). */
export function makeKeys(prefix: string): Keys {
  const p = prefix;
  return {
    prefix: p,
    bull: `${p}:bull`,
    network: (n) => `${p}:net:${n}`,
    networks: `${p}:nets`,
    networkSummaries: `${p}:nets:summary`,
    networkRuleCounts: `${p}:nets:rules`,
    networkVersions: `${p}:nets:version`,
    networkStats: (n) => `${p}:netstats:${n}`,
    overlayParts: (h) => `${p}:host:${h}:overlay-parts`,
    claimedNames: `${p}:claim:names`,
    claimedSubnets: (h) => `${p}:claim:subnets:${h}`,
    claimedSubnetIndex: (h) => `${p}:claim:subnet-index:${h}`,
    claimedHostNames: (h) => `${p}:claim:host-names:${h}`,
    claimedSince: `${p}:claim:since`,
    occupiedSubnets: (h) => `${p}:host:${h}:occupied`,
    hosts: `${p}:hosts`,
    host: (id) => `${p}:host:${id}`,
    job: (id) => `${p}:job:${id}`,
    jobEvents: (id) => `${p}:jobev:${id}`,
    jobs: `${p}:jobs`,
    jobExpiry: `${p}:jobs:expiry`,
    networkJobs: (n) => `${p}:jobs:net:${n}`,
    hostJobs: (h) => `${p}:jobs:host:${h}`,
    stateJobs: (s) => `${p}:jobs:state:${s}`,
    tokenJobs: (l) => `${p}:jobs:token:${l}`,
    eventsChannel: `${p}:events`,
    idempotency: (k) => `${p}:idem:${k}`,
    networkLock: (n) => `${p}:lock:net:${n}`,
    gatewayMove: (j, sig) => `${p}:gwmove:${j}:${sig}`,
    leftParts: (h) => `${p}:host:${h}:left-parts`,
    hostQueue: (h) => `host-${h}`,
    workerCounters: (h) => `${p}:host:${h}:counters`,
    networkSpec: (n) => `${p}:netspec:${n}`,
    networkIps: (n) => `${p}:netips:${n}`,
    reappliedCounter: `${p}:metrics:reapplied`,
    portClaims: (h) => `${p}:claims:ports:${h}`,
    apiAddresses: `${p}:api:addresses`,
    storeEpoch: `${p}:store:epoch`,
    storePublished: `${p}:store:published`,
    storeRebuilding: `${p}:store:rebuilding`,
    networkConflicts: `${p}:nets:conflicts`,
  };
}
