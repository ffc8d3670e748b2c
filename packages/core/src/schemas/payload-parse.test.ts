import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CreateNetworkBody, resolveCreate } from "./network";
import { canonical, parseCreatePayload, zodIssues } from "./payload-parse";

describe("canonical: equal texts for equal values", () => {
  it("sorts object keys at every depth, also inside arrays, and keeps array order", () => {
    expect(canonical({ b: 1, a: [{ d: 1, c: 2 }, 3] })).toBe('{"a":[{"c":2,"d":1},3],"b":1}');
    expect(canonical([2, 1])).not.toBe(canonical([1, 2]));
    expect(canonical([{ y: 1, x: 2 }])).toBe(canonical([{ x: 2, y: 1 }]));
  });
  it("leaves out undefined fields, as JSON does; undefined alone is null", () => {
    expect(canonical({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(canonical(undefined)).toBe("null");
    expect(canonical(null)).toBe("null");
    expect(canonical("s")).toBe('"s"');
  });
});

describe("zodIssues", () => {
  it("names each unknown key by its own path, other issues by theirs", () => {
    const S = z.strictObject({ a: z.strictObject({ n: z.number() }) });
    const r = S.safeParse({ a: { n: "x", p: 1, q: 2 } });
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(zodIssues(r.error)).toEqual([
      { path: "a.n", message: expect.stringMatching(/number/) },
      { path: "a.p", message: "is not a field of this action" },
      { path: "a.q", message: "is not a field of this action" },
    ]);
  });
});

describe("parseCreatePayload", () => {
  const extras = { uuid: "0b8f5d3e-3c1a-4c52-9f0e-6d7b2a1c9e11", host: "hv1", createdAt: "2026-12-06T11:00:00.000Z" };
  const payloadOf = (body: unknown): Record<string, unknown> => {
    const { requestedHost: _r, ...resolved } = resolveCreate(CreateNetworkBody.parse(body));
    return JSON.parse(JSON.stringify({ ...resolved, ...extras }));
  };
  const nat = payloadOf({ name: "net1", type: "nat", cidr: "192.168.100.0/24" });

  it("gives back what the API queued, in any key order", () => {
    const reordered = Object.fromEntries(Object.entries(nat).reverse());
    const r = parseCreatePayload(reordered);
    expect(r).toEqual({ ok: true, value: nat });
  });
  it("takes a creation time with an offset", () => {
    expect(parseCreatePayload({ ...nat, createdAt: "2026-12-06T12:00:00+01:00" }).ok).toBe(true);
    expect(parseCreatePayload({ ...nat, createdAt: "yesterday" })).toMatchObject({ ok: false, issues: [{ path: "createdAt" }] });
  });
  it("names only the fields that differ (a value the body cannot say is not passed through) from what the API resolves", () => {
    // Off, yet with a range kept: the body it stands for is `dhcp: false`, which resolves to no range.
    const dhcp = { ...(nat.dhcp as object), enabled: false };
    expect(parseCreatePayload({ ...nat, dhcp })).toEqual({
      ok: false,
      issues: [{ path: "dhcp", message: "is not what the API resolves for this request" }],
    });
    expect(parseCreatePayload({ ...nat, gateway: "192.168.100.2", autostart: false })).toEqual({
      ok: true,
      value: { ...nat, gateway: "192.168.100.2", autostart: false },
    });
  });
  it("refuses a field the body has not, by its path", () => {
    expect(parseCreatePayload({ ...nat, mtu0: 1 })).toEqual({
      ok: false,
      issues: [{ path: "mtu0", message: "is not a field of this action" }],
    });
  });
  it("hands on the field issues of a body the API would refuse", () => {
    const r = parseCreatePayload({ ...nat, cidr: "192.168.100.0/24", gateway: "10.0.0.1" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.length).toBeGreaterThan(0);
    for (const i of r.issues) expect(i).toEqual({ path: expect.any(String), message: expect.any(String) });
  });
});
