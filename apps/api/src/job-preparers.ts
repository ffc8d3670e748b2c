/**
 * The synchronous checks of each job action, answered from the cluster
 * index before anything is queued (the worker re-checks on the host). Each
 * resolves the job's network, host and payload and hands them to `commit`
 * (the caller's deadline-guarded commit: record, queue entry and, for
 * create-network, the name/subnet claim in one transaction); create-network
 * commits once per candidate host until one takes it. Each job action's API
 * half (actions/<action>.ts) picks its preparer from here.
 */
import { randomUUID } from "node:crypto";
import {
  type ACTIONS,
  AppError,
  type CreateNetworkPayload,
  type HostRecord,
  IMPLEMENTED_TYPES,
  type JobAction,
  type JobPayloads,
  type ResolvedCreate,
  resolveCreate,
  validationError,
} from "@netforge/core/contract";
import type { ConfigureAction } from "@netforge/core/contract";
import {
  type ChangePlan,
  changeOf,
  checkChange,
  type HostObservation,
  type NetSpec,
  type NetworkChange,
  planChange,
  checkHostPortAllowed,
  type DeniedHostPorts,
  deniedHostPorts,
  checkHostRules,
  hostRuleCount,
  l2Refusal,
  l2Unavailable,
  modelFor,
  type SizeLimits,
  sizeLimits,
} from "@netforge/core/model";
import {
  getHost,
  hostStatus,
  type Keys,
  listHosts,
  type PlacementRequest,
  type Redis,
  type NetworkAtDoor,
  type NetworkRecord,
  placeAndClaimNetwork,
  readNetworkAtDoor,
  checkPortClaim,
  type PortClaim,
  listAllNetworks,
} from "@netforge/core/store";
import type { z } from "zod";

/** The parsed body of a job action. */
export type JobBody<A extends JobAction> = z.infer<(typeof ACTIONS)[A]["body"]>;

/** What a job action resolves to before it is queued. */
export interface PreparedJob<A extends JobAction> {
  network: string;
  host: string;
  payload: JobPayloads[A];
  /** The name/subnet claim to take with the job (create-network; its target is `host`), or null. */
  claim: PlacementRequest | null;
  /** For changes of an existing network: the plan checked at the door (from the spec the worker published). */
  plan?: ChangePlan | null;
  /** The host port a port forward add claims in the same commit (PORT_CONFLICT when another network holds it). */
  portClaim?: PortClaim | null;
}

/**
 * Make a prepared job take effect; throws the claim's NAME_TAKEN/CIDR_CONFLICT
 * when it is refused, and PlacedElsewhere when the claim found another host
 * the better place (nothing was applied).
 */
export type CommitPrepared<A extends JobAction> = (job: PreparedJob<A>) => Promise<void>;

/**
 * Runs the checks of an action and hands the prepared job to `commit`.
 * `checkOnly` (dry run): every check, nothing claimed; `commit` then only
 * receives the job (the caller's commit writes nothing).
 */
export type Preparer<A extends JobAction> = (
  redis: Redis,
  keys: Keys,
  body: JobBody<A>,
  commit: CommitPrepared<A>,
  opts?: PrepareOptions,
) => Promise<void>;

/** How a preparer runs: `checkOnly` for a dry run; `limits`, the size caps in force (absent: the environment's). */
export interface PrepareOptions {
  checkOnly?: boolean;
  limits?: SizeLimits;
}

/** Explicit host: must exist and be online. */
async function requireOnlineHost(redis: Redis, keys: Keys, id: string, what: string): Promise<HostRecord> {
  return onlineHost(await getHost(redis, keys, id), id, what);
}

/** The host record read for `id` (null: not registered), checked to be online. */
function onlineHost(host: HostRecord | null, id: string, what: string): HostRecord {
  if (!host) throw new AppError("NOT_FOUND", `host '${id}' is not registered`, { host: id });
  if (hostStatus(host) !== "online") {
    throw new AppError("HOST_UNAVAILABLE", `host '${id}' is offline (last seen ${host.lastSeenAt}); ${what}`, {
      host: id,
      lastSeenAt: host.lastSeenAt,
    });
  }
  return host;
}

/** The claim chose another host than the one the commit would have queued on: nothing was applied. */
export class PlacedElsewhere extends Error {
  constructor(readonly host: string) {
    super(`placed on host ${host}`);
  }
}

/** Commits tried before placement gives up (each try is answered with the then best host; contention only). */
const PLACEMENT_ROUNDS = 16;

