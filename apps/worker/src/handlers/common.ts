/** Pieces shared by the lifecycle handlers. */
import { AppError } from "@netforge/core/contract";
import { putNetwork, type NetworkRecord } from "@netforge/core/store";
import type { HostContext, JobContext } from "../context";
import { driverOf } from "../drivers/registry";
import type { CatalogEntry } from "../host/network-catalog";

/** The netforge network `name` on this host (from `catalog`, or freshly listed); NOT_FOUND when libvirt does not have it. */
export async function loadManaged(ctx: HostContext, name: string, catalog?: CatalogEntry[]): Promise<CatalogEntry> {
  const entry = (catalog ?? (await ctx.catalog.list())).find((c) => c.name === name);
  if (!entry?.def.managed) {
    throw new AppError("NOT_FOUND", `network '${name}' does not exist on host ${ctx.hostId}`, { name, host: ctx.hostId });
  }
  return entry;
}

/** Refuse with NETWORK_IN_USE while anything is plugged into the network's bridge. */
export async function assertNothingAttached(ctx: JobContext, entry: CatalogEntry, action: string): Promise<void> {
  if (!entry.active) return;
  const attached = await driverOf(entry).attachments(ctx, entry);
  if (attached.length > 0) {
    const names = attached.map((a) => (a.kind === "domain" ? `VM '${a.name}'` : `device ${a.name}`)).join(", ");
    throw new AppError("NETWORK_IN_USE", `cannot ${action} network '${entry.name}': ${names} attached`, {
      name: entry.name,
      attached,
    });
  }
}

/** Store the index record of a network whose state a job just changed (libvirt confirmed it; no re-read needed). */
export async function publishRecord(
  ctx: HostContext & { parentJob?: unknown },
  entry: CatalogEntry,
  active: boolean,
): Promise<NetworkRecord> {
  const rec = driverOf(entry).record({ ...entry, active }, ctx.hostId, new Date().toISOString());
  // A member's part of a job spanning hosts: the coordinating job publishes the network.
  if (!ctx.parentJob) await putNetwork(ctx.redis, ctx.keys, rec);
  return rec;
}
