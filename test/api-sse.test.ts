/** Server-Sent Events over a real socket: order, resume, late subscribers, heartbeats, and no leaks on disconnect. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, natBody, startApiHarness, TOKENS } from "./support/api-harness";
import { openSse, type SseConnection, type SseMessage } from "./support/sse-client";

let h: ApiHarness;
let base: string;
const auth = { authorization: `Bearer ${TOKENS.viewer}` };
beforeAll(async () => {
  h = await startApiHarness("api-sse", { sseHeartbeatMs: 100 });
  await h.addHost("h1");
  base = await h.listen();
});
afterAll(() => h.close());

let seq = 0;
async function newJob(): Promise<string> {
  seq++;
  const r = await h.call("create-network", natBody(`sse-${seq}`, `10.${seq}.0.0/24`));
  expect(r.status).toBe(202);
  return r.body.job.id as string;
}
async function until(cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
async function gauge(name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  return Number(m?.[1]);
}
async function drain(conn: SseConnection): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for (;;) {
    const m = await conn.next();
    if (m === null) return out;
    out.push(m);
  }
}
const isId = (id: string | undefined) => /^\d+-\d+$/.test(id ?? "");

describe("job events stream", () => {
  it("snapshot first, then progress..., exactly one terminal event, then the stream closes", async () => {
    const id = await newJob();
    const conn = await openSse(`${base}/api/jobs/${id}/events`, auth);
    expect(conn.status).toBe(200);
    expect(conn.headers.get("content-type")).toContain("text/event-stream");
    const snap = await conn.next();
    expect(snap?.event).toBe("snapshot");
    expect(snap?.id).toBe("0-0");
    expect(JSON.parse(snap!.data)).toMatchObject({ id, state: "queued" });

    await h.advance(id, "progress");
    await h.advance(id, "progress");
    await h.advance(id, "progress");
    await h.advance(id, "succeeded");
    const rest = await drain(conn);
    expect(rest.map((m) => m.event)).toEqual(["progress", "progress", "progress", "succeeded"]);
    expect(rest.every((m) => isId(m.id))).toBe(true);
    const ids = rest.map((m) => m.id as string);
    expect([...ids].sort()).toEqual(ids);
    expect(JSON.parse(rest[3]!.data)).toMatchObject({ id, state: "succeeded", progress: { percent: 100 } });
    expect(conn.ended()).toBe(true);
  });

  it("a failed job ends with one failed event", async () => {
    const id = await newJob();
    const conn = await openSse(`${base}/api/jobs/${id}/events?access_token=${TOKENS.viewer}`);
    expect((await conn.next())?.event).toBe("snapshot");
    await h.advance(id, "progress");
    await h.advance(id, "failed");
    const rest = await drain(conn);
    expect(rest.map((m) => m.event)).toEqual(["progress", "failed"]);
    expect(JSON.parse(rest[1]!.data).error).toMatchObject({ code: "HOST_COMMAND_FAILED" });
  });

  it("Last-Event-ID resumes with exactly the missed events", async () => {
    const id = await newJob();
    const first = await openSse(`${base}/api/jobs/${id}/events`, auth);
    await first.next(); // snapshot
    await h.advance(id, "progress");
    const p1 = await first.next();
    expect(p1?.event).toBe("progress");
    first.close();

    await h.advance(id, "progress");
    await h.advance(id, "progress");
    const resumed = await openSse(`${base}/api/jobs/${id}/events`, { ...auth, "last-event-id": p1!.id as string });
    const missed = [await resumed.next(), await resumed.next()];
    expect(missed.map((m) => m?.event)).toEqual(["progress", "progress"]);
    expect(missed.every((m) => m!.id! > p1!.id!)).toBe(true);
    await h.advance(id, "succeeded");
    const rest = await drain(resumed);
    expect(rest.map((m) => m.event)).toEqual(["succeeded"]);
    const all = [p1, ...missed, ...rest].map((m) => m!.id);
    expect(new Set(all).size).toBe(4);
  });

  it("resume also works with ?lastEventId= and after the end (only what was missed)", async () => {
    const id = await newJob();
    const c1 = await openSse(`${base}/api/jobs/${id}/events`, auth);
    await c1.next();
    await h.advance(id, "progress");
    const p1 = await c1.next();
    c1.close();
    await h.advance(id, "succeeded");
    const c2 = await openSse(`${base}/api/jobs/${id}/events?lastEventId=${p1!.id}`, auth);
    expect((await drain(c2)).map((m) => m.event)).toEqual(["succeeded"]);
  });

  it("resuming from the snapshot's id (what EventSource sends) replays every event", async () => {
    const id = await newJob();
    await h.advance(id, "progress");
    await h.advance(id, "progress");
    const c = await openSse(`${base}/api/jobs/${id}/events`, { ...auth, "last-event-id": "0-0" });
    expect([await c.next(), await c.next()].map((m) => m?.event)).toEqual(["progress", "progress"]);
    await h.advance(id, "succeeded");
    expect((await drain(c)).map((m) => m.event)).toEqual(["succeeded"]);
  });

  it("an event whose pub/sub message was lost is still delivered (re-read at the heartbeat interval)", async () => {
    const id = await newJob();
    const c = await openSse(`${base}/api/jobs/${id}/events`, auth);
    await c.next();
    // Written like commitJobEvent does, but never published.
    const rec = JSON.parse((await h.redis.get(h.keys.job(id))) as string);
    const view = { ...rec, state: "running", links: { self: `/api/jobs/${id}`, events: `/api/jobs/${id}/events` } };
    delete view.payload;
    delete view.requestId;
    const evId = await h.redis.xadd(h.keys.jobEvents(id), "*", "type", "progress", "job", JSON.stringify(view));
    const m = await c.next(2000);
    expect(m?.event).toBe("progress");
    expect(m?.id).toBe(evId);
    expect(JSON.parse(m!.data).state).toBe("running");
    // The same event turning up late over pub/sub is not sent twice.
    await h.redis.publish(h.keys.eventsChannel, JSON.stringify({ id: evId, jobId: id, network: rec.network, type: "progress", job: view }));
    await h.advance(id, "succeeded");
    expect((await drain(c)).map((x) => x.event)).toEqual(["succeeded"]);
  });

  it("a late subscriber gets snapshot + the terminal event, then the stream closes", async () => {
    const id = await newJob();
    await h.advance(id, "progress");
    await h.advance(id, "succeeded");
    const conn = await openSse(`${base}/api/jobs/${id}/events`, auth);
    const msgs = await drain(conn);
    expect(msgs.map((m) => m.event)).toEqual(["snapshot", "succeeded"]);
    expect(JSON.parse(msgs[0]!.data).state).toBe("succeeded");
    expect(msgs[1]!.id).toBe(msgs[0]!.id);
  });

  it("heartbeat comments arrive while nothing happens", async () => {
    const id = await newJob();
    const conn = await openSse(`${base}/api/jobs/${id}/events`, auth);
    await conn.next();
    await until(() => conn.comments.filter((c) => c === "hb").length >= 2, 2000);
    conn.close();
  });

  it("without a token: 401 before any stream opens", async () => {
    const id = await newJob();
    const r = await fetch(`${base}/api/jobs/${id}/events`);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
  });
});

describe("all-jobs stream", () => {
  it("carries every job's events, or one network's, and stays open", async () => {
    const all = await openSse(`${base}/api/events`, auth);
    const one = await openSse(`${base}/api/events?network=sse-${seq + 2}`, auth);
    await until(async () => (await gauge("netforge_sse_streams")) === 2);
    const a = await newJob();
    const b = await newJob();
    await h.advance(a, "progress");
    await h.advance(b, "progress");
    await h.advance(b, "succeeded");
    const got = [await all.next(), await all.next(), await all.next()];
    expect(got.map((m) => [m?.event, JSON.parse(m!.data).id])).toEqual([
      ["progress", a],
      ["progress", b],
      ["succeeded", b],
    ]);
    const mine = [await one.next(), await one.next()];
    expect(mine.map((m) => [m?.event, JSON.parse(m!.data).network])).toEqual([
      ["progress", `sse-${seq}`],
      ["succeeded", `sse-${seq}`],
    ]);
    await until(() => all.comments.includes("hb"));
    expect(all.ended()).toBe(false);
    all.close();
    one.close();
  });

  it("refuses a bad network filter", async () => {
    const r = await fetch(`${base}/api/events?network=${encodeURIComponent("$(id)")}`, { headers: auth });
    expect(r.status).toBe(400);
  });
});

describe("no leaks", () => {
  it("client disconnects free the stream: gauge back to 0, no bus listeners left", async () => {
    await until(async () => (await gauge("netforge_sse_streams")) === 0);
    const id = await newJob();
    const conns = await Promise.all([
      openSse(`${base}/api/jobs/${id}/events`, auth),
      openSse(`${base}/api/jobs/${id}/events`, auth),
      openSse(`${base}/api/events`, auth),
      openSse(`${base}/api/events?network=sse-${seq}`, auth),
    ]);
    await until(async () => (await gauge("netforge_sse_streams")) === 4);
    expect(h.api.bus.listenerCount()).toBe(4);
    expect(await gauge("netforge_event_bus_listeners")).toBe(4);
    for (const c of conns) c.close();
    await until(async () => (await gauge("netforge_sse_streams")) === 0);
    expect(h.api.bus.listenerCount()).toBe(0);
    // The bus still works for newcomers.
    await h.advance(id, "succeeded");
    const late = await openSse(`${base}/api/jobs/${id}/events`, auth);
    expect((await drain(late)).map((m) => m.event)).toEqual(["snapshot", "succeeded"]);
    await until(async () => (await gauge("netforge_sse_streams")) === 0);
    expect(h.api.bus.listenerCount()).toBe(0);
  });

  it("close() ends open streams", async () => {
    const other = await startApiHarness("api-sse-close", { sseHeartbeatMs: 100 });
    await other.addHost("h1");
    const url = await other.listen();
    const r = await other.call("create-network", natBody("closing", "10.250.0.0/24"));
    const conn = await openSse(`${url}/api/jobs/${r.body.job.id}/events`, auth);
    await conn.next();
    const events = await openSse(`${url}/api/events`, auth);
    await until(() => other.api.metrics.sseStreams === 2);
    await other.close();
    await conn.waitEnd();
    await events.waitEnd();
    expect(other.api.metrics.sseStreams).toBe(0);
    expect(other.api.bus.listenerCount()).toBe(0);
  });
});
