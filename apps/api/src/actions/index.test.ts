import { JOB_ACTIONS, oneHalfEach } from "@netforge/core/contract";
import { describe, expect, it } from "vitest";
import { API_HALVES, apiHalfOf } from "./index";

describe("the API's halves", () => {
  it("one per job action, each carrying its action", () => {
    expect(API_HALVES.map((h) => h.action).sort()).toEqual([...JOB_ACTIONS].sort());
    for (const a of JOB_ACTIONS) expect(apiHalfOf(a).action).toBe(a);
  });

  it("a list missing a half, or naming an action twice, does not compile", () => {
    const [first, ...rest] = API_HALVES;
    // @ts-expect-error create-network has no half in this list
    const missing = oneHalfEach(rest);
    // @ts-expect-error create-network's half is in this list twice
    const doubled = oneHalfEach([first, ...rest, first]);
    // The checks are the compiler's; at run time the list is returned as it is.
    expect(missing).toHaveLength(JOB_ACTIONS.length - 1);
    expect(doubled).toHaveLength(JOB_ACTIONS.length + 1);
  });
});
