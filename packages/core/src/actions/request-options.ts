/**
 * What a job action's request carries beside its body: `dryRun` and `expectPlan`, read in one place.
 *
 * Part of the client contract.
 */
import { AppError } from "../errors";
import { validationError } from "../schemas/network";
import { DryRunFlag } from "./define";

/** How a job action is to be run, beside its body: previewed (`dryRun`), or only as the plan previewed (`expectPlan`). */
export interface JobRequestOptions {
  dryRun: boolean;
  /** The `planHash` of a dry run: the worker, planning again under the network's lock, runs only that plan. */
  expectPlan: string | null;
  /**
   * The network's version the request was made against (the `If-Match` header, `"7"`): any other version
   * answers 412 PRECONDITION_FAILED, at the door and again by the worker under the network's lock. Null: no header.
   */
  ifMatch: number | null;
}

/** The 412 of a version that is not the network's (`current` null: the network does not exist). */
export function versionMismatch(network: string, expected: number, current: number | null): AppError {
  const now = current === null ? "it does not exist" : `it is at version ${current}`;
  return new AppError(
    "PRECONDITION_FAILED",
    `network '${network}' changed since it was read: If-Match asked for version ${expected}, ${now}; nothing was changed, read it again`,
    { expected, current },
  );
}

/** An ETag of a network's version (what describe-network answers and If-Match takes): the version in quotes. */
export const versionTag = (version: number): string => `"${version}"`;

/**
 * The version an `If-Match` header names: `"7"` (an ETag as describe-network sends it; a bare 7 is taken too),
 * null without the header. Anything else is 400 VALIDATION_FAILED.
 */
export function parseIfMatch(header: string | undefined): number | null {
  if (header === undefined) return null;
  const m = /^\s*(?:"(\d{1,15})"|(\d{1,15}))\s*$/.exec(header);
  const digits = m?.[1] ?? m?.[2];
  if (digits === undefined) {
    throw validationError([{ path: "If-Match", message: "must be a network's version as describe-network's ETag gives it, like \"7\"" }]);
  }
  return Number(digits);
}

const PLAN_HASH = /^[0-9a-f]{32}$/;

/**
 * A job action's request as sent: its `dryRun` flag (validated: a boolean), its `expectPlan` (a dry run's
 * `planHash`) and the rest, its body. The one place both are read; the body schemas are parsed without them
 * and no payload ever carries them.
 */
export function splitDryRun(raw: Record<string, unknown>, ifMatchHeader?: string): JobRequestOptions & { rest: Record<string, unknown> } {
  const { dryRun, expectPlan, ...rest } = raw;
  let flag = false;
  if ("dryRun" in raw) {
    const parsed = DryRunFlag.safeParse(dryRun);
    if (!parsed.success || parsed.data === undefined) throw validationError([{ path: "dryRun", message: "must be true or false" }]);
    flag = parsed.data;
  }
  if (expectPlan !== undefined && (typeof expectPlan !== "string" || !PLAN_HASH.test(expectPlan))) {
    throw validationError([{ path: "expectPlan", message: "must be the planHash of a dry run (32 lower-case hex digits)" }]);
  }
  return { dryRun: flag, expectPlan: typeof expectPlan === "string" ? expectPlan : null, ifMatch: parseIfMatch(ifMatchHeader), rest };
}
