/**
 * The synchronous checks of each job action, answered from the cluster
 * index before anything is queued (the worker re-checks on the host). Each
 * returns the job's network, host and payload; create-network also holds a
 * name/subnet claim that the caller must release if it cannot queue the job.
 * The mapped type forces one preparer per job action of the catalog.
 */
import { randomUUID } from "node:crypto";
import {
  type ACTIONS,
  AppError,
  claimNetwork,
  type CreateNetworkPayload,
  getHost,
  getNetwork,
  type HostRecord,
  hostStatus,
  IMPLEMENTED_TYPES,
  type JobAction,
  type JobPayloads,
  type Keys,
  listHosts,
  type Redis,
  type ResolvedCreate,
  resolveCreate,
  type ChangePlan,
  changeFor,
  type ConfigureAction,
  getNetworkIps,
  getNetworkSpec,
  type NetworkRecord,
  planChange,
} from "@netforge/core";
import type { z } from "zod";

/** The parsed body of a job action. */
export type JobBody<A extends JobAction> = z.infer<(typeof ACTIONS)[A]["body"]>;

/** What a job action resolves to before it is queued. */
export interface PreparedJob<A extends JobAction> {
  network: string;
  host: string;
  payload: JobPayloads[A];
  /** A name/subnet claim was taken for (network, host). */
  claimed: boolean;
  /** For changes of an existing network: the plan checked at the door (from the spec the worker published). */
  plan?: ChangePlan | null;
}

/** `checkOnly` (dry run): every check, nothing claimed. */
type Preparer<A extends JobAction> = (
  redis: Redis,
  keys: Keys,
  body: JobBody<A>,
  opts?: { checkOnly?: boolean },
) => Promise<PreparedJob<A>>;

/** Explicit host: must exist and be online. */
async function requireOnlineHost(redis: Redis, keys: Keys, id: string, what: string): Promise<HostRecord> {
  const host = await getHost(redis, keys, id);
  if (!host) throw new AppError("NOT_FOUND", `host '${id}' is not registered`, { host: id });
  if (hostStatus(host) !== "online") {
    throw new AppError("HOST_UNAVAILABLE", `host '${id}' is offline (last seen ${host.lastSeenAt}); ${what}`, {
      host: id,
      lastSeenAt: host.lastSeenAt,
    });
  }
  return host;
}

/**
 * Choose the host of a new network and claim its name and subnet there.
 * Without an explicit host, online hosts are tried from the emptiest; a
 * name clash ends the search at once (names are cluster-wide), a subnet
 * clash moves on to the next host.
 */
export async function placeAndClaim(redis: Redis, keys: Keys, spec: ResolvedCreate, checkOnly = false): Promise<string> {
  const claim = { checkOnly };
  if (spec.requestedHost !== null) {
    await requireOnlineHost(redis, keys, spec.requestedHost, "choose another host or retry when it is back");
    await claimNetwork(redis, keys, { name: spec.name, host: spec.requestedHost, cidr: spec.cidr }, claim);
    return spec.requestedHost;
  }
  const now = Date.now();
  const candidates = (await listHosts(redis, keys))
    .filter((h) => hostStatus(h, now) === "online")
    .sort((a, b) => a.networks - b.networks || a.id.localeCompare(b.id));
  if (candidates.length === 0) throw new AppError("NO_HOST", "no online host can take the network", {});
  let firstConflict: AppError | null = null;
  for (const h of candidates) {
    try {
      await claimNetwork(redis, keys, { name: spec.name, host: h.id, cidr: spec.cidr }, claim);
      return h.id;
    } catch (err) {
      if (err instanceof AppError && err.code === "CIDR_CONFLICT") {
        firstConflict ??= err;
        continue;
      }
      throw err;
    }
  }
  throw firstConflict as AppError;
}

