import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "./errors";
import { parseOrThrow, zodIssues } from "./validation";

const Body = z.strictObject({
  name: z.string().min(1, "must not be empty"),
  dhcp: z.strictObject({ start: z.string() }).optional(),
  rules: z.array(z.strictObject({ ports: z.string() })).optional(),
  hinted: z
    .string()
    .superRefine((_s, ctx) => ctx.addIssue({ code: "custom", message: "try another", params: { hint: "use-this" } }))
    .optional(),
});

const issuesOf = (input: unknown) => {
  const r = Body.safeParse(input);
  if (r.success) throw new Error("expected a failed parse");
  return zodIssues(r.error);
};

describe("zodIssues: field issues in the contract's shape", () => {
  it("a field's dotted path (array indexes as numbers) and its message", () => {
    expect(issuesOf({ name: "" })).toEqual([{ path: "name", message: "must not be empty" }]);
    expect(issuesOf({ name: "a", dhcp: { start: 1 } })[0]?.path).toBe("dhcp.start");
    expect(issuesOf({ name: "a", rules: [{ ports: "1" }, { ports: 2 }] })[0]?.path).toBe("rules.1.ports");
  });
  it("unknown fields: reported on their object, naming each", () => {
    expect(issuesOf({ name: "a", extra: 1, more: 2 })).toEqual([{ path: "", message: "unknown field(s): extra, more" }]);
    expect(issuesOf({ name: "a", dhcp: { start: "x", end: "y" } })).toEqual([{ path: "dhcp", message: "unknown field(s): end" }]);
  });
  it("a hint a refinement gives is passed on; without one there is no hint field", () => {
    expect(issuesOf({ name: "a", hinted: "x" })).toEqual([{ path: "hinted", message: "try another", hint: "use-this" }]);
    expect("hint" in (issuesOf({ name: "" })[0] ?? {})).toBe(false);
  });
});

describe("parseOrThrow", () => {
  it("returns the parsed value", () => {
    expect(parseOrThrow(Body, { name: "web" })).toEqual({ name: "web" });
  });
  it("throws VALIDATION_FAILED carrying the field issues", () => {
    try {
      parseOrThrow(Body, { name: "", extra: true });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      expect((e as AppError).code).toBe("VALIDATION_FAILED");
      expect((e as AppError).details.issues).toEqual([
        { path: "name", message: "must not be empty" },
        { path: "", message: "unknown field(s): extra" },
      ]);
    }
  });
});
