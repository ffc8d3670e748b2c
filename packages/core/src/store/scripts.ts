/** Running the store's Lua scripts: EVALSHA with the script's hash (no script text on the wire), loading it on NOSCRIPT. */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

const SHAS = new Map<string, string>();

export async function evalScript(redis: Redis, script: string, numKeys: number, ...args: string[]): Promise<unknown> {
  let sha = SHAS.get(script);
  if (!sha) {
    sha = createHash("sha1").update(script).digest("hex");
    SHAS.set(script, sha);
  }
  try {
    return await redis.evalsha(sha, numKeys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes("NOSCRIPT")) throw err;
    return redis.eval(script, numKeys, ...args);
  }
}
