/**
 * SSE subscribers for bench/scale.ts, in their own process: SSE_STREAMS
 * streams spread over the jobs in SSE_JOBS, plain node:http (no per-stream
 * framework cost on this side). Prints "connected" once all streams got their
 * snapshot, then a JSON summary once every stream ended (or after 60 s).
 */
import { Agent, get } from "node:http";

const base = process.env.SSE_BASE as string;
const token = process.env.SSE_TOKEN as string;
const jobs = (process.env.SSE_JOBS as string).split(",");
const streams = Number(process.env.SSE_STREAMS ?? 1000);
const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

const received: number[] = new Array(streams).fill(0);
/** Streams that got their snapshot (counted once per stream, whatever its reconnects). */
const snapshotted = new Set<number>();
/** The last event id each stream saw: a reconnect resumes from it (Last-Event-ID), as EventSource does. */
const lastId: (string | undefined)[] = new Array(streams).fill(undefined);
let ended = 0;
let retries = 0;
const statuses: Record<string, number> = {};
let firstEventAt = 0;
let lastEventAt = 0;

await new Promise<void>((resolveAll) => {
  let opened = 0;
  /** A refused or reset stream is opened again after a short wait, as an EventSource client does. */
  const retry = (i: number) => {
    retries++;
    setTimeout(() => openOne(i), 200 + Math.floor(Math.random() * 300));
  };
  const openOne = (i: number) => {
    const job = jobs[i % jobs.length] as string;
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
    const resumeFrom = lastId[i];
    if (resumeFrom) headers["last-event-id"] = resumeFrom;
    const req = get(`${base}/api/jobs/${job}/events`, { agent, headers }, (res) => {
      statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
      if (res.statusCode !== 200) {
        res.resume();
        retry(i);
        return;
      }
      res.setEncoding("utf8");
      let buf = "";
      res.on("data", (chunk: string) => {
        buf += chunk;
        let k = buf.indexOf("\n\n");
        while (k >= 0) {
          const block = buf.slice(0, k);
          buf = buf.slice(k + 2);
          const ev = /^event: (.+)$/m.exec(block)?.[1];
          const id = /^id: (.+)$/m.exec(block)?.[1];
          if (id) lastId[i] = id;
          if (ev === "snapshot") {
            if (!snapshotted.has(i)) {
              snapshotted.add(i);
              if (snapshotted.size === streams) process.stdout.write("connected\n");
            }
          } else if (ev) {
            received[i] = (received[i] ?? 0) + 1;
            lastEventAt = Date.now();
            if (!firstEventAt) firstEventAt = lastEventAt;
          }
          k = buf.indexOf("\n\n");
        }
      });
      res.on("end", () => {
        // The server ends a stream after the job's terminal event; anything else is a cut to resume from.
        if ((received[i] ?? 0) < 3) return retry(i);
        ended++;
        if (ended === streams) resolveAll();
      });
    });
    req.on("error", (e) => {
      statuses[e.message] = (statuses[e.message] ?? 0) + 1;
      retry(i);
    });
  };
  // Open in batches, so the API's accept queue is not flooded at once.
  const batch = () => {
    for (let k = 0; k < 250 && opened < streams; k++) openOne(opened++);
    if (opened < streams) setTimeout(batch, 100);
  };
  batch();
  setTimeout(resolveAll, 120_000).unref();
});
const events = 3;
const histogram: Record<string, number> = {};
for (const n of received) histogram[String(n)] = (histogram[String(n)] ?? 0) + 1;
process.stdout.write(
  `${JSON.stringify({ streams, complete: received.filter((n) => n === events).length, events, ms: lastEventAt - firstEventAt, statuses, retries, histogram })}\n`,
);
process.exit(0);
