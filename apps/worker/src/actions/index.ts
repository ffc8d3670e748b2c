/**
 * The worker's half of every job action, keyed by the action definitions (core's JOB_DEFINITIONS): the mapped
 * type makes an action without its worker half, or a half of the wrong payload type, a compile error.
 */
import { checkJobPayload, type JobAction } from "@netforge/core/contract";
import type { HostContext, JobContext } from "../context";
import { assignStaticIp } from "./assign-static-ip";
import { configureNetworkDhcp } from "./configure-network-dhcp";
import { configureNetworkFirewall } from "./configure-network-firewall";
import { configureNetworkPortForward } from "./configure-network-port-forward";
import { createNetwork } from "./create-network";
import { deleteNetwork } from "./delete-network";
import type { WorkerHalf } from "./half";
import { startNetwork } from "./start-network";
import { stopNetwork } from "./stop-network";
import { unassignStaticIp } from "./unassign-static-ip";

export type { WorkerHalf } from "./half";

export const WORKER_HALVES: { [A in JobAction]: WorkerHalf<A> } = {
  "create-network": createNetwork,
  "delete-network": deleteNetwork,
  "start-network": startNetwork,
  "stop-network": stopNetwork,
  "configure-network-dhcp": configureNetworkDhcp,
  "assign-static-ip": assignStaticIp,
  "unassign-static-ip": unassignStaticIp,
  "configure-network-firewall": configureNetworkFirewall,
  "configure-network-port-forward": configureNetworkPortForward,
};

/**
 * Run a queued job: its payload checked by its definition (VALIDATION_FAILED, final, before any host step;
 * `expect`: the network the job record names and this worker's host), then its worker half with the typed
 * payload.
 */
export function runJobAction<A extends JobAction>(
  action: A,
  ctx: JobContext,
  payload: unknown,
  expect: { network: string; host: string },
): Promise<unknown> {
  const parsed = checkJobPayload(action, payload, expect);
  return WORKER_HALVES[action].run(ctx, parsed);
}

const isJobAction = (a: string): a is JobAction => Object.hasOwn(WORKER_HALVES, a);

/** The clean-up of a job that failed for good (see WorkerHalf.onFinalFailure); nothing for an unknown action. */
export async function afterFinalFailure(host: HostContext, action: string, network: string): Promise<void> {
  if (isJobAction(action)) await WORKER_HALVES[action].onFinalFailure?.(host, network);
}
