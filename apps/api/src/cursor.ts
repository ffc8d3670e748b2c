/** Opaque list cursors: base64url of the last name returned, so clients cannot depend on their content. */
import { type AppError, validationError } from "@netforge/core/contract";

const NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** The cursor that continues after `name`. */
export function encodeNameCursor(name: string): string {
  return Buffer.from(name, "utf8").toString("base64url");
}

/** The name a cursor stands for; VALIDATION_FAILED on anything we did not issue. */
export function decodeNameCursor(cursor: string): string {
  const name = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  if (!NAME.test(name) || encodeNameCursor(name) !== cursor) {
    throw validationError([{ path: "cursor", message: "is not a cursor returned by list-networks" }]) as AppError;
  }
  return name;
}
