/**
 * Host safety of the API's door (issue 15): failed authentications never
 * lock out a valid token, X-Forwarded-For counts only from a trusted proxy,
 * hashed token entries, the optional metrics token, cached scrapes, a
 * /readyz that does not show Redis's error text, and an API that refuses to
 * start on a non-loopback address without tokens. Over real sockets against
 * the run's Redis (and a private redis-server this file stops).
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connectRedis, makeKeys } from "@netforge/core/store";
import { type ApiConfig, createApp } from "@netforge/api";
import { startRedisServer } from "@netforge/devstack";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, type HarnessOptions, startApiHarness, TOKENS } from "./support/api-harness";
import { spawnApi } from "./support/api-process";
import { testRedisUrl, uniquePrefix } from "./support/redis";

/** What `printf %s "$TOKEN" | sha256sum` prints. */
const hashToken = (t: string): string => createHash("sha256").update(t).digest("hex");

const harnesses: ApiHarness[] = [];
async function harness(label: string, config?: Partial<ApiConfig>, opts?: HarnessOptions) {
  const h = await startApiHarness(label, config, opts);
  harnesses.push(h);
  return h;
}
afterAll(async () => {
  for (const h of harnesses) await h.close();
});

/** POST /api/list-networks from a chosen local address, with a token and extra headers. */
function fromAddress(
  base: string,
  localAddress: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; retryAfter?: string }> {
  const u = new URL("/api/list-networks", base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        localAddress,
        agent: false,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
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

async function statuses(n: number, f: (i: number) => Promise<{ status: number }>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await f(i)).status);
  return out;
}

