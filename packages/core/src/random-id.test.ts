import { describe, expect, it } from "vitest";
import { randomBase64Url } from "./random-id";

describe("randomBase64Url", () => {
  it("gives ids of the asked length, never the same twice across pool refills", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = randomBase64Url(15);
      expect(id).toMatch(/^[A-Za-z0-9_-]{20}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(5000);
    expect(randomBase64Url(12)).toHaveLength(16);
    expect(() => randomBase64Url(5000)).toThrow(RangeError);
  });
});
