/** Every definition's examples (the OpenAPI document's request examples) are bodies its action accepts. */
import { describe, expect, it } from "vitest";
import { NETWORK_TYPES } from "../schemas/network";
import { ACTIONS } from "./index";

describe("the definitions' request examples", () => {
  it("each action has at least one, and each is a valid body of its action", () => {
    for (const [name, d] of Object.entries(ACTIONS)) {
      const examples = Object.entries(d.examples as Record<string, { summary: string; value: unknown }>);
      expect(examples.length, name).toBeGreaterThan(0);
      for (const [key, ex] of examples) {
        expect(ex.summary.length, `${name} ${key}`).toBeGreaterThan(5);
        const r = d.body.safeParse(ex.value);
        expect(r.success ? [] : r.error.issues, `${name} example ${key}`).toEqual([]);
      }
    }
  });
  it("create-network has one per network type, named after it", () => {
    const create = Object.entries(ACTIONS["create-network"].examples);
    expect(create.map(([k, ex]) => [k, (ex.value as { type: string }).type]).sort()).toEqual([...NETWORK_TYPES].sort().map((t) => [t, t]));
  });
  it("only the actions that remove something for good ask first in the CLI", () => {
    const asking = Object.entries(ACTIONS).flatMap(([name, d]) => ("irreversible" in d && d.irreversible === true ? [name] : []));
    expect(asking).toEqual(["delete-network", "release-network-claim"]);
  });
});
