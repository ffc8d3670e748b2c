/**
 * Runs a plan's host steps (core's plan/steps.ts) exactly as planned, registering the undo of each step once
 * it succeeded, and reports them as applied. The executor knows the step kinds, never a network type: what a
 * step runs is decided by the pure planners, so a dry run shows what this runs.
 *
 * The host is reached through a narrow port (HostPort) so that a test can record what ran and compare it with
 * the plan (plan-executor.test.ts); the worker's port (hostPortOf) is its virsh sessions, command runner,
 * host firewall and sysfs.
 */
import { AppError } from "@netforge/core/contract";
import {
  type FirewallNetwork,
  type HostStep,
  type TcPlan,
  type JobPlan,
  modelOf,
  parseNetworkXml,
  type PlanPhase,
  planHash,
  type StepView,
  stepView,
} from "@netforge/core/model";
import type { HostContext, JobContext } from "./context";
import { ensureLegacyAccept, legacyAcceptWarning, needsLegacyAccept, removeLegacyAccept } from "./firewall/legacy-nat";
import { dnsmasqPid, endDnsmasq, type LinkMtu, restoreLinkMtu, setLinkMtu, writeDhcpOptions } from "./host/mtu";
import { applyTc, qosCapabilityOf, qosUnsupported } from "./host/qos";
import { readPf, writeNumVfs } from "./host/sriov-sysfs";
import type { Revert } from "./revert";

/** What the executor may do to the host. */
export interface HostPort {
  /** `virsh <args>` (lifecycle writes are told to the catalog). */
  virsh(args: readonly string[]): Promise<void>;
  /** `virsh net-define` of `xml`. */
  define(xml: string): Promise<void>;
  /** Take a network this job defined away again: stopped when running, undefined when libvirt has it. */
  undefine(network: string): Promise<void>;
  /** A host command (argv, `input` on its stdin); a non-zero exit fails unless `allowFailure`. */
  command(argv: readonly string[], allowFailure: boolean, input?: string): Promise<void>;
  /** The network's part of netforge's table now, and setting it (null: none) in one transaction of the host's table. */
  firewall(network: string): FirewallNetwork | null;
  setFirewall(network: string, part: FirewallNetwork | null): Promise<void>;
  /** The VF count of a PF now (null: unreadable), and writing one. */
  vfs(pf: string): number | null;
  writeVfs(pf: string, n: number): Promise<void>;
  /** Set a bridge and every port on it to an MTU: what each link had (to put back) and the ports changed. */
  setLinkMtu(bridge: string, mtu: number): Promise<{ before: LinkMtu[]; ports: string[] }>;
  restoreLinkMtu(links: readonly LinkMtu[]): Promise<void>;
  /** Write a network's DHCP options file and signal its dnsmasq: the text it had, and the signal's argv (null: none ran). */
  writeDhcpOptions(network: string, file: string, text: string): Promise<{ before: string; signalled: string[] | null }>;
  /** End the network's dnsmasq and wait until it is gone: the signal's argv (null: none of it ran). */
  endDnsmasq(network: string): Promise<string[] | null>;
  /** Whether the network's dnsmasq runs. */
  dnsmasqRuns(network: string): Promise<boolean>;
  /** Fails (HOST_COMMAND_FAILED naming what is missing) when the host cannot shape traffic. */
  checkQos(): Promise<void>;
  /** Apply one tc plan of a network's shaping (host/qos.ts applyTc). */
  applyQos(ifb: string, plan: TcPlan): Promise<void>;
}

/** What applying steps did beyond them: commands a step entailed, and what the job should say about it. */
export interface StepOutcome {
  applied: StepView[];
  warnings: string[];
}

export interface ExecuteOptions {
  /** Give a created bridge's NIC back as it was (the undo "restore-nic"), supplied by the type's host half. */
  restoreNic?: () => Promise<void>;
  /** A read-only check right before a VF write (another tool's network may name the PF by now). */
  beforeVfWrite?: (pf: string) => Promise<void>;
}

