/**
 * Dry runs: the plan of a mutating action after the same checks as the real
 * call, with nothing claimed, queued or changed. Changes of an existing
 * network are planned by core's planChange from the spec and leases the
 * network's worker published, the same pure function the worker executes,
 * so the plan's commands and XML are the ones the real call applies. Create
 * plans the definition the worker would write; its bridge name comes from the
 * host's last inventory, and the real call gets a fresh uuid and createdAt.
 * Delete and stop answer NETWORK_IN_USE when the network's live stats show
 * something attached (the real call's worker checks the bridge itself).
 */
import { AppError, type JobAction } from "@netforge/core/contract";
import {
  bridgeNameFor,
  firewallNetworkOf,
  renderNetworkChains,
  renderNetworkXml,
  specFromCreate,
  l2CreatePlan,
  l2DeleteSteps,
  modelFor,
} from "@netforge/core/model";
import { getHost, getNetworkSpec, getNetworkView, listAllNetworks } from "@netforge/core/store";
import type { Services } from "./context";
import type { PreparedJob } from "./job-preparers";

/** One host command of a plan, shaped like a configure job's `result.applied` entries. */
export interface PlanStepView {
  name: string;
  command: string[];
  xml?: string;
  nft?: string;
  live: boolean;
}

export interface DryRunPlan {
  host: string;
  steps: PlanStepView[];
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
    return {
      host,
      steps: p.steps.map((st) => ({
        name: st.name,
        command: st.command ?? (st.nft !== undefined ? ["nft", "-f", "-"] : ["virsh", ...st.virsh]),
        ...(st.xml !== undefined ? { xml: st.xml } : {}),
        ...(st.nft !== undefined ? { nft: st.nft } : {}),
        live: st.live,
      })),
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

/** The dry run of create-network: the definition the worker would write, and its firewall. */
export async function planCreate(s: Services, prepared: PreparedJob<"create-network">): Promise<DryRunPlan> {
  const host = prepared.host;
  const name = prepared.network;
  const payload = prepared.payload;
  const [hostRec, networks] = await Promise.all([getHost(s.redis, s.keys, host), listAllNetworks(s.redis, s.keys)]);
  const pre = payload.l2 && hostRec ? l2CreatePlan(payload, hostRec, networks) : null;
  let xml: string;
  let nft: string | undefined;
  if (pre) {
    xml = pre.xml;
  } else {
    const taken = new Set<string>(hostRec?.interfaces.map((i) => i.name) ?? []);
    for (const n of networks) if (n.host === host && n.bridge.name) taken.add(n.bridge.name);
    const spec = specFromCreate({ ...payload, bridge: bridgeNameFor(name, taken) });
    xml = renderNetworkXml(spec);
    // The network's part of the host's nft table (its NAT/isolation, an open rule set), applied after the start.
    nft = renderNetworkChains(firewallNetworkOf(spec));
  }
  const steps: PlanStepView[] = [...(pre?.steps ?? [])];
  steps.push({ name: "define network", command: ["virsh", "net-define", "<file>"], xml, live: false });
  if (payload.start) {
    steps.push({ name: "start network", command: ["virsh", "net-start", name], live: true });
    if (nft !== undefined) steps.push({ name: "apply firewall (one nft transaction)", command: ["nft", "-f", "-"], nft, live: true });
  }
  steps.push({
    name: "set autostart",
    command: payload.autostart ? ["virsh", "net-autostart", name] : ["virsh", "net-autostart", name, "--disable"],
    live: false,
  });
  return { host, steps, libvirtXml: xml, nft, warnings: [] };
}

/** The dry run of start-network. */
export async function planStart(_s: Services, prepared: PreparedJob<"start-network">): Promise<DryRunPlan> {
  const host = prepared.host;
  const name = prepared.network;
  return {
    host,
    steps: [
      { name: "start network", command: ["virsh", "net-start", name], live: true },
      { name: "apply firewall (one nft transaction)", command: ["nft", "-f", "-"], live: true },
    ],
    warnings: [],
  };
}

/** The dry run of stop-network and delete-network: NETWORK_IN_USE while something is attached. */
export function planStopOrDelete<A extends "stop-network" | "delete-network">(
  action: A,
): (s: Services, prepared: PreparedJob<A>) => Promise<DryRunPlan> {
  return async (s, prepared) => {
    const host = prepared.host;
    const name = prepared.network;
    // Read together (one round trip); the spec and host record are used by a delete only.
    const [net, spec, hostRec] = await Promise.all([
      getNetworkView(s.redis, s.keys, name),
      action === "delete-network" ? getNetworkSpec(s.redis, s.keys, name) : null,
      action === "delete-network" ? getHost(s.redis, s.keys, host) : null,
    ]);
    const attached = net?.state === "active" ? net.stats.connectedVms : 0;
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
    const steps: PlanStepView[] = [];
    if (net?.state === "active") {
      steps.push({ name: "stop network", command: ["virsh", "net-destroy", name], live: true });
      if (modelFor(net.type).hostFirewall) {
        steps.push({ name: "remove firewall (one nft transaction)", command: ["nft", "-f", "-"], live: true });
      }
    }
    if (action === "delete-network") {
      steps.push({ name: "remove definition", command: ["virsh", "net-undefine", name], live: false });
      // What the type gives back on the host (a created bridge's NIC), from the published spec and inventory.
      if (spec && hostRec) steps.push(...l2DeleteSteps(spec, hostRec));
    }
    return { host, steps, warnings: [] };
  };
}
