/**
 * The one path for every change of an existing network: load its spec from
 * libvirt, validate the change against it and the host (leases), compute the
 * next spec, apply the difference step by step with the undo of each step
 * registered, write the spec back (the last step of every plan), and publish
 * what changed. The result says what changed, the exact commands applied,
 * and what could not be applied live.
 */
import { AppError, type QosSpec } from "@netforge/core/contract";
import {
  changeHostSteps,
  changeViews,
  checkHostRules,
  type FirewallBodyPart,
  type FirewallSpec,
  firewallBodyOf,
  firewallOf,
  dhcpOptionsFile,
  type HostStep,
  hostRuleCount,
  type NetworkChange,
  parseNetworkXml,
  type StepView,
  sizeLimits,
  xmlDigest,
} from "@netforge/core/model";
import { putNetwork, putNetworkSpec } from "@netforge/core/store";
import type { JobContext } from "../context";
import { driverFor } from "../drivers/registry";
import { readLeases } from "../host/leases";
import { dnsmasqReadsOptions } from "../host/mtu";
import { publishIpTable } from "../ip-table";
import { assertPlanAsPreviewed, hostPortOf, runPhase, type StepOutcome } from "../plan-executor";
import { warnOverridingPolicies } from "./firewall-steps";
import { type MemberParts, startMemberParts } from "./members";

/** What a configure job answers. */
export interface ConfigureResult {
  name: string;
  /** Human summary of what changed; empty when the change was already in place. */
  changed: string[];
  /**
   * The host commands run, in order. A definition written is summarised (the sha256 of the XML applied and
   * the lines that changed), never carried whole: results live in the record, the event stream and pub/sub.
   */
  applied: { step: string; name: string; command: string[]; xmlSha256?: string; xmlDiff?: string[]; nft?: string; live: boolean }[];
  /** What the running network only gets at its next start. */
  notLive: string[];
  warnings: string[];
}