/** Run one host step and register its undo (labelled with the job step it belongs to). */
async function runStep(
  port: HostPort,
  revert: Revert,
  jobStep: string,
  s: HostStep,
  opts: ExecuteOptions,
  out: StepOutcome,
): Promise<void> {
  switch (s.kind) {
    case "virsh": {
      await port.virsh(s.args);
      const undo = s.undo;
      if (undo === null) break;
      const label = s.undoName ?? `undo: ${s.name}`;
      if (Array.isArray(undo)) revert.add(label, () => port.virsh(undo), jobStep);
      else
        revert.add(
          label,
          async () => {
            await port.define(undo.define);
            if (undo.autostart) await port.virsh(["net-autostart", s.args[1] ?? ""]);
          },
          jobStep,
        );
      break;
    }
    case "xml": {
      await port.define(s.xml);
      const undo = s.undo;
      if (undo === null) break;
      const label = s.undoName ?? `restore definition of ${s.network}`;
      if ("xml" in undo) revert.add(label, () => port.define(undo.xml), jobStep);
      else revert.add(label, () => port.undefine(s.network), jobStep);
      break;
    }
    case "nft": {
      const before = port.firewall(s.network);
      await port.setFirewall(s.network, s.part);
      revert.add(`restore firewall of ${s.network}`, () => port.setFirewall(s.network, before), jobStep);
      break;
    }
    case "command": {
      await port.command(s.argv, s.allowFailure === true, s.input);
      const undo = s.undo;
      if (undo === "restore-nic") {
        const restore = opts.restoreNic;
        if (restore) revert.add(`undo: ${s.name}`, restore, jobStep);
      } else if (undo) {
        const then = s.undoThen ?? [];
        revert.add(
          `undo: ${s.name}`,
          async () => {
            await port.command(undo, false);
            for (const more of then) await port.command(more, false);
          },
          jobStep,
        );
      }
      break;
    }
    case "sysfs-vfs": {
      await opts.beforeVfWrite?.(s.pf);
      // Registered before the write: a write that failed half-way may have left the PF at 0. Restoring is
      // idempotent (nothing to do once the count is back), so each write of a change may register it.
      revert.add(`restore ${s.original} VFs on ${s.pf}`, () => restoreVfs(port, s.pf, s.original), jobStep);
      await port.writeVfs(s.pf, s.vfs);
      break;
    }
    case "link-mtu": {
      const { before, ports } = await port.setLinkMtu(s.bridge, s.mtu);
      revert.add(`undo: ${s.name}`, () => port.restoreLinkMtu(before), jobStep);
      out.applied.push(stepView(jobStep, s));
      // The ports it found on the bridge, each as the command that set it.
      for (const dev of ports) {
        out.applied.push({
          step: jobStep,
          name: `set MTU ${s.mtu} on port ${dev}`,
          command: ["ip", "link", "set", "dev", dev, "mtu", String(s.mtu)],
          live: true,
        });
      }
      return;
    }
    case "end-dnsmasq": {
      const signalled = await port.endDnsmasq(s.network);
      // Only when nothing started it again (the update after this step failed before libvirt restarted it).
      revert.add(
        `undo: ${s.name}`,
        async () => {
          if (await port.dnsmasqRuns(s.network)) return;
          for (const args of s.restart) await port.virsh(args);
        },
        jobStep,
      );
      out.applied.push(signalled ? { ...stepView(jobStep, s), command: signalled } : stepView(jobStep, s));
      return;
    }
    case "qos": {
      // Checked before anything changes: a host without what shaping needs fails the job naming it.
      await port.checkQos();
      revert.add(`undo: ${s.name}`, () => port.applyQos(s.ifb, s.undo), jobStep);
      await port.applyQos(s.ifb, s.apply);
      break;
    }
    case "dhcp-options": {
      const { before, signalled } = await port.writeDhcpOptions(s.network, s.file, s.text);
      revert.add(`undo: ${s.name}`, async () => void (await port.writeDhcpOptions(s.network, s.file, before)), jobStep);
      out.applied.push(stepView(jobStep, s));
      if (signalled) out.applied.push({ step: jobStep, name: "dnsmasq re-reads its options file", command: signalled, live: true });
      return;
    }
  }
  out.applied.push(stepView(jobStep, s));
}

/** Back to the count the PF had: the kernel changes a non-zero count only through 0. */
async function restoreVfs(port: HostPort, pf: string, original: number): Promise<void> {
  const current = port.vfs(pf) ?? original;
  if (current === original) return;
  if (current !== 0 && original !== 0) await port.writeVfs(pf, 0);
  await port.writeVfs(pf, original);
}

