import { describe, expect, it } from "vitest";
import { Inbox, STOPPED, TIMED_OUT } from "./inbox";

describe("Inbox", () => {
  it("delivers in order, waits, times out, stops on abort", async () => {
    const inbox = new Inbox<number>();
    const ac = new AbortController();
    inbox.push(1);
    inbox.push(2);
    expect(await inbox.take(ac.signal, 1000)).toBe(1);
    expect(await inbox.take(ac.signal, 1000)).toBe(2);
    setTimeout(() => inbox.push(3), 5);
    expect(await inbox.take(ac.signal, 1000)).toBe(3);
    expect(await inbox.take(ac.signal, 5)).toBe(TIMED_OUT);
    setTimeout(() => ac.abort(), 5);
    expect(await inbox.take(ac.signal, 1000)).toBe(STOPPED);
  });
  it("stops on overflow instead of growing without bound", async () => {
    const inbox = new Inbox<number>(2);
    for (let i = 0; i < 3; i++) inbox.push(i);
    expect(await inbox.take(new AbortController().signal, 10)).toBe(STOPPED);
  });
});
