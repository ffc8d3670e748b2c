/**
 * The CLI's job follower over real HTTP: when the event stream drops before
 * the job ends, it reconnects with Last-Event-ID set to the last event it
 * received and goes on from there (no event twice, none lost).
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, followJob } from "@netforge/cli";

const job = (state: string, percent: number) => ({
  id: "j_reconnect000001",
  action: "create-network",
  network: "web",
  host: "h1",
  state,
  progress: { percent, step: null, steps: [] },
  result: null,
  error: null,
  warnings: [],
  attempts: 1,
});

const requests: IncomingHttpHeaders[] = [];
const server = createServer((req, res) => {
  requests.push(req.headers);
  res.writeHead(200, { "content-type": "text/event-stream" });
  if (requests.length === 1) {
    res.write(`event: snapshot\nid: 1-0\ndata: ${JSON.stringify(job("running", 10))}\n\n`);
    res.write(`event: progress\nid: 2-0\ndata: ${JSON.stringify(job("running", 50))}\n\n`);
    // The connection drops mid-job.
    setTimeout(() => res.socket?.destroy(), 50);
    return;
  }
  res.end(`event: succeeded\nid: 3-0\ndata: ${JSON.stringify(job("succeeded", 100))}\n\n`);
});
let url = "";

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("netforge job follower", () => {
  it("resumes a dropped stream with Last-Event-ID and ends with the terminal event", async () => {
    const client = new ApiClient({ url, token: "t0ken-for-the-test", from: { url: "test", token: "test" } });
    const reconnects: number[] = [];
    const seen: string[] = [];
    for await (const j of followJob(client, "j_reconnect000001", {
      signal: new AbortController().signal,
      onReconnect: (attempt) => reconnects.push(attempt),
    })) {
      seen.push(`${j.state}:${j.progress.percent}`);
    }
    expect(seen).toEqual(["running:10", "running:50", "succeeded:100"]);
    expect(reconnects).toEqual([1]);
    expect(requests).toHaveLength(2);
    expect(requests[0]?.["last-event-id"]).toBeUndefined();
    expect(requests[1]?.["last-event-id"]).toBe("2-0");
    expect(requests[1]?.authorization).toBe("Bearer t0ken-for-the-test");
  });
});
