/**
 * The job catalog, derived from the job action definitions (actions/jobs.ts): each action's payload type,
 * the steps it reports (so progress percent is meaningful from the first event) and the retry policy. The
 * API builds payloads of these types; the worker has exactly one half per action (its registry's mapped
 * type forces it).
 */
import type { JobPayloads } from "./actions/jobs";
import type { JobAction } from "./schemas/job";

export { CONFIGURE_STEPS, type JobPayloads, JOB_STEPS } from "./actions/jobs";
export type { CreateNetworkPayload } from "./schemas/payload-parse";

/** Payload of the actions that only name a network. */
export type NetworkRefPayload = JobPayloads["delete-network"];
/** Payload of configure-network-dhcp. */
export type ConfigureDhcpPayload = JobPayloads["configure-network-dhcp"];
/** Payload of assign-static-ip (MAC lower case). */
export type AssignStaticIpPayload = JobPayloads["assign-static-ip"];
/** Payload of unassign-static-ip (MAC lower case). */
export type UnassignStaticIpPayload = JobPayloads["unassign-static-ip"];
/** Payload of configure-network-firewall: the whole rule set (the body without dryRun, defaults filled). */
export type ConfigureFirewallPayload = JobPayloads["configure-network-firewall"];
/** Payload of configure-network-port-forward (the body without dryRun). */
export type ConfigurePortForwardPayload = JobPayloads["configure-network-port-forward"];

/** Retry policy for transient failures (BullMQ attempts + exponential backoff). */
export const JOB_ATTEMPTS = 3;
export const JOB_BACKOFF_MS = 1000;

/** The data carried by a BullMQ job: our job id and the typed payload. */
export interface QueuedJobData<A extends JobAction = JobAction> {
  jobId: string;
  action: A;
  payload: JobPayloads[A];
  /** The plan hash the client previewed (expectPlan): a different plan fails the job instead of running. */
  expectPlan?: string;
}
