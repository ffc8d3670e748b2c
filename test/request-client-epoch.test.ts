/**
 * The request client counts its connections (core's connectionEpoch): a
 * submission whose deadline was read with TIME on one connection does not
 * commit on the next one (after a reconnect, e.g. a Sentinel failover, the
 * server and its clock may differ). Real redis-server, restarted by this test.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectionEpoch, connectRedis, requestRedisClient } from "@netforge/core/store";
import { type RedisServer, startRedisServer } from "@netforge/devstack";
import { afterAll, expect, it } from "vitest";

let dir: string | undefined;
let server: RedisServer | undefined;
afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("counts reconnections of a request client: the epoch moves when the server came back", { timeout: 30_000 }, async () => {
  dir = await mkdtemp(join(tmpdir(), "nf-epoch-"));
  server = await startRedisServer({ dir });
  const base = connectRedis(server.url, { lazyConnect: true });
  const client = requestRedisClient(base, 500);
  client.on("error", () => undefined);
  try {
    await client.ping();
    const first = connectionEpoch(client);
    expect(first).toBeGreaterThanOrEqual(1);
    await client.ping();
    expect(connectionEpoch(client)).toBe(first); // same connection, same epoch

    await server.stop();
    server = await startRedisServer({ dir });
    const deadline = Date.now() + 10_000;
    while (connectionEpoch(client) === first) {
      if (Date.now() > deadline) throw new Error("the client did not reconnect");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(connectionEpoch(client)).toBe(first + 1);
    await client.ping();
  } finally {
    client.disconnect();
    base.disconnect();
  }
});
