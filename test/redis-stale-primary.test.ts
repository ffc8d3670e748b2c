/**
 * A write confirmed on a Sentinel-managed Redis (confirmedOnReplica, which the API's 202 and the workers' outcome
 * writes wait for) against real redis-server nodes and sentinels: a primary with no replica counts as confirmed only
 * while the sentinels name it. A primary paused past its failover wakes believing it is one, with no replica, and
 * answers writes until it is demoted (found by the chaos run, seed 2602: 29 jobs answered 202 then lost).
 */
import { confirmedOnReplica, connectRedis } from "@netforge/core/store";
import { type RedisHa, startRedisHa } from "@netforge/devstack";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";

let ha: RedisHa | undefined;
const clients: Redis[] = [];
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await ha?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("a node the sentinels do not name as the primary never confirms a write; the named one alone does", { timeout: 60_000 }, async () => {
  ha = await startRedisHa();
  const client = connectRedis(ha.url);
  clients.push(client);
  await client.set("stale-primary-test", "1");
  // Primary with its replica: WAIT confirms.
  expect(await confirmedOnReplica(client, 1000)).toBe(true);

  // The replica leaves and becomes a primary of its own: a master with no replica that the sentinels do not name,
  // which is what a paused primary is when it wakes after its failover.
  const admin = new Redis({ host: "127.0.0.1", port: ha.replica.port, lazyConnect: true });
  clients.push(admin);
  await admin.connect();
  await admin.call("REPLICAOF", "NO", "ONE");
  expect(((await admin.call("ROLE")) as unknown[])[0]).toBe("master");
  // A client on that node that believes it is on the cluster's primary (a Sentinel client's settings).
  const onStale = new Redis({ host: "127.0.0.1", port: ha.replica.port, lazyConnect: true });
  clients.push(onStale);
  await onStale.connect();
  Object.assign(onStale.options, { sentinels: client.options.sentinels, name: client.options.name });
  expect(await confirmedOnReplica(onStale, 1000)).toBe(false);

  // The named primary, now without a replica, is alone: a write it holds cannot be lost to a failover (there is no
  // replica to promote), so it is confirmed as on a single Redis.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const role = (await client.call("ROLE")) as [string, number, unknown[]];
    if (role[2].length === 0) break;
    if (Date.now() > deadline) throw new Error("the primary still lists a replica");
    await sleep(100);
  }
  await sleep(600); // the replica count is cached for 500 ms
  expect(await confirmedOnReplica(client, 1000)).toBe(true);
});
