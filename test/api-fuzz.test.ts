/**
 * Fuzz at the door: for every action, malformed bodies (wrong types, missing
 * fields, null, arrays, huge strings, unicode, injection attempts in every
 * string field) are refused with 400 (413 over the size limit) in the one
 * error shape, never 500, and leave nothing behind in Redis.
 */
import { ACTIONS } from "@netforge/core/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, startApiHarness } from "./support/api-harness";

const LIMIT = 256 * 1024;
let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("api-fuzz", { bodyLimitBytes: LIMIT });
  await h.addHost("h1");
});
afterAll(() => h.close());

type Body = Record<string, unknown>;
interface Shape {
  action: string;
  base: Body;
  strings: string[];
  numbers: string[];
  booleans: string[];
  required: string[];
  /** Free text (description): printable input is data, not an attack; checked separately below. */
  freeText?: string[];
  /** Filters where "" is meaningful (matches everything). */
  emptyOk?: string[];
}

const SHAPES: Shape[] = [
  {
    action: "create-network",
    base: {
      name: "fz",
      type: "nat",
      host: "h1",
      cidr: "10.99.0.0/24",
      gateway: "10.99.0.1",
      dhcp: { start: "10.99.0.100", end: "10.99.0.200", leaseTime: 3600 },
      description: "d",
      autostart: true,
      start: true,
    },
    strings: ["name", "type", "host", "cidr", "gateway", "dhcp.start", "dhcp.end", "description"],
    numbers: ["dhcp.leaseTime"],
    booleans: ["autostart", "start"],
    required: ["name", "type", "cidr"],
    freeText: ["description"],
  },
  {
    action: "create-network",
    base: { name: "fzb", type: "bridge", interface: "eth1", bridge: "br0" },
    strings: ["interface", "bridge"],
    numbers: [],
    booleans: [],
    required: [],
  },
  {
    action: "create-network",
    base: { name: "fzs", type: "sriov", pf: "enp3s0f0", vfs: 4, vlan: 100 },
    strings: ["pf"],
    numbers: ["vfs", "vlan"],
    booleans: [],
    required: ["pf"],
  },
  ...["delete-network", "start-network", "stop-network", "describe-network"].map(
    (action): Shape => ({ action, base: { name: "web" }, strings: ["name"], numbers: [], booleans: [], required: ["name"] }),
  ),
  {
    action: "list-networks",
    base: { type: "nat", state: "active", name: "we", host: "h1", limit: 10 },
    strings: ["type", "state", "name", "host", "cursor"],
    numbers: ["limit"],
    booleans: [],
    required: [],
    emptyOk: ["name"],
  },
  {
    action: "list-jobs",
    base: { network: "web", state: "queued", host: "h1", limit: 10 },
    strings: ["network", "state", "host"],
    numbers: ["limit"],
    booleans: [],
    required: [],
  },
  { action: "list-hosts", base: {}, strings: [], numbers: [], booleans: [], required: [] },
];

const INJECTIONS = ["; rm -rf /", "</name><forward mode='open'/>", "$(id)", "../../etc", "`id`", "a\nb", "x\u0000y", "' OR '1'='1"];
const UNICODE = ["wéb", "网络", "🚀🚀", "\u202egnp.exe", "ｗｅｂ"];
const WRONG_TYPES: unknown[] = [12345, true, null, [], ["a"], {}, { $gt: "" }];
const BAD_NUMBERS: unknown[] = ["12", -1, 0, 1.5, 1e308, true, null, [], {}];

function withValue(base: Body, path: string, value: unknown): Body {
  const body: Body = structuredClone(base);
  const parts = path.split(".");
  let obj: Body = body;
  for (const p of parts.slice(0, -1)) obj = obj[p] as Body;
  obj[parts[parts.length - 1] as string] = value;
  return body;
}
function without(base: Body, path: string): Body {
  const body: Body = structuredClone(base);
  delete body[path];
  return body;
}

