/**
 * The shared base of the two routed types (nat and isolated): a bridge owned
 * by libvirt carrying the gateway address, dnsmasq for DHCP/DNS. They differ
 * only in libvirt's <forward mode='nat'/> (and the firewall rules libvirt
 * derives from it), which the renderer handles from the spec's type.
 *
 * Changes to a running network go through `virsh net-update --live`
 * (DHCP hosts and ranges: libvirt rewrites dnsmasq's files and signals or
 * restarts dnsmasq only; the bridge and its ports are never touched), then
 * the whole persistent definition is redefined, carrying the new DHCP
 * hosts/ranges and the new spec in its metadata (libvirt 9.0 has no
 * net-metadata command): one write of the definition, not two.
 */
import type { CreateNetworkPayload } from "@netforge/core/contract";
import {
  parseNetworkXml,
  type PlanStep,
  type RoutedModel,
  type RoutedNetSpec,
  type RoutedType,
  renderDhcpHost,
  renderDhcpRange,
  specFromCreate,
} from "@netforge/core/model";
import type { JobContext } from "../context";
import { ensureLegacyAccept, legacyAcceptWarning, needsLegacyAccept, removeLegacyAccept } from "../firewall/legacy-nat";
import { bridgeAttachments } from "../host/attachments";
import { waitForDhcp } from "../host/dhcp-probe";
import { assertNoOverlap, freeBridgeName, occupiedSubnets } from "../host/host-checks";
import { recordFromCatalog } from "../network-record";
import type { AppliedChange, HostSnapshot, LostState, NetworkDriver } from "./driver";

