/** Job answers, idempotency, Prefer: wait, and the synchronous queries. */
import { putNetworkStats } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyRedisKey } from "@netforge/api/testing";
import { type ApiHarness, expectError, natBody, startApiHarness, TOKENS } from "./support/api-harness";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("api-jobs", { maxWaitSeconds: 2 });
  await h.addHost("h1", { networks: 2 });
});
afterAll(() => h.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const waitingEntries = (host: string) => h.redis.llen(`${h.keys.bull}:${h.keys.hostQueue(host)}:wait`);

describe("job answers", () => {
  it("202 with Location and the job view; GET /api/jobs/<id> returns it", async () => {
    const r = await h.call("create-network", natBody("j-web", "10.1.0.0/24"), { role: "operator" });
    expect(r.status).toBe(202);
    const job = r.body.job;
    expect(r.headers.get("location")).toBe(`/api/jobs/${job.id}`);
    expect(job).toMatchObject({
      action: "create-network",
      network: "j-web",
      host: "h1",
      state: "queued",
      progress: { percent: 0, step: null },
      result: null,
      error: null,
      attempts: 0,
      startedAt: null,
      finishedAt: null,
      links: { self: `/api/jobs/${job.id}`, events: `/api/jobs/${job.id}/events` },
    });
    expect(job.progress.steps.map((s: { name: string }) => s.name)).toEqual([
      "checking host",
      "defining network",
      "starting network",
      "setting autostart",
      "verifying DHCP",
    ]);
    expect(job).not.toHaveProperty("payload");
    const g = await h.get(`/api/jobs/${job.id}`, { role: "viewer" });
    expect(g.status).toBe(200);
    expect(g.body.job).toEqual(job);
  });

  it("delete/start/stop of an indexed network are queued on its host", async () => {
    await h.addNetwork({ name: "j-on", host: "h1", state: "active" });
    await h.addNetwork({ name: "j-off", host: "h1", state: "inactive" });
    for (const [action, name] of [
      ["stop-network", "j-on"],
      ["start-network", "j-off"],
      ["delete-network", "j-on"],
    ] as const) {
      const r = await h.call(action, { name });
      expect(r.status, action).toBe(202);
      expect(r.body.job).toMatchObject({ action, network: name, host: "h1", state: "queued" });
    }
  });
});

describe("Idempotency-Key", () => {
  it("same key and body (any key order) -> the same job, queued once", async () => {
    const before = await waitingEntries("h1");
    const headers = { "idempotency-key": "create-idem-1" };
    const a = await h.call("create-network", { type: "nat", name: "idem-one", cidr: "10.2.0.0/24" }, { headers });
    const b = await h.call("create-network", { cidr: "10.2.0.0/24", name: "idem-one", type: "nat" }, { headers });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body.job.id).toBe(a.body.job.id);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(await waitingEntries("h1")).toBe(before + 1);
  });

  it("concurrent repeats of one key create one job", async () => {
    const headers = { "idempotency-key": "burst-key" };
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => h.call("create-network", natBody("idem-burst", "10.3.0.0/24"), { headers })),
    );
    expect(new Set(replies.map((r) => r.status))).toEqual(new Set([202]));
    expect(new Set(replies.map((r) => r.body.job.id)).size).toBe(1);
  });

  it("different body -> IDEMPOTENCY_MISMATCH; keys are per token", async () => {
    const headers = { "idempotency-key": "k-mismatch" };
    const a = await h.call("create-network", natBody("idem-two", "10.4.0.0/24"), { headers });
    expectError(await h.call("create-network", natBody("idem-two", "10.5.0.0/24"), { headers }), 409, "IDEMPOTENCY_MISMATCH");
    expectError(await h.call("delete-network", { name: "idem-two" }, { headers }), 409, "IDEMPOTENCY_MISMATCH");
    // The same key string from another token is another key (and here a name clash with the first).
    const other = await h.call("create-network", natBody("idem-two", "10.4.0.0/24"), { headers, role: "operator" });
    expectError(other, 409, "NAME_TAKEN");
    expect(a.status).toBe(202);
  });

  it("a request refused before its job existed forgets the key", async () => {
    const headers = { "idempotency-key": "k-refused" };
    expectError(await h.call("start-network", { name: "nope" }, { headers }), 404, "NOT_FOUND");
    expect(await h.redis.exists(idempotencyRedisKey(h.keys, TOKENS.admin, "k-refused"))).toBe(0);
    // Retrying with the same key and a now-valid request goes through.
    await h.addNetwork({ name: "nope", host: "h1", state: "inactive" });
    const r = await h.call("start-network", { name: "nope" }, { headers });
    expect(r.status).toBe(202);
  });

  it("concurrent repeats of a failing request each get the real error, and the key is forgotten", async () => {
    const headers = { "idempotency-key": "k-failing-burst" };
    const replies = await Promise.all(Array.from({ length: 8 }, () => h.call("stop-network", { name: "never-existed" }, { headers })));
    for (const r of replies) expectError(r, 404, "NOT_FOUND");
    expect(await h.redis.exists(idempotencyRedisKey(h.keys, TOKENS.admin, "k-failing-burst"))).toBe(0);
  });

  it("a repeat answers like a fresh request (Prefer: wait on a finished job -> 200)", async () => {
    const headers = { "idempotency-key": "k-finished" };
    const a = await h.call("create-network", natBody("idem-done", "10.6.0.0/24"), { headers });
    await h.advance(a.body.job.id, "succeeded");
    const b = await h.call("create-network", natBody("idem-done", "10.6.0.0/24"), { headers: { ...headers, prefer: "wait=5" } });
    expect(b.status).toBe(200);
    expect(b.body.job).toMatchObject({ id: a.body.job.id, state: "succeeded" });
  });
});

