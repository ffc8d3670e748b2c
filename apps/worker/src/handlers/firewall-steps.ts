/**
 * Pieces the lifecycle handlers share around their plans: what a plan reads of an existing network, and host
 * firewall settings that would override netforge's rules, as job warnings.
 */
import type { NetworkFacts } from "@netforge/core/model";
import type { HostContext, JobContext } from "../context";
import type { CatalogEntry } from "../host/network-catalog";

/** Host firewall settings that win over netforge's accepts, as job warnings. */
export async function warnOverridingPolicies(ctx: JobContext): Promise<string[]> {
  const found = await ctx.firewall.overridingPolicies().catch(() => []);
  for (const w of found) ctx.report.warn(w);
  return found;
}

/**
 * What the plan of a job on an existing network reads of it: its state, its forward mode, its part of the
 * table now, and (only when a step can be undone with it) its persistent definition.
 */
export async function networkFacts(ctx: HostContext, entry: CatalogEntry, withXml: boolean): Promise<NetworkFacts> {
  return {
    active: entry.active,
    autostart: entry.autostart,
    xml: withXml ? await ctx.virsh.dumpXml(entry.name, { inactive: true }) : "",
    forwardMode: entry.def.forwardMode,
    firewall: ctx.firewall.get(entry.name),
  };
}
