/** Bridge device names for networks: unique on a host and within Linux's 15-character interface name limit. */
import { createHash } from "node:crypto";

/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME = 15;
const PREFIX = "nf-";

/**
 * `nf-<name>` when it fits; otherwise `nf-<head>-<hash>` where the hash of
 * the full name keeps long names with a common head apart. When the choice is
 * already taken on the host (a foreign device, or a hash collision), a salt
 * is mixed in until a free name is found.
 */
export function bridgeNameFor(network: string, taken: ReadonlySet<string> = new Set()): string {
  const direct = PREFIX + network;
  if (direct.length <= MAX_IFNAME && !taken.has(direct)) return direct;
  for (let salt = 0; salt < 1000; salt++) {
    const hash = createHash("sha256")
      .update(salt === 0 ? network : `${network}#${salt}`)
      .digest("hex")
      .slice(0, 5);
    const head = network.slice(0, MAX_IFNAME - PREFIX.length - hash.length - 1).replace(/-+$/, "");
    const candidate = `${PREFIX}${head}-${hash}`;
    if (!taken.has(candidate)) return candidate;
  }
  throw new Error(`no free bridge name for ${network}`);
}
