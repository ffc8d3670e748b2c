/** Admin actions: release-network-claim (synchronous; what still holds a claim is an INVALID_STATE naming it). */
import { AppError } from "@netforge/core/contract";
import { releaseClaimIfUnheld } from "@netforge/core/store";
import { Hono } from "hono";
import type { AppEnv, Services } from "../context";
import { actionRoute } from "./action-route";

/** A claim re-read between the checks and the release is checked again, a few times. */
const CHANGED_RETRIES = 3;

export function adminRoutes(s: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  actionRoute(app, "release-network-claim", async (c, body) => {
    const name = body.name;
    for (let attempt = 0; ; attempt++) {
      // The admin acts on the heartbeat's online status: no offline-host grace (that is the sweeper's patience).
      const out = await releaseClaimIfUnheld(s.redis, s.keys, name, { graceMs: s.config.claimGraceMs, offlineHostGraceMs: 0 });
      switch (out.kind) {
        case "released":
          c.get("log").warn({ name, host: out.claim.host }, "network claim released by an admin");
          return c.json({ released: { name, host: out.claim.host } }, 200);
        case "not-found":
          throw new AppError("NOT_FOUND", `no claim on network name '${name}'`, { name });
        case "network":
          throw new AppError(
            "INVALID_STATE",
            `network '${name}' exists on online host ${out.host} and holds the claim; delete the network instead`,
            { name, heldBy: "network", host: out.host, lastSeenAt: out.lastSeenAt },
          );
        case "live-job":
          throw new AppError(
            "INVALID_STATE",
            `job ${out.jobId} (${out.state}) of network '${name}' holds the claim; wait for it to finish`,
            {
              name,
              heldBy: "job",
              host: out.claim.host,
              jobId: out.jobId,
              state: out.state,
            },
          );
        case "fresh": {
          const retryAfterSeconds = Math.ceil((s.config.claimGraceMs - out.ageMs) / 1000);
          throw new AppError(
            "INVALID_STATE",
            `the claim on '${name}' was taken ${Math.floor(out.ageMs / 1000)} s ago and may belong to a create being submitted; retry in ${retryAfterSeconds} s`,
            { name, heldBy: "pending-create", host: out.claim.host, ageMs: out.ageMs, retryAfterSeconds },
          );
        }
        case "changed":
          if (attempt < CHANGED_RETRIES) continue;
          throw new AppError("INVALID_STATE", `the claim on '${name}' keeps changing; retry`, { name, heldBy: "changing" });
      }
    }
  });

  return app;
}
