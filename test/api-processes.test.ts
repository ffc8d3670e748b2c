/**
 * NETFORGE_API_PROCESSES=2 (a real `node apps/api/src/index.ts`: a node:cluster
 * primary and two API processes on one port, against the run's Redis): both
 * processes serve, creates through either are committed exactly once (one
 * claim wins across processes), and SIGTERM to the primary stops both and
 * exits 0.
 */
import { join } from "node:path";
import { putHost } from "@netforge/core";
import { TSX_LOADER } from "@netforge/devstack";
import { execa } from "execa";
import { afterAll, expect, it } from "vitest";
import { testRedis } from "./support/redis";

const ROOT = join(import.meta.dirname, "..");
const TOKEN = "processes-admin-token-0123";
const t = testRedis("apiprocs");
afterAll(() => t.cleanup());

it("two API processes share the port; exactly one of concurrent same-name creates wins; SIGTERM stops all", async () => {
  const now = new Date().toISOString();
  await putHost(t.redis, t.keys, {
    id: "pr-1",
    hostname: "pr-1",
    libvirtVersion: "10.0.0",
    interfaces: [],
    occupied: [],
    networks: 0,
    sriovPfs: [],
    startedAt: now,
    lastSeenAt: now,
  });
  const proc = execa(process.execPath, ["--import", TSX_LOADER, join(ROOT, "apps/api/src/index.ts")], {
    cwd: ROOT,
    reject: false,
    env: {
      REDIS_URL: t.url,
      NETFORGE_PREFIX: t.prefix,
      PORT: "0",
      HOST: "127.0.0.1",
      NETFORGE_TOKENS: `${TOKEN}:admin`,
      NETFORGE_RATE_LIMIT: "0",
      NETFORGE_API_PROCESSES: "2",
      LOG_LEVEL: "info",
    },
  });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  try {
    // Both processes listen (on the same port: node:cluster shares the primary's handle).
    const urls = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`API did not start: ${out}`)), 60_000);
      const check = setInterval(() => {
        const found = [...out.matchAll(/"pid":(\d+)[^\n]*"url":"(http:\/\/[^"]+)"[^\n]*netforge api listening/g)];
        if (found.length >= 2) {
          clearTimeout(timer);
          clearInterval(check);
          resolve(found.map((m) => m[2] as string));
        }
      }, 50);
    });
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
    const servedBy = new Set([...out.matchAll(/"pid":(\d+)[^\n]*"msg":"request"/g)].map((m) => m[1]));
    expect(servedBy.size).toBe(2);

    proc.kill("SIGTERM");
    const r = await proc;
    expect(r.exitCode).toBe(0);
    // Each process logged its own shutdown.
    expect([...out.matchAll(/"msg":"stopped"/g)]).toHaveLength(2);
  } finally {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  }
});
