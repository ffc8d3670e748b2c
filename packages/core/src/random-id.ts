/**
 * Random ids from a pooled buffer: one randomFillSync call per 4 KB instead
 * of one per id (a request mints a request id and a job id; the per-call
 * cost of the CSPRNG was ~3% of the API's CPU under load). Same source
 * (crypto.randomFillSync), same entropy per id; each byte is handed out once.
 */
import { randomFillSync } from "node:crypto";

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

/** `n` random bytes (n <= 4096) as base64url. */
export function randomBase64Url(n: number): string {
  if (n > POOL_SIZE) throw new RangeError("randomBase64Url: at most 4096 bytes");
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const s = pool.toString("base64url", offset, offset + n);
  offset += n;
  return s;
}
