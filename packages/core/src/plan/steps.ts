/**
 * The plan of a lifecycle job (create, start, stop, delete) as data: a list of the job's steps (their names
 * are the action definition's, actions/jobs.ts), each holding the host steps it runs. A host step is a tagged
 * union that carries exactly what will run (virsh arguments, the XML defined, this network's part of the
 * nft table, an argv, a sysfs write) and how it is taken back. Pure planners (lifecycle.ts) build it from the
 * spec and one snapshot of host facts; the worker executes exactly these steps (plus read-only checks) and a
 * dry run returns them, so what an operator previews is what runs.
 */
import { createHash } from "node:crypto";
import { type FirewallNetwork, renderNetworkChains } from "../render/nft";
import type { TcPlan } from "../render/tc-qos";

/** `virsh <args>`; undone by `virsh <undo>`, or by defining `define` again (and its autostart flag). */
export interface VirshStep {
  kind: "virsh";
  name: string;
  args: string[];
  undo: string[] | { define: string; autostart: boolean } | null;
  /** How the job's revert names the undo ("stop network"); default "undo: <name>". */
  undoName?: string;
  live: boolean;
}

/** `virsh net-define` of `xml`; undone by undefining a new network or defining the former definition again. */
export interface XmlStep {
  kind: "xml";
  name: string;
  network: string;
  xml: string;
  undo: { undefine: true } | { xml: string } | null;
  undoName?: string;
  live: false;
}

/**
 * This network's part of netforge's nft table (null: the network leaves it), applied inside the host's whole
 * table in one `nft -f` transaction; undone by putting back the part that was there. `text` is the part's
 * chains as rendered (what the transaction carries for this network).
 */
export interface NftStep {
  kind: "nft";
  name: string;
  network: string;
  part: FirewallNetwork | null;
  text: string;
  live: true;
}

/** A host command other than virsh (argv); `undo` is an argv, or "restore-nic" (a created bridge's NIC given back as it was). */
export interface CommandStep {
  kind: "command";
  name: string;
  argv: string[];
  undo: string[] | "restore-nic" | null;
  /** More commands the undo runs after `undo` (an argv), in order: one step whose inverse is several commands. */
  undoThen?: string[][];
  /** A non-zero exit is success (e.g. conntrack -D with nothing to delete). */
  allowFailure?: boolean;
  /**
   * Text the command reads on stdin (`ip -batch -`, `bridge -batch -`, `nft -f -`): several commands of one tool
   * in one process (nft: one transaction). Part of what the step runs: a dry run shows it.
   */
  input?: string;
  /**
   * Needs nothing libvirt's start makes (no bridge, no device of it): a create runs it beside libvirt's start, in
   * the lane of the network's table part (planCreate's `lanes`); elsewhere it runs in order as any step.
   */
  besideStart?: boolean;
  live: boolean;
}

/**
 * Host setup outside commands: one write of an SR-IOV PF's VF count to sysfs (a change between two non-zero
 * counts is two steps, through 0); undone by writing back the count the PF had before the job.
 */
export interface SysfsVfsStep {
  kind: "sysfs-vfs";
  name: string;
  pf: string;
  vfs: number;
  original: number;
  live: true;
}

/**
 * A network's bridge and every port on it set to `mtu` (`ip link set dev <x> mtu <n>` each: the kernel keeps a
 * port's MTU its own). The ports are the ones on the bridge when it runs (VMs come and go), each reported as
 * applied; undone by putting back the MTU each had.
 */
export interface LinkMtuStep {
  kind: "link-mtu";
  name: string;
  bridge: string;
  mtu: number;
  live: true;
}

/**
 * netforge's DHCP options file of a network written with `text`, then the network's dnsmasq (libvirt's, by its
 * pid file) told to re-read it with SIGHUP (no restart: leases and DNS stay); undone by writing back what it had.
 */
export interface DhcpOptionsStep {
  kind: "dhcp-options";
  name: string;
  network: string;
  file: string;
  text: string;
  live: true;
}

/**
 * The network's dnsmasq (libvirt's pid file, checked against its command line) ended with SIGTERM and waited
 * for, right before a live update that has libvirt restart it (planner/changes.ts PlanStep.endDnsmasq);
 * undone, when no dnsmasq of the network runs then, by the `restart` updates.
 */
export interface EndDnsmasqStep {
  kind: "end-dnsmasq";
  name: string;
  network: string;
  restart: string[][];
  live: true;
}

/**
 * A network's shaping (tc, docs/adr/0044-network-qos.md): the IFB made or removed as `apply.ifb` says, the
 * cleanup lines run (each may find its object already gone), then the batch (`tc -batch -`, all or the job
 * fails); undone by running `undo` the same way. The worker first checks that the host has every kernel piece
 * the shaping needs (changing nothing when one is missing). `text` is what the dry run shows.
 */
