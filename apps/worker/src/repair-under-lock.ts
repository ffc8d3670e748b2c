/**
 * The shared second half of reconcile's repairs of state a running network lost (its MTU, its bandwidth
 * limits): a round reads without locks and finds a network that lost something; the repair then takes the
 * network's lock, reads its definition as it is now (a job may have changed what it wants since the round's
 * listing: putting back the listing's value would undo that job), repairs from that, and logs and counts what
 * it re-applied like the other state a host lost.
 */
import { parseNetworkXml } from "@netforge/core/model";
import { tryLock } from "@netforge/core/store";
import type { HostContext } from "./context";
import type { CatalogEntry } from "./host/network-catalog";

/**
 * Repair `entry` under its lock: `wanted` reads what its current definition asks for (null: nothing, or it
 * stopped), `repair` puts it back and answers what it re-applied (empty: it was in place after all). True when
 * something was re-applied. A network whose lock a job holds is left to the next round.
 */
export async function repairUnderLock<W>(
  ctx: HostContext,
  entry: CatalogEntry,
  wanted: (entry: CatalogEntry) => W | null,
  repair: (fresh: W) => Promise<string[]>,
): Promise<boolean> {
  const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
  if (!lock) return false; // a job is changing it: the next round looks again
  try {
    const info = await ctx.virsh.info(entry.name);
    if (!info?.active) return false;
    const fresh = wanted({ ...entry, ...info, def: parseNetworkXml(await ctx.virsh.dumpXml(entry.name, { inactive: true })) });
    if (!fresh) return false;
    const what = await repair(fresh);
    if (what.length === 0) return false;
    ctx.logger.warn({ network: entry.name, reapplied: what }, "re-applied state the host had lost");
    await ctx.redis.hincrby(ctx.keys.reappliedCounter, ctx.hostId, what.length);
    return true;
  } finally {
    await lock.release();
  }
}
