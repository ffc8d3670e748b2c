import { describe, expect, it } from "vitest";
import { parsePreferWait } from "./prefer-header";

describe("parsePreferWait", () => {
  it.each([
    ["wait=10", 10],
    ["WAIT = 5", 5],
    ['wait="7"', 7],
    ["respond-async, wait=3", 3],
    ["handling=strict; foo=bar, wait=0", 0],
    ["wait=120", 120],
  ])("%s -> %s", (h, n) => {
    expect(parsePreferWait(h)).toBe(n);
  });
  it.each([undefined, "", "respond-async", "wait=-1", "wait=abc", "wait=1.5", "waiting=3", "wait=9999999999"])("ignores %j", (h) => {
    expect(parsePreferWait(h)).toBeNull();
  });
});
