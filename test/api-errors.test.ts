/** Every error code the API itself produces: status, code, and the one error shape with the request id. */
import { Writable } from "node:stream";
import { createApp } from "@netforge/api";
import { setOccupiedSubnets } from "@netforge/core/store";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, natBody, startApiHarness, TOKENS } from "./support/api-harness";
import { testRedis } from "./support/redis";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("api-errors", { bodyLimitBytes: 4096 });
  await h.addHost("h1", { networks: 0 });
  await h.addHost("h-off", { online: false });
});
afterAll(() => h.close());

const issuesOf = (r: { body: any }) => r.body.error.details.issues as { path: string; message: string; hint?: string }[];

describe("VALIDATION_FAILED", () => {
  it("names the field path and the CIDR hint for host bits", async () => {
    const r = await h.call("create-network", natBody("web", "192.168.100.5/24"));
    expectError(r, 400, "VALIDATION_FAILED");
    expect(issuesOf(r)).toContainEqual(expect.objectContaining({ path: "cidr", message: expect.stringContaining("192.168.100.0/24") }));
    expect(r.body.error.message).toContain("192.168.100.0/24");
  });

  it.each(["10.0.0.0/7", "10.0.0.0/31", "10.0.0.0/32", "10.0.0.0/33"])("refuses prefix length out of 8-30: %s", async (cidr) => {
    const r = await h.call("create-network", natBody("web", cidr));
    expectError(r, 400, "VALIDATION_FAILED");
    expect(issuesOf(r)[0]?.path).toBe("cidr");
  });

  it.each([
    [{ start: "192.168.101.10", end: "192.168.100.20" }, "dhcp.start", /usable address of 192.168.100.0\/24/],
    [{ start: "192.168.100.10", end: "192.168.100.255" }, "dhcp.end", /usable address/],
    [{ start: "192.168.100.50", end: "192.168.100.20" }, "dhcp.end", /below start/],
    [{ start: "192.168.100.1", end: "192.168.100.20" }, "dhcp.start", /gateway 192.168.100.1/],
    [{ start: "192.168.100.10" }, "dhcp.end", /both start and end/],
    [{ start: "192.168.100.10", end: "192.168.100.20", leaseTime: 30 }, "dhcp.leaseTime", /./],
    [{ start: "192.168.100.10", end: "192.168.100.20", bogus: 1 }, "dhcp", /unknown field\(s\): bogus/],
  ])("refuses DHCP range %j at %s", async (dhcp, path, msg) => {
    const r = await h.call("create-network", natBody("web", "192.168.100.0/24", { dhcp }));
    expectError(r, 400, "VALIDATION_FAILED");
    expect(issuesOf(r)).toContainEqual(expect.objectContaining({ path, message: expect.stringMatching(msg) }));
  });

  it("refuses a gateway outside the subnet", async () => {
    const r = await h.call("create-network", natBody("web", "192.168.100.0/24", { gateway: "10.0.0.1" }));
    expect(issuesOf(r)).toContainEqual({ path: "gateway", message: "must be inside 192.168.100.0/24" });
  });

  it("names unknown fields, at the top level too", async () => {
    const r = await h.call("create-network", natBody("web", "192.168.100.0/24", { colour: "red" }));
    expectError(r, 400, "VALIDATION_FAILED");
    expect(issuesOf(r)).toContainEqual({ path: "", message: "unknown field(s): colour" });
  });

  it("lists every problem at once with field paths", async () => {
    const r = await h.call("create-network", { type: "nat", name: "Bad Name", cidr: 5 });
    expect(
      issuesOf(r)
        .map((i) => i.path)
        .sort(),
    ).toEqual(["cidr", "name"]);
  });

  it("refuses invalid JSON and non-object bodies", async () => {
    for (const raw of ["{", "[]", "null", "42", '"str"', "{}}"]) {
      const r = await h.call("list-networks", undefined, { raw });
      expectError(r, 400, "VALIDATION_FAILED");
      expect(issuesOf(r)[0]?.path).toBe("");
    }
  });

  it("counts an empty body as {}", async () => {
    const r = await h.call("list-hosts", undefined, { raw: "" });
    expect(r.status).toBe(200);
  });

  it("refuses a malformed Idempotency-Key and Last-Event-ID", async () => {
    const r = await h.call("create-network", natBody("idem"), { headers: { "idempotency-key": "x".repeat(201) } });
    expectError(r, 400, "VALIDATION_FAILED");
    expect(issuesOf(r)[0]?.path).toBe("header.Idempotency-Key");
    const e = await h.get("/api/jobs/j_aaaaaaaaaaaaaaaaaaaa/events", { headers: { "last-event-id": "garbage" } });
    expectError(e, 400, "VALIDATION_FAILED");
  });
});

