/**
 * What the API halves of the job actions (actions/<action>.ts) share at the door: the types of a prepared job
 * and of a preparer, placement with the name/subnet claim, the read of an existing network with its host, and
 * a change checked against the spec its worker published. The checks are answered from the cluster index
 * before anything is queued (the worker re-checks on the host); each half resolves its job's network, host and
 * payload and hands them to `commit` (the caller's deadline-guarded commit: record, queue entry and, for a
 * create, the name/subnet claim in one transaction). No action is named here: each half holds its own.
 */
import {
  type ACTIONS,
  AppError,
  canonicalIp,
  type ConfigureAction,
  changeOf,
  type HostRecord,
  type JobAction,
  type JobPayloads,
  MIN_MTU_IPV6,
  type OverlayDoorPart,
  type ResolvedCreate,
  validationError,
} from "@netforge/core/contract";
import {
  type ChangePlan,
  checkChange,
  type HostObservation,
  type NetSpec,
  type NetworkChange,
  planChange,
  checkHostRules,
  hostRuleCount,
  l2Lacks,
  l2Refusal,
  l2Unavailable,
  modelFor,
  type SizeLimits,
  sizeLimits,
  overlayMtu,
  VXLAN_OVERHEAD_V4,
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
  type PortClaim,
  listAllNetworks,
  type VniRange,
  claimVni,
  DEFAULT_VNI_RANGE,
  releaseVni,
  vniOf,
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
  /** The VXLAN ids overlays are given (NETFORGE_VNI_RANGE); absent: core's default range. */
  vniRange?: VniRange;
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
  const claim = { name: spec.name, cidr: spec.cidr, cidr6: spec.ipv6?.cidr ?? null };
  // bridge/sriov: only hosts whose inventory has the NIC/bridge/PF (and where it is free) can take it.
  const l2 = spec.l2;
  const networks = l2 ? await listAllNetworks(redis, keys) : [];
  const refusal = (h: HostRecord) => (l2 ? l2Refusal(l2, h, networks, spec.name) : null);
  if (spec.requestedHost !== null) {
    const host = await requireOnlineHost(redis, keys, spec.requestedHost, "choose another host or retry when it is back");
    const why = refusal(host);
    // A device the named host's inventory does not list at all may be newer than its last publish: its worker
    // decides with a fresh read (a dry run plans from the inventory, so it still refuses).
    if (why && (checkOnly || !l2 || !l2Lacks(l2, host))) throw why;
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

/**
 * An indexed network whose host is online (the first check of every action on an existing network), with
 * what else the action needs of it (its published spec and/or IP table), all read in one round trip
 * (core's readNetworkAtDoor) and checked in the order they always were: the network, then its host.
 */
export async function existingNetwork(
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
  // A network spanning hosts (an overlay): its jobs run on every member, so each must be online.
  for (const m of net.overlay?.hosts ?? []) {
    if (m.id !== net.host) await requireOnlineHost(redis, keys, m.id, `network '${net.name}' spans it: retry when it is back`);
  }
  return { ...read, net, host };
}

/** INVALID_STATE when the network is already in `state` (a start of an active one, a stop of an inactive one). */
export function refuseState(net: NetworkRecord, state: NetworkRecord["state"]): void {
  if (net.state === state)
    throw new AppError("INVALID_STATE", `network '${net.name}' is already ${state}`, { name: net.name, state: net.state });
}

/** How a change's API half reads and checks it at the door (prepareChange). */
export interface ChangeAtDoor<A extends ConfigureAction> {
  /** The job's payload of the parsed body (the action route took dryRun off). */
  payloadOf: (body: JobBody<A>) => JobPayloads[A];
  /** Whether the change counts against the host's rule cap (NETFORGE_MAX_RULES_PER_HOST; read with the network). */
  hostRules?: boolean;
  /** UNSUPPORTED_FOR_TYPE's reason for a type without netforge-managed addressing ("no DHCP to configure"). */
  withoutAddressing: string;
  /** A check of the action's own after the network's (an overlay's MTU against every member's underlay). */
  check?: (redis: Redis, keys: Keys, net: NetworkRecord, payload: JobPayloads[A]) => Promise<void>;
}

/**
 * A change of an existing network: checked at the door against the spec and leases its worker published
 * (the same pure planner the worker runs, which re-checks on the host), the change being the one the action's
 * definition makes of the payload (core's changeOf).
 */
export function prepareChange<A extends ConfigureAction>(action: A, door: ChangeAtDoor<A>): Preparer<A> {
  return async (redis, keys, body, commit, opts = {}) => {
    const hostRules = door.hostRules === true;
    const read = await existingNetwork(redis, keys, body.name, { spec: true, ips: true, hostRules });
    const { net, spec, ips } = read;
    const payload = door.payloadOf(body);
    if (door.check) await door.check(redis, keys, net, payload);
    let plan: ChangePlan | { spec: NetSpec } | null = null;
    if (spec) {
      const leases = (ips?.ips ?? []).filter((r) => r.leaseExpiresAt !== null);
      plan = planAtDoor(
        spec,
        changeOf(action, payload),
        { active: net.state === "active", leases, ...limitsOf(opts) },
        opts.checkOnly === true,
      );
      if (hostRules) checkRulesAtDoor(net, read.hostRules, spec, plan, opts);
    } else if (modelFor(net.type).noAddressing !== null) {
      throw new AppError("UNSUPPORTED_FOR_TYPE", `network '${net.name}' is of type ${net.type}: ${door.withoutAddressing}`, {
        name: net.name,
        type: net.type,
      });
    } else {
      // A network with netforge addressing whose spec is not in the index (yet): its record is re-published before
      // its spec after a store reset, and a spec is re-published under the network's lock. A change that cannot be
      // checked here is not accepted to fail later on the host (found by the chaos run: an address outside the
      // subnet answered 202): 503, retryable, as the rest of a rebuilding store.
      throw new AppError(
        "UNAVAILABLE",
        `the spec of network '${net.name}' is not in the index yet (its host is re-publishing it); nothing was applied: retry in a few seconds`,
        { reason: "store_rebuilding", phase: "spec", name: net.name },
      );
    }
    await commit({ network: net.name, host: net.host, payload, claim: null, plan: fullPlan(plan) });
  };
}

/**
 * A change checked at the door: a dry run gets the whole plan (what it answers); a real call only the checks
 * (same errors), since the worker plans again on the host and nothing here uses the rendered texts.
 */
export function planAtDoor(spec: NetSpec, change: NetworkChange, host: HostObservation, dryRun: boolean): ChangePlan | { spec: NetSpec } {
  if (dryRun) return planChange(spec, change, host);
  return { spec: checkChange(spec, change, host) };
}

/** The per-network caps of a HostObservation, when the caller gave them. */
export function limitsOf(opts: PrepareOptions): Pick<HostObservation, "limits"> {
  return opts.limits ? { limits: opts.limits } : {};
}

/**
 * Rules per host at the door: the network's firewall rules and forwards after the change, plus those of every
 * other network of its host (`others`: the counts their workers published with their records, read with the
 * network), must stay within NETFORGE_MAX_RULES_PER_HOST. A change that does not add rules passes.
 */
export function checkRulesAtDoor(
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
export function fullPlan(p: ChangePlan | { spec: NetSpec } | null): ChangePlan | null {
  return p && "steps" in p ? p : null;
}

/** A forward's hostIp must be one of the host's own (non-loopback) addresses of its family, as its inventory publishes them. */
export function checkHostIp(host: HostRecord, hostIp: string): void {
  // An IPv6 hostIp is one of the host's IPv6 addresses (the inventory's are global/ULA ones, not link-local), compared
  // in canonical text; the loopback addresses of both families are refused (a forward is for traffic from outside).
  const v6 = hostIp.includes(":");
  const own = host.interfaces
    .flatMap((i) => (v6 ? (i.addresses6 ?? []) : i.addresses).map((a) => canonicalIp(a.split("/")[0] as string)))
    .filter((a) => !a.startsWith("127.") && a !== "::1");
  if (own.includes(canonicalIp(hostIp))) return;
  throw validationError([
    {
      path: "hostIp",
      message: `${hostIp} is not an address of host ${host.id} (its addresses: ${own.length > 0 ? own.join(", ") : "none published"})`,
    },
  ]);
}

/**
 * An overlay's door (issue 17): every member host registered, online and with an underlay address; the MTU
 * fits every member's underlay (its MTU less the VXLAN overhead); the VXLAN id claimed cluster-wide (a dry run
 * claims nothing: it shows the id the network holds, else the range's first). Returns what the payload carries
 * for the workers, and how to give the claimed VNI back when the commit does not happen.
 */
export async function overlayAtDoor(
  redis: Redis,
  keys: Keys,
  name: string,
  overlay: { hosts: readonly string[] },
  mtu: number | undefined,
  opts: PrepareOptions,
  ipv6 = false,
): Promise<{ door: OverlayDoorPart; release: () => Promise<void> }> {
  const records = await Promise.all(overlay.hosts.map((id) => getHost(redis, keys, id)));
  const underlay: Record<string, string> = {};
  let smallest: { host: string; mtu: number } | null = null;
  const issues: { path: string; message: string }[] = [];
  overlay.hosts.forEach((id, i) => {
    const h = onlineHost(records[i] ?? null, id, "an overlay's members must all be online to create it");
    if (!h.underlay) {
      issues.push({
        path: `hosts.${i}`,
        message: `host '${id}' has no underlay address for VXLAN${h.underlayProblem ? `: ${h.underlayProblem}` : " (its worker reports none)"}`,
      });
      return;
    }
    underlay[id] = h.underlay.ip;
    if (!smallest || h.underlay.mtu < smallest.mtu) smallest = { host: id, mtu: h.underlay.mtu };
  });
  if (issues.length > 0) throw validationError(issues);
  const least = smallest as { host: string; mtu: number } | null;
  if (!least) throw validationError([{ path: "hosts", message: "give at least one member host" }]);
  const largest = overlayMtu([least.mtu]);
  if (mtu !== undefined && mtu > largest) {
    throw validationError([
      {
        path: "mtu",
        message: `must be at most ${largest}: host '${least.host}''s underlay MTU is ${least.mtu}, less ${VXLAN_OVERHEAD_V4} bytes of VXLAN`,
      },
    ]);
  }
  // IPv6 needs 1280 on every link: the default (the smallest underlay less the VXLAN overhead) too.
  if (ipv6 && mtu === undefined && largest < MIN_MTU_IPV6) {
    throw validationError([
      {
        path: "mtu",
        message: `an overlay with IPv6 needs an MTU of at least ${MIN_MTU_IPV6}: the default, ${largest}, is host '${least.host}''s underlay MTU ${least.mtu} less ${VXLAN_OVERHEAD_V4} bytes of VXLAN`,
      },
    ]);
  }
  const range = opts.vniRange ?? DEFAULT_VNI_RANGE;
  // A VNI the name already holds is another network's of that name (its create is refused NAME_TAKEN below) or
  // an earlier submission's: only one claimed here is given back when the commit does not happen.
  const held = await vniOf(redis, keys, name);
  const vni = opts.checkOnly ? (held ?? range.first) : await claimVni(redis, keys, name, range);
  const release = async () => {
    if (!opts.checkOnly && held === null) await releaseVni(redis, keys, name);
  };
  return { door: { vni, underlay, mtu: mtu ?? largest }, release };
}

/**
 * The hosts configure-network-hosts adds to an overlay (issue 17): each registered (404), online (503), with an
 * underlay address (400 naming the worker's reason) whose MTU carries the overlay's MTU with the VXLAN overhead
 * (400 naming the host). Their underlay addresses, by host.
 */
export async function addedMembersAtDoor(
  redis: Redis,
  keys: Keys,
  name: string,
  add: readonly string[],
  mtu: number,
): Promise<Record<string, string>> {
  const records = await Promise.all(add.map((id) => getHost(redis, keys, id)));
  const underlay: Record<string, string> = {};
  const issues: { path: string; message: string }[] = [];
  add.forEach((id, i) => {
    const h = onlineHost(records[i] ?? null, id, `an overlay's new member must be online to join overlay '${name}'`);
    if (!h.underlay) {
      issues.push({
        path: `add.${i}`,
        message: `host '${id}' has no underlay address for VXLAN${h.underlayProblem ? `: ${h.underlayProblem}` : " (its worker reports none)"}`,
      });
      return;
    }
    if (overlayMtu([h.underlay.mtu]) < mtu) {
      issues.push({
        path: `add.${i}`,
        message: `host '${id}''s underlay MTU is ${h.underlay.mtu}: too small for overlay '${name}''s MTU ${mtu} (it needs at least ${mtu + VXLAN_OVERHEAD_V4} with ${VXLAN_OVERHEAD_V4} bytes of VXLAN)`,
      });
      return;
    }
    underlay[id] = h.underlay.ip;
  });
  if (issues.length > 0) throw validationError(issues);
  return underlay;
}
