/**
 * The worker's half of every job action, one file each (actions/<action>.ts), each carrying its action: the
 * list below must name every job action of core's definitions exactly once (oneHalfEach: a half missing or
 * doubled does not compile), and a half of the wrong payload type does not compile either.
 */
import { checkJobPayload, type JobAction, oneHalfEach } from "@netforge/core/contract";
import type { HostContext, JobContext } from "../context";
import { assignStaticIp } from "./assign-static-ip";
import { configureNetworkDhcp } from "./configure-network-dhcp";
import { configureNetworkDns } from "./configure-network-dns";
import { configureNetworkHosts } from "./configure-network-hosts";
import { configureNetworkMtu } from "./configure-network-mtu";
import { configureNetworkQos } from "./configure-network-qos";
import { configureNetworkFirewall } from "./configure-network-firewall";
import { configureNetworkPortForward } from "./configure-network-port-forward";
import { createNetwork } from "./create-network";
import { deleteNetwork } from "./delete-network";
import type { AnyWorkerHalf, WorkerHalf } from "./half";
import { startNetwork } from "./start-network";
import { stopNetwork } from "./stop-network";
import { unassignStaticIp } from "./unassign-static-ip";

export type { AnyWorkerHalf, WorkerHalf } from "./half";

/** Every job action's worker half. */
export const WORKER_HALVES = oneHalfEach([
  createNetwork,
  deleteNetwork,
  startNetwork,
  stopNetwork,
  configureNetworkDhcp,
  assignStaticIp,
  unassignStaticIp,
  configureNetworkFirewall,
  configureNetworkPortForward,
  configureNetworkDns,
  configureNetworkMtu,
  configureNetworkQos,
  configureNetworkHosts,
]);

const isHalfOf = <A extends JobAction>(half: AnyWorkerHalf, action: A): half is AnyWorkerHalf & WorkerHalf<A> => half.action === action;

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
  for (const half of WORKER_HALVES) if (isHalfOf(half, action)) return half.run(ctx, parsed);
  // Unreachable: oneHalfEach holds a half of every job action (checkJobPayload refused any other name).
  throw new Error(`no worker half for job action '${action}'`);
}

/** The clean-up of a job that failed for good (see WorkerHalf.onFinalFailure); nothing for an unknown action. */
export async function afterFinalFailure(host: HostContext, action: string, network: string): Promise<void> {
  await WORKER_HALVES.find((half) => half.action === action)?.onFinalFailure?.(host, network);
}
