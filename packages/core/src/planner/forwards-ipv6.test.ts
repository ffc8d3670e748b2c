/**
 * IPv6 port forwards in the planner (issue 18): a v6 vmIp needs a network with IPv6 and is an address of its prefix
 * (not the prefix's own address, not the gateway); hostIp is of vmIp's family; one forward has one family, and the
 * host port is one claim for both (an every-address forward of one family and one of the other on the same port
 * conflict, in one network as across networks); a removed v6 forward's connections are cut with conntrack's IPv6
 * table; the spec keeps the canonical text, and libvirt's metadata carries it.
 */
import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { checkChange, planChange, renderNetworkXml } from "../drivers/registry";
import { parseNetworkXml } from "../render/network-xml";
import { changeOfBody } from "./__fixtures__/change-of-body";
import type { PortForwardSpec } from "./firewall";
import type { NetSpec } from "./network-spec";

const base: NetSpec = {
  type: "nat",
  name: "web",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-12-06T00:00:00.000Z",
  bridge: "nf-web",
  cidr: "10.5.0.0/24",
  gateway: "10.5.0.1",
  dhcp: { enabled: true, start: "10.5.0.100", end: "10.5.0.200", leaseTime: 3600 },
  reservations: [],
};
const dual: NetSpec = { ...base, ipv6: { cidr: "fd00:5::/64", gateway: "fd00:5::1", mode: "slaac", dhcp: null, routed: false } } as NetSpec;
const idle = { active: true, leases: [] };
const add = (p: Record<string, unknown>) =>
  changeOfBody("configure-network-port-forward", { action: "add", protocol: "tcp", hostPort: 8080, vmPort: 80, ...p });
const remove = (p: Record<string, unknown>) =>
  changeOfBody("configure-network-port-forward", { action: "remove", protocol: "tcp", hostPort: 8080, ...p });
const withForwards = (spec: NetSpec, portForwards: PortForwardSpec[]): NetSpec => ({ ...spec, portForwards }) as NetSpec;

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("not refused");
}

