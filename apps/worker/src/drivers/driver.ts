/**
 * One driver per network type (the Incus shape). A driver owns its type's
 * whole lifecycle: its pure half in core (packages/core/src/drivers/: the
 * libvirt definition, its firewall part, the changes it supports and their
 * plans) and its host half here (host checks and choices before defining it,
 * the host facts its plans read, proof that a started network serves, what
 * is attached to it, the index record; the host steps themselves are planned in core and run by
 * plan-executor.ts). Handlers stay thin and never ask for a
 * type: a new type is a new driver (one file here, one in core).
 */
import type { CreateNetworkPayload, ProtectedAddress } from "@netforge/core/contract";
import type { DriverModel, HostFacts, NetSpec } from "@netforge/core/model";
import type { NetworkRecord } from "@netforge/core/store";
import type { HostContext, JobContext } from "../context";
import type { Attachment } from "../host/attachments";
import type { HostLink, HostRoute } from "../host/ip";
import type { RaInterface } from "../host/ipv6-checks";
import type { CatalogEntry } from "../host/network-catalog";
import type { ExecuteOptions } from "../plan-executor";

/** A read of the host taken once per job. */
export interface HostSnapshot {
  links: HostLink[];
  routes: HostRoute[];
  catalog: CatalogEntry[];
  /** Addresses the host must keep reaching besides its next hops: its Redis, the API, its resolvers. */
  endpoints?: ProtectedAddress[];
  /** Interfaces with routes from router advertisements and their accept_ra (read for a network with IPv6 only). */
  raInterfaces?: RaInterface[];
}

/** A piece of state a host lost, and the virsh commands (live only) that re-apply it from the spec. */
export interface LostState {
  what: string;
  commands: string[][];
}

/**
 * A network type's driver, typed to the type's own spec `S`: its pure half (`model`, in core: render, firewall
 * part, changes it supports and their plans, door checks) and its host half here (host checks and choices,
 * the host facts its plans read, verification, attachments, the index record). Methods take `S`
 * (method syntax: the registry holds every driver as a driver of NetSpec and picks it by the spec's type).
 */
export interface NetworkDriver<S extends NetSpec = NetSpec> {
  /** The type's pure half (core's drivers/). */
  readonly model: DriverModel<S>;
  /** Host checks and host-side choices (bridge name); returns the spec to render. */
  prepare(ctx: JobContext, payload: CreateNetworkPayload, host: HostSnapshot): S;
  /** After the network started: prove it serves (e.g. DHCP answers), when the model says it serves DHCP. */
  verifyStarted(ctx: JobContext, spec: S): Promise<void>;
  /**
   * The host facts the type's plans read (model.hostSteps: links for a bridge netforge creates, the PF's VF
   * count), read fresh under the network's lock; plan and run share them. Types without host steps read nothing.
   * `links`: the host's links this job read under the same lock a moment ago (a create's host check), which a
   * type whose facts are the links alone takes instead of reading them again.
   */
  hostFacts(ctx: HostContext, spec: S, links?: readonly HostLink[]): Promise<HostFacts>;
  /** How the executor runs the type's host steps: the undo that gives a NIC back, a check right before a VF write. */
  executeOptions?(ctx: JobContext, spec: S): ExecuteOptions;
  /** VMs connected now, for describe-network's stats, from one read of the host's links. */
  connectedVms(ctx: HostContext, entry: CatalogEntry, links: HostLink[]): number;
  /** What is plugged into the network now. */
  attachments(ctx: HostContext, entry: CatalogEntry): Promise<Attachment[]>;
  /** What a running network's spec says and libvirt's live definition lacks, with the commands that put it back (pure). */
  lostState(entry: CatalogEntry, liveXml: string): LostState[];
  /** The index record of a network of this type. */
  record(entry: CatalogEntry, host: string, updatedAt: string): NetworkRecord;
  /**
   * After a job on a network of this type succeeded on this host, before its success is recorded: publish what
   * the host's stats refresh would (an overlay's part), so whoever sees the success reads the host as it is.
   */
  afterJob?(ctx: HostContext, network: string): Promise<void>;
}