/**
 * Run a phase's host steps: in order, or (concurrent) all at once, failing after all settled so that the undo
 * of each one that succeeded is registered before the job reverts.
 */
export async function runPhase(port: HostPort, revert: Revert, phase: PlanPhase, opts: ExecuteOptions = {}): Promise<StepOutcome> {
  const out: StepOutcome = { applied: [], warnings: [] };
  const lanes = phase.lanes;
  if (lanes && lanes.length === phase.hostSteps.length) {
    const byLane = new Map<number, HostStep[]>();
    for (const [i, s] of phase.hostSteps.entries()) byLane.set(lanes[i] as number, [...(byLane.get(lanes[i] as number) ?? []), s]);
    const settled = await Promise.allSettled(
      [...byLane.values()].map(async (steps) => {
        for (const s of steps) await runStep(port, revert, phase.step, s, opts, out);
      }),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const order = new Map(phase.hostSteps.map((s, i) => [s.name, i]));
    out.applied.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
  } else if (phase.concurrent) {
    const settled = await Promise.allSettled(phase.hostSteps.map((s) => runStep(port, revert, phase.step, s, opts, out)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    // Reported in the plan's order whatever order they finished in.
    const order = new Map(phase.hostSteps.map((s, i) => [s.name, i]));
    out.applied.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
  } else {
    for (const s of phase.hostSteps) await runStep(port, revert, phase.step, s, opts, out);
  }
  return out;
}

/** A deleted network's traffic counters go with it (a network created again under its name starts at 0). */
async function forgetTraffic(ctx: HostContext, network: string, bridge: string | null): Promise<void> {
  try {
    await ctx.firewall.forgetTraffic(network, bridge);
  } catch (err) {
    ctx.logger.warn({ err, network }, "could not drop the traffic counters of a deleted network");
  }
}

/**
 * A bridge network made on a NIC is counted from the job defining it (not from the next reconcile round): the
 * firewall's counted bridge networks gain it (an undo's undefine forgets it again). A failure is logged: reconcile's
 * round counts it then.
 */
async function countLanOf(ctx: HostContext, xml: string): Promise<void> {
  try {
    const spec = parseNetworkXml(xml).spec;
    const at = spec ? modelOf(spec).view(spec).shapedAt : null;
    if (spec && at?.uplink) await ctx.firewall.countLan({ name: spec.name, uplink: at.uplink, bridge: at.bridge });
  } catch (err) {
    ctx.logger.warn({ err }, "could not count a bridge network's traffic from its job (reconcile's round will)");
  }
}

/**
 * The worker's port: its virsh sessions (the catalog learns every write from them), its command runner, the
 * host's table, and sysfs. An nft step on a network still on libvirt's NAT rules also keeps (or drops) the
 * iptables accept its forwards need past libvirt's reject (legacy-nat.ts), reported after the step.
 */
/** A job's host port (anything with the host and an undo list: a job, or the removal of a part left by one). */
export function hostPortOf(ctx: HostContext & Pick<JobContext, "revert">, out?: { warnings: string[]; extra: StepView[] }): HostPort {
  const root = ctx.sysfsRoot ?? "/sys";
  return timedPort(ctx, {
    virsh: async (args) => {
      const removed = args[0] === "net-undefine" ? (args[1] ?? null) : null;
      const bridge = removed !== null ? (ctx.catalog.get(removed)?.def.bridge ?? null) : null;
      await ctx.virsh.runStep(args);
      if (removed !== null) await forgetTraffic(ctx, removed, bridge);
    },
    define: async (xml) => {
      await ctx.virsh.define(xml);
      await countLanOf(ctx, xml);
    },
    undefine: async (network) => {
      const info = await ctx.virsh.info(network);
      if (info?.active) await ctx.virsh.destroy(network);
      const bridge = ctx.catalog.get(network)?.def.bridge ?? null;
      if (info) await ctx.virsh.undefine(network);
      ctx.catalog.forget(network);
      await forgetTraffic(ctx, network, bridge);
    },
    command: async ([cmd, ...args], allowFailure, input) => {
      if (cmd) await ctx.runner.run(cmd, args, input === undefined ? { allowFailure } : { allowFailure, input });
    },
    firewall: (network) => ctx.firewall.get(network),
    setFirewall: async (network, part) => {
      const before = ctx.firewall.get(network);
      await ctx.firewall.set(network, part);
      if (part && needsLegacyAccept(part)) {
        const ran = await ensureLegacyAccept(ctx.runner, part);
        if (ran) {
          ctx.revert.add(`remove the iptables accept of ${network}`, () => removeLegacyAccept(ctx.runner, part));
          out?.extra.push({ step: "", name: "accepting forwarded traffic past libvirt's reject", command: ran, live: true });
        }
        out?.warnings.push(legacyAcceptWarning(part));
      } else if (before && needsLegacyAccept(before)) {
        await removeLegacyAccept(ctx.runner, before);
        if (!part)
          ctx.revert.add(`restore the iptables accept of ${network}`, async () => void (await ensureLegacyAccept(ctx.runner, before)));
      } else if (part && !part.ownsTypeRules) {
        await removeLegacyAccept(ctx.runner, part);
      }
    },
    vfs: (pf) => {
      const now = readPf(root, pf);
      return "numVfs" in now ? now.numVfs : null;
    },
    setLinkMtu: (bridge, mtu) => setLinkMtu(ctx.runner, bridge, mtu),
    restoreLinkMtu: (links) => restoreLinkMtu(ctx.runner, links),
    writeDhcpOptions: (network, file, text) => writeDhcpOptions(ctx.runner, network, file, text),
    endDnsmasq: (network) => endDnsmasq(ctx.runner, network),
    dnsmasqRuns: async (network) => (await dnsmasqPid(network)) !== null,
    checkQos: async () => {
      const cap = await qosCapabilityOf(ctx.runner, ctx.qosQdiscs);
      if (!cap.supported) throw qosUnsupported(cap);
    },
    applyQos: (ifb, plan) => applyTc(ctx.runner, ifb, plan),
    writeVfs: async (pf, n) => {
      try {
        writeNumVfs(root, pf, n);
      } catch (err) {
        throw new AppError("SRIOV_UNAVAILABLE", `SR-IOV PF ${pf}: writing ${n} to sriov_numvfs failed: ${(err as Error).message}`, {
          pf,
          vfs: n,
        });
      }
    },
  });
}

/**
 * With the debug log level, each host write of a job logged with how long it took ("host write"): where a step's
 * time goes, command by command (ADR 0051, "Benchmarks"). Otherwise the port as it is.
 */
function timedPort(ctx: Pick<HostContext, "logger">, port: HostPort): HostPort {
  if (!ctx.logger?.isLevelEnabled?.("debug")) return port;
  const timed =
    <A extends unknown[], R>(what: (...a: A) => string[], fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const t0 = performance.now();
      try {
        return await fn(...a);
      } finally {
        ctx.logger.debug({ command: what(...a), ms: Math.round((performance.now() - t0) * 10) / 10 }, "host write");
      }
    };
  return {
    ...port,
    virsh: timed((args) => ["virsh", ...args], port.virsh),
    define: timed((_xml: string) => ["virsh", "net-define"], port.define),
    command: timed((argv) => [...argv], port.command),
    setFirewall: timed((network) => ["nft", "-f", "-", `(netforge table: ${network})`], port.setFirewall),
    applyQos: timed((ifb: string, _plan: TcPlan) => ["tc", "-batch", "-", `(${ifb})`], port.applyQos),
  };
}

/**
 * A client that previewed the plan (dry run) and sent its hash as expectPlan gets exactly that plan or none:
 * the worker planned again under the network's lock from fresh facts, and a different plan (the network or
 * its host changed since the preview) fails the job before any step runs, without a retry. A redelivered job
 * whose first delivery already began has passed this check then (its plan now reflects its own progress).
 * `volatile`: values a dry run draws apart from the real call (a create's uuid and createdAt).
 */
export function assertPlanAsPreviewed(
  ctx: Pick<JobContext, "expectPlan" | "earlierSteps">,
  plan: JobPlan | StepView[],
  volatile: readonly string[] = [],
): void {
  const expected = ctx.expectPlan;
  if (!expected || (ctx.earlierSteps?.size ?? 0) > 0) return;
  const planned = planHash(plan, volatile);
  if (planned === expected) return;
  throw new AppError(
    "INVALID_STATE",
    `the plan differs from the one previewed (expectPlan ${expected}, now ${planned}): the network or its host changed since the dry run; nothing was changed, preview again`,
    { expectPlan: expected, planHash: planned, permanent: true },
  );
}
