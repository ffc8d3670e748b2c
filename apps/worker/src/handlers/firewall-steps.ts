/**
 * The firewall parts of the lifecycle steps: a network's rules enter
 * netforge's table when it starts and leave it when it stops, each with its
 * undo; host firewall settings that would override them become warnings.
 */
import { renderNetworkXml, firewallPartOf, type NetSpec } from "@netforge/core/model";
import type { JobContext } from "../context";
import { ensureLegacyAccept, needsLegacyAccept, removeLegacyAccept } from "../firewall/legacy-nat";
import type { CatalogEntry } from "../host/network-catalog";

/**
 * Put the network's rules (from its spec) into the host's table; undone by putting back what was there. A type
 * with no host firewall path (its driver has no firewall part) has nothing to put there.
 */
export async function applyFirewall(ctx: JobContext, spec: NetSpec): Promise<void> {
  const part = firewallPartOf(spec);
  if (!part) return;
  const before = ctx.firewall.get(spec.name);
  await ctx.firewall.set(spec.name, part);
  ctx.revert.add(`restore firewall of ${spec.name}`, async () => void (await ctx.firewall.set(spec.name, before)));
  await warnOverridingPolicies(ctx);
}

/** Take the network's rules out of the host's table (it stopped); undone by putting them back. */
export async function removeFirewall(ctx: JobContext, name: string): Promise<void> {
  const before = ctx.firewall.get(name);
  if (!before) return;
  await ctx.firewall.set(name, null);
  ctx.revert.add(`restore firewall of ${name}`, async () => void (await ctx.firewall.set(name, before)));
  // A network on libvirt's NAT rules may have had an iptables accept for its forwards (legacy-nat.ts).
  if (needsLegacyAccept(before)) {
    await removeLegacyAccept(ctx.runner, before);
    ctx.revert.add(`restore the iptables accept of ${name}`, async () => void (await ensureLegacyAccept(ctx.runner, before)));
  }
}

/** Host firewall settings that win over netforge's accepts, as job warnings. */
export async function warnOverridingPolicies(ctx: JobContext): Promise<string[]> {
  const found = await ctx.firewall.overridingPolicies().catch(() => []);
  for (const w of found) ctx.report.warn(w);
  return found;
}

/** Redefine a stopped network from its spec (libvirt forward mode 'open'); undone by the old definition. */
export async function migrateDefinition(ctx: JobContext, entry: CatalogEntry): Promise<void> {
  const spec = entry.def.spec;
  if (!spec) return;
  const old = await ctx.virsh.dumpXml(entry.name, { inactive: true });
  const xml = renderNetworkXml(spec);
  await ctx.virsh.define(xml); // the catalog learns every define from Virsh itself
  ctx.logger.info({ network: entry.name }, "definition moved to forward mode 'open': netforge's table carries its NAT/isolation");
  ctx.revert.add(`restore definition of ${entry.name}`, async () => void (await ctx.virsh.define(old)));
}
