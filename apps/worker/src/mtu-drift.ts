/**
 * Reconcile's MTU repair (docs/adr/0042-network-mtu.md): a running network with an MTU whose bridge or a port
 * on it has another one (changed by hand, or a port plugged in with another one), or whose DHCP options file
 * no longer says it, gets it back, logged and
 * counted like the other state a host lost. Read without a lock; repaired under the network's lock.
 */
import { dhcpOptionsFile, dhcpOptionsText, modelOf } from "@netforge/core/model";
import type { HostContext } from "./context";
import type { CatalogEntry } from "./host/network-catalog";
import { repairUnderLock } from "./repair-under-lock";
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
      const done = await repairUnderLock(ctx, entry, wanted, async (fresh) => {
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
        return what;
      });
      if (done) repaired.push(entry.name);
    } catch (err) {
      ctx.logger.warn({ err, network: entry.name }, "could not re-apply the network's MTU");
    }
  }
  return repaired;
}
