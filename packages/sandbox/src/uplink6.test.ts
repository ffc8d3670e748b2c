import { describe, expect, it } from "vitest";
import { uplinkAddresses6 } from "./validate.js";

describe("the sandbox's IPv6 uplink prefix", () => {
  it("gives the outside ::1 and the host ::2 of a prefix written <groups>::/<len>", () => {
    expect(uplinkAddresses6("fd00:99::/64")).toEqual({ outside: "fd00:99::1", host: "fd00:99::2", prefix: 64 });
    expect(uplinkAddresses6("fd00:1:2:3::/120")).toEqual({ outside: "fd00:1:2:3::1", host: "fd00:1:2:3::2", prefix: 120 });
  });
  it("refuses anything else (a length outside /64-/120, another form, text that is no prefix)", () => {
    for (const bad of ["fd00:99::/48", "fd00:99::/121", "fd00:99::1/64", "fd00:99:0:0/64", "fd00::/64 dev lo", "198.51.100.0/24"]) {
      expect(() => uplinkAddresses6(bad), bad).toThrow(/IPv6 uplink prefix/);
    }
  });
});
