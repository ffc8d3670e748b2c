import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpFetch } from "./http-fetch";

/** A loopback server: /echo answers what it received, /stream sends two chunks and holds, /teapot 418. */
let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer(async (req: IncomingMessage, res) => {
    let body = "";
    for await (const c of req) body += c;
    if (req.url === "/echo") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ method: req.method, auth: req.headers.authorization ?? null, body }));
    } else if (req.url === "/stream") {
      res.setHeader("content-type", "text/event-stream");
      res.write("data: one\n\n");
      setTimeout(() => res.write("data: two\n\n"), 20);
    } else {
      res.statusCode = 418;
      res.statusMessage = "I'm a teapot";
      res.end("short and stout");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("httpFetch (the CLI's client on node:http)", () => {
  it("sends the method, headers and body; answers status, ok and the JSON", async () => {
    const r = await httpFetch(`${base}/echo`, { method: "POST", headers: { authorization: "Bearer t" }, body: '{"a":1}' });
    expect([r.status, r.ok]).toEqual([200, true]);
    expect(await r.json()).toEqual({ method: "POST", auth: "Bearer t", body: '{"a":1}' });
  });
  it("an error status is not ok, with its status text and body text", async () => {
    const r = await httpFetch(`${base}/nope`, {});
    expect([r.status, r.ok, r.statusText]).toEqual([418, false, "I'm a teapot"]);
    expect(await r.text()).toBe("short and stout");
  });
  it("a refused connection rejects as fetch does: a TypeError whose cause has the code", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await httpFetch(`http://127.0.0.1:${port}/`, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe("ECONNREFUSED");
  });
  it("a URL that is not http(s) is refused before any connection", async () => {
    await expect(httpFetch("ftp://127.0.0.1/", {})).rejects.toThrow(/fetch failed/);
  });
  it("the body streams as it arrives, and an abort ends the stream at once (the read rejects, never hangs)", async () => {
    const ac = new AbortController();
    const r = await httpFetch(`${base}/stream`, { signal: ac.signal });
    const reader = (r.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("two")) seen += (await reader.read()).value ?? "";
    expect(seen).toBe("data: one\n\ndata: two\n\n");
    ac.abort();
    const end = await reader.read().then(
      () => "more data",
      (e: Error) => e.message,
    );
    expect(end).toMatch(/abort/i);
  });
});