describe("auth", () => {
  it("UNAUTHORIZED without a token, with WWW-Authenticate", async () => {
    const r = await h.call("list-networks", {}, { role: null });
    expectError(r, 401, "UNAUTHORIZED");
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("UNAUTHORIZED with an unknown token or a non-bearer scheme", async () => {
    const bad = await h.call("list-networks", {}, { role: null, headers: { authorization: "Bearer nope" } });
    expectError(bad, 401, "UNAUTHORIZED");
    expect(bad.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const basic = await h.call("list-networks", {}, { role: null, headers: { authorization: `Basic ${TOKENS.admin}` } });
    expectError(basic, 401, "UNAUTHORIZED");
  });

  it("access_token is accepted on SSE routes only", async () => {
    const r = await h.call("list-networks", {}, { role: null });
    expectError(r, 401, "UNAUTHORIZED");
    const q = await h.api.app.request(`/api/list-networks?access_token=${TOKENS.admin}`, { method: "POST", body: "{}" });
    expect(q.status).toBe(401);
  });

  it("FORBIDDEN: a viewer calling create-network", async () => {
    const r = await h.call("create-network", natBody("web"), { role: "viewer" });
    const e = expectError(r, 403, "FORBIDDEN");
    expect(e.message).toContain("operator");
    expect(await h.keysMatching("job:*")).toEqual([]);
  });

  it("FORBIDDEN comes before body validation (no schema hints for the unauthorised)", async () => {
    expectError(await h.call("delete-network", { nonsense: true }, { role: "viewer" }), 403, "FORBIDDEN");
  });
});

describe("NOT_FOUND", () => {
  it("unknown network (describe, delete, start, stop)", async () => {
    for (const action of ["describe-network", "delete-network", "start-network", "stop-network"]) {
      const e = expectError(await h.call(action, { name: "ghost" }), 404, "NOT_FOUND");
      expect(e.message).toContain("ghost");
    }
  });
  it("unknown job (status and events)", async () => {
    expectError(await h.get("/api/jobs/j_doesnotexist0000000"), 404, "NOT_FOUND");
    expectError(await h.get("/api/jobs/not-a-job-id"), 404, "NOT_FOUND");
    expectError(await h.get("/api/jobs/j_doesnotexist0000000/events"), 404, "NOT_FOUND");
  });
  it("unknown explicit host", async () => {
    const e = expectError(await h.call("create-network", natBody("web", "10.1.0.0/24", { host: "nohost" })), 404, "NOT_FOUND");
    expect(e.details).toEqual({ host: "nohost" });
  });
  it("unknown action and unknown route; a known action asked with GET", async () => {
    expectError(await h.call("make-coffee", {}), 404, "NOT_FOUND");
    // A known action asked with GET: 405 with how it is called (api-input.test.ts has the whole answer).
    expectError(await h.get("/api/create-network"), 405, "METHOD_NOT_ALLOWED");
    expectError(await h.get("/nowhere", { role: null }), 404, "NOT_FOUND");
  });
});

describe("conflicts", () => {
  it("NAME_TAKEN: a name used on any host", async () => {
    await h.addNetwork({ name: "taken", host: "h1", cidr: "10.50.0.0/24" });
    const e = expectError(await h.call("create-network", natBody("taken", "10.51.0.0/24")), 409, "NAME_TAKEN");
    expect(e.details).toMatchObject({ name: "taken", host: "h1" });
  });

  it.each([
    ["equal", "10.60.0.0/24"],
    ["inside", "10.60.0.128/25"],
    ["containing", "10.60.0.0/16"],
  ])("CIDR_CONFLICT with another network (%s)", async (_what, cidr) => {
    await h.addNetwork({ name: "existing60", host: "h1", cidr: "10.60.0.0/24" }).catch(() => undefined);
    const e = expectError(await h.call("create-network", natBody("new60", cidr, { host: "h1" })), 409, "CIDR_CONFLICT");
    expect(e.message).toContain("existing60");
    expect(e.details).toMatchObject({ conflictsWith: { network: "existing60", cidr: "10.60.0.0/24" } });
  });

  it("CIDR_CONFLICT with a host interface subnet", async () => {
    await setOccupiedSubnets(h.redis, h.keys, "h1", [{ owner: "interface eth0", cidr: "172.20.0.0/16" }]);
    const e = expectError(await h.call("create-network", natBody("lan", "172.20.5.0/24")), 409, "CIDR_CONFLICT");
    expect(e.message).toContain("interface eth0");
    expect(e.details).toMatchObject({ conflictsWith: { owner: "interface eth0", cidr: "172.20.0.0/16" } });
  });

  it("INVALID_STATE: start an active network, stop an inactive one", async () => {
    await h.addNetwork({ name: "up", host: "h1", state: "active" });
    await h.addNetwork({ name: "down", host: "h1", state: "inactive" });
    expectError(await h.call("start-network", { name: "up" }), 409, "INVALID_STATE");
    expectError(await h.call("stop-network", { name: "down" }), 409, "INVALID_STATE");
  });
});

describe("availability", () => {
  it("HOST_UNAVAILABLE: explicit offline host, or a network whose host is offline", async () => {
    expectError(await h.call("create-network", natBody("x1", "10.70.0.0/24", { host: "h-off" })), 503, "HOST_UNAVAILABLE");
    await h.addNetwork({ name: "stranded", host: "h-off", state: "active" });
    expectError(await h.call("stop-network", { name: "stranded" }), 503, "HOST_UNAVAILABLE");
    expectError(await h.call("delete-network", { name: "stranded" }), 503, "HOST_UNAVAILABLE");
  });

  it("NO_HOST: no online host at all", async () => {
    const empty = await startApiHarness("api-nohost");
    try {
      await empty.addHost("gone", { online: false });
      expectError(await empty.call("create-network", natBody("web")), 503, "NO_HOST");
      expect(await empty.keysMatching("claim:*")).toEqual([]);
    } finally {
      await empty.close();
    }
  });
});

describe("limits", () => {
  it("PAYLOAD_TOO_LARGE over the body limit", async () => {
    const r = await h.call("create-network", natBody("big", "10.80.0.0/24", { description: "x".repeat(5000) }));
    const e = expectError(r, 413, "PAYLOAD_TOO_LARGE");
    expect(e.details).toEqual({ limitBytes: 4096 });
  });

  it("RATE_LIMITED with Retry-After, per token", async () => {
    const limited = await startApiHarness("api-rate", { rateLimitPerSecond: 3 });
    try {
      const replies = [];
      for (let i = 0; i < 5; i++) replies.push(await limited.call("list-hosts", {}, { role: "viewer" }));
      expect(replies.slice(0, 3).map((r) => r.status)).toEqual([200, 200, 200]);
      const r = replies[3]!;
      expectError(r, 429, "RATE_LIMITED");
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // Another token has its own budget.
      expect((await limited.call("list-hosts", {}, { role: "admin" })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe("UNSUPPORTED_FOR_TYPE", () => {
  // Every type is implemented now; what a type does not support is refused per action (test/api-l2.test.ts).
  it("a type outside the four is a schema error, not a 500", async () => {
    expectError(await h.call("create-network", { name: "vx", type: "vxlan", cidr: "10.1.0.0/24" }), 400, "VALIDATION_FAILED");
  });
});

describe("IDEMPOTENCY_MISMATCH", () => {
  it("same key, different body", async () => {
    const headers = { "idempotency-key": "mismatch-1" };
    expect((await h.call("create-network", natBody("idem-a", "10.90.0.0/24"), { headers })).status).toBe(202);
    const e = expectError(await h.call("create-network", natBody("idem-b", "10.91.0.0/24"), { headers }), 409, "IDEMPOTENCY_MISMATCH");
    expect(e.details.originalJobId).toMatch(/^j_/);
  });
});

describe("request ids", () => {
  it("echoes a safe X-Request-Id into the header and the error body, replaces an unsafe one", async () => {
    const r = await h.call("describe-network", { name: "ghost" }, { headers: { "x-request-id": "trace-42" } });
    expect(r.headers.get("x-request-id")).toBe("trace-42");
    expect(r.body.error.requestId).toBe("trace-42");
    const u = await h.call("describe-network", { name: "ghost" }, { headers: { "x-request-id": "bad id!" } });
    expect(u.headers.get("x-request-id")).toMatch(/^req_/);
    expect(u.body.error.requestId).toBe(u.headers.get("x-request-id"));
  });
});

describe("INTERNAL and logging", () => {
  it("an unexpected failure is a 500 with a generic message, logged with its stack; tokens never reach the log", async () => {
    const t = testRedis("api-internal");
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        cb();
      },
    });
    const api = createApp({
      redis: t.redis,
      keys: t.keys,
      logger: pino({ level: "info" }, sink),
      tokens: new Map([[TOKENS.admin, "admin"]]),
      config: { rateLimitPerSecond: 0 },
    });
    try {
      // A corrupt index record: reading it throws a SyntaxError deep in the store.
      await t.redis.set(t.keys.network("broken"), "{not json");
      const res = await api.app.request("/api/describe-network?access_token=qs-secret-value", {
        method: "POST",
        headers: { authorization: `Bearer ${TOKENS.admin}`, "x-request-id": "boom-1" },
        body: JSON.stringify({ name: "broken" }),
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: { code: "INTERNAL", message: "internal server error", details: {}, requestId: "boom-1" } });
      await api.app.request(`/api/jobs/j_aaaaaaaaaaaaaaaaaaaa/events?access_token=${TOKENS.admin}`);
      const parsed = lines.map((l) => JSON.parse(l));
      const err = parsed.find((l) => l.msg === "unexpected error");
      expect(err).toMatchObject({ requestId: "boom-1", err: { type: "SyntaxError" } });
      expect(err.err.stack).toContain("SyntaxError");
      const req = parsed.find((l) => l.msg === "request" && l.requestId === "boom-1");
      expect(req).toMatchObject({ method: "POST", path: "/api/describe-network", status: 500 });
      expect(typeof req.ms).toBe("number");
      const all = lines.join("\n");
      expect(all).not.toContain(TOKENS.admin);
      expect(all).not.toContain("qs-secret-value");
      expect(all).not.toContain("access_token");
    } finally {
      await api.close();
      await t.cleanup();
    }
  });
});