async function prepareCreate(
  redis: Redis,
  keys: Keys,
  body: JobBody<"create-network">,
  opts: { checkOnly?: boolean } = {},
): Promise<PreparedJob<"create-network">> {
  const spec = resolveCreate(body);
  if (!IMPLEMENTED_TYPES.has(spec.type)) {
    throw new AppError(
      "UNSUPPORTED_FOR_TYPE",
      `network type '${spec.type}' is not supported by this version (supported: ${[...IMPLEMENTED_TYPES].join(", ")})`,
      { type: spec.type, supported: [...IMPLEMENTED_TYPES] },
    );
  }
  const host = await placeAndClaim(redis, keys, spec, opts.checkOnly === true);
  const { requestedHost: _requested, ...resolved } = spec;
  const payload: CreateNetworkPayload = {
    ...resolved,
    uuid: randomUUID(),
    host,
    createdAt: new Date().toISOString(),
  };
  return { network: spec.name, host, payload, claimed: opts.checkOnly !== true };
}

/** An indexed network whose host is online (the first check of every action on an existing network). */
async function existingNetwork(redis: Redis, keys: Keys, name: string): Promise<NetworkRecord> {
  const net = await getNetwork(redis, keys, name);
  if (!net) throw new AppError("NOT_FOUND", `network '${name}' does not exist`, { name });
  await requireOnlineHost(redis, keys, net.host, `network '${net.name}' cannot be changed until it is back`).catch((err: unknown) => {
    // The network's host vanished from the registry: for the caller that is "unavailable", not "not found".
    if (err instanceof AppError && err.code === "NOT_FOUND") {
      throw new AppError("HOST_UNAVAILABLE", `host '${net.host}' of network '${net.name}' is not registered`, {
        host: net.host,
      });
    }
    throw err;
  });
  return net;
}

/** delete/start/stop: the network must be indexed, its host online, and (for start/stop) in the other state. */
function prepareExisting<A extends "delete-network" | "start-network" | "stop-network">(action: A): Preparer<A> {
  return async (redis, keys, body) => {
    const net = await existingNetwork(redis, keys, body.name);
    if (action === "start-network" && net.state === "active") {
      throw new AppError("INVALID_STATE", `network '${net.name}' is already active`, { name: net.name, state: net.state });
    }
    if (action === "stop-network" && net.state === "inactive") {
      throw new AppError("INVALID_STATE", `network '${net.name}' is already inactive`, { name: net.name, state: net.state });
    }
    return { network: net.name, host: net.host, payload: { name: net.name } as JobPayloads[A], claimed: false };
  };
}

/**
 * A change of an existing network: checked at the door against the spec and leases its worker published
 * (the same pure planner the worker runs, which re-checks on the host). The payload is the body without dryRun.
 */
function prepareConfigure<A extends ConfigureAction>(action: A): Preparer<A> {
  return async (redis, keys, body) => {
    const net = await existingNetwork(redis, keys, body.name);
    const { dryRun: _dryRun, ...payload } = body as JobBody<A> & { dryRun?: boolean };
    const [spec, ips] = await Promise.all([getNetworkSpec(redis, keys, net.name), getNetworkIps(redis, keys, net.name)]);
    let plan: ChangePlan | null = null;
    if (spec) {
      const leases = (ips?.ips ?? []).filter((r) => r.leaseExpiresAt !== null);
      plan = planChange(spec, changeFor(action, payload), { active: net.state === "active", leases });
    } else if (net.type !== "nat" && net.type !== "isolated") {
      throw new AppError("UNSUPPORTED_FOR_TYPE", `network '${net.name}' is of type ${net.type}: no DHCP to configure`, {
        name: net.name,
        type: net.type,
      });
    }
    return { network: net.name, host: net.host, payload: payload as unknown as JobPayloads[A], claimed: false, plan };
  };
}

/** One preparer per job action. */
export const JOB_PREPARERS: { [A in JobAction]: Preparer<A> } = {
  "create-network": prepareCreate,
  "delete-network": prepareExisting("delete-network"),
  "start-network": prepareExisting("start-network"),
  "stop-network": prepareExisting("stop-network"),
  "configure-network-dhcp": prepareConfigure("configure-network-dhcp"),
  "assign-static-ip": prepareConfigure("assign-static-ip"),
  "unassign-static-ip": prepareConfigure("unassign-static-ip"),
};