/**
 * Choose the host of a new network and claim its name and subnet there
 * (`claimOn` commits the job with the claim on that host). Without an
 * explicit host, every online host is a candidate and the claim script, run
 * inside the commit, picks the one with the fewest claimed names at that
 * instant (networks plus creates in flight, so concurrent creates see each
 * other) whose subnets do not clash; names clash cluster-wide. The job's
 * queue is per host, so the commit names a target host: when the script's
 * choice differs, nothing is applied and the commit is tried again on the
 * host it named.
 */
export async function placeAndClaim(
  redis: Redis,
  keys: Keys,
  spec: ResolvedCreate,
  claimOn: (claim: PlacementRequest) => Promise<void>,
  checkOnly = false,
): Promise<string> {
  const claim = { name: spec.name, cidr: spec.cidr };
  // bridge/sriov: only hosts whose inventory has the NIC/bridge/PF (and where it is free) can take it.
  const l2 = spec.l2;
  const networks = l2 ? await listAllNetworks(redis, keys) : [];
  const refusal = (h: HostRecord) => (l2 ? l2Refusal(l2, h, networks, spec.name) : null);
  if (spec.requestedHost !== null) {
    const host = await requireOnlineHost(redis, keys, spec.requestedHost, "choose another host or retry when it is back");
    const why = refusal(host);
    if (why) throw why;
    if (checkOnly) await placeAndClaimNetwork(redis, keys, claim, [spec.requestedHost], { checkOnly });
    await claimOn({ ...claim, candidates: [spec.requestedHost], target: spec.requestedHost, checkOnly });
    return spec.requestedHost;
  }
  const now = Date.now();
  const online = (await listHosts(redis, keys))
    .filter((h) => hostStatus(h, now) === "online")
    .sort((a, b) => a.networks - b.networks || a.id.localeCompare(b.id));
  if (online.length === 0) throw new AppError("NO_HOST", "no online host can take the network", {});
  const refusals = online.map((h) => refusal(h));
  const candidates = online.filter((_h, i) => refusals[i] === null).map((h) => h.id);
  if (candidates.length === 0 && l2) {
    // A host that has the device but cannot use it says why; otherwise no online host has it.
    const specific = refusals.find((r) => r?.code === "INVALID_STATE" || r?.code === "NOT_ALLOWED");
    if (specific) throw specific;
    if (online.length === 1 && refusals[0]) throw refusals[0];
    throw l2Unavailable(l2);
  }
  if (checkOnly) {
    // Where the claim would go now, nothing written.
    const host = await placeAndClaimNetwork(redis, keys, claim, candidates, { checkOnly });
    await claimOn({ ...claim, candidates: [host], target: host, checkOnly });
    return host;
  }
  let target = candidates[0] as string;
  for (let round = 0; round < PLACEMENT_ROUNDS; round++) {
    try {
      await claimOn({ ...claim, candidates, target });
      return target;
    } catch (err) {
      if (!(err instanceof PlacedElsewhere)) throw err;
      target = err.host;
    }
  }
  throw new AppError("INVALID_STATE", "placement did not settle under concurrent creates; retry", { retryable: true });
}

export async function prepareCreate(
  redis: Redis,
  keys: Keys,
  body: JobBody<"create-network">,
  commit: CommitPrepared<"create-network">,
  opts: PrepareOptions = {},
) {
  const spec = resolveCreate(body);
  if (!IMPLEMENTED_TYPES.has(spec.type)) {
    throw new AppError(
      "UNSUPPORTED_FOR_TYPE",
      `network type '${spec.type}' is not supported by this version (supported: ${[...IMPLEMENTED_TYPES].join(", ")})`,
      { type: spec.type, supported: [...IMPLEMENTED_TYPES] },
    );
  }
  const { requestedHost: _requested, ...resolved } = spec;
  const uuid = randomUUID();
  await placeAndClaim(
    redis,
    keys,
    spec,
    async (claim) => {
      const host = claim.target as string;
      const payload: CreateNetworkPayload = { ...resolved, uuid, host, createdAt: new Date().toISOString() };
      await commit({ network: spec.name, host, payload, claim });
    },
    opts.checkOnly === true,
  );
}

/**
 * An indexed network whose host is online (the first check of every action on an existing network), with
 * what else the action needs of it (its published spec and/or IP table), all read in one round trip
 * (core's readNetworkAtDoor) and checked in the order they always were: the network, then its host.
 */
