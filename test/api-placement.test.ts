/**
 * Placement through the API against a real Redis: concurrent creates without
 * `host` spread over the online hosts by what is claimed on each at the moment
 * of the decision, not by the network count of the last heartbeat.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, natBody, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("placement");
});
afterAll(() => h.close());

const hostsOf = (replies: { body: any }[]) => {
  const per = new Map<string, number>();
  for (const r of replies) per.set(r.body.job.host, (per.get(r.body.job.host) ?? 0) + 1);
  return per;
};

describe("placement", () => {
  it("12 concurrent creates on 3 online hosts (heartbeats all saying 0 networks) land 4/4/4 ±1", async () => {
    // Heartbeat records exactly as the worker writes them; none has reported a network yet.
    for (const id of ["pa", "pb", "pc"]) await h.addHost(id, { networks: 0 });
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) => h.call("create-network", natBody(`spread-${i}`, `10.77.${i}.0/24`), { role: "operator" })),
    );
    for (const r of replies) expect(r.status, JSON.stringify(r.body)).toBe(202);
    const per = hostsOf(replies);
    expect([...per.keys()].sort()).toEqual(["pa", "pb", "pc"]);
    for (const [host, n] of per) expect(Math.abs(n - 4), `${host}: ${n}`).toBeLessThanOrEqual(1);
  });

  it("counts claims, not heartbeats: a host whose heartbeat says 0 but holds claims gets the next create last", async () => {
    // After the 12 above each host holds 4 claims; the heartbeat of pa still says 0, of pb and pc 50.
    await h.addHost("pb", { networks: 50 });
    await h.addHost("pc", { networks: 50 });
    const r = await h.call("create-network", natBody("after-12", "10.78.0.0/24"), { role: "operator" });
    expect(r.status).toBe(202);
    const counts = await Promise.all(["pa", "pb", "pc"].map((id) => h.redis.scard(h.keys.claimedHostNames(id))));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(13);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it("keeps exactly one winner for one name, and for overlapping subnets on a host, under concurrency", async () => {
    await h.addHost("solo", { networks: 0 });
    const same = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h.call("create-network", natBody("one-name", `10.79.${i}.0/24`), { role: "operator" })),
    );
    expect(same.filter((r) => r.status === 202)).toHaveLength(1);
    expect(same.filter((r) => r.status === 409 && r.body.error.code === "NAME_TAKEN")).toHaveLength(7);
    const overlap = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        h.call("create-network", natBody(`ov-${i}`, i % 2 ? "10.80.0.0/16" : `10.80.${i}.0/24`, { host: "solo" }), { role: "operator" }),
      ),
    );
    const won = overlap.filter((r) => r.status === 202);
    // Either the /16 won (and nothing else fits) or some /24s won (and the /16 overlaps them): never both.
    const cidrs = won.map((r) => r.body.job.network);
    expect(won.length).toBeGreaterThanOrEqual(1);
    if (cidrs.some((n: string) => Number(n.split("-")[1]) % 2 === 1)) expect(won).toHaveLength(1);
    for (const r of overlap.filter((r) => r.status !== 202)) expect(r.body.error.code).toBe("CIDR_CONFLICT");
  });
});
