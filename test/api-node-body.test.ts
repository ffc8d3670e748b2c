/**
 * Bodies over a real node socket (the API as served): with a Content-Length
 * the body is read straight from node's request, chunked bodies go through
 * Hono's reader; both give the same answers, size limit included.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, natBody, startApiHarness, TOKENS } from "./support/api-harness";

let h: ApiHarness;
let base: string;
beforeAll(async () => {
  h = await startApiHarness("api-node-body", { bodyLimitBytes: 4096 });
  await h.addHost("h1", { networks: 0 });
  base = await h.listen();
});
afterAll(() => h.close());

/** POST with node's client: `chunked` sends no Content-Length (Transfer-Encoding: chunked, in two writes). */
function post(path: string, body: string, chunked: boolean): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${TOKENS.admin}`, "content-type": "application/json" };
    if (!chunked) headers["content-length"] = String(Buffer.byteLength(body));
    const req = request(`${base}${path}`, { method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        text += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    if (chunked) {
      const mid = Math.floor(body.length / 2);
      req.write(body.slice(0, mid));
      setTimeout(() => req.end(body.slice(mid)), 10);
    } else req.end(body);
  });
}

describe("request bodies over a socket", () => {
  for (const chunked of [false, true]) {
    const how = chunked ? "chunked" : "with Content-Length";
    it(`${how}: a create is accepted, with multi-byte text intact`, async () => {
      const name = chunked ? "nb-chunked" : "nb-length";
      const r = await post(
        "/api/create-network",
        JSON.stringify(natBody(name, chunked ? "10.61.0.0/24" : "10.60.0.0/24", { description: "café ✓" })),
        chunked,
      );
      expect(r.status).toBe(202);
      const d = await post("/api/describe-network", JSON.stringify({ name }), chunked);
      // Not indexed until a worker creates it: the job carries the payload as sent.
      expect(d.status).toBe(404);
      const job = await h.redis.get(h.keys.job(r.body.job.id));
      expect(JSON.parse(job as string).payload.description).toBe("café ✓");
    });
    it(`${how}: over the limit is 413, bad JSON and non-objects are 400, empty is {}`, async () => {
      const big = JSON.stringify(natBody("nb-big", "10.62.0.0/24", { description: "x".repeat(5000) }));
      expect((await post("/api/create-network", big, chunked)).body.error.code).toBe("PAYLOAD_TOO_LARGE");
      expect((await post("/api/create-network", big, chunked)).status).toBe(413);
      const bad = await post("/api/create-network", "{not json", chunked);
      expect([bad.status, bad.body.error.code]).toEqual([400, "VALIDATION_FAILED"]);
      const arr = await post("/api/create-network", "[1]", chunked);
      expect([arr.status, arr.body.error.code]).toEqual([400, "VALIDATION_FAILED"]);
      const empty = await post("/api/list-networks", "", chunked);
      expect(empty.status).toBe(200);
    });
  }
});