describe("Prefer: wait", () => {
  it("returns 200 with the final job when it succeeds while waiting", async () => {
    const timer = setInterval(async () => {
      const ids = await h.redis.zrevrange(h.keys.networkJobs("wait-ok"), 0, 0);
      if (ids[0]) {
        clearInterval(timer);
        await h.advance(ids[0], "progress");
        await h.advance(ids[0], "succeeded", (r) => {
          r.result = { name: "wait-ok" };
        });
      }
    }, 20);
    const started = Date.now();
    const r = await h.call("create-network", natBody("wait-ok", "10.7.0.0/24"), { headers: { prefer: "wait=10" } });
    clearInterval(timer);
    expect(r.status).toBe(200);
    expect(r.headers.get("preference-applied")).toBe("wait=2");
    expect(r.body.job).toMatchObject({ state: "succeeded", result: { name: "wait-ok" }, progress: { percent: 100 } });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("a failed job answers with the status of its error code", async () => {
    const timer = setInterval(async () => {
      const ids = await h.redis.zrevrange(h.keys.networkJobs("wait-fail"), 0, 0);
      if (ids[0]) {
        clearInterval(timer);
        await h.advance(ids[0], "failed", (r) => {
          r.error = {
            code: "CIDR_CONFLICT",
            message: "10.8.0.0/24 overlaps route 10.8.0.0/16 on host h1",
            details: { cidr: "10.8.0.0/24" },
          };
        });
      }
    }, 20);
    const r = await h.call("create-network", natBody("wait-fail", "10.8.0.0/24"), {
      headers: { prefer: "wait=5", "x-request-id": "wf-1" },
    });
    clearInterval(timer);
    expect(r.status).toBe(409);
    expect(r.body.error).toEqual({
      code: "CIDR_CONFLICT",
      message: "10.8.0.0/24 overlaps route 10.8.0.0/16 on host h1",
      details: { cidr: "10.8.0.0/24" },
      requestId: "wf-1",
    });
    expect(r.body.job).toMatchObject({ state: "failed", network: "wait-fail" });
  });

  it("an unfinished job after the wait -> 202 (capped at maxWaitSeconds)", async () => {
    const started = Date.now();
    const r = await h.call("create-network", natBody("wait-slow", "10.9.0.0/24"), { headers: { prefer: "wait=60" } });
    const took = Date.now() - started;
    expect(r.status).toBe(202);
    expect(r.headers.get("preference-applied")).toBe("wait=2");
    expect(r.body.job.state).toBe("queued");
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(3500);
    expect(h.api.bus.listenerCount()).toBe(0);
  });

  it("no Prefer header: never waits", async () => {
    const r = await h.call("create-network", natBody("nowait", "10.10.0.0/24"));
    expect(r.status).toBe(202);
    expect(r.headers.get("preference-applied")).toBeNull();
  });
});

describe("queries", () => {
  it("list-networks: filters, limit, opaque cursor, nextCursor null at the end", async () => {
    const q = await startApiHarness("api-list");
    try {
      await q.addHost("ha");
      await q.addHost("hb");
      for (let i = 0; i < 7; i++) {
        await q.addNetwork({
          name: `net-${i}`,
          host: i % 2 ? "hb" : "ha",
          type: i === 6 ? "isolated" : "nat",
          state: i % 3 === 0 ? "inactive" : "active",
          cidr: `10.40.${i}.0/24`,
        });
      }
      await q.addNetwork({ name: "other", host: "ha", cidr: "10.41.0.0/24" });
      const all = await q.call("list-networks", {}, { role: "viewer" });
      expect(all.body.networks.map((n: { name: string }) => n.name)).toEqual([...Array.from({ length: 7 }, (_, i) => `net-${i}`), "other"]);
      expect(all.body.nextCursor).toBeNull();
      expect(Object.keys(all.body.networks[0]).sort()).toEqual([
        "autostart",
        "cidr",
        "host",
        "managedBy",
        "name",
        "state",
        "type",
        "uuid",
        "version",
      ]);

      const names: string[] = [];
      let cursor: string | null | undefined;
      let pages = 0;
      do {
        const p = await q.call("list-networks", { name: "NET", limit: 3, ...(cursor ? { cursor } : {}) });
        expect(p.status).toBe(200);
        names.push(...p.body.networks.map((n: { name: string }) => n.name));
        cursor = p.body.nextCursor;
        if (cursor) expect(cursor).not.toContain("net");
        pages++;
      } while (cursor);
      expect(names).toEqual(Array.from({ length: 7 }, (_, i) => `net-${i}`));
      expect(pages).toBe(3);

      const filtered = await q.call("list-networks", { host: "hb", state: "active" });
      expect(filtered.body.networks.map((n: { name: string }) => n.name)).toEqual(["net-1", "net-5"]);
      const iso = await q.call("list-networks", { type: "isolated" });
      expect(iso.body.networks.map((n: { name: string }) => n.name)).toEqual(["net-6"]);
      expectError(await q.call("list-networks", { cursor: "bm90LWEtY3Vyc29y!" }), 400, "VALIDATION_FAILED");
    } finally {
      await q.close();
    }
  });

  it("describe-network: the record with live stats (or empty stats before the first observation)", async () => {
    await h.addNetwork({ name: "desc", host: "h1", cidr: "10.11.0.0/24", description: "frontend VMs" });
    const d = await h.call("describe-network", { name: "desc" }, { role: "viewer" });
    expect(d.status).toBe(200);
    expect(d.body.network).toMatchObject({
      name: "desc",
      host: "h1",
      description: "frontend VMs",
      stats: { connectedVms: 0, observedAt: null },
    });
    await putNetworkStats(h.redis, h.keys, "desc", { connectedVms: 2, allocatedIps: 3, observedAt: "2026-01-01T00:00:00.000Z" });
    const d2 = await h.call("describe-network", { name: "desc" });
    expect(d2.body.network.stats).toEqual({ connectedVms: 2, allocatedIps: 3, observedAt: "2026-01-01T00:00:00.000Z" });
  });

  it("list-jobs: newest first, filters, limit", async () => {
    const q = await startApiHarness("api-listjobs");
    try {
      await q.addHost("ha");
      await q.addHost("hb");
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await q.call("create-network", natBody(`lj-${i}`, `10.50.${i}.0/24`, { host: i < 3 ? "ha" : "hb" }));
        ids.push(r.body.job.id);
        await sleep(3); // distinct createdAt ms
      }
      await q.advance(ids[1]!, "succeeded");
      const all = await q.call("list-jobs", {}, { role: "viewer" });
      expect(all.body.jobs.map((j: { id: string }) => j.id)).toEqual([...ids].reverse());
      expect(all.body.jobs[0].links.self).toBe(`/api/jobs/${ids[4]}`);
      expect((await q.call("list-jobs", { limit: 2 })).body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[4], ids[3]]);
      expect((await q.call("list-jobs", { network: "lj-2" })).body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2]]);
      expect((await q.call("list-jobs", { state: "succeeded" })).body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[1]]);
      expect((await q.call("list-jobs", { host: "hb" })).body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[4], ids[3]]);
      expect((await q.call("list-jobs", { host: "ha", state: "queued", limit: 1 })).body.jobs.map((j: { id: string }) => j.id)).toEqual([
        ids[2],
      ]);
    } finally {
      await q.close();
    }
  });

  it("list-hosts: views with status and the stored network count", async () => {
    const q = await startApiHarness("api-hosts");
    try {
      await q.addHost("ha", { networks: 3 });
      await q.addHost("hz", { online: false });
      const r = await q.call("list-hosts", {}, { role: "viewer" });
      expect(r.status).toBe(200);
      expect(r.body.hosts.map((x: { id: string; status: string; networks: number }) => [x.id, x.status, x.networks])).toEqual([
        ["ha", "online", 3],
        ["hz", "offline", 0],
      ]);
      expect(r.body.hosts[0]).not.toHaveProperty("occupied");
      expect(Object.keys(r.body.hosts[0]).sort()).toEqual(
        ["hostname", "id", "interfaces", "lastSeenAt", "libvirtVersion", "listeningPorts", "networks", "sriovPfs", "status"].sort(),
      );
    } finally {
      await q.close();
    }
  });
});
