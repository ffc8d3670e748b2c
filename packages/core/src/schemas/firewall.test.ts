import { describe, expect, it } from "vitest";
import { ConfigureFirewallBody, MAX_HOST_SERVICES } from "./firewall";

describe("configure-network-firewall: hostServices", () => {
  const parse = (hostServices: unknown) => ConfigureFirewallBody.safeParse({ name: "web", hostServices });
  it("defaults to none: the VMs reach nothing on the host beyond DHCP, DNS and ICMP errors", () => {
    expect(ConfigureFirewallBody.parse({ name: "web" }).hostServices).toEqual([]);
  });
  it("takes tcp/udp with a port or a range", () => {
    const ok = parse([
      { protocol: "tcp", ports: "8443" },
      { protocol: "udp", ports: "5000-5100" },
    ]);
    expect(ok.success && ok.data.hostServices).toEqual([
      { protocol: "tcp", ports: "8443" },
      { protocol: "udp", ports: "5000-5100" },
    ]);
  });
  it("refuses other protocols, missing or bad ports, unknown fields and more than the cap", () => {
    for (const bad of [
      [{ protocol: "icmp", ports: "1" }],
      [{ protocol: "any", ports: "22" }],
      [{ protocol: "tcp" }],
      [{ protocol: "tcp", ports: "0" }],
      [{ protocol: "tcp", ports: "65536" }],
      [{ protocol: "tcp", ports: "90-80" }],
      [{ protocol: "tcp", ports: "22; flush ruleset" }],
      [{ protocol: "tcp", ports: "22", host: "10.0.0.1" }],
      "22",
      Array.from({ length: MAX_HOST_SERVICES + 1 }, (_, i) => ({ protocol: "tcp", ports: String(1000 + i) })),
    ]) {
      expect(parse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(parse(Array.from({ length: MAX_HOST_SERVICES }, (_, i) => ({ protocol: "tcp", ports: String(1000 + i) }))).success).toBe(true);
  });
});
