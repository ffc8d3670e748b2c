/**
 * One driver per network type (the Incus shape): what differs between types
 * is how the libvirt definition is rendered, which host checks come before
 * defining it, and how a started network proves it works. The lifecycle
 * (define/start/stop/undefine with undo) is shared by the handlers.
 */
import type { CreateNetworkPayload, NetworkSpec, NetworkType } from "@netforge/core";
import type { JobContext } from "../context";
import type { HostLink, HostRoute } from "../host/ip";
import type { CatalogEntry } from "../host/network-catalog";

/** A read of the host taken once per job. */
export interface HostSnapshot {
  links: HostLink[];
  routes: HostRoute[];
  catalog: CatalogEntry[];
}

export interface NetworkDriver {
  readonly type: NetworkType;
  /** Host checks and host-side choices (bridge name); returns the spec to render. */
  prepare(ctx: JobContext, payload: CreateNetworkPayload, host: HostSnapshot): NetworkSpec;
  /** The libvirt network XML. */
  render(spec: NetworkSpec): string;
  /** After the network started: prove it serves (e.g. DHCP answers). */
  verifyStarted(ctx: JobContext, spec: { name: string; bridge: string | null; dhcpEnabled: boolean }): Promise<void>;
}