describe("IPv6 port forwards: the target", () => {
  it("an IPv6 vmIp of the prefix is added in its canonical text; the nft chains and the spec carry it", () => {
    const plan = planChange(dual, add({ vmIp: "FD00:5:0:0::10" }), idle);
    expect(plan.changed).toEqual(["added forward tcp 8080 -> [fd00:5::10]:80"]);
    expect((plan.spec as { portForwards: PortForwardSpec[] }).portForwards).toEqual([
      { protocol: "tcp", hostPort: 8080, vmIp: "fd00:5::10", vmPort: 80 },
    ]);
    expect(plan.steps.map((s) => s.name)).toContain("apply firewall (one nft transaction)");
  });

  it("libvirt's metadata keeps an IPv6 forward (a colon needs no escaping there) and gives it back", () => {
    const spec = withForwards(dual, [
      { protocol: "tcp", hostPort: 8080, vmIp: "fd00:5::10", vmPort: 80, hostIp: "fd00:99::2" },
      { protocol: "udp", hostPort: 5353, vmIp: "fd00:5::11", vmPort: 53 },
      { protocol: "tcp", hostPort: 2222, vmIp: "10.5.0.5", vmPort: 22 },
    ]);
    const xml = renderNetworkXml(spec);
    expect(xml).toContain(
      "<nf:portForwards>tcp,8080,fd00:5::10,80,fd00:99::2 udp,5353,fd00:5::11,53 tcp,2222,10.5.0.5,22</nf:portForwards>",
    );
    expect((parseNetworkXml(xml).spec as { portForwards: PortForwardSpec[] }).portForwards).toEqual(
      (spec as { portForwards: PortForwardSpec[] }).portForwards,
    );
  });

  it("a network without IPv6: 422 UNSUPPORTED_FOR_TYPE saying so (nothing planned)", () => {
    const e = refusal(() => checkChange(base, add({ vmIp: "fd00:5::10" }), idle));
    expect([e.code, e.status]).toEqual(["UNSUPPORTED_FOR_TYPE", 422]);
    expect(e.message).toMatch(/network 'web' has no IPv6.*create the network with ipv6/);
  });

  it("outside the prefix, the prefix's own address, the gateway: 400 on vmIp naming why (as an IPv4 vmIp outside the subnet)", () => {
    for (const [vmIp, why] of [
      ["fd00:6::10", /outside the network's IPv6 prefix fd00:5::\/64/],
      ["fd00:5::", /the prefix's own address/],
      ["fd00:5::1", /the network's IPv6 gateway/],
      ["::1", /outside/],
    ] as const) {
      const e = refusal(() => checkChange(dual, add({ vmIp }), idle));
      expect([e.code, e.status], vmIp).toEqual(["VALIDATION_FAILED", 400]);
      expect(JSON.stringify(e.details), vmIp).toMatch(/"path":"vmIp"/);
      expect(e.message, vmIp).toMatch(why);
    }
  });

  it("hostIp is of vmIp's family: 400 on hostIp either way", () => {
    for (const p of [
      { vmIp: "fd00:5::10", hostIp: "198.51.100.2" },
      { vmIp: "10.5.0.5", hostIp: "fd00:99::2" },
    ]) {
      const e = refusal(() => checkChange(dual, add(p), idle));
      expect([e.code, e.status]).toEqual(["VALIDATION_FAILED", 400]);
      expect(e.message).toMatch(/hostIp.*must be of vmIp's family/);
    }
    expect(() => checkChange(dual, add({ vmIp: "fd00:5::10", hostIp: "fd00:99::2" }), idle)).not.toThrow();
  });
});

describe("IPv6 port forwards: one claim per host port and protocol across families", () => {
  const v4all: PortForwardSpec = { protocol: "tcp", hostPort: 8080, vmIp: "10.5.0.5", vmPort: 80 };
  const v4bound: PortForwardSpec = { ...v4all, hostIp: "198.51.100.2" };

  it("an every-address forward of the other family on the same port: 409 PORT_CONFLICT naming it, never a silent switch", () => {
    const e = refusal(() => checkChange(withForwards(dual, [v4all]), add({ vmIp: "fd00:5::10" }), idle));
    expect([e.code, e.status]).toEqual(["PORT_CONFLICT", 409]);
    expect(e.message).toMatch(/already forwards tcp 8080 -> 10\.5\.0\.5:80 \(IPv4\); a forward has one family/);
    expect(e.details).toMatchObject({ heldBy: { network: "web", forward: v4all } });
    // And the other way round.
    const v6all: PortForwardSpec = { ...v4all, vmIp: "fd00:5::10" };
    expect(refusal(() => checkChange(withForwards(dual, [v6all]), add({ vmIp: "10.5.0.6" }), idle)).code).toBe("PORT_CONFLICT");
    // The same family re-targets, as before.
    expect(planChange(withForwards(dual, [v6all]), add({ vmIp: "fd00:5::11" }), idle).changed).toEqual([
      "forward tcp 8080 -> [fd00:5::10]:80 now -> [fd00:5::11]:80",
    ]);
  });

  it("every address overlaps a bound forward of either family; two bound forwards of two families coexist", () => {
    expect(refusal(() => checkChange(withForwards(dual, [v4bound]), add({ vmIp: "fd00:5::10" }), idle)).code).toBe("PORT_CONFLICT");
    expect(() => checkChange(withForwards(dual, [v4bound]), add({ vmIp: "fd00:5::10", hostIp: "fd00:99::2" }), idle)).not.toThrow();
  });

  it("remove names the forward by protocol, port and hostIp (an IPv6 one in any spelling); its connections end in conntrack's IPv6 table", () => {
    const bound6: PortForwardSpec = { protocol: "tcp", hostPort: 8080, vmIp: "fd00:5::10", vmPort: 80, hostIp: "fd00:99::2" };
    const plan = planChange(withForwards(dual, [bound6]), remove({ hostIp: "FD00:99:0::2" }), idle);
    expect(plan.changed).toEqual(["removed forward tcp [fd00:99::2]:8080 -> [fd00:5::10]:80"]);
    const cut = plan.steps.find((s) => s.command?.[0] === "conntrack");
    expect(cut?.command).toEqual([
      "conntrack",
      "-D",
      "-f",
      "ipv6",
      "-p",
      "tcp",
      "--orig-dst",
      "fd00:99::2",
      "--orig-port-dst",
      "8080",
      "--reply-src",
      "fd00:5::10",
      "--reply-port-src",
      "80",
    ]);
    // An IPv4 forward's cut stays as it was (no family flag: conntrack's default is IPv4).
    const v4plan = planChange(withForwards(dual, [v4all]), remove({}), idle);
    expect(v4plan.steps.find((s) => s.command?.[0] === "conntrack")?.command?.slice(0, 4)).toEqual(["conntrack", "-D", "-p", "tcp"]);
  });
});
