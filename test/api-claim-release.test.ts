/**
 * Claims nothing holds any more are released (by the API's sweeper and by the
 * admin action release-network-claim), and claims that something still holds
 * are not: a network on an online host, a queued or running job, or a claim
 * young enough to belong to a create being submitted. Real Redis, real API.
 */
import { claimNetwork, getClaim, releaseUnheldClaim } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, natBody, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
beforeAll(async () => {
  // The sweeper runs on demand here (api.sweepClaims), with the default grace periods.
  h = await startApiHarness("claim-release", { claimSweepIntervalMs: 0 });
  await h.addHost("cr1");
  await h.addHost("cr2");
});
afterAll(() => h.close());

/** Make a claim look as old as an abandoned one (taken 10 minutes ago). */
const age = (name: string, ms = 600_000) => h.redis.hset(h.keys.claimedSince, name, String(Date.now() - ms));
const claimed = async (name: string) => (await h.redis.hget(h.keys.claimedNames, name)) !== null;
const release = (name: string, role: "admin" | "operator" | "viewer" = "admin") => h.call("release-network-claim", { name }, { role });

describe("claims nothing holds", () => {
  it("the sweep releases a claim left by an API that died between claim and enqueue (name, subnet and host load freed)", async () => {
    await claimNetwork(h.redis, h.keys, { name: "orphan", host: "cr1", cidr: "10.61.0.0/24" });
    await age("orphan");
    const load = await h.redis.scard(h.keys.claimedHostNames("cr1"));
    expect(await h.api.sweepClaims()).toContain("orphan");
    expect(await claimed("orphan")).toBe(false);
    expect(await h.redis.hget(h.keys.claimedSubnets("cr1"), "orphan")).toBeNull();
    expect(await h.redis.scard(h.keys.claimedHostNames("cr1"))).toBe(load - 1);
    const again = await h.call("create-network", natBody("orphan", "10.61.0.0/24", { host: "cr1" }));
    expect(again.status).toBe(202);
  });

  it("the admin action releases such a claim at once: 200 with what was released", async () => {
    await claimNetwork(h.redis, h.keys, { name: "orphan2", host: "cr2", cidr: "10.62.0.0/24" });
    await age("orphan2");
    const r = await release("orphan2");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ released: { name: "orphan2", host: "cr2" } });
    expect(await claimed("orphan2")).toBe(false);
  });

  it("a fresh claim (a create in flight: claim taken, job not yet written) is kept by both", async () => {
    await claimNetwork(h.redis, h.keys, { name: "in-flight", host: "cr1", cidr: null });
    expect(await h.api.sweepClaims()).not.toContain("in-flight");
    const e = expectError(await release("in-flight"), 409, "INVALID_STATE");
    expect(e.details).toMatchObject({ name: "in-flight", heldBy: "pending-create" });
    expect(e.message).toMatch(/create being submitted; retry in \d+ s/);
    expect(await claimed("in-flight")).toBe(true);
  });

  it("a queued or running job holds the claim; once it has failed the claim can go", async () => {
    const created = await h.call("create-network", natBody("busy", "10.63.0.0/24", { host: "cr1" }));
    expect(created.status).toBe(202);
    await age("busy");
    expect(await h.api.sweepClaims()).not.toContain("busy");
    let e = expectError(await release("busy"), 409, "INVALID_STATE");
    expect(e.details).toMatchObject({ heldBy: "job", jobId: created.body.job.id, state: "queued" });
    expect(e.message).toContain(created.body.job.id);
    await h.advance(created.body.job.id, "progress");
    e = expectError(await release("busy"), 409, "INVALID_STATE");
    expect(e.details).toMatchObject({ heldBy: "job", state: "running" });
    // The job fails but its worker died before giving the claim back.
    await h.advance(created.body.job.id, "failed");
    expect(await h.api.sweepClaims()).toContain("busy");
    expect(await claimed("busy")).toBe(false);
  });

  it("a network on an online host holds its claim; on an offline host the admin may release it, the sweep waits for the host grace", async () => {
    await h.addHost("cr3");
    await h.addNetwork({ name: "present", host: "cr3", cidr: "10.64.0.0/24" });
    await age("present");
    expect(await h.api.sweepClaims()).not.toContain("present");
    const e = expectError(await release("present"), 409, "INVALID_STATE");
    expect(e.details).toMatchObject({ heldBy: "network", host: "cr3" });
    expect(e.message).toContain("online host cr3");

    await h.addHost("cr3", { online: false }); // last seen an hour ago: offline, within the sweeper's 24 h grace
    expect(await h.api.sweepClaims()).not.toContain("present");
    expect(await claimed("present")).toBe(true);
    // A host that never returns: last seen two days ago.
    const rec = JSON.parse((await h.redis.get(h.keys.host("cr3"))) as string);
    rec.lastSeenAt = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await h.redis.set(h.keys.host("cr3"), JSON.stringify(rec));
    expect(await h.api.sweepClaims()).toContain("present");
    expect(await claimed("present")).toBe(false);
  });

  it("the admin action releases a claim whose network is on a host that is offline now", async () => {
    await h.addHost("cr4");
    await h.addNetwork({ name: "stranded", host: "cr4", cidr: "10.65.0.0/24" });
    await age("stranded");
    expectError(await release("stranded"), 409, "INVALID_STATE");
    await h.addHost("cr4", { online: false });
    const r = await release("stranded");
    expect(r.status).toBe(200);
    expect(await claimed("stranded")).toBe(false);
  });

  it("a create that finishes between the check and the release (its record appears) keeps its claim", async () => {
    await claimNetwork(h.redis, h.keys, { name: "just-made", host: "cr1", cidr: "10.66.0.0/24" });
    await age("just-made");
    const seen = await getClaim(h.redis, h.keys, "just-made");
    if (!seen) throw new Error("claim missing");
    // The check saw no record; meanwhile the job wrote the network and ended.
    await h.addNetwork({ name: "just-made-other", host: "cr1" }); // unrelated record: no effect
    await h.redis.set(h.keys.network("just-made"), JSON.stringify({ name: "just-made", host: "cr1" }));
    expect(await releaseUnheldClaim(h.redis, h.keys, seen, 0, false)).toEqual({ kind: "changed" });
    expect(await claimed("just-made")).toBe(true);
    // A claim re-taken since it was read is not released either.
    await h.redis.del(h.keys.network("just-made"));
    await h.redis.hset(h.keys.claimedSince, "just-made", String(Date.now() - 500_000));
    expect(await releaseUnheldClaim(h.redis, h.keys, seen, 0, false)).toEqual({ kind: "changed" });
    expect(await claimed("just-made")).toBe(true);
  });

  it("NOT_FOUND without a claim; admin role only; the name is validated", async () => {
    expectError(await release("never-claimed"), 404, "NOT_FOUND");
    await claimNetwork(h.redis, h.keys, { name: "guarded", host: "cr1", cidr: null });
    await age("guarded");
    expectError(await release("guarded", "operator"), 403, "FORBIDDEN");
    expectError(await release("guarded", "viewer"), 403, "FORBIDDEN");
    expectError(await h.call("release-network-claim", { name: "guarded" }, { role: null }), 401, "UNAUTHORIZED");
    expectError(await h.call("release-network-claim", { name: "../x" }), 400, "VALIDATION_FAILED");
    expect(await claimed("guarded")).toBe(true);
    expect((await release("guarded")).status).toBe(200);
  });
});
