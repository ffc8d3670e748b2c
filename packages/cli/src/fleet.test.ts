import { describe, expect, it } from "vitest";
import { type DesiredNetwork, exportFleet, exportNetwork, type NetworkView, parseFleet, planNetwork, prunePlans } from "./fleet";

const head = { apiVersion: "netforge/v1", kind: "Fleet", metadata: { name: "lab" } };

/** A nat network as describe-network shows it. */
function view(o: Partial<NetworkView> = {}): NetworkView {
  return {
    name: "web",
    type: "nat",
    host: "h1",
    description: "",
    cidr: "10.10.0.0/24",
    gateway: "10.10.0.1",
    dhcp: { enabled: true, start: "10.10.0.128", end: "10.10.0.254", leaseTime: 3600 },
    autostart: true,
    bridge: { name: "nf-web", interface: null },
    sriov: null,
    firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [], hostServices: [] },
    portForwards: [],
    reservations: [],
    dnsHosts: [],
    managedBy: "lab",
    version: 4,
    ...o,
  };
}

function desired(n: Record<string, unknown>): DesiredNetwork {
  const r = parseFleet({ ...head, networks: [{ name: "web", type: "nat", host: "h1", cidr: "10.10.0.0/24", ...n }] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.fleet.networks[0] as DesiredNetwork;
}

describe("the desired-state file", () => {
  it("a valid file: its networks with the create body marked managedBy the file's name", () => {
    const d = desired({});
    expect(d.create).toMatchObject({ name: "web", type: "nat", managedBy: "lab" });
    expect(d.resolved.dhcp).toEqual({ enabled: true, start: "10.10.0.128", end: "10.10.0.254", leaseTime: 3600 });
    expect(d.firewall).toEqual({ defaultInbound: "accept", defaultOutbound: "accept", rules: [], hostServices: [] });
  });
  it("an invalid file is refused as a whole, naming the path of every error", () => {
    const r = parseFleet({
      apiVersion: "netforge/v2",
      kind: "Fleet",
      metadata: { name: "lab" },
      networks: [
        { name: "a", type: "nat", cidr: "10.1.0.5/24", start: false },
        {
          name: "b",
          type: "nat",
          cidr: "10.2.0.0/24",
          dhcp: { start: "10.9.0.1", end: "10.2.0.20" },
          firewall: { rules: [{ direction: "up" }] },
        },
        { name: "b", type: "isolated", cidr: "10.3.0.0/24", reservations: [{ mac: "zz", ip: "10.3.0.9" }], colour: "red" },
      ],
    });
    expect(r.ok).toBe(false);
    const paths = r.ok ? [] : r.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "apiVersion",
        "networks[0].start",
        "networks[0].cidr",
        "networks[1].firewall.rules[0].direction",
        "networks[1].dhcp.start",
        "networks[2].reservations[0].mac",
        "networks[2].colour",
      ]),
    );
  });
  it("duplicate names and a missing header are errors with their paths", () => {
    const r = parseFleet({
      ...head,
      networks: [
        { name: "x", type: "isolated", cidr: "10.4.0.0/24" },
        { name: "x", type: "isolated", cidr: "10.5.0.0/24" },
      ],
    });
    expect(r.ok ? [] : r.issues).toEqual([{ path: "networks[1].name", message: '"x" is also networks[0]\'s name' }]);
    const h = parseFleet({ networks: [] });
    expect(h.ok ? [] : h.issues.map((i) => i.path).sort()).toEqual(["apiVersion", "kind", "metadata"]);
  });
  it("ports written as YAML numbers are taken as the firewall's port text", () => {
    const d = desired({ firewall: { rules: [{ direction: "inbound", protocol: "tcp", ports: 22, action: "accept" }] } });
    expect(d.firewall.rules[0]?.ports).toBe("22");
  });
});

