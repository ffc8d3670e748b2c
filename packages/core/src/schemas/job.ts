/** Job records: what GET /api/jobs/<id> returns and SSE streams carry. */
import { z } from "zod";
import { JOB_ACTIONS, type JobActionName } from "../actions/jobs";
import { HostId, Limit, NetworkName } from "./common";

/** Actions that run as jobs on a host's worker (one definition each, actions/jobs.ts). */
export { JOB_ACTIONS };
export const JobAction = z.enum(JOB_ACTIONS);
export type JobAction = JobActionName;

export const JOB_STATES = ["queued", "running", "succeeded", "failed"] as const;
export const JobState = z.enum(JOB_STATES);
export type JobState = z.infer<typeof JobState>;

export const StepState = z.enum(["pending", "running", "succeeded", "failed", "undone", "skipped"]);
export type StepState = z.infer<typeof StepState>;

export const JobStep = z.object({
  name: z.string(),
  state: StepState,
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type JobStep = z.infer<typeof JobStep>;

export const JobProgress = z.object({
  percent: z.number().int().min(0).max(100),
  step: z.string().nullable(),
  steps: z.array(JobStep),
});
export type JobProgress = z.infer<typeof JobProgress>;

export const JobErrorBody = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
});

/** The public job object. */
export const JobView = z.object({
  id: z.string(),
  action: JobAction,
  network: z.string(),
  host: z.string(),
  state: JobState,
  progress: JobProgress,
  result: z.unknown().nullable(),
  error: JobErrorBody.nullable(),
  warnings: z.array(z.string()),
  attempts: z.number().int(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  links: z.object({ self: z.string(), events: z.string() }),
});
export type JobView = z.infer<typeof JobView>;

/** Body of list-jobs. */
export const ListJobsBody = z.strictObject({
  network: NetworkName.optional(),
  state: JobState.optional().describe("Only jobs in this state"),
  host: HostId.optional(),
  limit: Limit.optional().describe("At most this many jobs (1-1000; default 50)"),
});
export type ListJobsBody = z.infer<typeof ListJobsBody>;

/** Job ids are "j_" + 20 url-safe characters. */
export const JobId = z.string().regex(/^j_[A-Za-z0-9_-]{10,40}$/);
