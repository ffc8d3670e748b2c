/** Running the store's Lua scripts: EVALSHA with the script's hash (no script text on the wire), EVAL on first use and on NOSCRIPT. */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

const SHAS = new Map<string, string>();

export async function evalScript(redis: Redis, script: string, numKeys: number, ...args: string[]): Promise<unknown> {
  let sha = SHAS.get(script);
  if (!sha) {
    // First use in this process: EVAL, which also makes Redis keep the script (no NOSCRIPT round trip first).
    sha = createHash("sha1").update(script).digest("hex");
    const out = await redis.eval(script, numKeys, ...args);
    SHAS.set(script, sha);
    return out;
  }
  try {
    return await redis.evalsha(sha, numKeys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes("NOSCRIPT")) throw err;
    return redis.eval(script, numKeys, ...args);
  }
}
