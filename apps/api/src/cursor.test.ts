import { AppError } from "@netforge/core/contract";
import { describe, expect, it } from "vitest";
import { decodeNameCursor, encodeNameCursor } from "./cursor";

describe("name cursors", () => {
  it("round-trip and are opaque", () => {
    const c = encodeNameCursor("web-1");
    expect(c).not.toContain("web");
    expect(decodeNameCursor(c)).toBe("web-1");
  });
  it.each(["", "$(id)", "../../etc", "; rm -rf /", encodeNameCursor("NotAName"), `${encodeNameCursor("web")}=`, "a".repeat(100)])(
    "rejects %j with VALIDATION_FAILED on path cursor",
    (c) => {
      try {
        decodeNameCursor(c);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        expect((err as AppError).code).toBe("VALIDATION_FAILED");
        expect((err as AppError).details.issues).toEqual([{ path: "cursor", message: expect.any(String) }]);
      }
    },
  );
});