async function existingNetwork(
  redis: Redis,
  keys: Keys,
  name: string,
  want: { spec?: boolean; ips?: boolean; hostRules?: boolean } = {},
): Promise<NetworkAtDoor & { net: NetworkRecord; host: HostRecord }> {
  const read = await readNetworkAtDoor(redis, keys, name, want);
  const net = read.net;
  if (!net) throw new AppError("NOT_FOUND", `network '${name}' does not exist`, { name });
  // The network's host vanished from the registry: for the caller that is "unavailable", not "not found".
  if (!read.host) {
    throw new AppError("HOST_UNAVAILABLE", `host '${net.host}' of network '${net.name}' is not registered`, {
      host: net.host,
    });
  }
  const host = onlineHost(read.host, net.host, `network '${net.name}' cannot be changed until it is back`);
  return { ...read, net, host };
}

/**
 * delete/start/stop: the network must be indexed, its host online, and (for start/stop) in the other state.
 * `payloadOf`: the action's payload for the network (its API half builds it, typed by its definition).
 */
export function prepareExisting<A extends "delete-network" | "start-network" | "stop-network">(
  action: A,
  payloadOf: (name: string) => JobPayloads[A],
): Preparer<A> {
  return async (redis, keys, body, commit) => {
    const { net } = await existingNetwork(redis, keys, body.name);
    if (action === "start-network" && net.state === "active") {
      throw new AppError("INVALID_STATE", `network '${net.name}' is already active`, { name: net.name, state: net.state });
    }
    if (action === "stop-network" && net.state === "inactive") {
      throw new AppError("INVALID_STATE", `network '${net.name}' is already inactive`, { name: net.name, state: net.state });
    }
    await commit({ network: net.name, host: net.host, payload: payloadOf(net.name), claim: null });
  };
}

/**
 * A change of an existing network: checked at the door against the spec and leases its worker published
 * (the same pure planner the worker runs, which re-checks on the host). Its API half says what the parsed
 * body's payload is (the action route took dryRun off) and the change it asks for (core's changeOf).
 */
export function prepareConfigure<A extends ConfigureAction>(
  action: A,
  payloadOf: (body: JobBody<A>) => JobPayloads[A],
  changeOfPayload: (payload: JobPayloads[A]) => NetworkChange,
): Preparer<A> {
  return async (redis, keys, body, commit, opts = {}) => {
    const firewall = action === "configure-network-firewall";
    const { net, spec, ips, hostRules } = await existingNetwork(redis, keys, body.name, { spec: true, ips: true, hostRules: firewall });
    const payload = payloadOf(body);
    let plan: ChangePlan | { spec: NetSpec } | null = null;
    if (spec) {
      const leases = (ips?.ips ?? []).filter((r) => r.leaseExpiresAt !== null);
      plan = planAtDoor(
        spec,
        changeOfPayload(payload),
        { active: net.state === "active", leases, ...limitsOf(opts) },
        opts.checkOnly === true,
      );
      if (firewall) checkRulesAtDoor(net, hostRules, spec, plan, opts);
    } else if (modelFor(net.type).noAddressing !== null) {
      throw new AppError(
        "UNSUPPORTED_FOR_TYPE",
        `network '${net.name}' is of type ${net.type}: ${action === "configure-network-firewall" ? "netforge manages no firewall for it" : "no DHCP to configure"}`,
        {
          name: net.name,
          type: net.type,
        },
      );
    }
    await commit({ network: net.name, host: net.host, payload, claim: null, plan: fullPlan(plan) });
  };
}

/**
 * A change checked at the door: a dry run gets the whole plan (what it answers); a real call only the checks
 * (same errors), since the worker plans again on the host and nothing here uses the rendered texts.
 */
function planAtDoor(spec: NetSpec, change: NetworkChange, host: HostObservation, dryRun: boolean): ChangePlan | { spec: NetSpec } {
  if (dryRun) return planChange(spec, change, host);
  return { spec: checkChange(spec, change, host) };
}

/** The per-network caps of a HostObservation, when the caller gave them. */
function limitsOf(opts: PrepareOptions): Pick<HostObservation, "limits"> {
  return opts.limits ? { limits: opts.limits } : {};
}

/**
 * Rules per host at the door: the network's firewall rules and forwards after the change, plus those of every
 * other network of its host (`others`: the counts their workers published with their records, read with the
 * network), must stay within NETFORGE_MAX_RULES_PER_HOST. A change that does not add rules passes.
 */
