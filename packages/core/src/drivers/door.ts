/**
 * The API door of the types made on a host device (bridge: a NIC or a host bridge; sriov: a PF): which hosts
 * can take the network, from the hosts' published inventory and the index, the clear refusals the inventory
 * already tells, and the spec a dry run plans. The worker re-checks everything on the host.
 */
import type { AppError } from "../errors";
import type { CreateNetworkPayload } from "../jobs";
import type { HostRecord } from "../schemas/host";
import type { L2Request, NetworkView } from "../schemas/network";
import type { NetSpec } from "../planner/network-spec";

/** A network of the index as the door checks see it. */
export type IndexedNetwork = Pick<NetworkView, "name" | "host" | "bridge" | "sriov">;

/** A device type's door (bridge.ts, sriov.ts). */
export interface DeviceDoor<S extends NetSpec> {
  /** Why `host` cannot take a network asking for `req`, or null when it can (as far as its inventory tells). */
  refusal(req: L2Request, host: HostRecord, networks: readonly IndexedNetwork[], name: string): AppError | null;
  /** The refusal when no online host has the device at all. */
  noHostHas(req: L2Request): AppError;
  /**
   * Whether `host`'s published inventory lacks the device entirely (not: has it, but it cannot be used). A real
   * create on a named host then goes to its worker, which decides from a fresh read of the host: the inventory
   * may be a heartbeat old (a NIC just added), and the worker's own check refuses a device that is not there.
   */
  lacks(req: L2Request, host: HostRecord): boolean;
  /**
   * The spec a create would define on `host`, chosen from its inventory (the bridge, the PF), with the
   * refusals the inventory tells; the dry run plans it (plan/lifecycle.ts) with the inventory as the facts.
   */
  specFor(payload: CreateNetworkPayload, req: L2Request, host: HostRecord, networks: readonly IndexedNetwork[]): S;
}