function cases(s: Shape): { label: string; body?: Body; raw?: string; status: 400 | 413 }[] {
  const out: { label: string; body?: Body; raw?: string; status: 400 | 413 }[] = [];
  for (const raw of ["null", "[]", '[{"name":"web"}]', "7", '"web"', "true", "{", '{"name":', "\u0000", "{}".repeat(3)]) {
    out.push({ label: `raw ${JSON.stringify(raw)}`, raw, status: 400 });
  }
  out.push({ label: "unknown field", body: { ...s.base, extra: 1 }, status: 400 });
  out.push({ label: "__proto__", raw: JSON.stringify(s.base).replace(/^\{/, '{"__proto__":{"role":"admin"},'), status: 400 });
  out.push({ label: "constructor", body: { ...s.base, constructor: { prototype: {} } }, status: 400 });
  for (const f of s.required) out.push({ label: `missing ${f}`, body: without(s.base, f), status: 400 });
  for (const f of [...s.strings, ...s.numbers, ...s.booleans]) {
    for (const v of WRONG_TYPES) {
      if (typeof v === "boolean" && s.booleans.includes(f)) continue;
      if (typeof v === "number" && s.numbers.includes(f)) continue;
      out.push({ label: `${f}=${JSON.stringify(v)}`, body: withValue(s.base, f, v), status: 400 });
    }
  }
  for (const f of s.numbers)
    for (const v of BAD_NUMBERS) out.push({ label: `${f}=${JSON.stringify(v)}`, body: withValue(s.base, f, v), status: 400 });
  for (const f of s.strings) {
    out.push({ label: `${f}=100KB`, body: withValue(s.base, f, "a".repeat(100_000)), status: 400 });
    out.push({ label: `${f}=over limit`, body: withValue(s.base, f, "a".repeat(LIMIT + 10)), status: 413 });
    if (s.freeText?.includes(f)) continue;
    const empty = s.emptyOk?.includes(f) ? [] : [""];
    for (const v of [...UNICODE, ...INJECTIONS, ...empty, " web"])
      out.push({ label: `${f}=${JSON.stringify(v)}`, body: withValue(s.base, f, v), status: 400 });
  }
  for (const f of s.freeText ?? []) {
    // Control characters are refused even in free text (it ends up in libvirt XML metadata), and so are
    // what XML 1.0 cannot carry and what makes text look other than it is (bidi controls, zero-width).
    for (const v of [
      "a\nb",
      "x\u0000y",
      "\u001b[31m",
      "\uFFFE",
      "a\uFFFF",
      "\uD800",
      "\u202Etxt",
      "\u2067x",
      "a\u200Db",
      "\uFEFF",
      "\u009B",
    ])
      out.push({ label: `${f}=${JSON.stringify(v)}`, body: withValue(s.base, f, v), status: 400 });
  }
  return out;
}

describe("fuzzed bodies are refused cleanly", () => {
  it("the base bodies are themselves valid (so each case tests one mutation)", () => {
    for (const s of SHAPES) {
      const schema = ACTIONS[s.action as keyof typeof ACTIONS].body;
      expect(schema.safeParse(s.base).success, s.action).toBe(true);
    }
  });

  for (const s of SHAPES) {
    it(`${s.action} (${String(s.base.type ?? "")})`, async () => {
      const all = cases(s);
      expect(all.length).toBeGreaterThan(10);
      for (let i = 0; i < all.length; i += 16) {
        const batch = all.slice(i, i + 16);
        const replies = await Promise.all(batch.map((c) => h.call(s.action, c.body, c.raw !== undefined ? { raw: c.raw } : {})));
        replies.forEach((r, j) => {
          const c = batch[j]!;
          try {
            expectError(r, c.status, c.status === 413 ? "PAYLOAD_TOO_LARGE" : "VALIDATION_FAILED");
            if (c.status === 400) expect(Array.isArray(r.body.error.details.issues)).toBe(true);
          } catch (err) {
            throw new Error(`${s.action} ${c.label}: ${(err as Error).message}`);
          }
        });
      }
    });
  }

  it("an unknown action with any body is a 404, never a 500", async () => {
    for (const raw of ["null", "{", '{"name":"$(id)"}']) expectError(await h.call("$(id)", undefined, { raw }), 404, "NOT_FOUND");
  });

  it("left nothing behind: no queue entries, job records, claims or idempotency keys", async () => {
    expect(await h.keysMatching("bull:*")).toEqual([]);
    expect(await h.keysMatching("job*")).toEqual([]);
    expect(await h.keysMatching("claim:*")).toEqual([]);
    expect(await h.keysMatching("idem:*")).toEqual([]);
  });
});

describe("free text is data", () => {
  it("a description with shell and XML metacharacters is accepted verbatim (the renderer escapes it)", async () => {
    const other = await startApiHarness("api-fuzz-text");
    try {
      await other.addHost("h1");
      const description = "; rm -rf / $(id) `id` </name><forward mode='open'/> ../../etc 网络";
      const r = await other.call("create-network", { name: "text", type: "nat", cidr: "10.98.0.0/24", description });
      expect(r.status).toBe(202);
      const job = JSON.parse((await other.redis.get(other.keys.job(r.body.job.id))) as string);
      expect(job.payload.description).toBe(description);
    } finally {
      await other.close();
    }
  });
});
