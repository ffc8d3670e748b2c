import { describe, expect, it } from "vitest";
import { isLoopbackHost, startApi } from "./index";

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

describe("isLoopbackHost", () => {
  it("only addresses no other machine can reach", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "128.0.0.1", "::ffff:10.0.0.1"])
      expect(isLoopbackHost(h), h).toBe(false);
  });
  it("startApi without NETFORGE_TOKENS refuses a non-loopback HOST before touching Redis", async () => {
    const err = await startApi({ REDIS_URL: "redis://127.0.0.1:1/0", PORT: "0", HOST: "0.0.0.0", LOG_LEVEL: "silent" }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^NETFORGE_TOKENS is not set and HOST=0\.0\.0\.0 is not a loopback address/);
  });
});