function checkRulesAtDoor(
  net: NetworkRecord,
  others: number | undefined,
  spec: NetSpec,
  next: { spec: NetSpec } | null,
  opts: PrepareOptions,
): void {
  if (!next) return;
  checkHostRules((opts.limits ?? sizeLimits()).rulesPerHost, others ?? 0, hostRuleCount(spec), hostRuleCount(next.spec), net.host);
}

/** A dry run's whole plan; null for a real call's checks (nothing downstream uses the rendered texts). */
function fullPlan(p: ChangePlan | { spec: NetSpec } | null): ChangePlan | null {
  return p && "steps" in p ? p : null;
}

/**
 * A port forward: nat networks only, vmIp inside the subnet (the planner's checks, from the published spec),
 * the host port not one a host process listens on (the worker's inventory publishes them), and claimed for
 * this network in the submission's commit, so of two concurrent requests for one port exactly one wins.
 */
export async function preparePortForward(
  redis: Redis,
  keys: Keys,
  body: JobBody<"configure-network-port-forward">,
  commit: CommitPrepared<"configure-network-port-forward">,
  opts: PrepareOptions = {},
): Promise<void> {
  // The host's record (its listening ports) and the spec come with the network, in the same round trip.
  const { net, spec, host, hostRules } = await existingNetwork(redis, keys, body.name, { spec: true, hostRules: true });
  if (modelFor(net.type).unsupported.has("port-forward")) {
    throw new AppError("UNSUPPORTED_FOR_TYPE", `port forwards need a nat network; '${net.name}' is ${net.type}`, {
      name: net.name,
      type: net.type,
    });
  }
  // The parsed body (the action route took dryRun off) is the payload; `action` defaults to add.
  const payload: JobPayloads["configure-network-port-forward"] = { ...body, action: body.action ?? "add" };
  const plan = spec
    ? planAtDoor(
        spec,
        changeOf("configure-network-port-forward", payload),
        { active: net.state === "active", leases: [], ...limitsOf(opts) },
        opts.checkOnly === true,
      )
    : null;
  if (spec) checkRulesAtDoor(net, hostRules, spec, plan, opts);
  let portClaim: PortClaim | null = null;
  if (payload.action === "add") {
    if (payload.hostIp !== undefined) checkHostIp(host, payload.hostIp);
    // Fail closed: a host that published no listening ports (its `ss` failed, or a worker from before they
    // were published) cannot say the port is free. The worker checks again on the host, under the lock.
    if (!host.listeningPorts) {
      throw new AppError(
        "HOST_UNAVAILABLE",
        `host ${net.host} has not published the ports its processes listen on (its worker could not read them): port forwards are refused until it does; retry later`,
        { host: net.host, reason: "listening ports unknown" },
      );
    }
    const listening = host.listeningPorts[payload.protocol];
    if (listening.includes(payload.hostPort)) {
      throw new AppError("PORT_CONFLICT", `a process on host ${net.host} listens on ${payload.protocol} port ${payload.hostPort}`, {
        host: net.host,
        protocol: payload.protocol,
        hostPort: payload.hostPort,
        heldBy: { process: true },
      });
    }
    // The host's own services, listening now or not (the worker publishes its list; older workers: the defaults).
    // (The record's ranges are [low, high] pairs; its schema says so with length(2), not as a tuple type.)
    const denied = (host.deniedHostPorts as DeniedHostPorts | undefined) ?? deniedHostPorts(undefined);
    checkHostPortAllowed(net.host, denied, payload.protocol, payload.hostPort);
    portClaim = {
      host: net.host,
      protocol: payload.protocol,
      hostPort: payload.hostPort,
      network: net.name,
      ...(payload.hostIp === undefined ? {} : { hostIp: payload.hostIp }),
    };
    if (opts.checkOnly) await checkPortClaim(redis, keys, portClaim);
  }
  await commit({ network: net.name, host: net.host, payload, claim: null, plan: fullPlan(plan), portClaim });
}

/** A forward's hostIp must be one of the host's own (non-loopback) IPv4 addresses, as its inventory publishes them. */
function checkHostIp(host: HostRecord, hostIp: string): void {
  const own = host.interfaces.flatMap((i) => i.addresses.map((a) => a.split("/")[0] as string)).filter((a) => !a.startsWith("127."));
  if (own.includes(hostIp)) return;
  throw validationError([
    {
      path: "hostIp",
      message: `${hostIp} is not an address of host ${host.id} (its addresses: ${own.length > 0 ? own.join(", ") : "none published"})`,
    },
  ]);
}
