/** The API's half of a job action: its checks at the door and its dry run's plan (keyed by the action's definition). */
import type { JobAction } from "@netforge/core/contract";
import type { Services } from "../context";
import type { DryRunPlan } from "../dry-run";
import type { JobBody, PreparedJob, Preparer } from "../job-preparers";

export interface ApiHalf<A extends JobAction> {
  /** Checks of the request alone (the operator's configuration), before the idempotency key and the door's reads. */
  admit?: (s: Services, body: JobBody<A>) => void;
  /** The synchronous checks, answered from the cluster index; hands the prepared job (its typed payload) to `commit`. */
  prepare: Preparer<A>;
  /** What a dry run answers for the prepared job (after the same checks; nothing claimed, queued or changed). */
  plan: (s: Services, prepared: PreparedJob<A>) => Promise<DryRunPlan>;
}
