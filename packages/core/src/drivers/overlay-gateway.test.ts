import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import type { CommandStep, HostStep } from "../plan/steps";
import { parseNetworkXml } from "../render/network-xml";
import { overlaySpec } from "./__fixtures__/overlay-spec";
import { type OverlayNetSpec, overlayModel } from "./overlay";
import { checkGatewayMove, gatewaySpecFromXml, planGatewayMove, planRoleChange, specAfterMove } from "./overlay-gateway";

const refusal = (f: () => unknown): AppError => {
  try {
    f();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("not refused");
};
const none = { add: [], remove: [] };
/** The old gateway's definition with the parts that live on the gateway host. */
const gateway: OverlayNetSpec = overlaySpec("hv2", {
  reservations: [{ mac: "52:54:00:00:00:31", ip: "10.50.0.31", hostname: "db" }],
  dnsHosts: [{ ip: "10.50.0.31", names: ["db"] }],
  portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.50.0.31", vmPort: 22 }],
  dhcp: { enabled: true, start: "10.50.0.20", end: "10.50.0.30", leaseTime: 600 },
});
/** A member's copy, made before those parts existed. */
const member = (self: string): OverlayNetSpec => overlaySpec(self);
/** A host step as a line: its command (argv, or virsh's) and how it is undone. */
const line = (s: HostStep): string => {
  switch (s.kind) {
    case "command": {
      const c = s as CommandStep;
      const undo = Array.isArray(c.undo) ? [c.undo, ...(c.undoThen ?? [])].map((u) => u.join(" ")).join(" && ") : "-";
      return `${c.argv[0] === "python3" ? "python3 <garp>" : c.argv.join(" ")} | ${undo}`;
    }
    case "virsh":
      return `virsh ${s.args.join(" ")} | ${Array.isArray(s.undo) ? `virsh ${s.undo.join(" ")}` : "-"}`;
    case "xml":
      return `define ${s.network} | ${s.undo && "xml" in s.undo ? "former definition" : "-"}`;
    case "nft":
      return `nft part ${s.part?.masquerade ? "gateway" : "member"} | former part`;
    default:
      return s.kind;
  }
};

describe("a gateway move's refusals", () => {
  it("refuses the gateway host itself and a host that is no member (409), naming the members", () => {
    const same = refusal(() => checkGatewayMove(gateway, "hv2", none));
    expect(same.code).toBe("INVALID_STATE");
    expect(same.message).toBe("host 'hv2' is already the gateway host of overlay 'tenant-a': nothing to move");
    const stranger = refusal(() => checkGatewayMove(gateway, "hv9", none));
    expect(stranger.code).toBe("INVALID_STATE");
    expect(stranger.message).toContain("host 'hv9' is not a member of overlay 'tenant-a' (hv1, hv2, hv3)");
    expect(stranger.details).toMatchObject({ members: ["hv1", "hv2", "hv3"], gatewayHost: "hv2" });
  });

  it("refuses a move with add or remove in the same request (400 on gatewayHost)", () => {
    const r = refusal(() => checkGatewayMove(gateway, "hv1", { add: ["hv4"], remove: [] }));
    expect(r.code).toBe("VALIDATION_FAILED");
    expect(r.details.issues).toEqual([{ path: "gatewayHost", message: expect.stringContaining("a request of its own") }]);
  });

  it("refuses a forward bound to one of the old gateway host's addresses (it does not move)", () => {
    const bound = {
      ...gateway,
      portForwards: [{ protocol: "tcp" as const, hostPort: 80, vmIp: "10.50.0.31", vmPort: 80, hostIp: "198.51.100.2" }],
    };
    const r = refusal(() => checkGatewayMove(bound, "hv1", none));
    expect(r.code).toBe("INVALID_STATE");
    expect(r.message).toContain("on host address 198.51.100.2 of hv2");
    expect(() => checkGatewayMove(gateway, "hv1", none)).not.toThrow();
  });
});

describe("each host's spec after the move", () => {
  it("the new gateway takes the old gateway's parts (range, reservations, DNS, forwards), read back from its definition", () => {
    const handed = gatewaySpecFromXml(overlayModel.render(gateway), "tenant-a");
    const next = specAfterMove(member("hv1"), "hv1", handed);
    expect(next).toMatchObject({ self: "hv1", gatewayHost: "hv1", dhcp: gateway.dhcp });
    expect(next.reservations).toEqual(gateway.reservations);
    expect(next.dnsHosts).toEqual(gateway.dnsHosts);
    expect(next.portForwards).toEqual(gateway.portForwards);
    // Rendered as a gateway: libvirt's routed network with the address, range and reservation.
    const xml = overlayModel.render(next);
    expect(xml).toContain("<forward mode='open'/>");
    expect(xml).toContain("ip='10.50.0.31'");
    expect(parseNetworkXml(xml).spec).toEqual(next);
  });

  it("the old gateway and every other member only name the new gateway host", () => {
    expect(specAfterMove(gateway, "hv1", null)).toEqual({ ...gateway, gatewayHost: "hv1" });
    expect(overlayModel.render(specAfterMove(gateway, "hv1", null))).toContain("<forward mode='bridge'/>");
    expect(specAfterMove(member("hv3"), "hv1", null)).toEqual({ ...member("hv3"), gatewayHost: "hv1" });
    expect(() => specAfterMove(member("hv1"), "hv1", null)).toThrow(/needs the old gateway's definition/);
  });

  it("refuses a handed-over definition that is not the overlay's", () => {
    expect(refusal(() => gatewaySpecFromXml(overlayModel.render(gateway), "other")).code).toBe("VALIDATION_FAILED");
  });
});

describe("a host whose role changes: every step undone by its inverse", () => {
  it("the old gateway: ports off, libvirt's stop; then a member's definition, bridge, start, ports back, a member's table part", () => {
    const c = planRoleChange(gateway, specAfterMove(gateway, "hv1", null), ["nfvx10000", "vnet0", "nfov10000-nic"], true);
    expect(c.down.map(line)).toEqual([
      "ip link set dev nfvx10000 nomaster | ip link set dev nfvx10000 master nfov10000 && ip link set dev nfvx10000 type bridge_slave learning off neigh_suppress on",
      "ip link set dev vnet0 nomaster | ip link set dev vnet0 master nfov10000",
      "virsh net-destroy tenant-a | virsh net-start tenant-a",
    ]);
    expect(c.define.map(line)).toEqual(["define tenant-a | former definition"]);
    expect(c.up.map(line)).toEqual([
      "ip link add nfov10000 type bridge stp_state 0 | ip link del nfov10000",
      "ip -batch - | -",
      "virsh net-start tenant-a | virsh net-destroy tenant-a",
      "ip link set dev nfvx10000 master nfov10000 | ip link set dev nfvx10000 nomaster",
      "ip link set dev nfvx10000 type bridge_slave learning off neigh_suppress on | -",
      "ip link set dev vnet0 master nfov10000 | ip link set dev vnet0 nomaster",
      // The gateway's fixed MAC (VNI 10000 = 0x002710) now behind the VXLAN port, toward hv1; ARP for it answered.
      "bridge fdb replace 06:4e:46:00:27:10 dev nfvx10000 dst 172.30.9.1 static | bridge fdb del 06:4e:46:00:27:10 dev nfvx10000",
      "bridge fdb replace 06:4e:46:00:27:10 dev nfvx10000 master static | -",
      "ip neigh replace 10.50.0.1 lladdr 06:4e:46:00:27:10 dev nfov10000 nud permanent | -",
      "nft part member | former part",
    ]);
  });

  it("the new gateway: ports off, libvirt's stop, its bridge removed (made again on undo); then the gateway's start, ports, table part, ARP", () => {
    const own = member("hv1");
    const c = planRoleChange(own, specAfterMove(own, "hv1", gateway), ["vnet7"], true);
    expect(c.down.map(line)).toEqual([
      "ip link set dev nfvx10000 nomaster | ip link set dev nfvx10000 master nfov10000 && ip link set dev nfvx10000 type bridge_slave learning off neigh_suppress on",
      "ip link set dev vnet7 nomaster | ip link set dev vnet7 master nfov10000",
      "virsh net-destroy tenant-a | virsh net-start tenant-a",
      "ip link del nfov10000 | ip link add nfov10000 type bridge stp_state 0 && ip link set nfov10000 mtu 1450 && ip link set nfov10000 up",
    ]);
    expect(c.up.map(line)).toEqual([
      "virsh net-start tenant-a | virsh net-destroy tenant-a",
      "ip link set dev nfvx10000 master nfov10000 | ip link set dev nfvx10000 nomaster",
      "ip link set dev nfvx10000 type bridge_slave learning off neigh_suppress on | -",
      "ip link set dev vnet7 master nfov10000 | ip link set dev vnet7 nomaster",
      "bridge fdb del 06:4e:46:00:27:10 dev nfvx10000 | -",
      "nft part gateway | former part",
      "python3 <garp> | -",
    ]);
    const garp = c.up.at(-1) as CommandStep;
    expect(garp).toMatchObject({ allowFailure: true });
    expect(garp.argv.slice(-2)).toEqual(["nfov10000", "10.50.0.1"]);
  });

  it("with bandwidth limits: the old role's shaping goes first (ports still on the bridge), the new role's comes last", () => {
    const limit = { averageKbps: 20_000 };
    const qos = { network: { inbound: { averageKbps: 50_000 } }, vms: [{ mac: "52:54:00:00:00:07", inbound: limit, outbound: limit }] };
    const gw = { ...gateway, qos };
    const old = planRoleChange(gw, specAfterMove(gw, "hv1", null), ["nfvx10000", "vnet0"], true);
    const first = old.down[0];
    const last = old.up.at(-1);
    expect(first?.kind).toBe("qos");
    expect(last?.kind).toBe("qos");
    if (first?.kind !== "qos" || last?.kind !== "qos") return;
    // The gateway's edge tree (the bridge's root HTB with the network's class) goes; its undo makes it again.
    expect(first.apply.cleanup.join("\n")).toContain("qdisc del dev nfov10000 root");
    expect(first.undo.batch.join("\n")).toMatch(/class replace dev nfov10000 parent 1: classid 1:1 htb rate 50000kbit/);
    // As a member: no edge tree on its bridge, only the VM's own classes on the IFBs.
    expect(last.apply.batch.join("\n")).not.toContain("dev nfov10000 parent 1: classid 1:1");
    expect(last.apply.batch.join("\n")).toMatch(/rate 20000kbit/);
    // The new gateway: its member shaping goes, the edge tree comes after its ports are back.
    const own = { ...member("hv1"), qos };
    const promoted = planRoleChange(own, specAfterMove(own, "hv1", gw), ["vnet7"], true);
    expect(promoted.down[0]?.kind).toBe("qos");
    const up = promoted.up.findIndex((x) => x.kind === "qos");
    expect(up).toBeGreaterThan(
      promoted.up.findIndex((x) => x.kind === "command" && x.argv.join(" ") === "ip link set dev vnet7 master nfov10000"),
    );
    const shaped = promoted.up[up];
    if (shaped?.kind === "qos")
      expect(shaped.apply.batch.join("\n")).toMatch(/class replace dev nfov10000 parent 1: classid 1:1 htb rate 50000kbit/);
  });

  it("a member staying a member: the definition, then the gateway's MAC toward the new gateway; a stopped overlay: only the definition", () => {
    const c = planRoleChange(member("hv3"), specAfterMove(member("hv3"), "hv1", null), ["vnet1"], true);
    expect(c.down).toEqual([]);
    expect(c.define.map(line)).toEqual(["define tenant-a | former definition"]);
    expect(c.up.map(line)).toEqual([
      "bridge fdb replace 06:4e:46:00:27:10 dev nfvx10000 dst 172.30.9.1 static | bridge fdb replace 06:4e:46:00:27:10 dev nfvx10000 dst 172.30.9.2 static",
      "bridge fdb replace 06:4e:46:00:27:10 dev nfvx10000 master static | -",
      "ip neigh replace 10.50.0.1 lladdr 06:4e:46:00:27:10 dev nfov10000 nud permanent | -",
    ]);
    const stopped = planRoleChange(gateway, specAfterMove(gateway, "hv1", null), [], false);
    expect([...stopped.down, ...stopped.up]).toEqual([]);
  });
});

describe("the move's dry run", () => {
  it("the new gateway's part, each other member's definition and gateway-MAC entries, then the old gateway's halves", () => {
    const plan = planGatewayMove(gateway, "hv1", { active: true });
    expect(plan.phases.map((p) => `${p.step} (${p.hostSteps.length})`)).toEqual([
      "host hv1: configure-network-hosts (10)",
      "host hv3: configure-network-hosts (4)",
      "stopping the old gateway (2)",
      "updating members (10)",
    ]);
  });
});
