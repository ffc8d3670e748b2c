/**
 * A change's plan (planner/changes.ts) as host steps: the one mapping from a planned change to what runs and
 * what the job reports applied, shared by the worker's executor and the API's dry run.
 */
import type { ChangePlan, PlanStep } from "../planner/changes";
import { tcText } from "../render/tc-qos";
import { type HostStep, nftStep, type StepView, stepView } from "./steps";

export function hostStepOf(network: string, s: PlanStep): HostStep {
  if (s.linkMtu !== undefined) return { kind: "link-mtu", name: s.name, bridge: s.linkMtu.bridge, mtu: s.linkMtu.mtu, live: true };
  if (s.qos !== undefined) {
    const q = s.qos;
    return { kind: "qos", name: s.name, bridge: q.bridge, ifb: q.ifb, apply: q.apply, undo: q.undo, text: tcText(q.apply), live: true };
  }
  if (s.dhcpOptions !== undefined) {
    return { kind: "dhcp-options", name: s.name, network, file: s.dhcpOptions.file, text: s.dhcpOptions.text, live: true };
  }
  if (s.endDnsmasq !== undefined) return { kind: "end-dnsmasq", name: s.name, network, restart: s.endDnsmasq.restart, live: true };
  if (s.command !== undefined) {
    // conntrack -D exits 1 when there was nothing to delete: that is success here.
    return { kind: "command", name: s.name, argv: s.command, undo: null, allowFailure: true, live: s.live };
  }
  if (s.nft !== undefined) {
    const step = nftStep(s.name, network, s.part ?? null);
    // The text is the planner's own rendering of the same part (equal by construction; kept as planned).
    return { ...step, text: s.nft };
  }
  if (s.xml !== undefined) {
    const undo = s.undo?.xml;
    return { kind: "xml", name: s.name, network, xml: s.xml, undo: undo !== undefined ? { xml: undo } : null, live: false };
  }
  return { kind: "virsh", name: s.name, args: s.virsh, undo: s.undo ? s.undo.virsh : null, live: s.live };
}

/** Every step of a change's plan, in order. */
export const changeHostSteps = (plan: ChangePlan): HostStep[] => plan.steps.map((s) => hostStepOf(plan.spec.name, s));

/** The job step of a member's part of a change across hosts (as members.ts reports it). */
export const partStepName = (host: string, action: string): string => `host ${host}: ${action}`;

/**
 * What a change's plan shows and its hash covers: its own steps under `step`, then each other member's part
 * (ChangePlan.parts, parts of the same action) under that member's job step. The API's dry run and the worker's expectPlan check use it.
 */
export function changeViews(plan: ChangePlan, step: string, action: string): StepView[] {
  const own = changeHostSteps(plan).map((st) => stepView(step, st));
  for (const part of plan.parts ?? []) own.push(...changeHostSteps(part.plan).map((st) => stepView(partStepName(part.host, action), st)));
  return own;
}
