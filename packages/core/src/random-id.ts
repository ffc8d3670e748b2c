/**
 * Random ids from a pooled buffer: one randomFillSync call per 4 KB instead
 * of one per id (a request mints a request id and a job id; the per-call
 * cost of the CSPRNG was ~3% of the API's CPU under load). Same source
 * (crypto.randomFillSync), same entropy per id; each byte is handed out once.
 */
import { randomFillSync } from "node:crypto";

const POOL_SIZE = 4096;

/**
 * A pool-backed id source over `fill` (the CSPRNG; a test passes a counting
 * wrapper instead of mocking node:crypto, so the test holds with or without
 * module isolation).
 */
export function createIdPool(fill: (buf: Buffer) => void = randomFillSync): (n: number) => string {
  const pool = Buffer.allocUnsafe(POOL_SIZE);
  let offset = POOL_SIZE;
  return (n: number): string => {
    if (n > POOL_SIZE) throw new RangeError("randomBase64Url: at most 4096 bytes");
    if (offset + n > POOL_SIZE) {
      fill(pool);
      offset = 0;
    }
    const s = pool.toString("base64url", offset, offset + n);
    offset += n;
    return s;
  };
}

/** `n` random bytes (n <= 4096) as base64url. */
export const randomBase64Url: (n: number) => string = createIdPool();
