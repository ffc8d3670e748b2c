import { describe, expect, it } from "vitest";
import { startApi } from "./index";

describe("startApi", () => {
  it("refuses to start with a short token, naming the entry and never the token", async () => {
    const err = await startApi({
      REDIS_URL: "redis://127.0.0.1:1/0",
      PORT: "0",
      NETFORGE_TOKENS: "good-token-0123456789:admin,tooshort-secret:viewer",
      LOG_LEVEL: "silent",
    }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^NETFORGE_TOKENS line 1, entry 2: the token is shorter than 16 characters/);
    expect(err?.message).not.toContain("tooshort-secret");
  });
});
