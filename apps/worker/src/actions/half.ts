/** The worker's half of a job action: what runs on the host, and its clean-up after a final failure, carrying the action it is the half of. */
import type { JobAction, JobPayloads } from "@netforge/core/contract";
import type { HostContext, JobContext } from "../context";

export interface WorkerHalf<A extends JobAction> {
  /** The action's definition this is the half of (core's JOB_DEFINITIONS). */
  readonly action: A;
  /** Run the job on this host (steps reported, undo registered); the payload is the one its definition parsed. */
  run: (ctx: JobContext, payload: JobPayloads[A]) => Promise<unknown>;
  /**
   * After the job failed for good (under the network lock, before the failure is recorded): give back what
   * the API took for it when it was queued (a claim), so a corrected request can be accepted.
   */
  onFinalFailure?: (host: HostContext, network: string) => Promise<void>;
}

/** Any job action's worker half (the union over the actions, each half typed to its own). */
export type AnyWorkerHalf = { [A in JobAction]: WorkerHalf<A> }[JobAction];

/** The worker half of `action` (its payload typed by the action's definition). */
export const workerHalf = <A extends JobAction>(action: A, half: Omit<WorkerHalf<A>, "action">): WorkerHalf<A> => ({ action, ...half });
