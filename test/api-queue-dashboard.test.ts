/**
 * The queue dashboard (Bull Board under /admin/queues): admins only (401
 * without a token, 403 for other roles, in the contract's error shape), a
 * login by ?access_token= that moves the token into an HttpOnly cookie, the
 * page and its assets served by the API, and every registered host's queue
 * listed with its jobs, read-only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, natBody, startApiHarness, TOKENS } from "./support/api-harness";

let h: ApiHarness;
let base: string;

beforeAll(async () => {
  h = await startApiHarness("dash");
  await h.addHost("h1");
  await h.addHost("h2");
  base = await h.listen();
  expect((await h.call("create-network", natBody("dash1", "10.93.0.0/24"), { role: "operator" })).status).toBe(202);
});
afterAll(async () => {
  await h?.close();
});

describe("queue dashboard", () => {
  it("refuses without a token (401) and for a non-admin (403)", async () => {
    const anon = await fetch(`${base}/admin/queues`);
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    const api = await fetch(`${base}/admin/queues/api/queues`);
    expect(api.status).toBe(401);
    const op = await fetch(`${base}/admin/queues`, { headers: { authorization: `Bearer ${TOKENS.operator}` } });
    expect(op.status).toBe(403);
    expect(((await op.json()) as { error: { code: string } }).error.code).toBe("FORBIDDEN");
    const wrongLogin = await fetch(`${base}/admin/queues?access_token=${TOKENS.viewer}`, { redirect: "manual" });
    expect(wrongLogin.status).toBe(403);
  });

  it("logs an admin in with an HttpOnly cookie and shows every host's queue, read-only", async () => {
    const login = await fetch(`${base}/admin/queues?access_token=${TOKENS.admin}`, { redirect: "manual" });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/admin/queues");
    const setCookie = login.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\/admin\/queues/i);
    const cookie = setCookie.split(";")[0] as string;

    const page = await fetch(`${base}/admin/queues`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await page.text();
    const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
    // Relative to <base href="/admin/queues/">: served by the API itself.
    expect(html).toContain('<base href="/admin/queues/" />');
    expect(script, html.slice(0, 500)).toMatch(/^static\//);
    const asset = await fetch(`${base}/admin/queues/${script}`, { headers: { cookie } });
    expect(asset.status).toBe(200);

    const res = await fetch(`${base}/admin/queues/api/queues?activeQueue=host-h1&status=latest&page=1`, { headers: { cookie } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string; readOnlyMode: boolean; counts: Record<string, number> }[] };
    const byName = new Map(body.queues.map((q) => [q.name, q]));
    expect([...byName.keys()].sort()).toEqual(["host-h1", "host-h2"]);
    expect(byName.get("host-h1")?.counts.waiting).toBe(1);
    expect(byName.get("host-h1")?.readOnlyMode).toBe(true);

    // Read-only: a retry through the dashboard's API is refused.
    const retry = await fetch(`${base}/admin/queues/api/queues/host-h1/retry/failed`, { method: "PUT", headers: { cookie } });
    expect(retry.status).toBeGreaterThanOrEqual(400);
  });
});
