/** The worker's half of a job action (keyed by the action's definition): what runs on the host, and its clean-up after a final failure. */
import type { JobAction, JobPayloads } from "@netforge/core/contract";
import type { HostContext, JobContext } from "../context";

export interface WorkerHalf<A extends JobAction> {
  /** Run the job on this host (steps reported, undo registered); the payload is the one its definition parsed. */
  run: (ctx: JobContext, payload: JobPayloads[A]) => Promise<unknown>;
  /**
   * After the job failed for good (under the network lock, before the failure is recorded): give back what
   * the API took for it when it was queued (a claim), so a corrected request can be accepted.
   */
  onFinalFailure?: (host: HostContext, network: string) => Promise<void>;
}
