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
  bridgeNameFor,
  changeHostSteps,
  factsFromInventory,
  firewallPartOf,
  type HostFacts,
  type JobPlan,
  l2SpecFor,
  planCreate as planCreateSteps,
  planDelete,
  planHash,
  planStart as planStartSteps,
  planStop,
  planViews,
  specFromCreate,
  type StepView,
  stepView,
} from "@netforge/core/model";
import { getHost, getNetworkSpec, getNetworkView, listAllNetworks } from "@netforge/core/store";
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
export async function planOfChange<A extends JobAction>(_s: Services, prepared: PreparedJob<A>): Promise<DryRunPlan> {
  const host = prepared.host;
  const name = prepared.network;
  if (prepared.plan) {
    const p = prepared.plan;
    const steps = changeHostSteps(p).map((st) => stepView("applying change", st));
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

/** A lifecycle plan as the dry run answers it. */
function answer(host: string, plan: JobPlan, volatile: readonly string[] = []): DryRunPlan {
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

const NO_FACTS: HostFacts = { links: [], pfs: [] };

/** The dry run of create-network: the definition the worker would write, its host setup and its firewall. */
export async function planCreate(s: Services, prepared: PreparedJob<"create-network">): Promise<DryRunPlan> {
  const host = prepared.host;
  const payload = prepared.payload;
  const [hostRec, networks] = await Promise.all([getHost(s.redis, s.keys, host), listAllNetworks(s.redis, s.keys)]);
  const device = hostRec ? l2SpecFor(payload, hostRec, networks) : null;
  let spec = device;
  if (!spec) {
    // The bridge name the worker would pick: the first free one, against the host's links and its networks.
    const taken = new Set<string>(hostRec?.interfaces.map((i) => i.name) ?? []);
    for (const n of networks) if (n.host === host && n.bridge.name) taken.add(n.bridge.name);
    spec = specFromCreate({ ...payload, bridge: bridgeNameFor(prepared.network, taken) });
  }
  const facts = hostRec ? factsFromInventory(hostRec) : NO_FACTS;
  const plan = planCreateSteps(spec, { start: payload.start, autostart: payload.autostart }, facts, host);
  return answer(host, plan, [payload.uuid, payload.createdAt]);
}

/** The dry run of start-network, from the spec and the inventory the network's worker published. */
export async function planStart(s: Services, prepared: PreparedJob<"start-network">): Promise<DryRunPlan> {
  const host = prepared.host;
  const name = prepared.network;
  const [spec, hostRec] = await Promise.all([getNetworkSpec(s.redis, s.keys, name), getHost(s.redis, s.keys, host)]);
  if (!spec) {
    throw new AppError("INVALID_STATE", `the worker of host ${host} has not published network '${name}' yet; retry shortly`, {
      name,
      retryable: true,
    });
  }
  // A published spec is one netforge renders (forward mode 'open'): nothing to redefine first.
  const net = { active: false, autostart: false, xml: "", forwardMode: "open", firewall: null };
  return answer(host, planStartSteps(spec, net, hostRec ? factsFromInventory(hostRec) : NO_FACTS, host));
}

/** The dry run of stop-network and delete-network: NETWORK_IN_USE while something is attached. */
export function planStopOrDelete<A extends "stop-network" | "delete-network">(
  action: A,
): (s: Services, prepared: PreparedJob<A>) => Promise<DryRunPlan> {
  return async (s, prepared) => {
    const host = prepared.host;
    const name = prepared.network;
    // Read together (one round trip); the host record is used by a delete only.
    const [net, spec, hostRec] = await Promise.all([
      getNetworkView(s.redis, s.keys, name),
      getNetworkSpec(s.redis, s.keys, name),
      action === "delete-network" ? getHost(s.redis, s.keys, host) : null,
    ]);
    const active = net?.state === "active";
    const attached = active ? (net?.stats.connectedVms ?? 0) : 0;
    if (attached > 0) {
      throw new AppError(
        "NETWORK_IN_USE",
        `cannot ${action === "stop-network" ? "stop" : "delete"} network '${name}': ${attached} attached`,
        {
          name,
          connectedVms: attached,
        },
      );
    }
    const firewall = active && spec ? firewallPartOf(spec) : null;
    if (action === "stop-network") return answer(host, planStop(name, { active, firewall }));
    const facts = hostRec ? factsFromInventory(hostRec) : NO_FACTS;
    return answer(host, planDelete(spec, name, { active, autostart: false, xml: "", forwardMode: null, firewall }, facts));
  };
}
