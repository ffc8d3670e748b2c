import { describe, expect, it } from "vitest";
import { JOB_DEFS } from "../actions/jobs";
import type { AppError } from "../errors";
import { changeHostSteps } from "../plan/change-steps";
import { planDelete } from "../plan/lifecycle";
import { commandOf } from "../plan/steps";
import { dhcpOptionsFile, parseNetworkXml, renderRoutedXml } from "../render/network-xml";
import { planChange } from "../drivers/registry";
import { CreateNetworkBody, ConfigureMtuBody, resolveCreate } from "../schemas/network";
import { parseCreatePayload } from "../schemas/payload-parse";
import { changeOfBody } from "./__fixtures__/change-of-body";
import type { BridgeNetSpec, RoutedNetSpec, SriovNetSpec } from "./network-spec";

const spec: RoutedNetSpec = {
  type: "nat",
  name: "web",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-web",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.1",
  dhcp: { enabled: true, start: "10.1.0.100", end: "10.1.0.200", leaseTime: 3600 },
  reservations: [],
  mtu: 1400,
};
const up = { active: true, leases: [] };
const OPTIONS = `/var/lib/libvirt/dnsmasq/netforge-${spec.uuid}.options`;

function refusal(f: () => unknown): AppError {
  try {
    f();
  } catch (e) {
    return e as AppError;
  }
  throw new Error("not refused");
}

describe("the MTU in bodies", () => {
  it("configure-network-mtu takes a whole number of bytes from 576 to 9000, nothing else", () => {
    for (const mtu of [576, 1280, 1400, 1500, 9000]) expect(ConfigureMtuBody.safeParse({ name: "web", mtu }).success).toBe(true);
    const issue = (mtu: unknown) => ConfigureMtuBody.safeParse({ name: "web", mtu }).error?.issues[0];
    expect(issue(575)?.message).toBe("must be at least 576");
    expect(issue(100)?.path).toEqual(["mtu"]);
    expect(issue(9001)?.message).toBe("must be at most 9000");
    expect(issue(10000)?.message).toBe("must be at most 9000");
    expect(issue(1400.5)?.message).toBe("must be a whole number of bytes");
    expect(issue("1400")?.message).toBe("must be a whole number of bytes");
    expect(issue(undefined)).toMatchObject({ path: ["mtu"], message: "is required" });
    expect(ConfigureMtuBody.safeParse({ name: "web", mtu: 1400, extra: 1 }).success).toBe(false);
    // IPv6 networks will need at least 1280 (docs/adr/0042-network-mtu.md); none exist yet.
  });

  it("is a create field of nat and isolated (kept in the resolved spec and its queued payload), none of bridge and sriov", () => {
    const nat = CreateNetworkBody.parse({ name: "web", type: "nat", cidr: "10.1.0.0/24", mtu: 1400 });
    expect(resolveCreate(nat)).toMatchObject({ mtu: 1400 });
    const iso = CreateNetworkBody.parse({ name: "web", type: "isolated", cidr: "10.1.0.0/24", mtu: 9000 });
    expect(resolveCreate(iso)).toMatchObject({ mtu: 9000 });
    expect("mtu" in resolveCreate(CreateNetworkBody.parse({ name: "web", type: "nat", cidr: "10.1.0.0/24" }))).toBe(false);
    expect(CreateNetworkBody.safeParse({ name: "web", type: "nat", cidr: "10.1.0.0/24", mtu: 100 }).success).toBe(false);
    for (const body of [
      { name: "lan", type: "bridge", interface: "eth1", mtu: 1400 },
      { name: "fast", type: "sriov", pf: "enp3s0f0", vfs: 2, mtu: 1400 },
    ]) {
      const r = CreateNetworkBody.safeParse(body);
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]).toMatchObject({ code: "unrecognized_keys", keys: ["mtu"] });
    }
    // The queued payload (the resolved spec) parses back with its MTU.
    const { requestedHost: _h, ...resolved } = resolveCreate(nat);
    const payload = { ...resolved, uuid: spec.uuid, host: "hv1", createdAt: spec.createdAt };
    expect(parseCreatePayload(payload)).toEqual({ ok: true, value: payload });
    expect(parseCreatePayload({ ...payload, mtu: 50 }).ok).toBe(false);
  });
});

