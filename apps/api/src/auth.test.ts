import { describe, expect, it } from "vitest";
import { addressKey, isSseRoute } from "./auth";

describe("isSseRoute", () => {
  it("only the two event streams take ?access_token", () => {
    expect(isSseRoute("GET", "/api/events")).toBe(true);
    expect(isSseRoute("GET", "/api/jobs/j_abcdefghijkl/events")).toBe(true);
    expect(isSseRoute("POST", "/api/events")).toBe(false);
    expect(isSseRoute("GET", "/api/jobs/j_abcdefghijkl")).toBe(false);
    expect(isSseRoute("POST", "/api/create-network")).toBe(false);
    expect(isSseRoute("GET", "/api/jobs/a/b/events")).toBe(false);
  });
});

describe("addressKey", () => {
  it("counts IPv4 (also IPv4-mapped) per address and IPv6 per /64", () => {
    expect(addressKey("192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });
});