export async function configureNetwork(ctx: JobContext, name: string, change: NetworkChange): Promise<ConfigureResult> {
  const { report, virsh } = ctx;
  const { plan, hostSteps, driver, state, previousXml } = await report.step("checking change", async () => {
    // A fresh read of the persistent definition, deliberately NOT the event-kept catalog. Under the network's
    // lock netforge is the only writer through the API, but not the only writer on the host: a hand
    // `virsh net-update <net> add ip-dhcp-host ... --config` changes the persistent definition and libvirt
    // 9.0 emits NO event for it (only define/undefine/start/stop are lifecycle events; checked on a sandbox
    // host). The plan below is computed from exactly those native elements (`native.hosts`, `native.range`),
    // so a cached copy could plan an add that collides with, or a delete that misses, a hand edit. These two
    // reads are one network each (net-info + net-dumpxml, ~2 ms on a session), so the cost does not grow
    // with the host's size; the catalog is what removed the per-job host-wide listing.
    // Both reads go out at once (the sessions run them in parallel); the definition's error only counts for a
    // network that exists. Right after a libvirtd restart this costs no extra failure: the first session that
    // sees the lost connection retires every session's virsh, and reads that met it are run again (host/virsh.ts).
    const [state, dumped] = await Promise.all([
      virsh.info(name),
      virsh.dumpXml(name, { inactive: true }).then(
        (x) => x,
        (err: unknown) => ({ failed: err }),
      ),
    ]);
    if (state && typeof dumped !== "string") throw dumped.failed;
    const xml = state && typeof dumped === "string" ? dumped : null;
    const def = xml ? parseNetworkXml(xml) : null;
    if (!state || !xml || !def?.managed) {
      throw new AppError("NOT_FOUND", `network '${name}' does not exist on host ${ctx.hostId}`, { name, host: ctx.hostId });
    }
    if (!def.spec) {
      throw new AppError("UNSUPPORTED_FOR_TYPE", `network '${name}' (type ${def.type}) cannot be configured by this action`, {
        name,
        type: def.type,
      });
    }
    const drv = driverFor(def.spec.type);
    const leases = state.active && def.bridge ? await readLeases(def.bridge, ctx.leasesDir) : [];
    const limits = sizeLimits();
    // An MTU change: whether the running dnsmasq reads netforge's DHCP options file (libvirt's configuration says).
    const dhcpOptionsLive =
      change.kind === "mtu" && state.active ? await dnsmasqReadsOptions(name, dhcpOptionsFile(def.spec.uuid), ctx.leasesDir) : undefined;
    const plan = drv.model.planChange(
      def.spec,
      change,
      {
        active: state.active,
        leases,
        native: { hosts: def.hosts, range: def.dhcp, dnsHosts: def.dnsHosts, hosts6: def.hosts6 },
        limits,
        // A running network keeps the rules it runs with (a change does not move it off libvirt's NAT rules).
        ownsTypeRules: ctx.firewall.get(name)?.ownsTypeRules ?? true,
        ...(dhcpOptionsLive === undefined ? {} : { dhcpOptionsLive }),
      },
      xml,
    );
    // Rules per host, re-checked against the host's own definitions (the door counted what workers published).
    const before = hostRuleCount(def.spec);
    const after = hostRuleCount(plan.spec);
    if (after > before) {
      let others = 0;
      for (const e of await ctx.catalog.list()) if (e.name !== name && e.def.managed) others += hostRuleCount(e.def.spec);
      checkHostRules(limits.rulesPerHost, others, before, after, ctx.hostId);
    }
    const hostSteps = changeHostSteps(plan);
    // (With each other member's part of a change across hosts, as the dry run showed them.)
    assertPlanAsPreviewed(ctx, changeViews(plan, "applying change", ctx.report.record.action));
    return { plan, hostSteps, driver: drv, state: { ...state, spec: def.spec }, previousXml: xml };
  });
  for (const w of plan.warnings) report.warn(w);
  const warnings = [...plan.warnings];
  // A change across hosts (an overlay's firewall or MTU, on its gateway host): each other member's part runs at the
  // same time as this host's, on that member's own worker; all or nothing (members.ts: a part that succeeded is
  // taken back by the same action with the firewall or MTU as it was, should anything fail).
  const parts = !ctx.parentJob && plan.parts && plan.parts.length > 0 ? plan.parts.map((x) => x.host) : null;
  const before = state.spec as { firewall?: FirewallSpec; mtu?: number; qos?: QosSpec };
  let waiting: MemberParts | null = null;
  if (parts && change.kind === "firewall") {
    waiting = await startMemberParts(
      ctx,
      "configure-network-firewall",
      parts,
      () => firewallPayloadOf(name, change.firewall),
      () => firewallPayloadOf(name, firewallOf(before)),
    );
  } else if (parts && change.kind === "mtu" && before.mtu !== undefined) {
    const former = before.mtu;
    waiting = await startMemberParts(
      ctx,
      "configure-network-mtu",
      parts,
      () => ({ name, mtu: change.mtu }),
      () => ({ name, mtu: former }),
    );
  } else if (parts && change.kind === "qos") {
    const former = before.qos ?? null;
    waiting = await startMemberParts(
      ctx,
      "configure-network-qos",
      parts,
      () => ({ name, network: change.qos.network, vms: change.qos.vms }),
      () => ({ name, network: former?.network ?? null, vms: former?.vms ?? [] }),
    );
  }
  if (plan.nft !== undefined) warnings.push(...(await warnOverridingPolicies(ctx)));

  const applied = await report.step("applying change", () => applyChange(ctx, hostSteps));
  if (waiting) await waiting.wait();
  for (const w of applied.warnings) {
    report.warn(w);
    warnings.push(w);
  }

  // Publish under the job's lock: index record and spec (the API's door checks). The IP table follows just
  // after, off the job's path (it reads leases, links and domains; nothing in the result depends on it).
  // (A member's part of a change across hosts publishes nothing: the index is the coordinator's, ADR 0051.)
  if (plan.steps.length > 0 && !ctx.parentJob) {
    const entry = { ...state, def: ctx.catalog.peek(name) ?? parseNetworkXml(plan.libvirtXml) };
    await Promise.all([
      putNetwork(ctx.redis, ctx.keys, driver.record(entry, ctx.hostId, new Date().toISOString())),
      putNetworkSpec(ctx.redis, ctx.keys, plan.spec),
    ]);
    void publishIpTable(ctx, entry).catch((err) => ctx.logger.warn({ err }, "could not publish the IP table"));
  }
  return {
    name,
    changed: plan.changed,
    applied: applied.applied.map((a) => ({
      step: a.step,
      name: a.name,
      command: a.command,
      ...(a.xml !== undefined ? xmlDigest(previousXml, a.xml) : {}),
      ...(a.nft !== undefined ? { nft: a.nft } : {}),
      live: a.live,
    })),
    notLive: plan.notLive,
    warnings,
  };
}

/**
 * Run a change's host steps exactly as planned. A firewall change's live part (the nft transaction, then
 * conntrack) and its spec write (net-define) touch different things, so the two run at the same time; each
 * step registers its undo once it succeeded and the job fails after both settled, so a failure of either
 * undoes the other. Any other change runs in order (net-update --live first, then the definition, so a
 * refused update never rewrites the spec). Commands an nft step entailed (legacy-nat.ts) follow it.
 */
async function applyChange(ctx: JobContext, steps: HostStep[]): Promise<StepOutcome> {
  const side = { warnings: [] as string[], extra: [] as StepView[] };
  const port = hostPortOf(ctx, side);
  const phase = (hostSteps: HostStep[]) => runPhase(port, ctx.revert, { step: "applying change", hostSteps });
  const last = steps.at(-1);
  const liveThenSpec =
    last?.kind === "xml" && steps.length > 1 && steps.slice(0, -1).every((s) => s.kind === "nft" || s.kind === "command");
  let applied: StepView[];
  if (liveThenSpec) {
    const settled = await Promise.allSettled([phase(steps.slice(0, -1)), phase([last])]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    applied = settled.flatMap((r) => (r.status === "fulfilled" ? r.value.applied : []));
  } else {
    applied = (await phase(steps)).applied;
  }
  const nftAt = applied.findIndex((a) => a.nft !== undefined);
  if (side.extra.length > 0) applied.splice(nftAt + 1, 0, ...side.extra.map((e) => ({ ...e, step: "applying change" })));
  return { applied, warnings: side.warnings };
}

/** A firewall as configure-network-firewall's payload (what a member's part of an overlay's change is given). */
const firewallPayloadOf = (name: string, f: FirewallSpec): { name: string } & FirewallBodyPart => ({ name, ...firewallBodyOf(f) });
