import { randomFillSync } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { createIdPool, randomBase64Url } from "./random-id";

describe("randomBase64Url's pool", () => {
  it("fills 4 KB at a time: 256 ids of 16 bytes take one fill, the 257th the next", () => {
    // The real CSPRNG behind a counter.
    const fill = vi.fn((buf: Buffer) => {
      randomFillSync(buf);
    });
    const next = createIdPool(fill);
    const ids = new Set<string>();
    for (let i = 0; i < 256; i++) ids.add(next(16));
    expect(fill).toHaveBeenCalledTimes(1);
    expect(ids.size).toBe(256);
    next(16);
    expect(fill).toHaveBeenCalledTimes(2);
  });
  it("hands out at most the whole pool at once, and says so past it", () => {
    expect(randomBase64Url(4096)).toHaveLength(5462);
    expect(() => randomBase64Url(4097)).toThrow("randomBase64Url: at most 4096 bytes");
  });
});
