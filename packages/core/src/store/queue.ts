/**
 * The queue adapter: the only code that touches BullMQ's internals. A host's
 * queue ("host-<id>" under keys.bull), the key of a BullMQ job, BullMQ's add
 * placed inside our own MULTI (Job.addJob(multi): claim, record and queue entry
 * commit together, see store/submission.ts), and the add scripts BullMQ defined
 * on a connection (loaded with the commit script after a NOSCRIPT).
 * The API's HostQueues and the tests that prove the submission's atomicity use
 * this; the worker consumes with BullMQ's public Worker.
 */
import { Job, type JobsOptions, Queue } from "bullmq";
import type { ChainableCommander, Redis } from "ioredis";
import { AppError } from "../errors";
import type { JobAction } from "../schemas/job";
import type { QueuedJobData } from "../jobs";
import type { Keys } from "./keys";

/** A host's BullMQ queue: our job data, named by action. */
export type HostQueue = Queue<QueuedJobData, unknown, JobAction>;

/**
 * BullMQ's per-queue event stream (read by QueueEvents, which netforge does
 * not use: job events have their own streams) would otherwise hold 10,000
 * entries, a few MB per host. Trimmed approximately, so it stays near this.
 */
export const QUEUE_EVENTS_MAX_LEN = 200;

/** Where a host's queue lives: its name and BullMQ's key prefix (its keys are `<prefix>:<name>:…`). */
export function hostQueueLocation(keys: Keys, host: string): { name: string; prefix: string } {
  return { name: keys.hostQueue(host), prefix: keys.bull };
}

/** A host's queue on `connection` (shared: closing the queue leaves it open). */
export function openHostQueue(connection: Redis, keys: Keys, host: string): HostQueue {
  const { name, prefix } = hostQueueLocation(keys, host);
  return new Queue<QueuedJobData, unknown, JobAction>(name, {
    connection,
    prefix,
    streams: { events: { maxLen: QUEUE_EVENTS_MAX_LEN } },
  });
}

/** The Redis key of a BullMQ job (the hash its add writes). */
export function bullJobKey(queue: HostQueue, jobId: string): string {
  return queue.toKey(jobId);
}

/** A MULTI that takes both our commands (ioredis's) and BullMQ's add. */
export type QueueTransaction = ChainableCommander & ReturnType<QueueClient["multi"]>;

/** The queue's Redis client (BullMQ's adapter over the connection), once the queue is initialised. */
export type QueueClient = Awaited<HostQueue["client"]>;

/**
 * Whether BullMQ's transaction is ioredis's own MULTI (augmented to BullMQ's transaction interface): what its
 * ioredis client answers multi() with. The types of the two libraries cannot say it is both; the commands our
 * commit queues on it (store/submission.ts) are checked here instead.
 */
function isIoredisMulti(tx: ReturnType<QueueClient["multi"]>): tx is QueueTransaction {
  return ["hset", "evalsha", "hdel", "exec"].every((m) => typeof Reflect.get(tx, m) === "function");
}

/** A MULTI on the queue's client (INTERNAL when BullMQ's client is not ioredis: the commit could not be queued on it). */
export function queueTransaction(client: QueueClient): QueueTransaction {
  const tx = client.multi();
  if (!isIoredisMulti(tx)) throw new AppError("INTERNAL", "the queue's Redis client is not ioredis: a submission cannot share its MULTI");
  return tx;
}

/** Queue BullMQ's add of `data` (job id = our job id) on `tx`; it runs when tx is executed. */
export async function addJobIn(
  tx: QueueTransaction,
  queue: HostQueue,
  data: QueuedJobData,
  opts: JobsOptions & { jobId: string },
): Promise<void> {
  await new Job(queue, data.action, data, opts, opts.jobId).addJob(tx);
}

/** The Lua of the scripts BullMQ defined on `connection` whose name starts with `namePrefix` ("add": its adds). */
export function definedScripts(connection: Redis, namePrefix: string): string[] {
  const out: string[] = [];
  for (const [name, script] of Object.entries(connection.scriptsSet)) {
    if (!name.startsWith(namePrefix)) continue;
    if (typeof script === "object" && script !== null && "lua" in script && typeof script.lua === "string") out.push(script.lua);
  }
  return out;
}
