import { describe, expect, it } from "vitest";
import { firewallOf, forwardHostLabel, forwardsOverlap, OPEN_FIREWALL } from "./firewall";

describe("forwards and their host addresses", () => {
  const f = (hostIp?: string, hostPort = 2222, protocol: "tcp" | "udp" = "tcp") => ({ protocol, hostPort, ...(hostIp ? { hostIp } : {}) });
  it("two forwards of one protocol and port overlap unless both name different host addresses", () => {
    expect(forwardsOverlap(f(), f())).toBe(true);
    expect(forwardsOverlap(f(), f("198.51.100.2"))).toBe(true);
    expect(forwardsOverlap(f("198.51.100.2"), f())).toBe(true);
    expect(forwardsOverlap(f("198.51.100.2"), f("198.51.100.2"))).toBe(true);
    expect(forwardsOverlap(f("198.51.100.2"), f("198.51.100.3"))).toBe(false);
  });
  it("another port or protocol never overlaps", () => {
    expect(forwardsOverlap(f(), f(undefined, 2223))).toBe(false);
    expect(forwardsOverlap(f(), f(undefined, 2222, "udp"))).toBe(false);
  });
  it("the label: the port alone for every address, address:port for one", () => {
    expect(forwardHostLabel({ hostPort: 2222 })).toBe("2222");
    expect(forwardHostLabel({ hostPort: 2222, hostIp: "198.51.100.2" })).toBe("198.51.100.2:2222");
  });
  it("a spec without a firewall has the open one", () => {
    expect(OPEN_FIREWALL).toEqual({ defaultInbound: "accept", defaultOutbound: "accept", rules: [] });
    expect(firewallOf({})).toBe(OPEN_FIREWALL);
    const drop = { defaultInbound: "drop" as const, defaultOutbound: "accept" as const, rules: [] };
    expect(firewallOf({ firewall: drop })).toBe(drop);
  });
});
