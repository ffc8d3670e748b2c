/**
 * The shape of an action's definition. An action is one definition (actions/jobs.ts, actions/queries.ts):
 * every list of actions (the routes, the OpenAPI document, the CLI's commands, the job catalog and its
 * steps, the worker's payload checks) is derived from the definitions, and the API's and the worker's halves
 * are keyed by them (a missing half is a compile error).
 *
 * Part of the client contract: imports only schemas and errors.
 */
import { z } from "zod";
import type { Role } from "../api-contract";
import type { PayloadResult } from "../schemas/payload-parse";
import type { NetworkChange } from "./changes";

interface ActionBase<B extends z.ZodType> {
  /** The request body (a strict object schema; job actions take `dryRun` beside it, see splitDryRun). */
  body: B;
  /** The weakest role allowed to call it. */
  role: Role;
  /** One line for the OpenAPI document and the CLI's help. */
  summary: string;
  /**
   * A sentence or two beyond the summary, for the OpenAPI operation (what is refused, what the job does).
   * Required: a new action without one is a compile error.
   */
  description: string;
  /** Its command words in the CLI (`netforge network ip assign`). */
  cli: readonly string[];
  /**
   * Example bodies by name, each a valid body (the OpenAPI document's request examples; openapi.test.ts
   * parses them): at least one; create-network one per network type.
   */
  examples: Record<string, { summary: string; value: z.input<B> }>;
  /** It removes something for good: the CLI asks on a terminal before sending it (`--yes` does not). */
  irreversible?: true;
}

/** An action answered synchronously from the cluster index. */
export interface QueryDefinition<B extends z.ZodType = z.ZodType> extends ActionBase<B> {
  kind: "query";
  /** What it answers (200). */
  response: z.ZodType;
  /** Error answers beyond the common ones (status -> what), for the OpenAPI document. */
  errors?: Record<string, string>;
  /** Headers of its 200 answer beside the body (name -> what it holds), for the OpenAPI document. */
  headers?: Record<string, string>;
}

/** How a configure action's payload is the one change of the network it asks for. */
export type ChangeOfPayload<P> = (payload: P) => NetworkChange;

/**
 * An action queued as a job on the network's host. (`C`'s bound takes a payload of any type, never: a
 * definition seen as an ActionDef still carries the change of its own payload type.)
 */
export interface JobDefinition<
  B extends z.ZodType = z.ZodType,
  P = unknown,
  C extends ChangeOfPayload<never> | null = ChangeOfPayload<never> | null,
> extends ActionBase<B> {
  kind: "job";
  /** The steps its job reports, in order (the one list of its step names). */
  steps: readonly string[];
  /**
   * For a change of an existing network's configuration (a configure action: planned by core's planChange, the
   * configure path): the change its payload asks for. null for the others.
   */
  change: C;
  /** Its payload read back from the queue, parsed into the payload type (the worker trusts nothing in Redis). */
  payload: (raw: Record<string, unknown>) => PayloadResult<P>;
  /**
   * A part of a job spanning hosts (an overlay member's part, run by that member's worker): the job action that
   * takes such a part back when the job fails elsewhere (jobs.ts checks it names a job action). Absent: a part of
   * this action is not undone (a delete).
   */
  partUndoneBy?: string;
}

export type ActionDef = QueryDefinition | JobDefinition;

/** A job definition, its payload type inferred from its payload parser. */
export const jobAction = <B extends z.ZodType, P>(d: JobDefinition<B, P, null>): JobDefinition<B, P, null> => d;
/**
 * A configure action's definition: a job whose payload is one change of the network, `change` (the second
 * argument, so its payload type is the one the definition's payload parser gives).
 */
export const configureAction = <B extends z.ZodType, P>(
  d: Omit<JobDefinition<B, P, null>, "change">,
  change: ChangeOfPayload<P>,
): JobDefinition<B, P, ChangeOfPayload<P>> => ({ ...d, change });
/** A query definition. */
export const queryAction = <B extends z.ZodType>(d: QueryDefinition<B>): QueryDefinition<B> => d;

/** The payload type of a job definition. */
export type PayloadOf<D> = D extends { payload: (raw: Record<string, unknown>) => PayloadResult<infer P> } ? P : never;

/** The `dryRun` field every job action takes beside its body (API.md): read in one place, splitDryRun. */
export const DryRunFlag = z.boolean().optional().describe("Validate and plan only: nothing is queued or changed");
