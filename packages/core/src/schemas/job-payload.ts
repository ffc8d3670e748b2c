/**
 * A queued job's payload checked again by the worker, with the parser of its action's definition (the same
 * schemas the API used): the worker trusts nothing it reads from Redis. See payload-parse.ts for how a
 * create-network payload is checked.
 */
import { JOB_DEFS, type JobPayloads } from "../actions/jobs";
import { AppError } from "../errors";
import type { JobAction } from "./job";
import type { FieldIssue } from "./network";
import { isObject } from "./payload-parse";

const isJobAction = (a: unknown): a is JobAction => typeof a === "string" && Object.hasOwn(JOB_DEFS, a);

/**
 * Check a job's payload against its action's definition and return it parsed (its typed value); throws
 * VALIDATION_FAILED (non-retryable) naming the fields. `expect`: what the job record says the payload must
 * name (its network) and the host running it.
 */
export function checkJobPayload<A extends JobAction>(
  action: A,
  payload: unknown,
  expect: { network: string; host: string },
): JobPayloads[A] {
  const fail = (found: FieldIssue[]): never => {
    const issues = found.map((i) => ({ ...i, path: i.path ? `payload.${i.path}` : "payload" }));
    const first = issues[0] as FieldIssue;
    throw new AppError(
      "VALIDATION_FAILED",
      `the worker refused the queued job's payload (${first.path}: ${first.message}); nothing was changed`,
      { issues, payloadRefused: true },
      { retryable: false },
    );
  };
  if (!isJobAction(action)) return fail([{ path: "", message: `unknown job action '${String(action)}'` }]);
  if (!isObject(payload)) return fail([{ path: "", message: "must be an object" }]);
  const parsed = JOB_DEFS[action].payload(payload);
  if (!parsed.ok) return fail(parsed.issues);
  // A create names the host that resolved it: it must be this worker's.
  if ("host" in parsed.value && parsed.value.host !== expect.host)
    fail([{ path: "host", message: `must be this worker's host '${expect.host}'` }]);
  if (parsed.value.name !== expect.network) fail([{ path: "name", message: `must be the job's network '${expect.network}'` }]);
  return parsed.value;
}
