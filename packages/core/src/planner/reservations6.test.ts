import { describe, expect, it } from "vitest";
import type { AppError } from "../errors";
import { parseNetworkXml, renderRoutedXml } from "../render/network-xml";
import { planChange } from "../drivers/registry";
import { AssignStaticIpBody } from "../schemas/ipam";
import { changeOfBody } from "./__fixtures__/change-of-body";
import type { RoutedNetSpec } from "./network-spec";

// IPv6 reservations (ADR 0045, second slice): by DUID on the IPv6 <ip>, dhcpv6 mode only.

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
  reservations: [{ mac: "52:54:00:00:00:01", ip: "10.1.0.10", hostname: "db" }],
  ipv6: {
    cidr: "fd10:1::/64",
    gateway: "fd10:1::1",
    mode: "dhcpv6",
    dhcp: { start: "fd10:1::100", end: "fd10:1::1ff", leaseTime: 600 },
    routed: false,
  },
};
const DUID = "00:03:00:01:52:54:00:00:00:02";
const up = { active: true, leases: [{ ip: "fd10:1::150", mac: "", duid: "00:03:00:01:52:54:00:00:00:99" }] };
const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as AppError).code;
  }
  return "none";
};
const assign = (body: Record<string, unknown>, s: RoutedNetSpec = spec) => planChange(s, changeOfBody("assign-static-ip", body), up);
const unassign = (body: Record<string, unknown>, s: RoutedNetSpec) => planChange(s, changeOfBody("unassign-static-ip", body), up);

describe("assign-static-ip with an IPv6 ip", () => {
  it("adds a host by DUID on the IPv6 <ip> (--parent-index 1), live, with its undo; the definition carries it", () => {
    const p = assign({ duid: DUID, ip: "fd10:1::10", hostname: "db6" });
    const host = `<host id='${DUID}' name='db6' ip='fd10:1::10'/>`;
    expect(p.steps.map((s) => s.virsh)).toEqual([
      ["net-update", "web", "add", "ip-dhcp-host", host, "--live", "--parent-index", "1"],
      ["net-define", "<file>"],
    ]);
    expect(p.steps[0]?.undo?.virsh).toEqual(["net-update", "web", "delete", "ip-dhcp-host", host, "--live", "--parent-index", "1"]);
    const xml = p.steps[1]?.xml ?? "";
    // In the IPv6 <ip>'s <dhcp>, after its range; the IPv4 <ip> keeps its own host only.
    expect(xml.indexOf(host)).toBeGreaterThan(xml.indexOf("<ip family='ipv6'"));
    const back = parseNetworkXml(xml);
    expect(back.hosts6).toEqual([{ duid: DUID, ip: "fd10:1::10", hostname: "db6" }]);
    expect(back.hosts.map((h) => h.mac)).toEqual(["52:54:00:00:00:01"]);
    expect((back.spec as RoutedNetSpec).reservations6).toEqual([{ duid: DUID, ip: "fd10:1::10", hostname: "db6" }]);
    expect(p.changed).toEqual([`reserved fd10:1::10 for DUID ${DUID}`]);
  });
  it("a stopped network: the definition only (--config)", () => {
    const p = planChange(spec, changeOfBody("assign-static-ip", { duid: DUID, ip: "fd10:1::10" }), { active: false, leases: [] });
    expect(p.steps[0]?.virsh).toEqual([
      "net-update",
      "web",
      "add",
      "ip-dhcp-host",
      `<host id='${DUID}' ip='fd10:1::10'/>`,
      "--config",
      "--parent-index",
      "1",
    ]);
  });
  it("canonical DUID (two lowercase digits a byte) and address text", () => {
    const p = assign({ duid: "0:3:0:1:52:54:0:0:0:2", ip: "FD10:1:0:0::10" });
    expect((p.spec as RoutedNetSpec).reservations6).toEqual([{ duid: DUID, ip: "fd10:1::10", hostname: null }]);
    expect(AssignStaticIpBody.safeParse({ name: "web", duid: "00:03:zz", ip: "fd10:1::10" }).success).toBe(false);
    expect(AssignStaticIpBody.safeParse({ name: "web", duid: "00:03", ip: "fd10:1::10" }).success).toBe(false);
    expect(AssignStaticIpBody.safeParse({ name: "web", duid: DUID, ip: "fd10:1::1::2" }).success).toBe(false);
  });
  it("refuses a MAC with an IPv6 ip, an IPv6 ip without a DUID and a DUID with an IPv4 ip (400, operator's words)", () => {
    const issues = (body: Record<string, unknown>) => {
      try {
        assign(body);
      } catch (e) {
        return JSON.stringify((e as AppError).details);
      }
      return "none";
    };
    expect(issues({ mac: "52:54:00:00:00:02", ip: "fd10:1::10" })).toMatch(/by DHCPv6 client id \(duid\), not MAC.*duid.*is required/);
    expect(issues({ duid: DUID, ip: "10.1.0.11" })).toMatch(/must be an IPv6 address inside fd10:1::\/64 with a duid/);
    expect(issues({ ip: "10.1.0.11" })).toMatch(/is required with an IPv4 ip \(an IPv6 reservation takes duid\)/);
    expect(issues({ duid: DUID, ip: "fd10:2::10" })).toMatch(/must be inside fd10:1::\/64/);
  });
  it("refuses the gateway and the prefix's own address, a taken address or DUID, another client's lease (IP_CONFLICT)", () => {
    expect(code(() => assign({ duid: DUID, ip: "fd10:1::1" }))).toBe("IP_CONFLICT");
    expect(code(() => assign({ duid: DUID, ip: "fd10:1::" }))).toBe("IP_CONFLICT");
    const one = assign({ duid: DUID, ip: "fd10:1::10" }).spec as RoutedNetSpec;
    expect(code(() => assign({ duid: "00:03:00:01:52:54:00:00:00:03", ip: "fd10:1::10" }, one))).toBe("IP_CONFLICT");
    expect(code(() => assign({ duid: DUID, ip: "fd10:1::11" }, one))).toBe("IP_CONFLICT");
    expect(assign({ duid: DUID, ip: "fd10:1::10" }, one).steps).toEqual([]); // the same again changes nothing
    expect(code(() => assign({ duid: DUID, ip: "fd10:1::150" }))).toBe("IP_CONFLICT");
    const forced = assign({ duid: DUID, ip: "fd10:1::150", force: true });
    expect(forced.warnings.join(" ")).toMatch(/inside the DHCPv6 range.*leased to 00:03:00:01:52:54:00:00:00:99/);
  });
  it("422 UNSUPPORTED_FOR_TYPE on a network without IPv6 or in slaac mode, saying why", () => {
    const { ipv6: _v6, ...plain } = spec;
    expect(code(() => assign({ duid: DUID, ip: "fd10:1::10" }, plain))).toBe("UNSUPPORTED_FOR_TYPE");
    const slaac: RoutedNetSpec = { ...spec, ipv6: { cidr: "fd10:1::/64", gateway: "fd10:1::1", mode: "slaac", dhcp: null, routed: false } };
    try {
      assign({ duid: DUID, ip: "fd10:1::10" }, slaac);
      expect.unreachable();
    } catch (e) {
      expect((e as AppError).code).toBe("UNSUPPORTED_FOR_TYPE");
      expect((e as AppError).message).toMatch(/IPv6 mode is slaac.*need mode dhcpv6/);
    }
  });
});

