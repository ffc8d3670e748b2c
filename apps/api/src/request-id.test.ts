import { describe, expect, it } from "vitest";
import { acceptOrGenerateRequestId } from "./request-id";

describe("acceptOrGenerateRequestId", () => {
  it("keeps a safe caller id", () => {
    expect(acceptOrGenerateRequestId("abc-123_X.y")).toBe("abc-123_X.y");
    expect(acceptOrGenerateRequestId("a".repeat(64))).toBe("a".repeat(64));
  });
  it.each([undefined, null, "", "a".repeat(65), "has space", "x\r\nSet-Cookie: a=b", "ünïcode", "a/b"])("replaces %j", (h) => {
    const id = acceptOrGenerateRequestId(h);
    expect(id).toMatch(/^req_[A-Za-z0-9_-]{16}$/);
    expect(id).not.toBe(h);
  });
  it("generates distinct ids", () => {
    expect(acceptOrGenerateRequestId(undefined)).not.toBe(acceptOrGenerateRequestId(undefined));
  });
});