describe("failed authentications", () => {
  it("a valid token still passes after 30+ unknown tokens from the same address (default limit); unknown ones get 429", async () => {
    const h = await harness("auth-lockout");
    const base = await h.listen();
    const addr = "127.0.0.21";
    const wrong = await statuses(40, (i) => fromAddress(base, addr, `guess-${i}-0123456789abcdef`));
    expect(wrong.slice(0, 30)).toEqual(Array(30).fill(401));
    expect(wrong.slice(30)).toEqual(Array(10).fill(429));
    // Every valid token from that very address passes, again and again...
    for (const t of [TOKENS.viewer, TOKENS.operator, TOKENS.admin, TOKENS.viewer])
      expect((await fromAddress(base, addr, t)).status).toBe(200);
    // ...while unknown tokens and requests without one from it are still refused with 429.
    expect((await fromAddress(base, addr, "another-guess-0123456789")).status).toBe(429);
    const missing = await new Promise<number>((resolve, reject) => {
      const u = new URL("/api/list-networks", base);
      const req = httpRequest(
        { host: u.hostname, port: u.port, path: u.pathname, method: "POST", localAddress: addr, agent: false },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(missing).toBe(429);
  });

  it("the queue dashboard lets an admin token in from an address whose failures are used up", async () => {
    const h = await harness("auth-lockout-board", { authFailuresPerMinute: 3 });
    const base = await h.listen();
    const get = (token: string) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL("/admin/queues", base);
        const req = httpRequest(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            localAddress: "127.0.0.22",
            agent: false,
            headers: { authorization: `Bearer ${token}` },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await statuses(5, (i) => get(`board-guess-${i}-0123456789`).then((status) => ({ status })))).toEqual([401, 401, 401, 429, 429]);
    expect(await get(TOKENS.admin)).toBe(200);
  });
});

describe("X-Forwarded-For", () => {
  it("is ignored from a peer that is not a trusted proxy: a client cannot dodge the limit by inventing addresses", async () => {
    const h = await harness("auth-xff-untrusted", { authFailuresPerMinute: 5 });
    const base = await h.listen();
    const got = await statuses(8, (i) =>
      fromAddress(base, "127.0.0.23", `xff-guess-${i}-0123456789`, { "x-forwarded-for": `198.51.100.${i}` }),
    );
    expect(got).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
  });

  it("from a trusted proxy, the right-most untrusted address is the client: users behind it are limited apart", async () => {
    const h = await harness("auth-xff-trusted", { authFailuresPerMinute: 5, trustedProxies: ["127.0.0.24", "10.9.0.0/16"] });
    const base = await h.listen();
    const proxy = "127.0.0.24";
    // An attacker behind the proxy, prepending made-up hops: the proxy appended its real address, that is what counts.
    const attacker = await statuses(7, (i) =>
      fromAddress(base, proxy, `xff-trusted-guess-${i}-0123456789`, { "x-forwarded-for": `192.0.2.${i}, 203.0.113.9, 10.9.1.1` }),
    );
    expect(attacker).toEqual([401, 401, 401, 401, 401, 429, 429]);
    // Another user behind the same proxy is not affected by the attacker's failures.
    expect((await fromAddress(base, proxy, "someone-elses-typo-0123456789", { "x-forwarded-for": "203.0.113.10" })).status).toBe(401);
    expect((await fromAddress(base, proxy, TOKENS.viewer, { "x-forwarded-for": "203.0.113.10" })).status).toBe(200);
    // And the proxy's own address (requests without the header) is its own client, not the attacker.
    expect((await fromAddress(base, proxy, "proxy-direct-typo-0123456789")).status).toBe(401);
    // The attacker's valid token still passes.
    expect((await fromAddress(base, proxy, TOKENS.viewer, { "x-forwarded-for": "203.0.113.9" })).status).toBe(200);
  });
});

describe("hashed token entries", () => {
  it("sha256:<hex>:role authenticates the token whose hash it is, and the hash itself is no token", async () => {
    const plain = "hashed-entry-token-0123456789";
    const h = await harness("auth-hashed", {}, { tokens: [[`sha256:${hashToken(plain).toUpperCase()}`, "viewer"]] });
    const ok = await h.call("list-networks", {}, { role: null, headers: { authorization: `Bearer ${plain}` } });
    expect(ok.status).toBe(200);
    const asHash = await h.call("list-networks", {}, { role: null, headers: { authorization: `Bearer sha256:${hashToken(plain)}` } });
    expectError(asHash, 401, "UNAUTHORIZED");
    const forbidden = await h.call("delete-network", { name: "x" }, { role: null, headers: { authorization: `Bearer ${plain}` } });
    expectError(forbidden, 403, "FORBIDDEN");
  });
});

describe("/metrics", () => {
  it("with a metrics token: 401 in the error shape without it or with another token (API tokens included), 200 with it", async () => {
    const metricsToken = "metrics-scrape-token-0123456789";
    const h = await harness("auth-metrics-token", { metricsToken });
    const none = await h.get("/metrics", { role: null });
    expectError(none, 401, "UNAUTHORIZED");
    expect(none.body.error.message).toContain("NETFORGE_METRICS_TOKEN");
    expectError(await h.get("/metrics", { role: "admin" }), 401, "UNAUTHORIZED");
    expectError(await h.get("/metrics", { role: null, headers: { authorization: `Bearer ${metricsToken}x` } }), 401, "UNAUTHORIZED");
    const ok = await h.get("/metrics", { role: null, headers: { authorization: `Bearer ${metricsToken}` } });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain("netforge_http_requests_total");
    // The other operational endpoints stay open.
    expect((await h.get("/healthz", { role: null })).status).toBe(200);
  });

  it("without a metrics token /metrics stays open (the default)", async () => {
    const h = await harness("auth-metrics-open");
    expect((await h.get("/metrics", { role: null })).status).toBe(200);
  });

  it("a scrape within the cache time gets the cached text: a storm of scrapes renders once", async () => {
    const h = await harness("auth-metrics-cache", { metricsCacheSeconds: 30 });
    let renders = 0;
    const render = h.api.metrics.render.bind(h.api.metrics);
    h.api.metrics.render = () => {
      renders += 1;
      return render();
    };
    const first = await h.get("/metrics", { role: null });
    await h.get("/healthz", { role: null });
    const storm = await Promise.all(Array.from({ length: 50 }, () => h.get("/metrics", { role: null })));
    expect(renders).toBe(1);
    for (const r of storm) expect(r.body).toBe(first.body);
    // Uncached (0) renders each time, and sees the requests made since.
    const fresh = await harness("auth-metrics-nocache", { metricsCacheSeconds: 0 });
    const a = (await fresh.get("/metrics", { role: null })).body as string;
    const b = (await fresh.get("/metrics", { role: null })).body as string;
    expect(a).not.toBe(b);
  });
});

describe("/readyz with Redis down", () => {
  it("says only 'error: store unreachable'; the raw error goes to the log", async () => {
    const dir = await mkdtemp(join(tmpdir(), "nf-readyz-"));
    const server = await startRedisServer({ dir });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const redis = connectRedis(server.url);
    redis.on("error", () => undefined);
    const api = createApp({
      redis,
      keys: makeKeys(uniquePrefix("readyz")),
      logger: pino({ level: "warn" }, sink),
      tokens: new Map([[TOKENS.admin, "admin"]]),
      config: { redisTimeoutMs: 500 },
    });
    try {
      await api.ready();
      await server.stop();
      const res = await api.app.request("/readyz");
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body).toEqual({ status: "unready", checks: { redis: "error: store unreachable", onlineHosts: 0 } });
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "readiness check: Redis unreachable");
      expect(logged?.err).toEqual(expect.any(String));
      expect(logged?.err).not.toBe("");
    } finally {
      await api.close({ inFlightGraceMs: 0 }).catch(() => undefined);
      redis.disconnect();
      await server.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("start-up without NETFORGE_TOKENS", () => {
  const prefix = uniquePrefix("auth-start");
  const noTokens = (env: Record<string, string>) => spawnApi({ redisUrl: testRedisUrl(), prefix, token: "unused-0123456789abcdef", env });

  it.each(["0.0.0.0", "192.0.2.1"])("refuses HOST=%s with a message saying what to set", async (host) => {
    const api = noTokens({ NETFORGE_TOKENS: "", HOST: host });
    try {
      const r = await api.proc;
      expect(r.exitCode).toBe(1);
      expect(String(r.stderr)).toContain(`cannot start: NETFORGE_TOKENS is not set and HOST=${host} is not a loopback address`);
      expect(String(r.stderr)).toContain("HOST=127.0.0.1");
      expect(String(r.stderr)).not.toContain("admin token for this run");
      expect(api.output()).not.toContain("netforge api listening");
    } finally {
      api.kill();
    }
  });

  it("refuses it in the primary too with NETFORGE_API_PROCESSES=2 (no process starts)", async () => {
    const api = noTokens({ NETFORGE_TOKENS: "", HOST: "0.0.0.0", NETFORGE_API_PROCESSES: "2" });
    try {
      const r = await api.proc;
      expect(r.exitCode).toBe(1);
      expect(String(r.stderr)).toContain("is not a loopback address");
    } finally {
      api.kill();
    }
  });

  it("on loopback with 2 processes, one made-up admin token works in both", async () => {
    const api = noTokens({ NETFORGE_TOKENS: "", HOST: "127.0.0.1", NETFORGE_API_PROCESSES: "2" });
    let stderr = "";
    api.proc.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    try {
      const [url] = await api.listening(2);
      const deadline = Date.now() + 10_000;
      while (!/admin token for this run: (\S+)/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const printed = [...stderr.matchAll(/admin token for this run: (\S+)/g)].map((m) => m[1]);
      expect(printed.length).toBeLessThanOrEqual(1);
      // Several requests on fresh connections reach both processes (round robin); all accept the token.
      const token = printed[0];
      if (token === undefined) throw new Error(`no token printed: ${stderr}`);
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${url}/api/list-hosts`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", connection: "close" },
          body: "{}",
        });
        expect(res.status).toBe(200);
      }
    } finally {
      api.proc.kill("SIGTERM");
      await api.proc;
      api.kill();
    }
  });
});
