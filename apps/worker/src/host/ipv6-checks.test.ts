import { describe, expect, it } from "vitest";
import type { AppError } from "@netforge/core/contract";
import { parseNetworkXml, renderNetworkXml, specFromCreate } from "@netforge/core/model";
import type { CommandRunner } from "./command-runner";
import type { HostLink } from "./ip";
import { assertIpv6ForwardingSafe, assertNoOverlap6, readRaInterfaces } from "./ipv6-checks";
import type { CatalogEntry } from "./network-catalog";

const link = (name: string, addresses6: string[]): HostLink => ({
  name,
  kind: null,
  mac: null,
  state: "up",
  master: null,
  addresses: [],
  addresses6,
});
const errOf = (fn: () => void): AppError => {
  try {
    fn();
  } catch (e) {
    return e as AppError;
  }
  throw new Error("expected an error");
};

describe("IPv6 host checks", () => {
  it("refuses a host whose RA-learned routes would be lost to forwarding, naming the interfaces", () => {
    assertIpv6ForwardingSafe([], "h1");
    assertIpv6ForwardingSafe([{ dev: "eth0", acceptRa: "2" }], "h1");
    const e = errOf(() =>
      assertIpv6ForwardingSafe(
        [
          { dev: "eth0", acceptRa: "1" },
          { dev: "eth1", acceptRa: "2" },
        ],
        "h1",
      ),
    );
    expect(e.code).toBe("INVALID_STATE");
    expect(e.message).toMatch(/router advertisements on eth0 \(accept_ra=1\)/);
    expect(e.message).toMatch(/does not change the host's sysctls/);
    expect(e.details.interfaces).toEqual([{ interface: "eth0", acceptRa: "1" }]);
  });

  it("reads the RA routes' interfaces and their accept_ra through the runner", async () => {
    const calls: string[][] = [];
    const runner = {
      run: async (cmd: string, args: string[]) => {
        calls.push([cmd, ...args]);
        if (cmd === "ip")
          return {
            stdout: JSON.stringify([
              { dst: "default", dev: "eth0" },
              { dst: "2a01::/64", dev: "eth0" },
              { dst: "x", dev: "bad dev" },
            ]),
            stderr: "",
          };
        return { stdout: "1\n", stderr: "" };
      },
    } as unknown as CommandRunner;
    expect(await readRaInterfaces(runner)).toEqual([{ dev: "eth0", acceptRa: "1" }]);
    expect(calls).toEqual([
      ["ip", "-6", "-j", "route", "show", "proto", "ra"],
      ["sysctl", "-n", "net.ipv6.conf.eth0.accept_ra"],
    ]);
  });

  it("refuses a prefix overlapping a host address's prefix or another network's prefix", () => {
    const links = [link("uplink0", ["2a01:4f8:1:2::5/64"])];
    assertNoOverlap6("fd00:1::/64", "h1", links, [], "web");
    const e = errOf(() => assertNoOverlap6("2a01:4f8:1::/48", "h1", links, [], "web"));
    expect(e.code).toBe("CIDR_CONFLICT");
    expect(e.details.conflictsWith).toEqual({ owner: "interface uplink0", cidr: "2a01:4f8:1:2::5/64" });
    const other = specFromCreate({
      name: "other",
      type: "nat",
      uuid: "6e3fce45-4f53-4fa7-bb32-11f34168329c",
      host: "h1",
      description: "",
      cidr: "10.9.0.0/24",
      gateway: "10.9.0.1",
      dhcp: { enabled: false, start: null, end: null, leaseTime: null },
      autostart: true,
      bridge: "nf-other",
      createdAt: "2026-12-07T00:00:00.000Z",
      ipv6: { cidr: "fd00:9::/64", gateway: "fd00:9::1", mode: "slaac", dhcp: null, routed: false },
    });
    const entry = {
      name: "other",
      active: true,
      autostart: true,
      persistent: true,
      def: parseNetworkXml(renderNetworkXml(other)),
    } as CatalogEntry;
    const n = errOf(() => assertNoOverlap6("fd00:9::/64", "h1", links, [entry], "web"));
    expect(n.details.conflictsWith).toEqual({ network: "other", cidr: "fd00:9::/64" });
    // Its own earlier definition (a retried create) is no conflict.
    assertNoOverlap6("fd00:9::/64", "h1", links, [entry], "other");
  });
});
