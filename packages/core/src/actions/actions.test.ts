import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { checkJobPayload } from "../schemas/job-payload";
import { JobAction } from "../schemas/job";
import {
  ACTIONS,
  CONFIGURE_ACTIONS,
  JOB_ACTIONS,
  JOB_DEFINITIONS,
  JOB_STEPS,
  QUERY_DEFINITIONS,
  parseIfMatch,
  splitDryRun,
  versionTag,
} from "./index";

describe("action definitions: every list is derived from them", () => {
  it("ACTIONS holds every job and query definition, each once, as the same object", () => {
    const names = Object.keys(ACTIONS).sort();
    expect(names).toEqual([...Object.keys(JOB_DEFINITIONS), ...Object.keys(QUERY_DEFINITIONS)].sort());
    for (const [name, def] of Object.entries(JOB_DEFINITIONS)) expect(ACTIONS[name as keyof typeof ACTIONS]).toBe(def);
    for (const [name, def] of Object.entries(QUERY_DEFINITIONS)) expect(ACTIONS[name as keyof typeof ACTIONS]).toBe(def);
  });

  it("JOB_ACTIONS, the JobAction enum and JOB_STEPS follow the job definitions", () => {
    expect(JOB_ACTIONS).toEqual(Object.keys(JOB_DEFINITIONS));
    expect(JobAction.options).toEqual([...JOB_ACTIONS]);
    for (const a of JOB_ACTIONS) expect(JOB_STEPS[a]).toBe(JOB_DEFINITIONS[a].steps);
    expect(Object.values(ACTIONS).filter((d) => d.kind === "job")).toHaveLength(JOB_ACTIONS.length);
  });

  it("the configure actions are the definitions with a change, each reporting the configure steps last", () => {
    expect(CONFIGURE_ACTIONS).toEqual(JOB_ACTIONS.filter((a) => JOB_DEFINITIONS[a].change !== null));
    expect(CONFIGURE_ACTIONS).toContain("configure-network-firewall");
    expect(CONFIGURE_ACTIONS).not.toContain("create-network");
    for (const a of CONFIGURE_ACTIONS) expect(JOB_DEFINITIONS[a].steps.slice(-2)).toEqual(["checking change", "applying change"]);
  });

  it("every action has distinct CLI words", () => {
    const words = Object.values(ACTIONS).map((d) => d.cli.join(" "));
    expect(new Set(words).size).toBe(words.length);
  });
});

describe("splitDryRun: the one place dryRun and expectPlan are read", () => {
  it("takes dryRun off the body", () => {
    expect(splitDryRun({ name: "a", dryRun: true })).toEqual({ dryRun: true, expectPlan: null, ifMatch: null, rest: { name: "a" } });
    expect(splitDryRun({ name: "a", dryRun: false })).toEqual({ dryRun: false, expectPlan: null, ifMatch: null, rest: { name: "a" } });
  });
  it("no dryRun: not a dry run, the body untouched", () => {
    const raw = { name: "a" };
    expect(splitDryRun(raw)).toEqual({ dryRun: false, expectPlan: null, ifMatch: null, rest: raw });
  });
  it("takes expectPlan (a dry run's planHash) off the body; anything else is VALIDATION_FAILED naming it", () => {
    const hash = "0123456789abcdef0123456789abcdef";
    expect(splitDryRun({ name: "a", expectPlan: hash })).toEqual({ dryRun: false, expectPlan: hash, ifMatch: null, rest: { name: "a" } });
    // An array whose text is a hash is still no string.
    for (const v of [hash.toUpperCase(), `${hash}0`, hash.slice(1), 42, null, "", [hash]]) {
      let err: unknown;
      try {
        splitDryRun({ name: "a", expectPlan: v });
      } catch (e) {
        err = e;
      }
      expect((err as AppError).code).toBe("VALIDATION_FAILED");
      expect((err as AppError).details.issues).toEqual([
        { path: "expectPlan", message: "must be the planHash of a dry run (32 lower-case hex digits)" },
      ]);
    }
  });
  it("refuses anything but a boolean with VALIDATION_FAILED naming dryRun", () => {
    // undefined too: a body built in code may carry the key without a value.
    for (const v of ["true", 1, null, {}, undefined]) {
      let err: unknown;
      try {
        splitDryRun({ name: "a", dryRun: v });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("VALIDATION_FAILED");
      expect((err as AppError).details.issues).toEqual([{ path: "dryRun", message: "must be true or false" }]);
    }
  });
});

describe("a job's payload parses into its definition's payload type", () => {
  const expect_ = { network: "web", host: "hv1" };
  it("a firewall payload queued before hostServices existed gets the default, as its body would", () => {
    const p = checkJobPayload(
      "configure-network-firewall",
      { name: "web", defaultInbound: "drop", defaultOutbound: "accept", rules: [] },
      expect_,
    );
    expect(p).toEqual({ name: "web", defaultInbound: "drop", defaultOutbound: "accept", rules: [], hostServices: [] });
  });
  it("a payload carrying dryRun is refused (no payload carries it)", () => {
    expect(() => checkJobPayload("unassign-static-ip", { name: "web", mac: "52:54:00:00:00:01", dryRun: true }, expect_)).toThrow(
      expect.objectContaining({ code: "VALIDATION_FAILED" }),
    );
  });
});

describe("If-Match: a network's version, as describe-network's ETag gives it", () => {
  it('reads "7" (and a bare 7); no header is null', () => {
    expect(parseIfMatch('"7"')).toBe(7);
    expect(parseIfMatch(" 12 ")).toBe(12);
    expect(parseIfMatch(undefined)).toBeNull();
    expect(versionTag(7)).toBe('"7"');
    expect(parseIfMatch(versionTag(0))).toBe(0);
    expect(splitDryRun({ name: "a" }, '"3"')).toEqual({ dryRun: false, expectPlan: null, ifMatch: 3, rest: { name: "a" } });
  });
  it("refuses anything else with VALIDATION_FAILED naming If-Match", () => {
    for (const v of ["*", 'W/"7"', '"x"', "", '"7', "-1", "1.5", '"1234567890123456"']) {
      let err: unknown;
      try {
        parseIfMatch(v);
      } catch (e) {
        err = e;
      }
      expect((err as AppError).code, v).toBe("VALIDATION_FAILED");
      expect((err as AppError).details.issues).toEqual([
        { path: "If-Match", message: "must be a network's version as describe-network's ETag gives it, like \"7\"" },
      ]);
    }
  });
});
