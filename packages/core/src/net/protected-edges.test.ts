import { describe, expect, it } from "vitest";
import { hostOverlapMessage, parseProtectedOwner } from "./protected";

describe("protected owner texts, the edges", () => {
  it("reads addresses with octets of up to three digits", () => {
    expect(parseProtectedOwner("192.168.100.254, this host's DNS resolver")).toEqual({
      ip: "192.168.100.254",
      what: "this host's DNS resolver",
    });
  });

  it("takes only a whole text that starts with the address: other owners naming an address are not protected ones", () => {
    expect(parseProtectedOwner("route via 10.1.2.3, dev eth0")).toBeNull();
    expect(parseProtectedOwner("10.1.2.3, Redis\nroute")).toBeNull();
    expect(parseProtectedOwner("10.1.2.3,Redis")).toBeNull();
    expect(hostOverlapMessage("10.0.0.0/8", "route via 10.1.2.3, dev eth0", "10.1.0.0/16", "h1")).toBe(
      "10.0.0.0/8 overlaps route via 10.1.2.3, dev eth0 (10.1.0.0/16) on host h1",
    );
  });
});
