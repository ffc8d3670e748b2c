import { describe, expect, it } from "vitest";
import { layerOf, MAY_IMPORT, STORE_ONLY_PACKAGES } from "./layers";

describe("layerOf, path by path", () => {
  it.each([
    ["schemas/network.ts", "contract"],
    ["net/ipv4.ts", "contract"],
    ["actions/jobs.ts", "contract"],
    ["errors.ts", "contract"],
    ["api-contract.ts", "contract"],
    ["validation.ts", "contract"],
    ["jobs.ts", "contract"],
    ["contract.ts", "contract"],
    ["layers.ts", "contract"],
    ["planner/changes.ts", "model"],
    ["spec/changes.ts", "model"],
    ["render/nft.ts", "model"],
    ["drivers/registry.ts", "model"],
    ["plan/steps.ts", "model"],
    ["limits.ts", "model"],
    ["model.ts", "model"],
    ["store/jobs.ts", "store"],
    ["random-id.ts", "store"],
    ["store.ts", "store"],
  ])("%s is %s", (path, layer) => expect(layerOf(path)).toBe(layer));

  it("reads Windows separators and a leading ./ as the same path", () => {
    expect(layerOf("store\\jobs.ts")).toBe("store");
    expect(layerOf("./errors.ts")).toBe("contract");
    expect(layerOf("./planner/changes.ts")).toBe("model");
    expect(layerOf("x/./errors.ts")).toBeUndefined();
  });

  it("gives a top-level test its module's part, and a test named after no module every part", () => {
    expect(layerOf("errors.test.ts")).toBe("contract");
    expect(layerOf("limits.test.ts")).toBe("model");
    expect(layerOf("random-id-pool.test.ts")).toBe("store");
    expect(layerOf("layering.test.ts")).toBe("store");
  });

  it("leaves a module whose part is not written down without one (a test in an unknown directory too)", () => {
    expect(layerOf("unknown.ts")).toBeUndefined();
    expect(layerOf("misc/x.ts")).toBeUndefined();
    expect(layerOf("misc/x.test.ts")).toBeUndefined();
    expect(layerOf("planner")).toBeUndefined();
  });
});

describe("the directions between the parts", () => {
  it("contract imports only itself, model contract and itself, store everything", () => {
    expect(MAY_IMPORT).toEqual({ contract: ["contract"], model: ["contract", "model"], store: ["contract", "model", "store"] });
  });
  it("only store may import the Redis packages", () => {
    expect(STORE_ONLY_PACKAGES).toEqual(["ioredis", "bullmq"]);
  });
});