describe("the MTU in the definition", () => {
  it("renders libvirt's <mtu> and the dnsmasq options file line, and parses back to the same spec", () => {
    const xml = renderRoutedXml(spec);
    expect(xml.split("\n")[0]).toBe("<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>");
    expect(xml).toContain("  <bridge name='nf-web' stp='on' delay='0'/>\n  <mtu size='1400'/>\n");
    expect(xml).toContain(`  <dnsmasq:options>\n    <dnsmasq:option value='dhcp-optsfile=${OPTIONS}'/>\n  </dnsmasq:options>\n</network>`);
    const parsed = parseNetworkXml(xml);
    expect(parsed.mtu).toBe(1400);
    expect(parsed.spec).toEqual(spec);
    expect(dhcpOptionsFile(spec.uuid)).toBe(OPTIONS);
  });

  it("a spec without an MTU renders neither (definitions written before are unchanged)", () => {
    const { mtu: _m, ...without } = spec;
    const xml = renderRoutedXml(without);
    expect(xml.startsWith("<network>\n")).toBe(true);
    expect(xml).not.toContain("mtu");
    expect(xml).not.toContain("dnsmasq");
    expect(parseNetworkXml(xml).mtu).toBeNull();
    expect(parseNetworkXml(xml).spec).toEqual(without);
  });

  it("reads libvirt's own <mtu> as libvirt writes it back, and ignores one that is no number", () => {
    const libvirt = renderRoutedXml(spec).replace("<mtu size='1400'/>", '<mtu size="1300"/>');
    expect(parseNetworkXml(libvirt).spec).toMatchObject({ mtu: 1300 });
    expect(parseNetworkXml(renderRoutedXml(spec).replace("size='1400'", "size='x'")).mtu).toBeNull();
  });
});

describe("delete-network of a network with an MTU", () => {
  it("removes its DHCP options file last; a network without an MTU has none to remove", () => {
    const net = { active: false, autostart: true, xml: renderRoutedXml(spec), forwardMode: "open", firewall: null };
    const steps = planDelete(spec, "web", net, { links: [], pfs: [] }).phases.flatMap((p) => p.hostSteps.map(commandOf));
    expect(steps).toEqual([
      ["virsh", "net-undefine", "web"],
      ["rm", "-f", OPTIONS],
    ]);
    const { mtu: _m, ...plain } = spec;
    expect(planDelete(plain, "web", net, { links: [], pfs: [] }).phases.flatMap((p) => p.hostSteps.map(commandOf))).toEqual([
      ["virsh", "net-undefine", "web"],
    ]);
  });
});

