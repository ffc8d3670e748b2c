import { describe, expect, it } from "vitest";
import type { AppError } from "../errors";
import { parseNetworkXml } from "../render/network-xml";
import { planChange } from "../drivers/registry";
import { changeOfBody } from "./__fixtures__/change-of-body";
import type { RoutedNetSpec as NetSpec, RoutedNetSpec } from "./network-spec";

const spec: NetSpec = {
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
};
const up = { active: true, leases: [{ ip: "10.1.0.150", mac: "52:54:00:00:00:99" }] };
const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as AppError).code;
  }
  return "none";
};

describe("planChange: assign-static-ip", () => {
  const assign = (ip: string, mac = "52:54:00:00:00:02", force = false) =>
    planChange(spec, { kind: "reserve-ip", mac, ip, hostname: null, force }, up);
  it("plans a live host add and the spec write (the persistent definition, new host included), each with its undo", () => {
    const p = assign("10.1.0.11");
    expect(p.steps.map((s) => s.virsh)).toEqual([
      ["net-update", "web", "add", "ip-dhcp-host", "<host mac='52:54:00:00:00:02' ip='10.1.0.11'/>", "--live"],
      ["net-define", "<file>"],
    ]);
    expect(p.steps[0]?.undo?.virsh).toEqual([
      "net-update",
      "web",
      "delete",
      "ip-dhcp-host",
      "<host mac='52:54:00:00:00:02' ip='10.1.0.11'/>",
      "--live",
    ]);
    const defined = parseNetworkXml(p.steps[1]?.xml ?? "");
    expect((defined.spec as NetSpec | null)?.reservations).toHaveLength(2);
    // The persistent definition itself carries the new host (no net-update --config writes it).
    expect(p.steps[1]?.xml).toContain("<host mac='52:54:00:00:00:02' ip='10.1.0.11'/>");
    expect(p.warnings).toEqual([]);
  });
  it("refuses outside the subnet (400), network/gateway/broadcast and reserved IP or MAC (IP_CONFLICT)", () => {
    expect(code(() => assign("10.2.0.5"))).toBe("VALIDATION_FAILED");
    for (const ip of ["10.1.0.0", "10.1.0.1", "10.1.0.255", "10.1.0.10"]) expect(code(() => assign(ip))).toBe("IP_CONFLICT");
    expect(code(() => assign("10.1.0.12", "52:54:00:00:00:01"))).toBe("IP_CONFLICT");
  });
  it("refuses an IP leased to another MAC unless forced; warns inside the range", () => {
    expect(code(() => assign("10.1.0.150"))).toBe("IP_CONFLICT");
    const forced = assign("10.1.0.150", "52:54:00:00:00:02", true);
    expect(forced.warnings.join(" ")).toMatch(/inside the dynamic range/);
    expect(forced.warnings.join(" ")).toMatch(/leased to 52:54:00:00:00:99/);
  });
  it("repeating the same reservation plans nothing", () => {
    expect(planChange(spec, { kind: "reserve-ip", mac: "52:54:00:00:00:01", ip: "10.1.0.10", hostname: "db" }, up).steps).toEqual([]);
  });
  it("on a stopped network changes the persistent definition only and says so", () => {
    const p = planChange(spec, { kind: "reserve-ip", mac: "52:54:00:00:00:02", ip: "10.1.0.11" }, { active: false, leases: [] });
    expect(p.steps[0]?.virsh.at(-1)).toBe("--config");
    expect(p.notLive).toHaveLength(1);
  });
});

