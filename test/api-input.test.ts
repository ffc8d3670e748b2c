/**
 * Input that is refused at the door (docs/adr/0013-input-refused-at-the-door.md):
 * subnets in reserved ranges, and free text with characters libvirt's XML cannot
 * carry or that would mislead an operator. Each is a 400 VALIDATION_FAILED in the
 * contract's error shape whose message says why, and nothing is claimed or queued.
 */
import { parseAllowedCidrs } from "@netforge/core/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, natBody, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
beforeAll(async () => {
  // Every range allowed (NETFORGE_ALLOWED_CIDRS=0.0.0.0/0): the reserved ranges are refused by their own rule.
  h = await startApiHarness("api-input", { allowedCidrs: parseAllowedCidrs("0.0.0.0/0") });
  // A host whose inventory lists no `lo`: 127.0.0.0/8 must be refused by the rules, not by an overlap with the host.
  await h.addHost("h1");
});
afterAll(() => h.close());

const issuesOf = (r: { body: any }) => r.body.error.details.issues as { path: string; message: string }[];

describe("reserved subnets", () => {
  it.each([
    ["224.0.0.0/24", "224.0.0.0/4 (multicast)"],
    ["239.255.255.0/24", "224.0.0.0/4 (multicast)"],
    ["240.0.0.0/8", "240.0.0.0/4 (reserved)"],
    ["255.255.255.0/24", "240.0.0.0/4 (reserved)"],
    ["0.0.0.0/8", "0.0.0.0/8 (this network)"],
    ["169.254.0.0/16", "169.254.0.0/16 (link-local)"],
    ["127.0.0.0/8", "127.0.0.0/8 (loopback)"],
    ["127.0.5.0/24", "127.0.0.0/8 (loopback)"],
  ])("refuses %s, naming %s", async (cidr, range) => {
    const r = await h.call("create-network", natBody("web", cidr));
    expectError(r, 400, "VALIDATION_FAILED");
    const issue = issuesOf(r).find((i) => i.path === "cidr");
    expect(issue?.message).toContain(`must not use a reserved range: ${cidr} overlaps ${range}: `);
    expect(r.body.error.message).toContain(range);
  });

  it("accepts the subnets right next to them", async () => {
    for (const [i, cidr] of ["126.255.255.0/24", "128.0.0.0/24", "169.253.255.0/24", "223.255.255.0/24"].entries()) {
      const r = await h.call("create-network", natBody(`edge${i}`, cidr));
      expect(r.status, `${cidr}: ${JSON.stringify(r.body)}`).toBe(202);
    }
  });
});

describe("free text", () => {
  it.each([
    ["a\uFFFEb", "U+FFFE", 2, "a Unicode noncharacter"],
    ["ab\uFFFF", "U+FFFF", 3, "a Unicode noncharacter"],
    ["\uD800x", "U+D800", 1, "an unpaired surrogate"],
    ["pay \u202Eslc.exe", "U+202E", 5, "a bidirectional override or isolate"],
    ["x\u2066y\u2069", "U+2066", 2, "a bidirectional override or isolate"],
    ["fron\u200Btend", "U+200B", 5, "a zero-width character"],
    ["\uFEFFfrontend", "U+FEFF", 1, "a zero-width character"],
    ["next\u0085line", "U+0085", 5, "a control character"],
    ["tab\there", "U+0009", 4, "a control character"],
  ])("refuses a description %j, naming %s at position %i", async (description, char, position, why) => {
    const r = await h.call("create-network", natBody("text", "10.97.0.0/24", { description }));
    expectError(r, 400, "VALIDATION_FAILED");
    expect(issuesOf(r)).toContainEqual({
      path: "description",
      message: expect.stringMatching(new RegExp(`^must not contain ${char.replace("+", "\\+")} \\(${why}.*\\) at position ${position}$`)),
    });
  });

  it("accepts text in any script, emoji included", async () => {
    const description = "frontend VMs — café, 東京, שלום 😀";
    const r = await h.call("create-network", natBody("text", "10.97.0.0/24", { description }));
    expect(r.status).toBe(202);
    const job = JSON.parse((await h.redis.get(h.keys.job(r.body.job.id))) as string);
    expect(job.payload.description).toBe(description);
  });
});

describe("an action asked for with another method than POST", () => {
  it("is 405 METHOD_NOT_ALLOWED with Allow: POST and a message saying how it is called; an unknown path stays 404", async () => {
    const r = await h.get("/api/list-networks", { role: "viewer" });
    expectError(r, 405, "METHOD_NOT_ALLOWED");
    expect(r.headers.get("allow")).toBe("POST");
    expect(r.body.error.message).toBe("list-networks is called with POST and a JSON body (POST /api/list-networks), not GET");
    expect(r.body.error.details).toEqual({ action: "list-networks", method: "GET" });
    const unknown = await h.get("/api/list-nothing", { role: "viewer" });
    expectError(unknown, 404, "NOT_FOUND");
    expect(unknown.body.error.message).toBe("unknown action or resource GET /api/list-nothing");
  });
});