describe("unassign-static-ip with a duid", () => {
  const one: RoutedNetSpec = { ...spec, reservations6: [{ duid: DUID, ip: "fd10:1::10", hostname: null }] };
  it("deletes the host on the IPv6 <ip>; the spec loses the field with its last one", () => {
    const p = unassign({ duid: DUID }, one);
    expect(p.steps[0]?.virsh).toEqual([
      "net-update",
      "web",
      "delete",
      "ip-dhcp-host",
      `<host id='${DUID}' ip='fd10:1::10'/>`,
      "--live",
      "--parent-index",
      "1",
    ]);
    expect("reservations6" in p.spec).toBe(false);
    expect(renderRoutedXml(p.spec as RoutedNetSpec)).toBe(renderRoutedXml(spec));
  });
  it("NOT_FOUND for an unknown DUID; 400 for mac and duid together or neither", () => {
    expect(code(() => unassign({ duid: "00:03:00:01:52:54:00:00:00:07" }, one))).toBe("NOT_FOUND");
    expect(code(() => unassign({ duid: DUID, mac: "52:54:00:00:00:01" }, one))).toBe("VALIDATION_FAILED");
    expect(code(() => unassign({}, one))).toBe("VALIDATION_FAILED");
  });
  it("a retried job converges: a host libvirt already has is not added again, one it lost not deleted", () => {
    const host = { duid: DUID, ip: "fd10:1::10", hostname: null };
    const again = planChange(spec, changeOfBody("assign-static-ip", { duid: DUID, ip: "fd10:1::10" }), {
      ...up,
      native: { hosts: spec.reservations, range: null, hosts6: [host] },
    });
    expect(again.steps.map((s) => s.virsh[0])).toEqual(["net-define"]);
    const gone = planChange(one, changeOfBody("unassign-static-ip", { duid: DUID }), {
      ...up,
      native: { hosts: [], range: null, hosts6: [] },
    });
    expect(gone.steps.map((s) => s.virsh[0])).toEqual(["net-define"]);
  });
});