describe("planChange: unassign-static-ip and dhcp", () => {
  it("unassign deletes the exact host element; unknown MAC is NOT_FOUND", () => {
    const p = planChange(spec, { kind: "release-ip", mac: "52:54:00:00:00:01" }, up);
    expect(p.steps[0]?.virsh).toEqual([
      "net-update",
      "web",
      "delete",
      "ip-dhcp-host",
      "<host mac='52:54:00:00:00:01' name='db' ip='10.1.0.10'/>",
      "--live",
    ]);
    expect((p.spec as NetSpec).reservations).toEqual([]);
    expect(code(() => planChange(spec, { kind: "release-ip", mac: "52:54:00:00:00:07" }, up))).toBe("NOT_FOUND");
  });
  it("moves the range: delete old, add new with its lease time, live", () => {
    const p = planChange(spec, { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40", leaseTime: 300 }, up);
    expect(p.steps.map((s) => (s.endDnsmasq ? ["end dnsmasq"] : s.xml === undefined ? s.virsh.slice(2, 5) : s.virsh))).toEqual([
      ["end dnsmasq"],
      ["delete", "ip-dhcp-range", "<range start='10.1.0.100' end='10.1.0.200'><lease expiry='3600' unit='seconds'/></range>"],
      ["end dnsmasq"],
      ["add", "ip-dhcp-range", "<range start='10.1.0.20' end='10.1.0.40'><lease expiry='300' unit='seconds'/></range>"],
      ["net-define", "<file>"],
    ]);
    expect(p.changed).toEqual(["range 10.1.0.100-10.1.0.200 -> 10.1.0.20-10.1.0.40", "lease time 3600 s -> 300 s"]);
  });
  it("validates the range (gateway, order, subnet) and reservations inside it leased to others", () => {
    expect(code(() => planChange(spec, { kind: "dhcp", start: "10.1.0.1", end: "10.1.0.40" }, up))).toBe("VALIDATION_FAILED");
    expect(code(() => planChange(spec, { kind: "dhcp", start: "10.1.0.50", end: "10.1.0.40" }, up))).toBe("VALIDATION_FAILED");
    expect(code(() => planChange(spec, { kind: "dhcp", start: "10.1.0.50", end: "10.1.1.40" }, up))).toBe("VALIDATION_FAILED");
    const taken = { active: true, leases: [{ ip: "10.1.0.10", mac: "52:54:00:00:00:77" }] };
    expect(code(() => planChange(spec, { kind: "dhcp", start: "10.1.0.5", end: "10.1.0.40" }, taken))).toBe("IP_CONFLICT");
    expect(planChange(spec, { kind: "dhcp", start: "10.1.0.5", end: "10.1.0.40" }, up).warnings.join()).toMatch(
      /only 52:54:00:00:00:01 gets it/,
    );
  });
});

describe("planChange against libvirt's own elements (a retry after a worker died half-way)", () => {
  const native = (
    hosts = spec.reservations,
    range: { start: string; end: string; leaseTime: number | null } | null = { start: "10.1.0.100", end: "10.1.0.200", leaseTime: 3600 },
  ) => ({
    hosts,
    range,
  });
  it("a host entry already added: only the spec is written", () => {
    const added = { mac: "52:54:00:00:00:02", ip: "10.1.0.11", hostname: null };
    const p = planChange(
      spec,
      { kind: "reserve-ip", mac: added.mac, ip: added.ip },
      { ...up, native: native([...spec.reservations, added]) },
    );
    expect(p.steps.map((s) => s.virsh[0])).toEqual(["net-define"]);
    expect((p.spec as NetSpec).reservations).toContainEqual(added);
  });
  it("the old range already deleted: only the add and the spec write", () => {
    const p = planChange(
      spec,
      { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40", leaseTime: 300 },
      { ...up, native: native(spec.reservations, null) },
    );
    expect(p.steps.map((s) => s.virsh.slice(0, 3).join(" "))).toEqual(["", "net-update web add", "net-define <file>"]);
    expect(p.steps[0]?.endDnsmasq).toBeDefined();
  });
  it("the new range already in place: only the spec write", () => {
    const p = planChange(
      spec,
      { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40", leaseTime: 300 },
      { ...up, native: native(spec.reservations, { start: "10.1.0.20", end: "10.1.0.40", leaseTime: 300 }) },
    );
    expect(p.steps.map((s) => s.virsh[0])).toEqual(["net-define"]);
  });
  it("an unassign whose host entry is already gone: only the spec write", () => {
    const p = planChange(spec, { kind: "release-ip", mac: "52:54:00:00:00:01" }, { ...up, native: native([]) });
    expect(p.steps.map((s) => s.virsh[0])).toEqual(["net-define"]);
  });
  it("in the normal case the plan is the same with or without them (what the door plans is what the worker runs)", () => {
    const change = { kind: "reserve-ip" as const, mac: "52:54:00:00:00:02", ip: "10.1.0.11" };
    expect(planChange(spec, change, { ...up, native: native() }).steps).toEqual(planChange(spec, change, up).steps);
  });
});

describe("planChange: firewall", () => {
  const fw = {
    defaultInbound: "drop" as const,
    defaultOutbound: "accept" as const,
    rules: [
      {
        direction: "inbound" as const,
        protocol: "tcp" as const,
        source: null,
        destination: null,
        ports: "22",
        action: "accept" as const,
        comment: null,
      },
    ],
  };
  it("running network: one nft step (this network's chains), then the spec write carrying the rules", () => {
    const p = planChange(spec, { kind: "firewall", firewall: fw }, up);
    expect(p.steps.map((s) => s.name)).toEqual(["apply firewall (one nft transaction)", "write spec"]);
    expect(p.steps[0]?.nft).toBe(p.nft);
    expect(p.nft).toContain("chain web-in-rules {\n\t\ttcp dport 22 accept\n\t\tdrop\n\t}");
    expect((parseNetworkXml(p.libvirtXml).spec as RoutedNetSpec | null)?.firewall).toEqual(fw);
  });
  it("stopped network: only the spec (rules reach the kernel at its next start)", () => {
    const p = planChange(spec, { kind: "firewall", firewall: fw }, { active: false, leases: [] });
    expect(p.steps.map((s) => s.name)).toEqual(["write spec"]);
    expect(p.notLive.length).toBe(1);
  });
  it("the same rule set again: nothing to do", () => {
    expect(planChange({ ...spec, firewall: fw }, { kind: "firewall", firewall: fw }, up).steps).toEqual([]);
  });
  it("host services: replaced with the rule set, kept in the definition, opened in the host chain, named in the result", () => {
    const change = changeOfBody("configure-network-firewall", {
      name: "web",
      defaultInbound: "drop",
      defaultOutbound: "accept",
      rules: [{ direction: "inbound", protocol: "tcp", ports: "22", action: "accept" }],
      hostServices: [{ protocol: "tcp", ports: "8443" }],
    });
    const withServices = { ...fw, hostServices: [{ protocol: "tcp" as const, ports: "8443" }] };
    expect(change).toEqual({ kind: "firewall", firewall: withServices });
    const p = planChange(spec, change, up);
    expect(p.nft).toContain("\t\tmeta nfproto ipv4 tcp dport 8443 accept\n\t\tdrop comment");
    expect((parseNetworkXml(p.libvirtXml).spec as RoutedNetSpec | null)?.firewall).toEqual(withServices);
    expect(p.changed).toEqual([
      "firewall: 1 rules (1 inbound, 0 outbound), defaults inbound drop, outbound accept",
      "host services open to the VMs: tcp 8443",
    ]);
    // A body without them closes the host again (the whole firewall is replaced), and an empty list is no field.
    const closed = changeOfBody("configure-network-firewall", {
      defaultInbound: "drop",
      defaultOutbound: "accept",
      rules: [{ direction: "inbound", protocol: "tcp", ports: "22", action: "accept" }],
      hostServices: [],
    });
    expect(closed).toEqual({ kind: "firewall", firewall: fw });
    const q = planChange(p.spec, closed, up);
    expect(q.nft).not.toContain("8443");
    expect(q.changed[1]).toBe("host services open to the VMs: none");
  });
});

describe("planChange: port-forward", () => {
  const add = (b: Partial<{ hostPort: number; vmIp: string; vmPort: number; protocol: "tcp" | "udp" }>, s: NetSpec = spec) =>
    planChange(s, { kind: "port-forward", op: "add", protocol: "tcp", hostPort: 2222, vmIp: "10.1.0.10", vmPort: 22, ...b }, up);
  it("add: the forward in the spec and the table's map", () => {
    const p = add({});
    expect((p.spec as RoutedNetSpec).portForwards).toEqual([{ protocol: "tcp", hostPort: 2222, vmIp: "10.1.0.10", vmPort: 22 }]);
    expect(p.steps.map((s) => s.name)).toEqual(["apply firewall (one nft transaction)", "write spec"]);
    expect(p.changed).toEqual(["added forward tcp 2222 -> 10.1.0.10:22"]);
  });
  it("vmIp outside the subnet, the gateway, the broadcast: VALIDATION_FAILED; vmPort defaults to hostPort", () => {
    expect(code(() => add({ vmIp: "10.2.0.10" }))).toBe("VALIDATION_FAILED");
    expect(code(() => add({ vmIp: "10.1.0.1" }))).toBe("VALIDATION_FAILED");
    expect(code(() => add({ vmIp: "10.1.0.255" }))).toBe("VALIDATION_FAILED");
    const p = planChange(spec, { kind: "port-forward", op: "add", protocol: "udp", hostPort: 53, vmIp: "10.1.0.10" }, up);
    expect((p.spec as RoutedNetSpec).portForwards?.[0]?.vmPort).toBe(53);
  });
  it("isolated networks have no forwards: UNSUPPORTED_FOR_TYPE", () => {
    expect(code(() => add({}, { ...spec, type: "isolated" }))).toBe("UNSUPPORTED_FOR_TYPE");
  });
  it("remove: the conntrack flush of its connections follows the nft step; unknown forward NOT_FOUND", () => {
    const s = add({}).spec as RoutedNetSpec;
    const p = planChange(s, { kind: "port-forward", op: "remove", protocol: "tcp", hostPort: 2222 }, up);
    expect((p.spec as RoutedNetSpec).portForwards).toEqual([]);
    expect(p.steps.map((x) => x.command ?? x.name)).toEqual([
      "apply firewall (one nft transaction)",
      ["conntrack", "-D", "-p", "tcp", "--orig-port-dst", "2222", "--reply-src", "10.1.0.10", "--reply-port-src", "22"],
      "write spec",
    ]);
    expect(code(() => planChange(s, { kind: "port-forward", op: "remove", protocol: "udp", hostPort: 2222 }, up))).toBe("NOT_FOUND");
  });
  it("re-targeting a forward flushes the old target's connections; the same forward again changes nothing", () => {
    const s = add({}).spec as RoutedNetSpec;
    expect(add({}, s).steps).toEqual([]);
    const p = add({ vmIp: "10.1.0.11" }, s);
    expect((p.spec as RoutedNetSpec).portForwards).toEqual([{ protocol: "tcp", hostPort: 2222, vmIp: "10.1.0.11", vmPort: 22 }]);
    expect(p.steps.some((x) => x.command?.includes("10.1.0.10"))).toBe(true);
  });
});