describe("planChange: configure-network-mtu", () => {
  it("a running network: its bridge and ports, the DHCP options file, then the definition; the guests' note in changed", () => {
    const p = planChange(spec, { kind: "mtu", mtu: 1300 }, up);
    expect(changeHostSteps(p).map(commandOf)).toEqual([
      ["ip", "link", "set", "dev", "nf-web", "mtu", "1300"],
      ["write", OPTIONS, "tag:nf-web,option:mtu,1300\n"],
      ["virsh", "net-define", "<file>"],
    ]);
    expect(p.steps.map((s) => s.live)).toEqual([true, true, false]);
    expect(p.steps[2]?.undo?.xml).toBe(renderRoutedXml(spec));
    expect(p.spec).toEqual({ ...spec, mtu: 1300 });
    expect(p.libvirtXml).toContain("<mtu size='1300'/>");
    expect(p.changed).toEqual([
      "MTU 1400 -> 1300",
      "guests learn MTU 1300 at their next DHCP lease or renewal; until then they keep the one they have",
    ]);
    expect(p.notLive).toEqual([]);
  });

  it("the same MTU changes nothing", () => {
    const p = planChange(spec, { kind: "mtu", mtu: 1400 }, up);
    expect(p.steps).toEqual([]);
    expect(p.changed).toEqual([]);
  });

  it("a stopped network: only its definition, effective at its start", () => {
    const p = planChange(spec, { kind: "mtu", mtu: 1300 }, { active: false, leases: [] });
    expect(p.steps.map((s) => s.virsh[0])).toEqual(["net-define"]);
    expect(p.notLive).toEqual(["network is not running: the change takes effect when it starts"]);
  });

  it("without DHCP: no options file; a dnsmasq started without an MTU: the DHCP part waits for the next start (notLive)", () => {
    const noDhcp = planChange(
      { ...spec, dhcp: { enabled: false, start: null, end: null, leaseTime: null } },
      { kind: "mtu", mtu: 1300 },
      up,
    );
    expect(noDhcp.steps.map((s) => (s.linkMtu ? "link" : s.dhcpOptions ? "options" : s.virsh[0]))).toEqual(["link", "net-define"]);
    expect(noDhcp.notLive).toEqual([]);
    expect(noDhcp.changed[1]).toBe("the network has no DHCP: guests keep their MTU until it is set on them (MTU 1300)");
    const { mtu: _m, ...plain } = spec;
    const first = planChange(plain, { kind: "mtu", mtu: 1300 }, up);
    expect(first.changed[0]).toBe("MTU not set (the host's) -> 1300");
    expect(first.notLive).toEqual([
      "DHCP: the running DHCP server was started without an MTU and hands out MTU 1300 from the network's next start (stop-network + start-network); the bridge and its ports have it now",
    ]);
    // The worker's reading of dnsmasq's configuration decides, whatever the spec says.
    expect(planChange(spec, { kind: "mtu", mtu: 1300 }, { ...up, dhcpOptionsLive: false }).notLive).toHaveLength(1);
    expect(planChange(plain, { kind: "mtu", mtu: 1300 }, { ...up, dhcpOptionsLive: true }).notLive).toEqual([]);
  });

  it("the body is the change; bridge and sriov refuse it (UNSUPPORTED_FOR_TYPE naming the MTU)", () => {
    expect(changeOfBody("configure-network-mtu", { mtu: 1500 })).toEqual({ kind: "mtu", mtu: 1500 });
    expect(JOB_DEFS["configure-network-mtu"].payload({ name: "web", mtu: 10 }).ok).toBe(false);
    const bridge: BridgeNetSpec = {
      type: "bridge",
      name: "lan",
      uuid: spec.uuid,
      description: "",
      createdAt: spec.createdAt,
      bridge: "br0",
      interface: null,
      created: null,
    };
    const err = refusal(() => planChange(bridge, { kind: "mtu", mtu: 1400 }, up));
    expect(err.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(err.message).toMatch(/^network 'lan' is of type bridge: no MTU of netforge's \(the LAN's MTU is the LAN's own\) here; /);
    const sriov: SriovNetSpec = {
      type: "sriov",
      name: "fast",
      uuid: spec.uuid,
      description: "",
      createdAt: spec.createdAt,
      pf: "enp3s0f0",
      vfs: 2,
      vlan: null,
    };
    expect(refusal(() => planChange(sriov, { kind: "mtu", mtu: 1400 }, up)).code).toBe("UNSUPPORTED_FOR_TYPE");
  });
});

describe("the MTU of a network with IPv6", () => {
  it("configure-network-mtu below 1280 is refused on a network with IPv6 (400), allowed without", () => {
    const v6: RoutedNetSpec = {
      ...spec,
      ipv6: { cidr: "fd00:1::/64", gateway: "fd00:1::1", mode: "slaac", dhcp: null, routed: false },
    };
    const e = refusal(() => planChange(v6, { kind: "mtu", mtu: 1200 }, up));
    expect(e.code).toBe("VALIDATION_FAILED");
    expect(e.message).toContain("mtu: must be at least 1280 on a network with IPv6 (fd00:1::/64)");
    expect(planChange(v6, { kind: "mtu", mtu: 1280 }, up).spec).toMatchObject({ mtu: 1280 });
    expect(planChange(spec, { kind: "mtu", mtu: 1200 }, up).spec).toMatchObject({ mtu: 1200 });
  });
});

describe("IPv6 firewall rules and the network's IPv6", () => {
  it("an IPv6 rule on a network without IPv6 is refused (400), on one with IPv6 planned", () => {
    const rule = {
      direction: "inbound" as const,
      protocol: "any" as const,
      source: "fd00:99::1/128",
      destination: null,
      ports: null,
      action: "drop" as const,
      comment: null,
    };
    const firewall = { defaultInbound: "accept" as const, defaultOutbound: "accept" as const, rules: [rule] };
    const e = refusal(() => planChange(spec, { kind: "firewall", firewall }, up));
    expect(e.code).toBe("VALIDATION_FAILED");
    expect(e.message).toContain("rules.0: an IPv6 rule needs a network with IPv6");
    const v6: RoutedNetSpec = { ...spec, ipv6: { cidr: "fd00:1::/64", gateway: "fd00:1::1", mode: "slaac", dhcp: null, routed: false } };
    expect(planChange(v6, { kind: "firewall", firewall }, up).spec).toMatchObject({ firewall });
  });
});
