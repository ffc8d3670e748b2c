/**
 * Abuse limits, over real sockets against the run's Redis: open SSE streams
 * per token and in total, failed authentications per client address, and
 * idempotency scopes that one token cannot reach into another's.
 */
import { request as httpRequest } from "node:http";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { ApiConfig } from "@netforge/api";
import { type ApiHarness, expectError, type HarnessOptions, natBody, startApiHarness, TOKENS } from "./support/api-harness";
import { openSse, type SseConnection } from "./support/sse-client";

const harnesses: ApiHarness[] = [];
const streams: SseConnection[] = [];
async function harness(label: string, config?: Partial<ApiConfig>, opts?: HarnessOptions) {
  const h = await startApiHarness(label, config, opts);
  harnesses.push(h);
  return h;
}
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});
afterAll(async () => {
  for (const h of harnesses) await h.close();
});

async function metric(base: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = line.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}
async function until(cond: () => Promise<boolean> | boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
async function open(base: string, token: string): Promise<SseConnection> {
  const s = await openSse(`${base}/api/events`, { authorization: `Bearer ${token}` });
  streams.push(s);
  return s;
}

describe("SSE stream caps", () => {
  it("caps open streams per token and in total with 429 RATE_LIMITED, counts them in /metrics, and frees a slot on disconnect", async () => {
    const h = await harness("abuse-sse", { sseMaxPerToken: 3, sseMaxTotal: 5, sseHeartbeatMs: 100 });
    await h.addHost("h1");
    const base = await h.listen();
    const viewer = [await open(base, TOKENS.viewer), await open(base, TOKENS.viewer), await open(base, TOKENS.viewer)];
    for (const s of viewer) expect(s.status).toBe(200);

    const fourth = await open(base, TOKENS.viewer);
    expect(fourth.status).toBe(429);
    expect(Number(fourth.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const res = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    expect(res.status).toBe(429);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({ code: "RATE_LIMITED", details: { scope: "token", limit: 3 } });
    expect(typeof body.error.requestId).toBe("string");

    // Another token still has room until the total is reached.
    expect((await open(base, TOKENS.admin)).status).toBe(200);
    expect((await open(base, TOKENS.admin)).status).toBe(200);
    const overTotal = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${TOKENS.operator}` } });
    expect(overTotal.status).toBe(429);
    expect((await overTotal.json()) as any).toMatchObject({ error: { code: "RATE_LIMITED", details: { scope: "total", limit: 5 } } });

    expect(await metric(base, /^netforge_sse_streams (\d+)$/m)).toBe(5);
    expect(await metric(base, /^netforge_sse_streams_max_per_token (\d+)$/m)).toBe(3);
    expect(await metric(base, /^netforge_sse_refused_total\{scope="token"\} (\d+)$/m)).toBe(2);
    expect(await metric(base, /^netforge_sse_refused_total\{scope="total"\} (\d+)$/m)).toBe(1);

    // Disconnecting releases the slot.
    viewer[0]?.close();
    await until(async () => (await metric(base, /^netforge_sse_streams (\d+)$/m)) === 4);
    expect((await open(base, TOKENS.viewer)).status).toBe(200);
    // A job stream counts against the same caps.
    const job = await h.call("create-network", natBody("abuse-sse-1", "10.77.0.0/24"));
    expect(job.status).toBe(202);
    const jobStream = await fetch(`${base}/api/jobs/${job.body.job.id}/events`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    expect(jobStream.status).toBe(429);
  });

  it("by default one token gets 100 streams, not 600", async () => {
    const h = await harness("abuse-sse-default");
    const base = await h.listen();
    for (let i = 0; i < 100; i++) expect((await open(base, TOKENS.viewer)).status).toBe(200);
    const res = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});

/** A request from a chosen loopback source address (127.0.0.0/8 is all local on Linux). */
function fromAddress(base: string, localAddress: string, path: string, token: string): Promise<{ status: number; retryAfter?: string }> {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        localAddress,
        agent: false,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined }));
      },
    );
    req.on("error", reject);
    req.end("{}");
  });
}

describe("failed authentication limit", () => {
  it("after the allowed failures an address gets 429 with Retry-After; good tokens (from it and others) are unaffected", async () => {
    const h = await harness("abuse-auth", { authFailuresPerMinute: 10 });
    const base = await h.listen();
    const attacker = "127.0.0.3";
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 15; i++) {
      const r = await fromAddress(base, attacker, "/api/list-networks", `wrong-token-${i}-0123456789`);
      statuses.push(r.status);
      retryAfter ??= r.retryAfter;
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(5).fill(429));
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // A good token still gets through from the blocked address (issue 15: users sharing a proxy's or NAT's address must
    // not be locked out by someone else's failures; the tokens' length, not this limit, is what stops guessing)...
    expect((await fromAddress(base, attacker, "/api/list-networks", TOKENS.viewer)).status).toBe(200);
    expect((await fromAddress(base, attacker, "/api/list-networks", "wrong-token-again-0123456789")).status).toBe(429);
    // ...and from any other address it works too.
    expect((await fromAddress(base, "127.0.0.4", "/api/list-networks", TOKENS.viewer)).status).toBe(200);
    expect((await fromAddress(base, "127.0.0.4", "/api/list-networks", "still-wrong-0123456789")).status).toBe(401);
  });

  it("is on by default: a flood of wrong tokens is cut off", async () => {
    const h = await harness("abuse-auth-default");
    const base = await h.listen();
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++)
      statuses.push((await fromAddress(base, "127.0.0.5", "/api/list-networks", `guess-${i}-0123456789abc`)).status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(40);
    expect(statuses.at(-1)).toBe(429);
    const r = await h.call("list-networks", {}, { role: "viewer" });
    expect(r.status).toBe(200);
  });
});

describe("idempotency scopes", () => {
  it("token 'x' with key 'y:k1' and token 'x:y' with key 'k1' are different scopes", async () => {
    const a = "collide-token-0123456789";
    const b = `${a}:y`;
    const h = await harness(
      "abuse-idem",
      {},
      {
        tokens: [
          [a, "operator"],
          [b, "operator"],
        ],
      },
    );
    await h.addHost("h1");
    const first = await h.call("create-network", natBody("idem-scope-1", "10.78.0.0/24"), {
      role: null,
      headers: { authorization: `Bearer ${a}`, "idempotency-key": "y:k1" },
    });
    expect(first.status).toBe(202);
    const second = await h.call("create-network", natBody("idem-scope-1", "10.78.0.0/24"), {
      role: null,
      headers: { authorization: `Bearer ${b}`, "idempotency-key": "k1" },
    });
    // Not a replay of the other token's job: its own request, which meets the name the first one took.
    expect(second.headers.get("idempotent-replayed")).toBeNull();
    expectError(second, 409, "NAME_TAKEN");
  });
});
