import { AppError } from "@netforge/core/contract";
import { HTTPException } from "hono/http-exception";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { classifyError } from "./http-errors";

describe("classifyError", () => {
  it("keeps AppErrors", () => {
    const e = new AppError("NAME_TAKEN", "taken");
    expect(classifyError(e)).toEqual({ error: e, unexpected: false });
  });
  it("turns zod errors into VALIDATION_FAILED with field paths", () => {
    const r = z.object({ a: z.object({ b: z.number() }) }).safeParse({ a: { b: "x" } });
    const { error } = classifyError(r.error);
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details.issues).toEqual([{ path: "a.b", message: expect.any(String) }]);
  });
  it("maps HTTP 413 to PAYLOAD_TOO_LARGE", () => {
    expect(classifyError(new HTTPException(413)).error.code).toBe("PAYLOAD_TOO_LARGE");
  });
  it("maps Redis being unreachable, paused or loading to UNAVAILABLE (expected, not a bug)", () => {
    for (const msg of [
      "Command timed out",
      "Stream isn't writeable and enableOfflineQueue options is false",
      "Connection is closed.",
      "connect ECONNREFUSED 127.0.0.1:6379",
      "LOADING Redis is loading the dataset in memory",
    ]) {
      const r = classifyError(new Error(msg));
      expect(r).toMatchObject({ unexpected: false, error: { code: "UNAVAILABLE" } });
      expect(r.error.status).toBe(503);
    }
    expect(classifyError(new Error("ERR wrong number of arguments")).error.code).toBe("INTERNAL");
  });
  it("anything else is an unexpected INTERNAL error", () => {
    const r = classifyError(new TypeError("boom at /secret/path"));
    expect(r.unexpected).toBe(true);
    expect(r.error.code).toBe("INTERNAL");
    expect(r.error.message).not.toContain("secret");
  });
});
