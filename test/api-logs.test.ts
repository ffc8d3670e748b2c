/**
 * API logs: one JSON object per line, no key twice, every line of a request
 * carrying its request id, and the id stored on the job (which is how the
 * worker's job log lines carry it: see e2e-cli.test.ts).
 */
import { Writable } from "node:stream";
import { createApp } from "@netforge/api";
import { getJob, putHost } from "@netforge/core/store";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { hostRecord } from "./support/api-harness";
import { duplicateKeys } from "./support/json-keys";
import { testRedis } from "./support/redis";

const lines: string[] = [];
const sink = new Writable({
  write(chunk, _enc, cb) {
    lines.push(
      ...String(chunk)
        .split("\n")
        .filter((l) => l !== ""),
    );
    cb();
  },
});
const t = testRedis("logs");
const TOKEN = "log-test-token-0123456789";
const api = createApp({
  redis: t.redis,
  keys: t.keys,
  logger: pino({ level: "debug", base: { service: "netforge-api" } }, sink),
  tokens: new Map([[TOKEN, "admin"]]),
  config: { rateLimitPerSecond: 0 },
});
afterAll(async () => {
  await api.close();
  await t.cleanup();
  t.redis.disconnect();
});

describe("API logs", () => {
  it("are JSON lines without duplicated keys, and the request id reaches the job", async () => {
    await api.ready();
    await putHost(t.redis, t.keys, hostRecord("h1"));
    const res = await api.app.request("/api/create-network", {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "x-request-id": "req-api-log-1" },
      body: JSON.stringify({ name: "logged", type: "isolated", cidr: "10.95.0.0/24" }),
    });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: { id: string } };
    await api.app.request("/api/describe-network", {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "x-request-id": "req-api-log-2" },
      body: JSON.stringify({ name: "missing" }),
    });
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(duplicateKeys(line), line).toEqual([]);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requestLines = parsed.filter((o) => o.msg === "request");
    expect(requestLines.map((o) => [o.path, o.requestId])).toEqual(
      expect.arrayContaining([
        ["/api/create-network", "req-api-log-1"],
        ["/api/describe-network", "req-api-log-2"],
      ]),
    );
    expect((await getJob(t.redis, t.keys, job.id))?.requestId).toBe("req-api-log-1");
  });
});
