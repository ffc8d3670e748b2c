import { describe, expect, it } from "vitest";
import type { HostLink, HostRoute } from "./ip";
import { findUnderlay } from "./underlay";

const link = (name: string, addresses: string[], mtu = 1500): HostLink => ({
  name,
  kind: null,
  mac: null,
  state: "up",
  master: null,
  addresses,
  mtu,
});
const links = [link("eth0", ["198.51.100.2/24"], 1500), link("fab0", ["172.31.0.3/24"], 9000), link("nf-web", ["10.0.0.1/24"])];
const routes: HostRoute[] = [
  { dst: "198.51.100.0/24", dev: "eth0", table: null, gateways: [] },
  { dst: "default", dev: "eth0", table: null, gateways: ["198.51.100.1"] },
  { dst: "default", dev: "fab0", table: "100", gateways: ["172.31.0.1"] },
];

describe("findUnderlay", () => {
  it("takes NETFORGE_UNDERLAY_IP when it is an address of an interface, with that interface's MTU", () => {
    expect(findUnderlay(links, routes, "172.31.0.3")).toEqual({
      underlay: { ip: "172.31.0.3", interface: "fab0", mtu: 9000, source: "setting" },
    });
  });
  it("refuses a setting that is no address of this host, saying so", () => {
    const r = findUnderlay(links, routes, "172.31.0.99");
    expect(r.underlay).toBeNull();
    expect(r).toMatchObject({ why: expect.stringContaining("172.31.0.99 is not an address") });
  });
  it("else the address of the interface of the main table's default route (not another table's)", () => {
    expect(findUnderlay(links, routes, null)).toEqual({
      underlay: { ip: "198.51.100.2", interface: "eth0", mtu: 1500, source: "default-route" },
    });
  });
  it("none without a default route, or when its interface has no IPv4 address", () => {
    expect(findUnderlay(links, routes.slice(0, 1), null).underlay).toBeNull();
    expect(findUnderlay([link("eth0", [])], routes, null)).toMatchObject({
      underlay: null,
      why: expect.stringContaining("eth0 has no IPv4"),
    });
  });
});
