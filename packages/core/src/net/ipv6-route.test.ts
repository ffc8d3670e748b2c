import { describe, expect, it } from "vitest";
import { upstreamVia } from "./ipv6";

describe("upstreamVia", () => {
  it("keeps the host's reachable IPv6 addresses: not link-local, loopback, its own prefix or netforge's bridges", () => {
    const via = upstreamVia("fd12:3456:789a:1::/64", [
      { name: "lo", addresses6: ["::1/128"] },
      { name: "eth0", addresses6: ["2001:db8:0:1::2/64", "fe80::1/64", "2001:DB8:0:1:0:0:0:2/64"] },
      { name: "nf-web", addresses6: ["fd12:3456:789a:1::1/64", "fe80::2/64"] },
      { name: "br0", addresses6: ["fd99::5/64", "fd12:3456:789a:1::9/64"] },
      { name: "eth1" },
    ]);
    expect(via).toEqual(["2001:db8:0:1::2", "fd99::5"]);
  });

  it("is empty for a host without a reachable IPv6 address (describe then says none)", () => {
    expect(upstreamVia("fd12:3456:789a:1::/64", [{ name: "eth0", addresses6: ["fe80::1/64"] }])).toEqual([]);
  });
});
