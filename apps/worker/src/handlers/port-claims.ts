/** Keeping a host's port claims equal to what its networks' specs forward. */
import { type NetSpec, parseNetworkXml, addressingOf } from "@netforge/core/model";
import { assertPortClaims, hostPortClaims, portField, releasePortClaims } from "@netforge/core/store";
import type { HostContext } from "../context";
import type { CatalogEntry } from "../host/network-catalog";

const fieldsOf = (spec: NetSpec | null | undefined) =>
  (addressingOf(spec)?.portForwards ?? []).map((f) => portField(f.protocol, f.hostPort, f.hostIp));

/** Release the ports `network` holds that its spec (read now from libvirt) does not forward. Under the network's lock. */
export async function releaseUnforwardedPorts(ctx: HostContext, network: string): Promise<void> {
  const info = await ctx.virsh.info(network);
  const spec = info ? parseNetworkXml(await ctx.virsh.dumpXml(network, { inactive: true })).spec : null;
  const keep = new Set(fieldsOf(spec));
  const held = Object.entries(await hostPortClaims(ctx.redis, ctx.keys, ctx.hostId))
    .filter(([f, n]) => n === network && !keep.has(f))
    .map(([f]) => f);
  if (held.length > 0) await releasePortClaims(ctx.redis, ctx.keys, ctx.hostId, network, held);
}

/** Reconcile: every forward of every network's spec holds its port (after an index loss, a new Redis...). */
export async function assertForwardedPorts(ctx: HostContext, catalog: CatalogEntry[]): Promise<void> {
  for (const c of catalog) {
    const fields = fieldsOf(c.def.spec);
    if (fields.length > 0) await assertPortClaims(ctx.redis, ctx.keys, ctx.hostId, c.name, fields);
  }
}
