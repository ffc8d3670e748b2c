/** Request bodies: JSON objects only; an empty body means `{}`. */
import { type AppError, validationError } from "@netforge/core";
import type { Context } from "hono";

/** Read the body as a JSON object or throw VALIDATION_FAILED (size limits are enforced earlier, by middleware). */
export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw validationError([{ path: "", message: "body is not valid JSON" }]) as AppError;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw validationError([{ path: "", message: "body must be a JSON object" }]) as AppError;
  }
  return value as Record<string, unknown>;
}