export function routedDriver<T extends RoutedType>(model: RoutedModel<T>): NetworkDriver<RoutedNetSpec & { type: T }> {
  const type = model.type;
  return {
    model,
    prepare(ctx: JobContext, p: CreateNetworkPayload, host: HostSnapshot) {
      if (!p.cidr) throw new Error(`${type} network without cidr`);
      assertNoOverlap(p.cidr, ctx.hostId, occupiedSubnets(host.links, host.routes, host.catalog, p.name, host.endpoints));
      const bridge = freeBridgeName(host.links, p.name, host.catalog);
      const { start: _start, ...spec } = p;
      const made = specFromCreate({ ...spec, bridge });
      if (!model.is(made)) throw new Error(`a ${made.type} spec for a ${type} network`);
      return made;
    },
    async verifyStarted(ctx, s) {
      if (s.dhcp.enabled) await waitForDhcp(ctx.runner, s.bridge, 3000, s.name);
    },
    connectedVms: (_ctx, entry, links) =>
      entry.def.bridge && entry.active ? links.filter((l) => l.master === entry.def.bridge).length : 0,
    async attachments(ctx, entry) {
      if (!entry.active || !entry.def.bridge) return [];
      return bridgeAttachments(ctx.runner, ctx.virsh, entry.def.bridge);
    },
    async applyPlan(ctx, plan) {
      const warnings: string[] = [];
      // Commands a step ran beyond its own (the iptables accept of a legacy NAT network), listed after it.
      const extra = new Map<PlanStep, AppliedChange["applied"][number]>();
      const runStep = async (step: PlanStep): Promise<void> => {
        if (step.command !== undefined) {
          // conntrack -D exits 1 when there was nothing to delete: that is success here.
          const [cmd, ...args] = step.command;
          if (cmd) await ctx.runner.run(cmd, args, { allowFailure: true });
        } else if (step.nft !== undefined) {
          // The host table in one transaction, with this network's part from the plan's spec.
          const name = plan.spec.name;
          const before = ctx.firewall.get(name);
          if (!model.is(plan.spec)) throw new Error(`firewall step for a ${plan.spec.type} network`);
          // A running network keeps the rules it runs with (a change does not move it off libvirt's NAT rules).
          const now = model.firewall(plan.spec, before?.ownsTypeRules ?? true);
          await ctx.firewall.set(name, now);
          ctx.revert.add(`restore firewall of ${name}`, async () => void (await ctx.firewall.set(name, before)));
          // Still on libvirt's NAT rules: its reject would stop the forwards (legacy-nat.ts).
          if (needsLegacyAccept(now)) {
            const ran = await ensureLegacyAccept(ctx.runner, now);
            if (ran) {
              ctx.revert.add(`remove the iptables accept of ${name}`, () => removeLegacyAccept(ctx.runner, now));
              extra.set(step, { name: "accepting forwarded traffic past libvirt's reject", virsh: [], command: ran, live: true });
            }
            warnings.push(legacyAcceptWarning(now));
          } else if (!now.ownsTypeRules) {
            await removeLegacyAccept(ctx.runner, now);
          }
        } else if (step.xml !== undefined) {
          // The catalog learns every define from Virsh itself (no second parse here).
          await ctx.virsh.define(step.xml);
          const undo = step.undo?.xml;
          if (undo !== undefined) {
            ctx.revert.add(`restore definition of ${plan.spec.name}`, async () => void (await ctx.virsh.define(undo)));
          }
        } else {
          await ctx.virsh.run(step.virsh);
          const undo = step.undo;
          if (undo) ctx.revert.add(`undo: ${step.name}`, async () => void (await ctx.virsh.run(undo.virsh)));
        }
      };
      const steps = plan.steps;
      const last = steps.at(-1);
      if (last?.xml !== undefined && steps.length > 1 && steps.slice(0, -1).every((s) => s.nft !== undefined || s.command !== undefined)) {
        // A firewall change: its live part (the nft transaction, then conntrack) and the spec write (net-define)
        // touch different things, so they run at the same time. Each registers its undo once it succeeded, and
        // the job fails after both settled: a failure of either undoes the other. (libvirt changes stay in
        // order: net-update --live first, then the definition, so a refused update never rewrites the spec.)
        const settled = await Promise.allSettled([
          (async () => {
            for (const step of steps.slice(0, -1)) await runStep(step);
          })(),
          runStep(last),
        ]);
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
      } else {
        for (const step of steps) await runStep(step);
      }
      const applied: AppliedChange["applied"] = steps.flatMap((step) => {
        const own = {
          name: step.name,
          virsh: step.virsh,
          ...(step.xml !== undefined ? { xml: step.xml } : {}),
          ...(step.nft !== undefined ? { nft: step.nft } : {}),
          ...(step.command !== undefined ? { command: step.command } : {}),
          live: step.live,
        };
        const after = extra.get(step);
        return after ? [own, after] : [own];
      });
      return { applied, warnings };
    },
    lostState(entry, liveXml) {
      const spec = entry.def.spec;
      if (!spec || !model.is(spec) || !entry.active) return [];
      const live = parseNetworkXml(liveXml);
      const lost: LostState[] = [];
      const update = (op: string, section: string, xml: string) => ["net-update", spec.name, op, section, xml, "--live"];
      // DHCP range: the spec's range with its lease time, and nothing else.
      const d = spec.dhcp;
      const want = d.enabled && d.start && d.end ? { start: d.start, end: d.end, leaseTime: d.leaseTime } : null;
      const have = live.dhcp;
      const sameRange = want && have && want.start === have.start && want.end === have.end && want.leaseTime === have.leaseTime;
      if (want && !sameRange) {
        const commands = have ? [update("delete", "ip-dhcp-range", renderDhcpRange(have.start, have.end, have.leaseTime))] : [];
        commands.push(update("add", "ip-dhcp-range", renderDhcpRange(want.start, want.end, want.leaseTime)));
        lost.push({ what: `DHCP range ${want.start}-${want.end} lease ${want.leaseTime} s`, commands });
      }
      // Reservations: every one of the spec, as the spec has it.
      const liveHosts = new Map(live.hosts.map((x) => [x.mac, x]));
      for (const r of spec.reservations) {
        const h = liveHosts.get(r.mac);
        if (h && h.ip === r.ip && h.hostname === r.hostname) continue;
        const commands = h ? [update("delete", "ip-dhcp-host", renderDhcpHost(h))] : [];
        commands.push(update("add", "ip-dhcp-host", renderDhcpHost(r)));
        lost.push({ what: `reservation ${r.mac} -> ${r.ip}`, commands });
      }
      return lost;
    },
    record: recordFromCatalog,
  };
}
