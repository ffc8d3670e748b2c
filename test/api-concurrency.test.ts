/** Concurrency at the door: the atomic claim lets exactly one of many simultaneous creates through. */
import { releaseNetworkClaim } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, natBody, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("api-conc");
  await h.addHost("h1", { networks: 0 });
  await h.addHost("h2", { networks: 5 });
});
afterAll(() => h.close());

async function queuedJobIds(host: string): Promise<string[]> {
  return h.redis.lrange(`${h.keys.bull}:${h.keys.hostQueue(host)}:wait`, 0, -1);
}

describe("simultaneous creates", () => {
  it("20 with the same name: exactly one 202, the rest NAME_TAKEN", async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.call("create-network", natBody("same", `10.${100 + i}.0.0/24`))),
    );
    const accepted = replies.filter((r) => r.status === 202);
    expect(accepted).toHaveLength(1);
    for (const r of replies.filter((r) => r.status !== 202)) expectError(r, 409, "NAME_TAKEN");
    expect(await h.keysMatching("job:*")).toHaveLength(1);
  });

  it("20 overlapping subnets on one host: exactly one 202, the rest CIDR_CONFLICT", async () => {
    const cidrs = ["10.200.0.0/16", "10.200.0.0/24", "10.200.1.0/24", "10.200.0.128/25", "10.200.255.252/30"];
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.call("create-network", natBody(`ovl-${i}`, cidrs[i % cidrs.length], { host: "h1" }))),
    );
    expect(replies.filter((r) => r.status === 202)).toHaveLength(1);
    for (const r of replies.filter((r) => r.status !== 202)) expectError(r, 409, "CIDR_CONFLICT");
  });

  it("places on the online host with the fewest claims, and moves on when the subnet is taken there", async () => {
    // h1 holds the claims of the two tests above; h2 none (its heartbeat's 5 networks do not count, claims do).
    expect(await h.redis.scard(h.keys.claimedHostNames("h1"))).toBe(2);
    const a = await h.call("create-network", natBody("place-a", "10.210.0.0/24"));
    expect(a.body.job.host).toBe("h2");
    // Same subnet: taken on h2 (still the emptier), free on h1.
    const b = await h.call("create-network", natBody("place-b", "10.210.0.0/24"));
    expect(b.status).toBe(202);
    expect(b.body.job.host).toBe("h1");
    // Taken on both: the conflict on the emptiest candidate (h2) is reported.
    const c = await h.call("create-network", natBody("place-c", "10.210.0.0/25"));
    const e = expectError(c, 409, "CIDR_CONFLICT");
    expect(e.details).toMatchObject({ host: "h2", conflictsWith: { network: "place-a" } });
  });

  it("a failed job's released claim frees the name (and subnet) for a new create", async () => {
    const first = await h.call("create-network", natBody("retry-me", "10.220.0.0/24", { host: "h1" }));
    expect(first.status).toBe(202);
    expectError(await h.call("create-network", natBody("retry-me", "10.221.0.0/24")), 409, "NAME_TAKEN");
    // The worker fails the job and releases the claim, as it does on a failed create.
    await h.advance(first.body.job.id, "failed");
    expect(await releaseNetworkClaim(h.redis, h.keys, "retry-me", "h1")).toBe(true);
    const again = await h.call("create-network", natBody("retry-me", "10.220.0.0/24", { host: "h1" }));
    expect(again.status).toBe(202);
    expect(again.body.job.id).not.toBe(first.body.job.id);
  });

  it("every accepted job is on its host's BullMQ queue with the retry policy", async () => {
    const r = await h.call("create-network", natBody("queued-one", "10.230.0.0/24", { host: "h2" }));
    expect(await queuedJobIds("h2")).toContain(r.body.job.id);
    const raw = await h.redis.hgetall(`${h.keys.bull}:${h.keys.hostQueue("h2")}:${r.body.job.id}`);
    expect(raw.name).toBe("create-network");
    expect(JSON.parse(raw.opts as string)).toMatchObject({ attempts: 3, backoff: { type: "exponential", delay: 1000 } });
    const data = JSON.parse(raw.data as string);
    expect(data).toMatchObject({
      jobId: r.body.job.id,
      action: "create-network",
      payload: { name: "queued-one", host: "h2", start: true },
    });
    expect(data.payload.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(data.payload.dhcp).toEqual({ enabled: true, start: "10.230.0.128", end: "10.230.0.254", leaseTime: 3600 });
  });
});
