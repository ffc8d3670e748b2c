import { randomFillSync } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { randomBase64Url } from "./random-id";

// Count the CSPRNG calls behind the pool (still the real randomFillSync).
vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return { ...real, randomFillSync: vi.fn(real.randomFillSync) };
});

describe("randomBase64Url's pool", () => {
  it("fills 4 KB at a time: 256 ids of 16 bytes take one fill, the 257th the next", () => {
    const fill = vi.mocked(randomFillSync);
    fill.mockClear();
    for (let i = 0; i < 256; i++) randomBase64Url(16);
    expect(fill).toHaveBeenCalledTimes(1);
    randomBase64Url(16);
    expect(fill).toHaveBeenCalledTimes(2);
  });
  it("hands out at most the whole pool at once, and says so past it", () => {
    expect(randomBase64Url(4096)).toHaveLength(5462);
    expect(() => randomBase64Url(4097)).toThrow("randomBase64Url: at most 4096 bytes");
  });
});
