/**
 * NETFORGE_API_PROCESSES=2 (a real `node apps/api/src/index.ts`: a node:cluster
 * primary and two API processes on one port, against the run's Redis): both
 * processes serve, creates through either are committed exactly once (one
 * claim wins across processes), and SIGTERM to the primary stops both and
 * exits 0.
 */
import { putHost } from "@netforge/core/store";
import { afterAll, expect, it } from "vitest";
import { spawnApi } from "./support/api-process";
import { hostRecord } from "./support/api-harness";
import { testRedis } from "./support/redis";

const TOKEN = "processes-admin-token-0123";
const t = testRedis("apiprocs");
afterAll(() => t.cleanup());

it("two API processes share the port; exactly one of concurrent same-name creates wins; SIGTERM stops all", async () => {
  await putHost(t.redis, t.keys, hostRecord("pr-1"));
  const api = spawnApi({ redisUrl: t.url, prefix: t.prefix, token: TOKEN, env: { NETFORGE_API_PROCESSES: "2" } });
  const { proc } = api;
  try {
    // Both processes listen (on the same port: node:cluster shares the primary's handle).
    const urls = await api.listening(2, 60_000);
    expect(new Set(urls).size).toBe(1);
    const url = urls[0] as string;
    const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", connection: "close" };
    // New connections each: the primary deals them out round robin, so both processes answer.
    const replies = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        fetch(`${url}/api/create-network`, {
          method: "POST",
          headers,
          body: JSON.stringify({ name: i % 2 ? "pr-same" : `pr-${i}`, type: "nat", cidr: `10.72.${i}.0/24`, host: "pr-1" }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string } } })),
      ),
    );
    const same = replies.filter((_r, i) => i % 2 === 1);
    expect(same.filter((r) => r.status === 202)).toHaveLength(1);
    for (const r of same.filter((r) => r.status !== 202)) expect(r.body.error?.code).toBe("NAME_TAKEN");
    expect(replies.filter((_r, i) => i % 2 === 0).every((r) => r.status === 202)).toBe(true);
    expect(await t.redis.llen(`${t.keys.bull}:host-pr-1:wait`)).toBe(9);
    const servedBy = new Set([...api.output().matchAll(/"pid":(\d+)[^\n]*"msg":"request"/g)].map((m) => m[1]));
    expect(servedBy.size).toBe(2);

    proc.kill("SIGTERM");
    const r = await proc;
    expect(r.exitCode).toBe(0);
    // Each process logged its own shutdown.
    expect([...api.output().matchAll(/"msg":"stopped"/g)]).toHaveLength(2);
  } finally {
    api.kill();
  }
});
