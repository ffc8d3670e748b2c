/**
 * The job catalog, derived from the job action definitions (actions/jobs.ts): each action's payload type,
 * the steps it reports (so progress percent is meaningful from the first event) and the retry policy. The
 * API builds payloads of these types; the worker has exactly one half per action (its registry's mapped
 * type forces it).
 */
import type { JobPayloads } from "./actions/jobs";
import type { JobAction } from "./schemas/job";
import type { NetworkRef } from "./schemas/network";

export { CONFIGURE_STEPS, type JobPayloads, JOB_STEPS, partUndoOf } from "./actions/jobs";
export type { CreateNetworkPayload } from "./schemas/payload-parse";

/**
 * Payload of the actions that only name a network (their body, NetworkRef). A payload of one action is
 * `JobPayloads[A]` (or `JobPayload<A>`), written where it is used: no alias per action here.
 */
export type NetworkRefPayload = NetworkRef;

/** The payload type of job action `A`, as its definition parses it. */
export type JobPayload<A extends JobAction> = JobPayloads[A];

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
  /** The network's version the request named (If-Match): the worker fails the job before any step on another. */
  ifMatch?: number;
  /**
   * A member host's part of a job spanning hosts (an overlay's): the coordinating job and the token of the network
   * lock it holds. The part runs only under that lock (borrowed, never taken), so a coordinator that finished or
   * failed can never have a stale part applied later.
   */
  parent?: { jobId: string; host: string; lockToken: string };
}
