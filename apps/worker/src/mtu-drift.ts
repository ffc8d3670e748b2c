/**
 * Reconcile's MTU repair (docs/adr/0042-network-mtu.md): a running network with an MTU whose bridge or a port
 * on it has another one (changed by hand, or a port plugged in with another one), or whose DHCP options file
 * no longer says it, gets it back, logged and
 * counted like the other state a host lost. Read without a lock; repaired under the network's lock.
 */
import { dhcpOptionsFile, dhcpOptionsText, modelOf, parseNetworkXml } from "@netforge/core/model";
import { tryLock } from "@netforge/core/store";
import type { HostContext } from "./context";
import type { CatalogEntry } from "./host/network-catalog";
import { readLinks } from "./host/ip";
import { dnsmasqConf, mtuDrift, setLinkMtu, writeDhcpOptions } from "./host/mtu";

/** The MTU a running network's spec sets, with its bridge and options file; null when it sets none. */
function wanted(entry: CatalogEntry): { bridge: string; mtu: number; file: string } | null {
  const spec = entry.def.spec;
  if (!entry.active || !spec || !entry.def.bridge) return null;
  const mtu = modelOf(spec).view(spec).mtu;
  return mtu === null ? null : { bridge: entry.def.bridge, mtu, file: dhcpOptionsFile(spec.uuid) };
}

/** Put back the MTU of every running network that lost it; answers the networks repaired. */
export async function reapplyMtu(ctx: HostContext, catalog: readonly CatalogEntry[]): Promise<string[]> {
  const repaired: string[] = [];
  const targets = catalog.flatMap((entry) => {
    const want = wanted(entry);
    return want ? [{ entry, want }] : [];
  });
  if (targets.length === 0) return repaired;
  // The host's links once per round (every network's bridge and ports in one read).
  let links: Awaited<ReturnType<typeof readLinks>>;
  try {
    links = await readLinks(ctx.runner);
  } catch (err) {
    ctx.logger.warn({ err }, "could not read the host's links for the networks' MTU");
    return repaired;
  }
  for (const { entry, want } of targets) {
    try {
      const dhcp = { conf: await dnsmasqConf(entry.name, ctx.leasesDir), file: want.file };
      const drift = await mtuDrift(ctx.runner, want.bridge, want.mtu, dhcp, links);
      if (drift.links.length === 0 && !drift.options) continue;
      const lock = await tryLock(ctx.redis, ctx.keys.networkLock(entry.name), 10_000);
      if (!lock) continue; // a job is changing it: the next round looks again
      try {
        // Again under the lock, from the definition as it is now: a job may have changed the MTU since the
        // round's listing (putting back the listing's MTU would undo that job's change).
        const info = await ctx.virsh.info(entry.name);
        if (!info?.active) continue;
        const fresh = wanted({ ...entry, ...info, def: parseNetworkXml(await ctx.virsh.dumpXml(entry.name, { inactive: true })) });
        if (!fresh) continue;
        const now = await mtuDrift(ctx.runner, fresh.bridge, fresh.mtu, {
          conf: await dnsmasqConf(entry.name, ctx.leasesDir),
          file: fresh.file,
        });
        const what: string[] = [];
        if (now.links.length > 0) {
          await setLinkMtu(ctx.runner, fresh.bridge, fresh.mtu);
          what.push(`MTU ${fresh.mtu} on ${now.links.map((l) => `${l.dev} (was ${l.mtu})`).join(", ")}`);
        }
        if (now.options) {
          await writeDhcpOptions(ctx.runner, entry.name, fresh.file, dhcpOptionsText(fresh.bridge, fresh.mtu));
          what.push(`DHCP MTU option ${fresh.mtu}`);
        }
        if (what.length === 0) continue;
        ctx.logger.warn({ network: entry.name, reapplied: what }, "re-applied state the host had lost");
        await ctx.redis.hincrby(ctx.keys.reappliedCounter, ctx.hostId, what.length);
        repaired.push(entry.name);
      } finally {
        await lock.release();
      }
    } catch (err) {
      ctx.logger.warn({ err, network: entry.name }, "could not re-apply the network's MTU");
    }
  }
  return repaired;
}
