/**
 * Releasing claims nothing holds any more: left by an API that died between
 * claim and enqueue, or by a host that never came back. A claim is held by a
 * network of that name on an online host, by a queued or running job of the
 * network, or by its youth (a create in flight writes its job within the grace
 * period). The network's host is judged here; the job and age checks, and
 * "the record is still there / still absent", run in the same script as the
 * release (releaseUnheldClaim), so a job or record written after the read is
 * still seen.
 */
import type { Redis } from "ioredis";
import { HOST_OFFLINE_AFTER_MS } from "../schemas/host";
import { type ClaimInfo, getClaim, releaseUnheldClaim, scanClaims } from "./claims";
import { getHost, hostStatus } from "./hosts";
import type { Keys } from "./keys";
import { getNetwork } from "./network-index";

/** What keeps a claim, or that it was released. */
export type ClaimReleaseOutcome =
  | { kind: "released"; claim: ClaimInfo }
  | { kind: "not-found" }
  | { kind: "network"; claim: ClaimInfo; host: string; lastSeenAt: string }
  | { kind: "live-job"; claim: ClaimInfo; jobId: string; state: string }
  | { kind: "fresh"; claim: ClaimInfo; ageMs: number }
  | { kind: "changed"; claim: ClaimInfo };

export interface ClaimReleaseRules {
  /** Claims younger than this are left alone (a create may be between claim and job). */
  graceMs: number;
  /**
   * A network's host still holds the claim while last seen within this long
   * (at least the heartbeat's offline threshold). 0: only while online.
   */
  offlineHostGraceMs: number;
}

/** Release the claim on `name` unless something holds it; says what does. */
export async function releaseClaimIfUnheld(
  redis: Redis,
  keys: Keys,
  name: string,
  rules: ClaimReleaseRules,
  now = Date.now(),
): Promise<ClaimReleaseOutcome> {
  const claim = await getClaim(redis, keys, name);
  if (!claim) return { kind: "not-found" };
  const net = await getNetwork(redis, keys, name);
  if (net) {
    const host = await getHost(redis, keys, net.host);
    // With a grace, a host last seen within it (offline for a reboot, a cleanly stopped worker) still holds its networks' claims.
    const holds =
      host !== null &&
      (hostStatus(host, now) === "online" ||
        (rules.offlineHostGraceMs > 0 && now - Date.parse(host.lastSeenAt) <= Math.max(HOST_OFFLINE_AFTER_MS, rules.offlineHostGraceMs)));
    if (host && holds) return { kind: "network", claim, host: net.host, lastSeenAt: host.lastSeenAt };
  }
  const hold = await releaseUnheldClaim(redis, keys, claim, rules.graceMs, net !== null);
  if (hold === null) return { kind: "released", claim };
  if (hold.kind === "fresh") return { kind: "fresh", claim, ageMs: hold.ageMs };
  if (hold.kind === "live-job") return { kind: "live-job", claim, jobId: hold.jobId, state: hold.state };
  return { kind: "changed", claim };
}

/** One pass over every claim; returns the names released. */
export async function sweepClaims(redis: Redis, keys: Keys, rules: ClaimReleaseRules, now = Date.now()): Promise<string[]> {
  const released: string[] = [];
  for await (const c of scanClaims(redis, keys)) {
    const out = await releaseClaimIfUnheld(redis, keys, c.name, rules, now);
    if (out.kind === "released") released.push(c.name);
  }
  return released;
}
