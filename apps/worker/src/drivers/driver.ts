/**
 * One driver per network type (the Incus shape). A driver owns its type's
 * whole lifecycle: its pure half in core (packages/core/src/drivers/: the
 * libvirt definition, its firewall part, the changes it supports and their
 * plans) and its host half here (host checks and choices before defining it,
 * host setup, proof that a started network serves, what is attached to it,
 * applying a plan, the index record). Handlers stay thin and never ask for a
 * type: a new type is a new driver (one file here, one in core).
 */
import type { CreateNetworkPayload, ProtectedAddress } from "@netforge/core/contract";
import type { ChangePlan, NetSpec, DriverModel } from "@netforge/core/model";
import type { NetworkRecord } from "@netforge/core/store";
import type { HostContext, JobContext } from "../context";
import type { Attachment } from "../host/attachments";
import type { HostLink, HostRoute } from "../host/ip";
import type { CatalogEntry } from "../host/network-catalog";

/** A read of the host taken once per job. */
export interface HostSnapshot {
  links: HostLink[];
  routes: HostRoute[];
  catalog: CatalogEntry[];
  /** Addresses the host must keep reaching besides its next hops: its Redis, the API, its resolvers. */
  endpoints?: ProtectedAddress[];
}

/** What applying a plan did. */
export interface AppliedChange {
  /** The texts run, in order (equal to the plan's). */
  applied: { name: string; virsh: string[]; xml?: string; nft?: string; command?: string[]; live: boolean }[];
  /** What the job should say about how the change was applied (e.g. a network still on libvirt's NAT rules). */
  warnings?: string[];
}

/** A piece of state a host lost, and the virsh commands (live only) that re-apply it from the spec. */
export interface LostState {
  what: string;
  commands: string[][];
}

/**
 * A network type's driver, typed to the type's own spec `S`: its pure half (`model`, in core: render, firewall
 * part, changes it supports and their plans, door checks) and its host half here (host checks and choices,
 * host setup/teardown, verification, attachments, applying a plan, the index record). Methods take `S`
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
   * Host state the network needs besides its libvirt definition (a bridge netforge creates with its NIC,
   * the PF's VFs): made before the definition is written and before every start; idempotent; registers the
   * undo of each change it makes. Types that need nothing leave it out.
   */
  setUpHost?(ctx: JobContext, spec: S): Promise<void>;
  /** After the definition was removed: give back what setUpHost took (e.g. the NIC, exactly as it was). */
  tearDownHost?(ctx: JobContext, spec: S): Promise<void>;
  /** VMs connected now, for describe-network's stats, from one read of the host's links. */
  connectedVms(ctx: HostContext, entry: CatalogEntry, links: HostLink[]): number;
  /** What is plugged into the network now. */
  attachments(ctx: HostContext, entry: CatalogEntry): Promise<Attachment[]>;
  /** Apply a plan (the model's planChange) to the host, registering the undo of each step as it succeeds. */
  applyPlan(ctx: JobContext, plan: ChangePlan): Promise<AppliedChange>;
  /** What a running network's spec says and libvirt's live definition lacks, with the commands that put it back (pure). */
  lostState(entry: CatalogEntry, liveXml: string): LostState[];
  /** The index record of a network of this type. */
  record(entry: CatalogEntry, host: string, updatedAt: string): NetworkRecord;
}
