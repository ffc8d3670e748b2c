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
  it("a `before` check that throws (the lock is lost) stops that undo and every later one", async () => {
    const order: string[] = [];
    const r = new Revert();
    for (const l of ["a", "b", "c"]) r.add(l, async () => void order.push(l));
    let checks = 0;
    const res = await r.run({
      before: async (e) => {
        checks++;
        if (e.label === "b") throw new Error("lost the network lock");
      },
    });
    expect(order).toEqual(["c"]);
    expect(checks).toBe(2);
    expect(res.undone.map((u) => u.label)).toEqual(["c"]);
    expect(res.failed).toEqual([
      { entry: expect.objectContaining({ label: "b" }), error: "lost the network lock" },
      { entry: expect.objectContaining({ label: "a" }), error: "lost the network lock" },
    ]);
    expect(r.size).toBe(0);
  });
});
