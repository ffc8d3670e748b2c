/** zod results -> VALIDATION_FAILED in the contract's shape (each field path and its problem). */
import type { z } from "zod";
import type { AppError } from "./errors";
import { type FieldIssue, validationError } from "./schemas/network";

/** Turn zod issues into field issues with dotted paths ("dhcp.start", "rules.0.ports"). */
export function zodIssues(err: z.ZodError): FieldIssue[] {
  return err.issues.map((i) => {
    const issue: FieldIssue & { hint?: string } = {
      path: i.path.map(String).join("."),
      message: i.message,
    };
    // Unknown keys are reported on the object; name them so the client sees which.
    if (i.code === "unrecognized_keys") issue.message = `unknown field(s): ${i.keys.join(", ")}`;
    const hint = (i as { params?: { hint?: string } }).params?.hint;
    if (hint) issue.hint = hint;
    return issue;
  });
}

/** Parse `input` with `schema` or throw VALIDATION_FAILED. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw validationError(zodIssues(r.error)) as AppError;
  return r.data;
}