export interface QosStep {
  kind: "qos";
  name: string;
  bridge: string;
  ifb: string;
  apply: TcPlan;
  undo: TcPlan;
  text: string;
  live: true;
}

export type HostStep =
  | VirshStep
  | XmlStep
  | NftStep
  | CommandStep
  | SysfsVfsStep
  | LinkMtuStep
  | DhcpOptionsStep
  | EndDnsmasqStep
  | QosStep;

/** One step of the job (its name from the action's definition) with the host steps it runs. */
export interface PlanPhase {
  step: string;
  hostSteps: HostStep[];
  /** The host steps are independent and run at the same time (each registers its undo once it succeeded). */
  concurrent?: boolean;
  /**
   * The phase's host steps begin together with the previous phase's (they touch something else: the autostart
   * flag of the persistent definition while libvirt starts the network); the job still reports it as its own step.
   */
  overlapsPrevious?: boolean;
  /**
   * The lane of each host step (same index as `hostSteps`): each lane's steps run in order, the lanes at the same
   * time; each step registers its undo once it succeeded, and the phase fails once every lane settled. Absent: the
   * steps in order (or all at once with `concurrent`).
   */
  lanes?: number[];
}

export interface JobPlan {
  phases: PlanPhase[];
  /** The definition written (create), for the dry run's libvirtXml. */
  libvirtXml?: string;
  /** The network's nft chains after the job, when it has a part in the table. */
  nft?: string;
  warnings: string[];
}

/** A host step as a dry run shows it and a job reports it applied: the job step, what it does, the exact command and texts. */
export interface StepView {
  step: string;
  name: string;
  command: string[];
  xml?: string;
  nft?: string;
  /** A QoS step's tc lines. */
  tc?: string;
  /** What a command step reads on stdin (an `ip`/`bridge` batch, an nft script). */
  input?: string;
  live: boolean;
}

/** The command line a host step runs (argv; the XML or nft text goes on stdin or in a file). */
export function commandOf(s: HostStep): string[] {
  switch (s.kind) {
    case "virsh":
      return ["virsh", ...s.args];
    case "xml":
      return ["virsh", "net-define", "<file>"];
    case "nft":
      return ["nft", "-f", "-"];
    case "command":
      return s.argv;
    case "sysfs-vfs":
      return ["write", `/sys/class/net/${s.pf}/device/sriov_numvfs`, String(s.vfs)];
    case "link-mtu":
      return ["ip", "link", "set", "dev", s.bridge, "mtu", String(s.mtu)];
    case "dhcp-options":
      return ["write", s.file, s.text];
    case "end-dnsmasq":
      return ["kill", "-TERM", `<pid of ${s.network}'s dnsmasq>`];
    case "qos":
      return ["tc", "-batch", "-"];
  }
}

export function stepView(step: string, s: HostStep): StepView {
  return {
    step,
    name: s.name,
    command: commandOf(s),
    ...(s.kind === "xml" ? { xml: s.xml } : {}),
    // A removal carries no chains of the network (the table is rendered without it).
    ...(s.kind === "nft" && s.part ? { nft: s.text } : {}),
    ...(s.kind === "qos" ? { tc: s.text } : {}),
    ...(s.kind === "command" && s.input !== undefined ? { input: s.input } : {}),
    live: s.live,
  };
}

/** Every host step of a plan in order, as views. */
export function planViews(plan: JobPlan): StepView[] {
  return plan.phases.flatMap((p) => p.hostSteps.map((s) => stepView(p.step, s)));
}

/** An nft step setting `part` (null: removing the network's part). */
export function nftStep(name: string, network: string, part: FirewallNetwork | null): NftStep {
  return { kind: "nft", name, network, part, text: part ? renderNetworkChains(part) : "", live: true };
}

/**
 * The plan's fingerprint: sha256 over what it runs (job steps, commands, texts), not over undo data or
 * volatile values. `volatile` are strings replaced by placeholders first (a create's uuid and createdAt, which
 * a dry run and the real call draw apart), so a client can send the hash of the plan it previewed and the
 * worker, planning again under the network's lock, refuses to run a different one.
 */
export function planHash(plan: JobPlan | StepView[], volatile: readonly string[] = []): string {
  let text = JSON.stringify(Array.isArray(plan) ? plan : planViews(plan));
  for (const v of volatile) if (v) text = text.split(v).join("<volatile>");
  return createHash("sha256").update(text).digest("hex").slice(0, 32);
}