describe("the diff of one network", () => {
  it("equal: nothing to do", () => {
    expect(planNetwork(desired({}), view())).toEqual({ name: "web", kind: "none" });
  });
  it("a missing network: create (managedBy set), then one request per non-default part", () => {
    const p = planNetwork(desired({ dnsHosts: [{ ip: "10.10.0.5", names: ["db"] }] }), null);
    expect(p.kind).toBe("create");
    const reqs = p.kind === "create" ? p.requests : [];
    expect(reqs.map((r) => r.command.join(" "))).toEqual(["network create", "network dns"]);
    expect(reqs[0]?.body).toMatchObject({ managedBy: "lab" });
    expect(reqs[1]?.afterCreate).toBe(true);
  });
  const single: [string, Record<string, unknown>, string][] = [
    ["the DHCP range", { dhcp: { start: "10.10.0.100", end: "10.10.0.150" } }, "network dhcp"],
    ["the lease time", { dhcp: { leaseTime: 600 } }, "network dhcp"],
    [
      "a firewall rule",
      { firewall: { rules: [{ direction: "inbound", protocol: "tcp", ports: "22", action: "accept" }] } },
      "network firewall",
    ],
    ["a default verdict", { firewall: { defaultInbound: "drop" } }, "network firewall"],
    ["a host service", { firewall: { hostServices: [{ protocol: "tcp", ports: "3128" }] } }, "network firewall"],
    ["a port forward", { portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.10.0.9", vmPort: 22 }] }, "network forward"],
    ["a reservation", { reservations: [{ mac: "52:54:00:00:00:09", ip: "10.10.0.9" }] }, "network ip assign"],
    ["a DNS record", { dnsHosts: [{ ip: "10.10.0.9", names: ["db"] }] }, "network dns"],
    ["the MTU", { mtu: 1400 }, "network mtu"],
    ["a bandwidth limit", { qos: { network: { inbound: { averageKbps: 20000 } } } }, "network qos"],
  ];
  for (const [what, change, command] of single) {
    it(`${what} changed alone: exactly one change (${command}), with the network's version`, () => {
      const p = planNetwork(desired(change), view());
      expect(p.kind).toBe("update");
      if (p.kind !== "update") return;
      expect(p.version).toBe(4);
      expect(p.requests.map((r) => r.command.join(" "))).toEqual([command]);
      expect(p.requests[0]?.body.name).toBe("web");
    });
  }
  it("a part removed from the file: its removal (a forward, a reservation)", () => {
    const v = view({
      portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.10.0.9", vmPort: 22 }],
      reservations: [{ mac: "52:54:00:00:00:09", ip: "10.10.0.9", hostname: null }],
    });
    const p = planNetwork(desired({}), v);
    const reqs = p.kind === "update" ? p.requests : [];
    expect(reqs.map((r) => [r.command.join(" "), r.body.action ?? null])).toEqual([
      ["network ip unassign", null],
      ["network forward", "remove"],
    ]);
  });
  it("type, host or cidr changed: a replacement (delete, then create and its parts), with the reason", () => {
    for (const [change, reason] of [
      [{ type: "isolated" }, "type"],
      [{ host: "h2" }, "host"],
      [{ cidr: "10.11.0.0/24" }, "cidr"],
    ] as const) {
      const p = planNetwork(desired(change), view());
      expect(p.kind).toBe("replace");
      if (p.kind !== "replace") continue;
      expect(p.reasons.join(" ")).toContain(reason);
      expect(p.requests.map((r) => r.command.join(" ")).slice(0, 2)).toEqual(["network delete", "network create"]);
    }
  });
  it("the MTU: changed live (never a replacement); the file's equal to the network's, or left out, is nothing", () => {
    const p = planNetwork(desired({ mtu: 1300 }), view({ mtu: 1400 }));
    expect(p.kind === "update" && p.requests.map((r) => [r.command.join(" "), r.body])).toEqual([
      ["network mtu", { name: "web", mtu: 1300 }],
    ]);
    expect(planNetwork(desired({ mtu: 1400 }), view({ mtu: 1400 })).kind).toBe("none");
    expect(planNetwork(desired({}), view({ mtu: 1400 })).kind).toBe("none");
    const created = planNetwork(desired({ mtu: 1400 }), null);
    expect(created.kind === "create" && created.requests[0]?.body).toMatchObject({ mtu: 1400 });
  });
  it("DHCP switched on: one live change (network dhcp), also with the range the network still stores; switched off: a replacement", () => {
    for (const stored of [
      { start: null, end: null, leaseTime: null },
      { start: "10.10.0.100", end: "10.10.0.200", leaseTime: 3600 },
    ]) {
      const off = view({ dhcp: { enabled: false, ...stored } });
      const p = planNetwork(desired({}), off);
      expect(p.kind === "update" && p.requests.map((r) => r.command.join(" "))).toEqual(["network dhcp"]);
    }
    const p = planNetwork(desired({ dhcp: false }), view());
    expect(p.kind === "replace" && p.reasons).toEqual(["dhcp.enabled: true -> false"]);
  });
  it("IPv6: the same prefix and mode is nothing (a DHCPv6 range left out keeps the server's); another prefix is a replacement; export writes it", () => {
    const v6 = {
      cidr: "fd00:10::/64",
      gateway: "fd00:10::1",
      mode: "dhcpv6",
      dhcp: { start: "fd00:10::100", end: "fd00:10::ffff", leaseTime: 3600 },
      routed: false,
    };
    expect(planNetwork(desired({ ipv6: { cidr: "fd00:10::/64", mode: "dhcpv6" } }), view({ ipv6: v6 })).kind).toBe("none");
    const other = planNetwork(desired({ ipv6: { cidr: "fd00:11::/64", mode: "dhcpv6" } }), view({ ipv6: v6 }));
    expect(other.kind === "replace" && other.reasons.join(" ")).toContain("ipv6");
    const exported = exportNetwork(view({ ipv6: v6 }));
    expect(exported.ipv6).toEqual({ cidr: "fd00:10::/64", mode: "dhcpv6", dhcp: v6.dhcp });
    expect(planNetwork(desired({ ipv6: exported.ipv6 }), view({ ipv6: v6 })).kind).toBe("none");
  });
  it("IPv6 port forwards: planned as adds and removes like IPv4 ones; export round-trips them; a v6 address spelled otherwise is no change", () => {
    const v6 = { cidr: "fd00:10::/64", gateway: "fd00:10::1", mode: "slaac", dhcp: null, routed: false };
    const fwd4 = { protocol: "tcp" as const, hostPort: 8080, vmIp: "10.10.0.9", vmPort: 80, hostIp: "198.51.100.2" };
    const fwd6 = { protocol: "tcp" as const, hostPort: 8080, vmIp: "fd00:10::9", vmPort: 80, hostIp: "fd00:99::2" };
    const all6 = { protocol: "udp" as const, hostPort: 5353, vmIp: "fd00:10::9", vmPort: 53 };
    const file = { ipv6: { cidr: "fd00:10::/64", mode: "slaac" } };
    const add = planNetwork(desired({ ...file, portForwards: [fwd4, fwd6, all6] }), view({ ipv6: v6, portForwards: [fwd4] }));
    expect(add.kind === "update" && add.requests.map((r) => r.body)).toEqual([
      { name: "web", action: "add", ...fwd6 },
      { name: "web", action: "add", ...all6 },
    ]);
    const now = view({ ipv6: v6, portForwards: [fwd4, fwd6, all6] });
    const exported = exportFleet("lab", [now]);
    const r = parseFleet(JSON.parse(JSON.stringify(exported)));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.fleet.networks[0]?.portForwards).toEqual([fwd4, fwd6, all6]);
    expect(planNetwork(r.fleet.networks[0] as DesiredNetwork, now).kind).toBe("none");
    // The server keeps the RFC 5952 text: a file writing FD00:10:0::9 means the same forward.
    const spelled = { ...fwd6, vmIp: "FD00:10:0:0::9", hostIp: "fd00:0099:0::2" };
    expect(planNetwork(desired({ ...file, portForwards: [fwd4, spelled, all6] }), now).kind).toBe("none");
    const removed = planNetwork(desired({ ...file, portForwards: [fwd4] }), now);
    expect(removed.kind === "update" && removed.requests.map((r) => r.body)).toEqual([
      { name: "web", action: "remove", protocol: "tcp", hostPort: 8080, hostIp: "fd00:99::2" },
      { name: "web", action: "remove", protocol: "udp", hostPort: 5353 },
    ]);
    const bad = parseFleet({
      ...head,
      networks: [{ name: "web", type: "nat", cidr: "10.10.0.0/24", portForwards: [{ ...fwd6, vmIp: "fd00::/64" }] }],
    });
    expect(bad.ok ? [] : bad.issues.map((i) => i.path)).toEqual(["networks[0].portForwards[0].vmIp"]);
  });
  it("QoS: the whole set in one request; the same set is nothing; left out of the file clears it; export writes it", () => {
    const set = { network: { inbound: { averageKbps: 20000 } }, vms: [{ mac: "52:54:00:00:00:09", outbound: { averageKbps: 5000 } }] };
    const p = planNetwork(desired({ qos: set }), view());
    expect(p.kind === "update" && p.requests.map((r) => r.body)).toEqual([{ name: "web", ...set }]);
    expect(planNetwork(desired({ qos: set }), view({ qos: set })).kind).toBe("none");
    const cleared = planNetwork(desired({}), view({ qos: set }));
    expect(cleared.kind === "update" && cleared.requests.map((r) => r.body)).toEqual([{ name: "web", network: null, vms: [] }]);
    const exported = exportNetwork(view({ qos: set }));
    expect(exported.qos).toEqual(set);
    expect(planNetwork(desired({ qos: exported.qos }), view({ qos: set })).kind).toBe("none");
    expect(exportNetwork(view({ qos: null })).qos).toBeUndefined();
  });
  it("IPv6 reservations by DUID: listed with the MAC ones, removed and added by their DUID, exported", () => {
    const r6 = { duid: "00:03:00:01:52:54:00:00:00:09", ip: "fd00:10::42", hostname: null };
    const v = view({ reservations6: [r6] });
    expect(planNetwork(desired({ reservations: [{ duid: r6.duid, ip: r6.ip }] }), v).kind).toBe("none");
    const gone = planNetwork(desired({}), v);
    expect(gone.kind === "update" && gone.requests.map((r) => r.body)).toEqual([{ name: "web", duid: r6.duid }]);
    const moved = planNetwork(desired({ reservations: [{ duid: r6.duid, ip: "fd00:10::43" }] }), v);
    expect(moved.kind === "update" && moved.requests.map((r) => [r.command.join(" "), r.body])).toEqual([
      ["network ip unassign", { name: "web", duid: r6.duid }],
      ["network ip assign", { name: "web", duid: r6.duid, ip: "fd00:10::43" }],
    ]);
    expect(exportNetwork(v).reservations).toEqual([{ duid: r6.duid, ip: r6.ip }]);
  });
  it("no host in the file: the network may be anywhere", () => {
    const r = parseFleet({ ...head, networks: [{ name: "web", type: "nat", cidr: "10.10.0.0/24" }] });
    expect(r.ok && planNetwork(r.fleet.networks[0] as DesiredNetwork, view({ host: "h9" })).kind).toBe("none");
  });
});

describe("export and prune", () => {
  it("export, then plan: nothing to do (every part in the file's shape)", () => {
    const v = view({
      description: "front",
      firewall: {
        defaultInbound: "drop",
        defaultOutbound: "accept",
        rules: [{ direction: "inbound", protocol: "tcp", source: null, destination: null, ports: "22", action: "accept", comment: "ssh" }],
        hostServices: [{ protocol: "tcp", ports: "3128" }],
      },
      portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.10.0.9", vmPort: 22 }],
      reservations: [{ mac: "52:54:00:00:00:09", ip: "10.10.0.9", hostname: "db1" }],
      dnsHosts: [{ ip: "10.10.0.9", names: ["db"] }],
      mtu: 1400,
    });
    const lan = view({
      name: "lan",
      type: "bridge",
      cidr: null,
      gateway: null,
      dhcp: { enabled: false, start: null, end: null, leaseTime: null },
      bridge: { name: "nfbr-eth1", interface: "eth1" },
    });
    const file = exportFleet("lab", [v, lan]);
    expect(JSON.stringify(file)).toContain('"mtu":1400');
    const r = parseFleet(JSON.parse(JSON.stringify(file)));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.fleet.networks.map((d, i) => planNetwork(d, [v, lan][i] ?? null).kind)).toEqual(["none", "none"]);
  });
  it("prune: only networks managed by this file that it no longer lists", () => {
    const r = parseFleet({ ...head, networks: [{ name: "web", type: "nat", cidr: "10.10.0.0/24" }] });
    if (!r.ok) throw new Error("invalid");
    const ps = prunePlans(r.fleet, [
      view(),
      view({ name: "old" }),
      view({ name: "theirs", managedBy: "other" }),
      view({ name: "hand", managedBy: null }),
    ]);
    expect(ps.map((p) => p.name)).toEqual(["old"]);
  });
});
