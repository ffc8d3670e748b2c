/** Request ids: a caller's X-Request-Id is kept when it is safe to echo and log, otherwise we mint one. */
import { randomBase64Url } from "@netforge/core/store";

const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The caller's id when it is harmless (no header injection, bounded), else a fresh "req_..." id. */
export function acceptOrGenerateRequestId(header: string | undefined | null): string {
  if (header && ACCEPTABLE_REQUEST_ID.test(header)) return header;
  return `req_${randomBase64Url(12)}`;
}
