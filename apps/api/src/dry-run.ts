/**
 * Dry runs: the plan of a mutating action after the same checks as the real
 * call, with nothing claimed, queued or changed. Every plan comes from the
 * pure planners the worker runs (core's plan/ and planner/): changes of an
 * existing network from the spec and leases its worker published, lifecycle
 * jobs from the spec and the host's last published inventory as the host
 * facts. Each step names the job step it runs in, and the plan carries its
 * hash (planHash), which a client may send back as `expectPlan` so that the
 * worker refuses a plan that differs from the one previewed. Create's plan is
 * drawn with the dry run's uuid and createdAt; the hash leaves them out.
 * Delete and stop answer NETWORK_IN_USE when the network's live stats show
 * something attached (the real call's worker checks the bridge itself).
 */
import { AppError, type JobAction } from "@netforge/core/contract";
import {
  changeViews,
  factsFromInventory,
  type FirewallNetwork,
  firewallPartOf,
  type HostFacts,
  type JobPlan,
  type NetSpec,
  planHash,
  planViews,
  type StepView,
} from "@netforge/core/model";
import type { HostRecord } from "@netforge/core/contract";
import { getNetworkSpec, getNetworkView } from "@netforge/core/store";
import type { Services } from "./context";
import type { PreparedJob } from "./job-preparers";

/** One host step of a plan, shaped like a job's `result.applied` entries, with the job step it runs in. */
export type PlanStepView = StepView;

export interface DryRunPlan {
  host: string;
  steps: PlanStepView[];
  /** The plan's fingerprint (core's planHash): send it as `expectPlan` to run exactly this plan. */
  planHash: string;
  libvirtXml?: string;
  /** This network's nft chains after the change (firewall changes). */
  nft?: string;
  changed?: string[];
  notLive?: string[];
  warnings: string[];
}

/** The dry run of a change of an existing network: the plan checked at the door (core's planChange). */
export async function planOfChange<A extends JobAction>(_s: Services, prepared: PreparedJob<A>, action?: A): Promise<DryRunPlan> {
  const host = prepared.host;
  const name = prepared.network;
  if (prepared.plan) {
    const p = prepared.plan;
    // With each other member's part of a change across hosts (an overlay's firewall).
    const steps = changeViews(p, "applying change", action ?? "");
    return {
      host,
      steps,
      planHash: planHash(steps),
      libvirtXml: p.libvirtXml,
      ...(p.nft !== undefined ? { nft: p.nft } : {}),
      changed: p.changed,
      notLive: p.notLive,
      warnings: p.warnings,
    };
  }
  // A change of a network whose spec its worker has not published yet (it does at start and on every reconcile).
  throw new AppError("INVALID_STATE", `the worker of host ${host} has not published network '${name}' yet; retry shortly`, {
    name,
    retryable: true,
  });
}

/** A lifecycle plan as the dry run answers it (the action halves plan it: apps/api/src/actions/<action>.ts). */
export function answer(host: string, plan: JobPlan, volatile: readonly string[] = []): DryRunPlan {
  const steps = planViews(plan);
  return {
    host,
    steps,
    planHash: planHash(steps, volatile),
    ...(plan.libvirtXml !== undefined ? { libvirtXml: plan.libvirtXml } : {}),
    ...(plan.nft !== undefined ? { nft: plan.nft } : {}),
    warnings: plan.warnings,
  };
}

/** The host facts of a dry run: the host's published inventory (none yet: no links, no PFs). */
export const inventoryFacts = (host: HostRecord | null): HostFacts => (host ? factsFromInventory(host) : { links: [], pfs: [] });

/**
 * What stop and delete dry runs share: the network as the index and its worker published it, and
 * NETWORK_IN_USE while its live stats show something attached (the real call's worker checks the bridge).
 */
export async function stoppable(
  s: Services,
  prepared: { network: string },
  verb: "stop" | "delete",
): Promise<{ active: boolean; spec: NetSpec | null; firewall: FirewallNetwork | null }> {
  const name = prepared.network;
  const [net, spec] = await Promise.all([getNetworkView(s.redis, s.keys, name), getNetworkSpec(s.redis, s.keys, name)]);
  const active = net?.state === "active";
  const attached = active ? (net?.stats.connectedVms ?? 0) : 0;
  if (attached > 0) {
    throw new AppError("NETWORK_IN_USE", `cannot ${verb} network '${name}': ${attached} attached`, { name, connectedVms: attached });
  }
  return { active, spec, firewall: active && spec ? firewallPartOf(spec) : null };
}
