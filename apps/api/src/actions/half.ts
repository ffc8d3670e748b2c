/** The API's half of a job action: its checks at the door and its dry run's plan, carrying the action it is the half of. */
import type { JobAction } from "@netforge/core/contract";
import type { Services } from "../context";
import type { DryRunPlan } from "../dry-run";
import type { JobBody, PreparedJob, Preparer } from "../job-preparers";

export interface ApiHalf<A extends JobAction> {
  /** The action's definition this is the half of (core's JOB_DEFINITIONS). */
  readonly action: A;
  /** Checks of the request alone (the operator's configuration), before the idempotency key and the door's reads. */
  admit?: (s: Services, body: JobBody<A>) => void;
  /** The synchronous checks, answered from the cluster index; hands the prepared job (its typed payload) to `commit`. */
  prepare: Preparer<A>;
  /** What a dry run answers for the prepared job (after the same checks; nothing claimed, queued or changed). */
  plan: (s: Services, prepared: PreparedJob<A>, action: A) => Promise<DryRunPlan>;
}

/** Any job action's API half (the union over the actions, each half typed to its own). */
export type AnyApiHalf = { [A in JobAction]: ApiHalf<A> }[JobAction];

/** The API half of `action` (typed by its definition: body, payload, prepared job). */
export const apiHalf = <A extends JobAction>(action: A, half: Omit<ApiHalf<A>, "action">): ApiHalf<A> => ({ action, ...half });
