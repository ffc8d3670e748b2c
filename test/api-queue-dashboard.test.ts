/**
 * The queue dashboard (Bull Board under /admin/queues): admins only (401
 * without a token, 403 for other roles, in the contract's error shape), a
 * login by ?access_token= that moves the token into an HttpOnly cookie, the
 * page and its assets served by the API, and every registered host's queue
 * listed with its jobs, read-only. The console's way in: POST
 * /api/queue-dashboard/session with the admin token in the Authorization
 * header sets the same cookie (no token in any URL; other roles 403), DELETE
 * clears it; GET /api/whoami tells a token its role.
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

  it("GET /api/whoami answers the token's role (401 without a token)", async () => {
    for (const role of ["viewer", "operator", "admin"] as const) {
      const r = await fetch(`${base}/api/whoami`, { headers: { authorization: `Bearer ${TOKENS[role]}` } });
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ role });
    }
    const anon = await fetch(`${base}/api/whoami`);
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
  });

  it("POST /api/queue-dashboard/session: an admin's header token becomes the dashboard's cookie; others are refused", async () => {
    for (const role of ["viewer", "operator"] as const) {
      const r = await fetch(`${base}/api/queue-dashboard/session`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKENS[role]}` },
      });
      expect(r.status).toBe(403);
      expect(r.headers.get("set-cookie")).toBeNull();
      const body = (await r.json()) as { error: { code: string; details: Record<string, unknown> } };
      expect(body.error.code).toBe("FORBIDDEN");
      expect(body.error.details).toEqual({ role, required: "admin" });
    }
    const anon = await fetch(`${base}/api/queue-dashboard/session`, { method: "POST" });
    expect(anon.status).toBe(401);
    // The query parameter is not a way in here (only the event streams take one).
    const byQuery = await fetch(`${base}/api/queue-dashboard/session?access_token=${TOKENS.admin}`, { method: "POST" });
    expect(byQuery.status).toBe(401);

    const r = await fetch(`${base}/api/queue-dashboard/session`, { method: "POST", headers: { authorization: `Bearer ${TOKENS.admin}` } });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ dashboard: "/admin/queues" });
    const setCookie = r.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\/admin\/queues/i);
    const cookie = setCookie.split(";")[0] as string;
    // The cookie opens the board and its API.
    const page = await fetch(`${base}/admin/queues`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<base href="/admin/queues/" />');
    const queues = await fetch(`${base}/admin/queues/api/queues?activeQueue=host-h1&status=latest&page=1`, { headers: { cookie } });
    expect(queues.status).toBe(200);

    // DELETE expires it.
    const end = await fetch(`${base}/api/queue-dashboard/session`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${TOKENS.admin}` },
    });
    expect(end.status).toBe(204);
    expect(end.headers.get("set-cookie") ?? "").toMatch(/netforge_dashboard=;.*Max-Age=0/i);
  });
});
