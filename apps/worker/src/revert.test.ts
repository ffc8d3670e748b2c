import { describe, expect, it } from "vitest";
import { Revert } from "./revert";

describe("Revert", () => {
  it("undoes newest first and keeps going past a failing undo", async () => {
    const order: string[] = [];
    const r = new Revert();
    r.add("a", async () => void order.push("a"));
    r.add("b", async () => {
      throw new Error("boom");
    });
    r.add("c", async () => void order.push("c"));
    const res = await r.run();
    expect(order).toEqual(["c", "a"]);
    expect(res.failed.map((f) => f.entry.label)).toEqual(["b"]);
    expect(r.size).toBe(0);
  });
  it("success forgets the undos", async () => {
    let ran = false;
    const r = new Revert();
    r.add("x", async () => {
      ran = true;
    });
    r.success();
    await r.run();
    expect(ran).toBe(false);
  });
});
