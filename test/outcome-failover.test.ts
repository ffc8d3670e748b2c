/**
 * A job's outcome that a failover takes away is written again (real redis-server primary, replica and sentinels).
 * Found by the chaos run (seed 2602): a create's success was written to a primary whose replica had not confirmed
 * it, a failover lost it, and BullMQ delivered the finished create again. The worker's outcome write now reads the
 * record back while no replica confirms it, and writes it again if the store no longer has it.
 */
import { connectRedis, getJob, makeKeys, newJobRecord, saveNewJob } from "@netforge/core/store";
import { type RedisHa, startRedisHa } from "@netforge/devstack";
import { JobReporter } from "@netforge/worker/testing";
import type { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";

let ha: RedisHa | undefined;
let client: Redis | undefined;
let replicaStopped = false;
afterAll(async () => {
  if (ha && replicaStopped) process.kill(ha.replica.pid, "SIGCONT");
  client?.disconnect();
  await ha?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("an outcome no replica confirmed, then lost from the store, is written again once a replica answers", { timeout: 60_000 }, async () => {
  ha = await startRedisHa();
  client = connectRedis(ha.url);
  const keys = makeKeys(`nf-outcome-${process.pid}-${Date.now()}`);
  const record = newJobRecord({ action: "create-network", network: "web", host: "h1", payload: {}, steps: ["defining network"] });
  await saveNewJob(client, keys, record);
  const report = new JobReporter(client, keys, record);

  // The replica stops answering (it stays connected, so WAIT waits for it and times out).
  process.kill(ha.replica.pid, "SIGSTOP");
  replicaStopped = true;
  const writing = report.succeeded({ name: "web" });
  // The success reaches the primary; then the store loses it, as a failover to the replica that never had it would.
  await sleep(300);
  expect((await getJob(client, keys, record.id))?.state).toBe("succeeded");
  await client.del(keys.job(record.id));
  // The replica answers again.
  await sleep(2_500);
  process.kill(ha.replica.pid, "SIGCONT");
  replicaStopped = false;
  await writing;

  const stored = await getJob(client, keys, record.id);
  expect(stored?.state).toBe("succeeded");
  expect(stored?.result).toEqual({ name: "web" });
  // And the replica has it: a failover now keeps it.
  expect(Number(await client.call("WAIT", "1", "2000"))).toBeGreaterThanOrEqual(1);
});
