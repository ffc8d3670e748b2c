import { describe, expect, it } from "vitest";
import { CHANGE_KINDS, sameDnsHost } from "./changes";

describe("sameDnsHost", () => {
  const db = { ip: "10.0.0.5", names: ["db", "db.internal"] };
  it("is the same record for the same address and the same names in the same order", () => {
    expect(sameDnsHost(db, { ip: "10.0.0.5", names: ["db", "db.internal"] })).toBe(true);
  });
  it("is another record when the address, a name, the names' order or their split differs", () => {
    expect(sameDnsHost(db, { ip: "10.0.0.6", names: ["db", "db.internal"] })).toBe(false);
    expect(sameDnsHost(db, { ip: "10.0.0.5", names: ["db"] })).toBe(false);
    expect(sameDnsHost(db, { ip: "10.0.0.5", names: ["db.internal", "db"] })).toBe(false);
    expect(sameDnsHost({ ip: "10.0.0.5", names: ["ab"] }, { ip: "10.0.0.5", names: ["a", "b"] })).toBe(false);
  });
});

describe("CHANGE_KINDS", () => {
  it("lists each kind of change once, as plain names", () => {
    expect(new Set(CHANGE_KINDS).size).toBe(CHANGE_KINDS.length);
    for (const k of CHANGE_KINDS) expect(k).toMatch(/^[a-z][a-z-]*$/);
    expect(CHANGE_KINDS).toEqual(expect.arrayContaining(["dhcp", "dns", "mtu"]));
  });
});
