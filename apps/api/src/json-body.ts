/**
 * Request bodies: JSON objects only; an empty body means `{}`. Served by
 * @hono/node-server, a body with a Content-Length is read straight from
 * node's IncomingMessage: Hono's `c.req.text()` (and its body-limit
 * middleware, which looks at `c.req.raw.body`) first turn the lightweight
 * request into a full web Request (undici Headers, an AbortController, a
 * ReadableStream over the socket), which was a tenth of the API's CPU per
 * submission. Anything else (no Content-Length, Hono's in-process
 * `app.request`, a body something else already read) takes Hono's path.
 */
import type { IncomingMessage } from "node:http";
import { AppError, validationError } from "@netforge/core/contract";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit as honoBodyLimit } from "hono/body-limit";

/** node's request under a Hono context, when served by @hono/node-server. */
function nodeIncoming(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/** A body node will deliver with exactly this many bytes (its parser enforces Content-Length), or null. */
function declaredLength(incoming: IncomingMessage): number | null {
  const cl = incoming.headers["content-length"];
  if (cl === undefined || incoming.headers["transfer-encoding"] !== undefined) return null;
  const n = Number(cl);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** 413 for a body over `maxSize` bytes (PAYLOAD_TOO_LARGE in the contract's error shape). */
export function bodyLimit(maxSize: number): MiddlewareHandler {
  const tooLarge = () => {
    throw new AppError("PAYLOAD_TOO_LARGE", `request body is larger than ${maxSize} bytes`, { limitBytes: maxSize });
  };
  const viaHono = honoBodyLimit({ maxSize, onError: tooLarge });
  return async (c, next) => {
    const incoming = nodeIncoming(c);
    if (!incoming || incoming.headers["transfer-encoding"] !== undefined) return viaHono(c, next);
    // Neither Content-Length nor Transfer-Encoding: no body at all (a GET). Hono's middleware would build the full
    // web Request just to see that, and an SSE stream would keep it for its whole life.
    const n = incoming.headers["content-length"] === undefined ? 0 : declaredLength(incoming);
    if (n === null) return viaHono(c, next);
    if (n > maxSize) tooLarge();
    await next();
  };
}

async function readIncoming(incoming: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? (chunks[0] as Buffer).toString("utf8") : Buffer.concat(chunks).toString("utf8");
}

/** Read the body as a JSON object or throw VALIDATION_FAILED (size limits are enforced earlier, by middleware). */
export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const incoming = nodeIncoming(c);
  const direct = incoming !== undefined && !incoming.readableDidRead && declaredLength(incoming) !== null;
  const text = direct ? await readIncoming(incoming) : await c.req.text();
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
