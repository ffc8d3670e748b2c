/**
 * The single translation from "something was thrown" to the HTTP error
 * shape `{ error: { code, message, details, requestId } }`. Anything that is
 * not an AppError (or a parse failure) is an INTERNAL error: logged with its
 * stack, answered with a generic message.
 */
import { AppError, ERROR_STATUS, type ErrorBody, validationError, zodIssues } from "@netforge/core/contract";
import { isRedisUnavailableError } from "@netforge/core/store";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { AppEnv } from "./context";

/** Classify a thrown value; `unexpected` errors are bugs or outages and get logged with their stack. */
export function classifyError(err: unknown): { error: AppError; unexpected: boolean } {
  if (err instanceof AppError) return { error: err, unexpected: err.code === "INTERNAL" };
  if (err instanceof z.ZodError) return { error: validationError(zodIssues(err)), unexpected: false };
  // Reads, and writes that reached Redis not at all: the request had no effect.
  if (isRedisUnavailableError(err)) {
    return {
      error: new AppError("UNAVAILABLE", "the store (Redis) cannot be reached; retry later", {}, { cause: err }),
      unexpected: false,
    };
  }
  if (err instanceof HTTPException) {
    if (err.status === 413) return { error: new AppError("PAYLOAD_TOO_LARGE", "request body is too large"), unexpected: false };
    if (err.status === 401) return { error: new AppError("UNAUTHORIZED", "authentication required"), unexpected: false };
    if (err.status === 404) return { error: new AppError("NOT_FOUND", "not found"), unexpected: false };
    if (err.status === 400) return { error: validationError([{ path: "", message: err.message || "bad request" }]), unexpected: false };
  }
  return { error: new AppError("INTERNAL", "internal server error", {}, { cause: err }), unexpected: true };
}

/** What a client is told to wait after a 503 UNAVAILABLE (ioredis reconnects within about 2 s). */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

/** Headers some codes carry by contract. */
function errorHeaders(e: AppError): Record<string, string> {
  if (e.code === "UNAUTHORIZED") {
    const hint = e.details.reason === "invalid_token" ? ', error="invalid_token"' : "";
    return { "WWW-Authenticate": `Bearer realm="netforge"${hint}` };
  }
  if (e.code === "RATE_LIMITED" && typeof e.details.retryAfterSeconds === "number") {
    return { "Retry-After": String(e.details.retryAfterSeconds) };
  }
  if (e.code === "UNAVAILABLE") return { "Retry-After": String(UNAVAILABLE_RETRY_AFTER_SECONDS) };
  if (e.code === "METHOD_NOT_ALLOWED") return { Allow: "POST" };
  return {};
}

/** Build the error response for an AppError. */
export function errorResponse(c: Context<AppEnv>, e: AppError): Response {
  const requestId = c.get("requestId");
  const message = e.code === "INTERNAL" ? "internal server error" : e.message;
  const body: ErrorBody = { code: e.code, message, details: e.code === "INTERNAL" ? {} : e.details, requestId };
  return c.json({ error: body }, ERROR_STATUS[e.code] as ContentfulStatusCode, errorHeaders(e));
}

/** The app's onError. */
export function handleError(err: unknown, c: Context<AppEnv>): Response {
  const { error, unexpected } = classifyError(err);
  if (unexpected) {
    const log = c.get("log");
    const cause = error.cause ?? err;
    log?.error({ err: cause instanceof Error ? cause : new Error(String(cause)), path: c.req.path }, "unexpected error");
  }
  return errorResponse(c, error);
}
