/**
 * The planner's edges (planner/changes.ts and the drivers' registry that dispatches to it), through its exported functions only: every refusal with its code,
 * message and details, the bounds of each range check, each step's exact argv, name, undo and liveness, and the
 * plan against libvirt's own elements field by field. changes.test.ts has the main paths.
 */
import { renderNetworkChains } from "../render/nft";
import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { isRouted } from "../drivers/routed";
import { CONFIGURE_ACTIONS } from "../actions/index";
import { checkChange, firewallNetworkOf, planChange, renderNetworkXml } from "../drivers/registry";
import type { NativeRange } from "../render/network-xml";
import { changeOfBody } from "./__fixtures__/change-of-body";
import type { ChangePlan, HostObservation, NetworkChange, PlanStep } from "./changes";
import type { FirewallSpec, PortForwardSpec } from "./firewall";
import type { BridgeNetSpec, NetSpec, RoutedNetSpec, SriovNetSpec } from "./network-spec";

const A = "52:54:00:00:00:0a";
const B = "52:54:00:00:00:0b";
const C = "52:54:00:00:00:0c";

/** A nat network whose gateway is the last usable address, so the first usable one is a VM address. */
const spec: RoutedNetSpec = {
  type: "nat",
  name: "web",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-web",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.254",
  dhcp: { enabled: true, start: "10.1.0.100", end: "10.1.0.200", leaseTime: 3600 },
  reservations: [{ mac: A, ip: "10.1.0.10", hostname: "db" }],
};
const up: HostObservation = { active: true, leases: [] };
const down: HostObservation = { active: false, leases: [] };

/** The AppError `f` throws (fails the test when it throws nothing or something else). */
function thrown(f: () => unknown): AppError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error("expected an AppError");
}

/** A plan's steps without the dnsmasq ends before live range updates (their own test: "a range move"). */
const steps = (p: ChangePlan): PlanStep[] => p.steps.filter((s) => s.endDnsmasq === undefined);
const routed = (p: { spec: NetSpec }): RoutedNetSpec => {
  if (!isRouted(p.spec)) throw new Error("expected a routed spec");
  return p.spec;
};

const bridgeSpec: BridgeNetSpec = {
  type: "bridge",
  name: "lan",
  uuid: "5b0c7b4e-6a3f-4f11-9d55-0a1b2c3d4e5f",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "br0",
  interface: null,
  created: null,
};
const sriovSpec: SriovNetSpec = {
  type: "sriov",
  name: "fast",
  uuid: "6c1d8c5f-7b40-4022-8e66-1b2c3d4e5f60",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  pf: "enp1s0f0",
  vfs: null,
  vlan: null,
};

describe("firewallNetworkOf: the firewall part of the host table", () => {
  const fw: FirewallSpec = { defaultInbound: "drop", defaultOutbound: "reject", rules: [] };
  const fwd: PortForwardSpec = { protocol: "tcp", hostPort: 2222, vmIp: "10.1.0.10", vmPort: 22 };
  it("a nat network: its name, bridge, subnet, firewall, forwards and reserved MAC/IP pairs; owns its type's rules by default", () => {
    expect(firewallNetworkOf({ ...spec, firewall: fw, portForwards: [fwd] })).toEqual({
      name: "web",
      reachOutside: true,
      masquerade: true,
      forwardsPorts: true,
      bridge: "nf-web",
      cidr: "10.1.0.0/24",
      firewall: fw,
      portForwards: [fwd],
      ownsTypeRules: true,
      portSecurity: { pairs: [{ mac: A, ip: "10.1.0.10" }] },
    });
  });
  it("no firewall configured: the open one; no forwards: none; ownsTypeRules as asked", () => {
    const n = firewallNetworkOf(spec, false);
    expect(n.firewall).toEqual({ defaultInbound: "accept", defaultOutbound: "accept", rules: [] });
    expect(n.portForwards).toEqual([]);
    expect(n.ownsTypeRules).toBe(false);
  });
  it("an isolated network forwards nothing, even with forwards in its spec", () => {
    expect(firewallNetworkOf({ ...spec, type: "isolated", portForwards: [fwd] }).portForwards).toEqual([]);
    // What the renderer reads instead of the type: nothing leaves an isolated network, nothing is masqueraded.
    expect(firewallNetworkOf({ ...spec, type: "isolated" })).toMatchObject({
      reachOutside: false,
      masquerade: false,
      forwardsPorts: false,
    });
  });
});

describe("types without netforge-managed addressing", () => {
  it("DHCP on a bridge network: UNSUPPORTED_FOR_TYPE naming the LAN's DHCP server, from planChange and checkChange alike", () => {
    const change: NetworkChange = { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40" };
    for (const f of [() => planChange(bridgeSpec, change, up), () => checkChange(bridgeSpec, change, up)]) {
      const e = thrown(f);
      expect(e.code).toBe("UNSUPPORTED_FOR_TYPE");
      expect(e.message).toBe(
        "network 'lan' is of type bridge: no DHCP settings here; VMs of a bridge network are on the physical LAN: the LAN's DHCP server owns addressing (configure it there, or address VMs statically)",
      );
      expect(e.details).toEqual({ name: "lan", type: "bridge" });
    }
  });
  it("static IPs on an sriov network: the message says static IPs and why", () => {
    const e = thrown(() => checkChange(sriovSpec, { kind: "release-ip", mac: A }, up));
    expect(e.message).toBe(
      "network 'fast' is of type sriov: no static IPs here; VMs of an SR-IOV network own their VF directly: addressing belongs to the LAN's DHCP server or to the VM",
    );
  });
});

describe("checkChange: the door's check, rendering nothing", () => {
  it("returns the next spec planChange would write", () => {
    const change: NetworkChange = { kind: "reserve-ip", mac: B, ip: "10.1.0.11" };
    expect(checkChange(spec, change, up)).toEqual(planChange(spec, change, up).spec);
    expect(checkChange(spec, change, up)).not.toEqual(spec);
  });
  it("throws what planChange throws", () => {
    const change: NetworkChange = { kind: "reserve-ip", mac: B, ip: "10.1.0.10" };
    expect(thrown(() => checkChange(spec, change, up)).message).toBe(thrown(() => planChange(spec, change, up)).message);
  });
});

describe("planChange: the steps", () => {
  const assign: NetworkChange = { kind: "reserve-ip", mac: B, ip: "10.1.0.11", hostname: "web1" };
  it("a host add: named, the live net-update with its exact undo, live; then the spec write undone by the old definition", () => {
    const p = planChange(spec, assign, up);
    const host = "<host mac='52:54:00:00:00:0b' name='web1' ip='10.1.0.11'/>";
    expect(steps(p)).toEqual([
      {
        name: "add DHCP host 52:54:00:00:00:0b -> 10.1.0.11",
        virsh: ["net-update", "web", "add", "ip-dhcp-host", host, "--live"],
        undo: { virsh: ["net-update", "web", "delete", "ip-dhcp-host", host, "--live"] },
        live: true,
      },
      {
        name: "write spec",
        virsh: ["net-define", "<file>"],
        xml: p.libvirtXml,
        undo: { virsh: ["net-define", "<file>"], xml: renderNetworkXml(spec) },
        live: false,
      },
    ]);
    expect(p.libvirtXml).toBe(renderNetworkXml(p.spec));
    expect(p.notLive).toEqual([]);
    expect("nft" in p).toBe(false);
  });
  it("the spec write is undone by the definition the host had, when the caller read it", () => {
    const p = planChange(spec, assign, up, "<network>as read</network>");
    expect(steps(p).at(-1)?.undo).toEqual({ virsh: ["net-define", "<file>"], xml: "<network>as read</network>" });
  });
  it("a stopped network: --config updates that are not live, and a note that the change waits for its start", () => {
    const p = planChange(spec, assign, down);
    expect(steps(p)[0]?.virsh.at(-1)).toBe("--config");
    expect(steps(p)[0]?.undo?.virsh.at(-1)).toBe("--config");
    expect(steps(p)[0]?.live).toBe(false);
    expect(p.notLive).toEqual(["network is not running: the change takes effect when it starts"]);
  });
  it("a host delete: named, deleted live, undone by adding it back", () => {
    const p = planChange(spec, { kind: "release-ip", mac: A }, up);
    const host = "<host mac='52:54:00:00:00:0a' name='db' ip='10.1.0.10'/>";
    expect(steps(p)[0]).toEqual({
      name: "delete DHCP host 52:54:00:00:00:0a -> 10.1.0.10",
      virsh: ["net-update", "web", "delete", "ip-dhcp-host", host, "--live"],
      undo: { virsh: ["net-update", "web", "add", "ip-dhcp-host", host, "--live"] },
      live: true,
    });
  });
  it("a range move: the old range deleted (undo: added back), the new added (undo: deleted), both named", () => {
    const p = planChange(spec, { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40", leaseTime: 600 }, up);
    const oldRange = "<range start='10.1.0.100' end='10.1.0.200'><lease expiry='3600' unit='seconds'/></range>";
    const newRange = "<range start='10.1.0.20' end='10.1.0.40'><lease expiry='600' unit='seconds'/></range>";
    expect(steps(p).slice(0, 2)).toEqual([
      {
        name: "delete DHCP range 10.1.0.100-10.1.0.200",
        virsh: ["net-update", "web", "delete", "ip-dhcp-range", oldRange, "--live"],
        undo: { virsh: ["net-update", "web", "add", "ip-dhcp-range", oldRange, "--live"] },
        live: true,
      },
      {
        name: "add DHCP range 10.1.0.20-10.1.0.40 lease 600 s",
        virsh: ["net-update", "web", "add", "ip-dhcp-range", newRange, "--live"],
        undo: { virsh: ["net-update", "web", "delete", "ip-dhcp-range", newRange, "--live"] },
        live: true,
      },
    ]);
    expect(steps(p).map((s) => s.name)).toEqual([
      "delete DHCP range 10.1.0.100-10.1.0.200",
      "add DHCP range 10.1.0.20-10.1.0.40 lease 600 s",
      "write spec",
    ]);
    // Before each live range update libvirt restarts dnsmasq for, netforge ends it first; each end can start it
    // again (leaving the live range as it was before that end) should the job undo with none running.
    const end = (restart: string[][]) => ({
      name: "end the DHCP server (dnsmasq) of web: libvirt starts it again with the new range at once",
      virsh: [],
      endDnsmasq: { restart },
      undo: null,
      live: true,
    });
    const update = (op: string, x: string) => ["net-update", "web", op, "ip-dhcp-range", x, "--live"];
    expect(p.steps.slice(0, 4)).toEqual([
      end([update("delete", oldRange), update("add", oldRange)]),
      steps(p)[0],
      // The add's end has nothing to start again itself: the delete's undo (the old range added back) does.
      end([]),
      steps(p)[1],
    ]);
    // DHCP switched on (no range to delete first): the end before the add starts dnsmasq again by add + delete.
    const off = { ...spec, dhcp: { enabled: false, start: null, end: null, leaseTime: null } };
    const on = planChange(
      off,
      { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40", leaseTime: 600 },
      { ...up, native: { hosts: [], range: null } },
    );
    expect(on.steps[0]).toEqual(end([update("add", newRange), update("delete", newRange)]));
    // A stopped network has no dnsmasq: no end steps.
    const stopped = planChange(spec, { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40", leaseTime: 600 }, down);
    expect(stopped.steps.some((s) => s.endDnsmasq !== undefined)).toBe(false);
  });
  it("a stopped network's firewall change: no nft step, but the chains are in the plan", () => {
    const p = planChange(spec, { kind: "firewall", firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: [] } }, down);
    expect(steps(p).map((s) => s.name)).toEqual(["write spec"]);
    expect(p.nft).toContain("chain web-in-rules");
  });
  it("a running network's firewall step: nft only (with the part it applies, rendered as its text), no undo, live", () => {
    const p = planChange(spec, { kind: "firewall", firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: [] } }, up);
    const part = steps(p)[0]?.part;
    expect(steps(p)[0]).toEqual({ name: "apply firewall (one nft transaction)", virsh: [], nft: p.nft, part, undo: null, live: true });
    expect(part && renderNetworkChains(part)).toBe(p.nft);
    expect(part?.ownsTypeRules).toBe(true);
  });
  it("a running network still on libvirt's NAT rules keeps them in the planned part (ownsTypeRules from the host)", () => {
    const p = planChange(
      spec,
      { kind: "firewall", firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: [] } },
      { ...up, ownsTypeRules: false },
    );
    expect(steps(p)[0]?.part?.ownsTypeRules).toBe(false);
  });
  it("warnings and the summary come with the plan", () => {
    const p = planChange(spec, { kind: "reserve-ip", mac: B, ip: "10.1.0.150" }, up);
    expect(p.warnings).toEqual([
      "10.1.0.150 is inside the dynamic range 10.1.0.100-10.1.0.200: dnsmasq keeps it for 52:54:00:00:00:0b, the pool has one address less",
    ]);
    expect(p.changed).toEqual(["reserved 10.1.0.150 for 52:54:00:00:00:0b"]);
  });
});

describe("planChange: assign-static-ip", () => {
  const assign = (ip: string, extra: Partial<Extract<NetworkChange, { kind: "reserve-ip" }>> = {}, host = up, s = spec) =>
    planChange(s, { kind: "reserve-ip", mac: B, ip, ...extra }, host);
  it("lower-cases the MAC and stores no hostname as null", () => {
    expect(routed(assign("10.1.0.11", { mac: "52:54:00:00:00:0B" })).reservations.at(-1)).toEqual({
      mac: B,
      ip: "10.1.0.11",
      hostname: null,
    });
  });
  it("the first and last usable addresses can be reserved (the gateway aside)", () => {
    expect(routed(assign("10.1.0.1")).reservations.at(-1)?.ip).toBe("10.1.0.1");
    const gwFirst = { ...spec, gateway: "10.1.0.1" };
    expect(routed(assign("10.1.0.254", {}, up, gwFirst)).reservations.at(-1)?.ip).toBe("10.1.0.254");
  });
  it("outside the subnet: VALIDATION_FAILED on ip naming the subnet", () => {
    const e = thrown(() => assign("10.1.1.5"));
    expect(e.code).toBe("VALIDATION_FAILED");
    expect(e.details.issues).toEqual([{ path: "ip", message: "must be inside 10.1.0.0/24" }]);
  });
  it.each([
    ["10.1.0.254", "the gateway"],
    ["10.1.0.0", "the network address"],
    ["10.1.0.255", "the broadcast address"],
  ])("%s is %s: IP_CONFLICT saying so", (ip, reason) => {
    const e = thrown(() => assign(ip));
    expect(e.code).toBe("IP_CONFLICT");
    expect(e.message).toBe(`${ip} is ${reason} of network 'web'`);
    expect(e.details).toEqual({ name: "web", ip, reason });
  });
  it("an IP reserved for another MAC, or for the same MAC under another hostname: IP_CONFLICT naming the holder", () => {
    for (const mac of [B, A]) {
      const e = thrown(() => assign("10.1.0.10", { mac, hostname: "other" }));
      expect(e.code).toBe("IP_CONFLICT");
      expect(e.message).toBe(`10.1.0.10 is already reserved for ${A} on network 'web'`);
      expect(e.details).toEqual({ name: "web", ip: "10.1.0.10", reservedFor: A });
    }
  });
  it("an IP reserved for another MAC under the same hostname: still IP_CONFLICT (not taken as the same reservation)", () => {
    expect(thrown(() => assign("10.1.0.10", { mac: B, hostname: "db" })).details).toEqual({ name: "web", ip: "10.1.0.10", reservedFor: A });
  });
  it("a MAC that already has another IP: IP_CONFLICT, unassign first", () => {
    const e = thrown(() => assign("10.1.0.12", { mac: A, hostname: "db" }));
    expect(e.code).toBe("IP_CONFLICT");
    expect(e.message).toBe(`${A} already has reservation 10.1.0.10 on network 'web'; unassign it first`);
    expect(e.details).toEqual({ name: "web", mac: A, reservedIp: "10.1.0.10" });
  });
  it("the same reservation again (MAC in any case, same hostname) plans nothing and says nothing", () => {
    const p = assign("10.1.0.10", { mac: "52:54:00:00:00:0A", hostname: "db" });
    expect(p).toMatchObject({ steps: [], warnings: [], changed: [] });
    expect(p.spec).toBe(spec);
  });
  it("the reservation cap: reaching it is fine, passing it is LIMIT_REACHED with the count it would make", () => {
    const limits = { forwardsPerNetwork: 10, reservationsPerNetwork: 2, firewallRulesPerNetwork: 10 };
    expect(routed(assign("10.1.0.11", {}, { ...up, limits })).reservations).toHaveLength(2);
    const e = thrown(() => assign("10.1.0.11", {}, { ...up, limits: { ...limits, reservationsPerNetwork: 1 } }));
    expect(e.code).toBe("LIMIT_REACHED");
    expect(e.message).toBe(
      "network 'web' has 1 static reservations: limit is 1 (NETFORGE_MAX_RESERVATIONS_PER_NETWORK), this would make 2",
    );
    expect(e.details).toMatchObject({ limit: 1, count: 2, name: "web" });
  });
  it("an IP leased to another MAC: refused unless forced, then warned about; leased to the same MAC: nothing to say", () => {
    const leased = { active: true, leases: [{ ip: "10.1.0.11", mac: C }] };
    const e = thrown(() => assign("10.1.0.11", {}, leased));
    expect(e.code).toBe("IP_CONFLICT");
    expect(e.message).toBe(`10.1.0.11 is currently leased to ${C}; pass "force": true to reserve it anyway`);
    expect(e.details).toEqual({ name: "web", ip: "10.1.0.11", leasedTo: C });
    expect(assign("10.1.0.11", { force: true }, leased).warnings).toEqual([
      `10.1.0.11 is leased to ${C} until its lease ends; that client gets another address when it renews`,
    ]);
    expect(assign("10.1.0.11", {}, { active: true, leases: [{ ip: "10.1.0.11", mac: B }] }).warnings).toEqual([]);
    expect(assign("10.1.0.11", { mac: "52:54:00:00:00:0B" }, { active: true, leases: [{ ip: "10.1.0.11", mac: B }] }).warnings).toEqual([]);
  });
  it("the dynamic range warning: at its first and last address, not just outside, not when DHCP is off", () => {
    const inside = (ip: string, s = spec) => assign(ip, {}, up, s).warnings.length;
    expect([inside("10.1.0.100"), inside("10.1.0.200"), inside("10.1.0.99"), inside("10.1.0.201")]).toEqual([1, 1, 0, 0]);
    expect(inside("10.1.0.150", { ...spec, dhcp: { ...spec.dhcp, enabled: false } })).toBe(0);
    expect(inside("10.1.0.150", { ...spec, dhcp: { enabled: true, start: null, end: null, leaseTime: null } })).toBe(0);
  });
});

describe("planChange: unassign-static-ip", () => {
  const two = { ...spec, reservations: [...spec.reservations, { mac: B, ip: "10.1.0.11", hostname: null }] };
  it("takes out that MAC's reservation only (MAC in any case) and says which address it freed", () => {
    const p = planChange(two, { kind: "release-ip", mac: "52:54:00:00:00:0A" }, up);
    expect(routed(p).reservations).toEqual([{ mac: B, ip: "10.1.0.11", hostname: null }]);
    expect(p.changed).toEqual([`released 10.1.0.10 of ${A}`]);
    expect(p.warnings).toEqual([]);
  });
  it("a MAC without a reservation: NOT_FOUND naming it", () => {
    const e = thrown(() => planChange(spec, { kind: "release-ip", mac: "52:54:00:00:00:0C" }, up));
    expect(e.code).toBe("NOT_FOUND");
    expect(e.message).toBe(`${C} has no reservation on network 'web'`);
    expect(e.details).toEqual({ name: "web", mac: C });
  });
});

describe("planChange: port-forward", () => {
  const fwd = (f: Partial<PortForwardSpec>): PortForwardSpec => ({ protocol: "tcp", hostPort: 2222, vmIp: "10.1.0.10", vmPort: 22, ...f });
  const withForwards = (...fs: PortForwardSpec[]): RoutedNetSpec => ({ ...spec, portForwards: fs });
  type Fwd = Extract<NetworkChange, { kind: "port-forward" }>;
  const add = (s: RoutedNetSpec, c: Partial<Fwd> = {}, host = up) =>
    planChange(s, { kind: "port-forward", op: "add", protocol: "tcp", hostPort: 2222, vmIp: "10.1.0.10", vmPort: 22, ...c }, host);
  const remove = (s: RoutedNetSpec, c: Partial<Fwd> = {}, host = up) =>
    planChange(s, { kind: "port-forward", op: "remove", protocol: "tcp", hostPort: 2222, ...c }, host);

  it("an isolated network: UNSUPPORTED_FOR_TYPE saying forwards need nat", () => {
    const e = thrown(() => add({ ...spec, type: "isolated" }));
    expect(e.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(e.message).toBe("port forwards need a nat network; 'web' is isolated");
    expect(e.details).toEqual({ name: "web", type: "isolated" });
  });
  it("add on one host address: kept in the spec, named with the address", () => {
    const p = add(spec, { hostIp: "198.51.100.2" });
    expect(routed(p).portForwards).toEqual([fwd({ hostIp: "198.51.100.2" })]);
    expect(p.changed).toEqual(["added forward tcp 198.51.100.2:2222 -> 10.1.0.10:22"]);
    expect(p.warnings).toEqual([]);
    expect("hostIp" in (routed(add(spec)).portForwards?.[0] ?? {})).toBe(false);
  });
  it("add without vmIp: VALIDATION_FAILED on vmIp", () => {
    const e = thrown(() => add(spec, { vmIp: undefined }));
    expect(e.code).toBe("VALIDATION_FAILED");
    expect(e.details.issues).toEqual([{ path: "vmIp", message: "is required to add a forward" }]);
  });
  it("vmIp: the first and last usable addresses are VMs; the network address, the broadcast and the gateway are not", () => {
    expect(routed(add(spec, { vmIp: "10.1.0.1" })).portForwards?.[0]?.vmIp).toBe("10.1.0.1");
    expect(routed(add({ ...spec, gateway: "10.1.0.1" }, { vmIp: "10.1.0.254" })).portForwards?.[0]?.vmIp).toBe("10.1.0.254");
    for (const vmIp of ["10.1.0.0", "10.1.0.255", "10.1.0.254", "10.1.1.1"]) {
      const e = thrown(() => add(spec, { vmIp }));
      expect(e.details.issues, vmIp).toEqual([{ path: "vmIp", message: "must be a VM address inside 10.1.0.0/24 (not the gateway)" }]);
    }
  });
  it("another forward of the same port on every address overlaps one on a single address: PORT_CONFLICT naming it", () => {
    const held = fwd({ vmIp: "10.1.0.20" });
    const e = thrown(() => add(withForwards(held), { hostIp: "198.51.100.2" }));
    expect(e.code).toBe("PORT_CONFLICT");
    expect(e.message).toBe(
      "network 'web' already forwards tcp 2222 -> 10.1.0.20:22, which overlaps tcp 198.51.100.2:2222; remove it first",
    );
    expect(e.details).toEqual({ name: "web", protocol: "tcp", hostPort: 2222, heldBy: { network: "web", forward: held } });
  });
  it("the same port on two different host addresses, another port or the other protocol: no conflict", () => {
    const s = withForwards(fwd({ hostIp: "198.51.100.2" }));
    expect(routed(add(s, { hostIp: "198.51.100.3" })).portForwards).toHaveLength(2);
    expect(routed(add(s, { hostPort: 2223 })).portForwards).toHaveLength(2);
    expect(routed(add(s, { protocol: "udp" })).portForwards).toHaveLength(2);
  });
  it("the same forward again: nothing; a new VM port for it: re-targeted, the old target's connections ended", () => {
    const s = withForwards(fwd({}));
    expect(add(s)).toMatchObject({ steps: [], changed: [], warnings: [] });
    const p = add(s, { vmPort: 2022 });
    expect(routed(p).portForwards).toEqual([fwd({ vmPort: 2022 })]);
    expect(p.changed).toEqual(["forward tcp 2222 -> 10.1.0.10:22 now -> 10.1.0.10:2022"]);
    expect(p.warnings).toEqual([]);
    expect(steps(p).find((x) => x.command)?.command).toEqual([
      "conntrack",
      "-D",
      "-p",
      "tcp",
      "--orig-port-dst",
      "2222",
      "--reply-src",
      "10.1.0.10",
      "--reply-port-src",
      "22",
    ]);
  });
  it("the forward cap: a new forward past it is LIMIT_REACHED; re-targeting one at the cap is not", () => {
    const limits = { forwardsPerNetwork: 1, reservationsPerNetwork: 10, firewallRulesPerNetwork: 10 };
    const s = withForwards(fwd({}));
    const e = thrown(() => add(s, { hostPort: 8080 }, { ...up, limits }));
    expect(e.code).toBe("LIMIT_REACHED");
    expect(e.message).toBe("network 'web' has 1 port forwards: limit is 1 (NETFORGE_MAX_FORWARDS_PER_NETWORK), this would make 2");
    expect(e.details).toMatchObject({ limit: 1, count: 2, name: "web" });
    expect(routed(add(s, { vmIp: "10.1.0.11" }, { ...up, limits })).portForwards).toEqual([fwd({ vmIp: "10.1.0.11" })]);
    expect(routed(add(spec, {}, { ...up, limits })).portForwards).toHaveLength(1);
  });
  it("remove: only that forward goes, named; on a running network its connections end with a named step", () => {
    const one = fwd({ hostIp: "198.51.100.2" });
    const other = fwd({ hostPort: 80, vmPort: 8080 });
    const p = remove(withForwards(one, other), { hostIp: "198.51.100.2" });
    expect(routed(p).portForwards).toEqual([other]);
    expect(p.changed).toEqual(["removed forward tcp 198.51.100.2:2222 -> 10.1.0.10:22"]);
    expect(p.warnings).toEqual([]);
    expect(steps(p)[1]).toEqual({
      name: "end connections of tcp 198.51.100.2:2222 -> 10.1.0.10:22",
      virsh: [],
      command: [
        "conntrack",
        "-D",
        "-p",
        "tcp",
        "--orig-dst",
        "198.51.100.2",
        "--orig-port-dst",
        "2222",
        "--reply-src",
        "10.1.0.10",
        "--reply-port-src",
        "22",
      ],
      undo: null,
      live: true,
    });
  });
  it("remove on a stopped network: no connections to end", () => {
    const p = remove(withForwards(fwd({})), {}, down);
    expect(steps(p).map((s) => s.name)).toEqual(["write spec"]);
  });
  it("remove of a forward the network does not have: NOT_FOUND, naming the addresses that port is forwarded on", () => {
    const e = thrown(() =>
      remove(withForwards(fwd({ hostIp: "198.51.100.2" }), fwd({ hostIp: "198.51.100.3" })), { hostIp: "198.51.100.4" }),
    );
    expect(e.code).toBe("NOT_FOUND");
    expect(e.message).toBe(
      "network 'web' forwards no tcp port 2222 on 198.51.100.4 (it forwards it on 198.51.100.2, 198.51.100.3: name that hostIp)",
    );
    expect(e.details).toEqual({ name: "web", protocol: "tcp", hostPort: 2222, hostIp: "198.51.100.4" });
    const all = thrown(() => remove(withForwards(fwd({})), { hostIp: "198.51.100.2" }));
    expect(all.message).toBe("network 'web' forwards no tcp port 2222 on 198.51.100.2 (it forwards it on every address: name that hostIp)");
    const none = thrown(() => remove(withForwards(fwd({ protocol: "udp" }), fwd({ hostPort: 2223 }))));
    expect(none.message).toBe("network 'web' forwards no tcp port 2222");
    expect(none.details).toStrictEqual({ name: "web", protocol: "tcp", hostPort: 2222 });
    expect(thrown(() => remove(spec)).code).toBe("NOT_FOUND");
  });
});

describe("planChange: firewall", () => {
  const rule = (direction: "inbound" | "outbound") => ({
    direction,
    protocol: "any" as const,
    source: null,
    destination: null,
    ports: null,
    action: "drop" as const,
    comment: null,
  });
  const open: FirewallSpec = { defaultInbound: "accept", defaultOutbound: "accept", rules: [] };
  it("a network never configured gets even the open firewall written (it becomes explicit)", () => {
    const p = planChange(spec, { kind: "firewall", firewall: open }, up);
    expect(steps(p).map((s) => s.name)).toEqual(["apply firewall (one nft transaction)", "write spec"]);
    expect(routed(p).firewall).toEqual(open);
  });
  it("the same firewall as configured: nothing to do", () => {
    expect(planChange({ ...spec, firewall: open }, { kind: "firewall", firewall: open }, up)).toMatchObject({
      steps: [],
      warnings: [],
      changed: [],
    });
  });
  it("the summary counts rules per direction and names the defaults", () => {
    const f: FirewallSpec = {
      defaultInbound: "reject",
      defaultOutbound: "drop",
      rules: [rule("inbound"), rule("outbound"), rule("outbound")],
    };
    expect(planChange(spec, { kind: "firewall", firewall: f }, up).warnings).toEqual([]);
    expect(planChange(spec, { kind: "firewall", firewall: f }, up).changed).toEqual([
      "firewall: 3 rules (1 inbound, 2 outbound), defaults inbound reject, outbound drop",
      "host services open to the VMs: none",
    ]);
  });
  it("host services are listed in the summary, comma separated", () => {
    const f: FirewallSpec = {
      ...open,
      hostServices: [
        { protocol: "tcp", ports: "8443" },
        { protocol: "udp", ports: "5000-5100" },
      ],
    };
    expect(planChange(spec, { kind: "firewall", firewall: f }, up).changed[1]).toBe(
      "host services open to the VMs: tcp 8443, udp 5000-5100",
    );
  });
  it("the rule cap: reaching it is fine, passing it is LIMIT_REACHED", () => {
    const limits = { forwardsPerNetwork: 10, reservationsPerNetwork: 10, firewallRulesPerNetwork: 2 };
    const two: FirewallSpec = { ...open, rules: [rule("inbound"), rule("outbound")] };
    expect(routed(planChange(spec, { kind: "firewall", firewall: two }, { ...up, limits })).firewall).toEqual(two);
    const e = thrown(() =>
      planChange(spec, { kind: "firewall", firewall: { ...open, rules: [...two.rules, rule("inbound")] } }, { ...up, limits }),
    );
    expect(e.code).toBe("LIMIT_REACHED");
    expect(e.message).toBe(
      "a firewall of network 'web' with 3 rules: limit is 2 (NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK), this would make 3",
    );
    expect(e.details).toMatchObject({ limit: 2, count: 3, name: "web" });
  });
});

describe("planChange: dhcp", () => {
  const dhcp = (start: string, end: string, leaseTime?: number, s: RoutedNetSpec = spec, host = up) =>
    planChange(s, { kind: "dhcp", start, end, ...(leaseTime === undefined ? {} : { leaseTime }) }, host);
  it("an invalid range: VALIDATION_FAILED with its issues", () => {
    const e = thrown(() => dhcp("10.1.0.50", "10.1.0.254"));
    expect(e.code).toBe("VALIDATION_FAILED");
    expect(e.details.issues).not.toEqual([]);
  });
  it("reservations at either end of the new range are warned about; those outside are not", () => {
    const s = {
      ...spec,
      reservations: [
        { mac: A, ip: "10.1.0.20", hostname: null },
        { mac: B, ip: "10.1.0.40", hostname: null },
        { mac: C, ip: "10.1.0.19", hostname: null },
        { mac: "52:54:00:00:00:0d", ip: "10.1.0.41", hostname: null },
      ],
    };
    expect(dhcp("10.1.0.20", "10.1.0.40", undefined, s).warnings).toEqual([
      `reserved 10.1.0.20 (for ${A}) is inside the range: only ${A} gets it`,
      `reserved 10.1.0.40 (for ${B}) is inside the range: only ${B} gets it`,
    ]);
  });
  it("a reservation inside the range leased to another MAC: IP_CONFLICT with both MACs; leased to its own MAC: fine", () => {
    const e = thrown(() => dhcp("10.1.0.5", "10.1.0.40", undefined, spec, { active: true, leases: [{ ip: "10.1.0.10", mac: C }] }));
    expect(e.code).toBe("IP_CONFLICT");
    expect(e.message).toBe(`reserved 10.1.0.10 (for ${A}) would be inside the range but is leased to ${C}`);
    expect(e.details).toEqual({ name: "web", ip: "10.1.0.10", reservedFor: A, leasedTo: C });
    expect(dhcp("10.1.0.5", "10.1.0.40", undefined, spec, { active: true, leases: [{ ip: "10.1.0.10", mac: A }] }).warnings).toHaveLength(
      1,
    );
  });
  it("the lease time: as given, else the network's, else 3600 s", () => {
    expect(routed(dhcp("10.1.0.20", "10.1.0.40")).dhcp).toEqual({ enabled: true, start: "10.1.0.20", end: "10.1.0.40", leaseTime: 3600 });
    const short = { ...spec, dhcp: { ...spec.dhcp, leaseTime: 300 } };
    expect(routed(dhcp("10.1.0.20", "10.1.0.40", undefined, short)).dhcp.leaseTime).toBe(300);
    const none = { ...spec, dhcp: { enabled: false, start: null, end: null, leaseTime: null } };
    expect(routed(dhcp("10.1.0.20", "10.1.0.40", undefined, none)).dhcp.leaseTime).toBe(3600);
  });
  it("the same range and lease again: no steps and no summary, but the warnings still", () => {
    const s = { ...spec, reservations: [{ mac: A, ip: "10.1.0.150", hostname: null }] };
    const p = dhcp("10.1.0.100", "10.1.0.200", 3600, s);
    expect(steps(p)).toEqual([]);
    expect(p.changed).toEqual([]);
    expect(p.warnings).toHaveLength(1);
    expect(dhcp("10.1.0.100", "10.1.0.200", undefined, s).steps).toEqual([]);
  });
  it("only the lease changes: the range is replaced and the summary names the lease only", () => {
    const p = dhcp("10.1.0.100", "10.1.0.200", 600);
    expect(steps(p).map((s) => s.name)).toEqual([
      "delete DHCP range 10.1.0.100-10.1.0.200",
      "add DHCP range 10.1.0.100-10.1.0.200 lease 600 s",
      "write spec",
    ]);
    expect(p.changed).toEqual(["lease time 3600 s -> 600 s"]);
  });
  it("only the start or only the end changes: the summary names the range only", () => {
    expect(dhcp("10.1.0.101", "10.1.0.200").changed).toEqual(["range 10.1.0.100-10.1.0.200 -> 10.1.0.101-10.1.0.200"]);
    expect(dhcp("10.1.0.100", "10.1.0.199").changed).toEqual(["range 10.1.0.100-10.1.0.200 -> 10.1.0.100-10.1.0.199"]);
  });
  it("DHCP that was off: turned on with the range added (nothing to delete), the summary starting from none", () => {
    const off = { ...spec, dhcp: { enabled: false, start: null, end: null, leaseTime: null } };
    const p = dhcp("10.1.0.20", "10.1.0.40", undefined, off);
    expect(steps(p).map((s) => s.name)).toEqual(["add DHCP range 10.1.0.20-10.1.0.40 lease 3600 s", "write spec"]);
    expect(p.changed).toEqual(["range none-none -> 10.1.0.20-10.1.0.40", "lease time none s -> 3600 s"]);
    expect(routed(p).dhcp.enabled).toBe(true);
  });
  it("DHCP that was off with a range still stored: the same range is added again, not taken as in place", () => {
    const off = { ...spec, dhcp: { ...spec.dhcp, enabled: false } };
    const p = dhcp("10.1.0.100", "10.1.0.200", 3600, off);
    expect(steps(p).map((s) => s.name)).toEqual(["add DHCP range 10.1.0.100-10.1.0.200 lease 3600 s", "write spec"]);
    expect(routed(p).dhcp.enabled).toBe(true);
  });
});

describe("planChange against libvirt's own elements, field by field", () => {
  const range: NativeRange = { start: "10.1.0.100", end: "10.1.0.200", leaseTime: 3600 };
  const native = (hosts = spec.reservations, r: NativeRange | null = range) => ({ ...up, native: { hosts, range: r } });
  const names = (p: ChangePlan) => steps(p).map((s) => s.name);
  it("a host entry for the MAC with another IP or hostname: deleted (as libvirt has it) before the add", () => {
    for (const stale of [
      { mac: B, ip: "10.1.0.99", hostname: "web1" },
      { mac: B, ip: "10.1.0.11", hostname: "old" },
    ]) {
      const p = planChange(spec, { kind: "reserve-ip", mac: B, ip: "10.1.0.11", hostname: "web1" }, native([...spec.reservations, stale]));
      expect(names(p)).toEqual([`delete DHCP host ${B} -> ${stale.ip}`, `add DHCP host ${B} -> 10.1.0.11`, "write spec"]);
      expect(steps(p)[0]?.virsh[4]).toBe(`<host mac='${B}' name='${stale.hostname}' ip='${stale.ip}'/>`);
    }
  });
  it("an unassign deletes the host entry libvirt has for the MAC (its IP, not the spec's), not another MAC's", () => {
    const p = planChange(
      spec,
      { kind: "release-ip", mac: A },
      native([
        { mac: C, ip: "10.1.0.66", hostname: null },
        { mac: A, ip: "10.1.0.77", hostname: null },
      ]),
    );
    expect(names(p)).toEqual([`delete DHCP host ${A} -> 10.1.0.77`, "write spec"]);
  });
  it("a range move where libvirt has yet another range: that one is deleted, then the new one added", () => {
    const p = planChange(
      spec,
      { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40", leaseTime: 600 },
      native(spec.reservations, {
        start: "10.1.0.50",
        end: "10.1.0.60",
        leaseTime: 60,
      }),
    );
    expect(names(p)).toEqual(["delete DHCP range 10.1.0.50-10.1.0.60", "add DHCP range 10.1.0.20-10.1.0.40 lease 600 s", "write spec"]);
    expect(steps(p)[0]?.virsh[4]).toBe("<range start='10.1.0.50' end='10.1.0.60'><lease expiry='60' unit='seconds'/></range>");
  });
  it.each([
    ["start", { start: "10.1.0.21", end: "10.1.0.40", leaseTime: 600 }],
    ["end", { start: "10.1.0.20", end: "10.1.0.41", leaseTime: 600 }],
    ["lease time", { start: "10.1.0.20", end: "10.1.0.40", leaseTime: 601 }],
  ])("a libvirt range that differs from the new one only in its %s is not in place: replaced", (_what, have) => {
    const p = planChange(spec, { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40", leaseTime: 600 }, native(spec.reservations, have));
    expect(names(p)).toEqual([
      `delete DHCP range ${have.start}-${have.end}`,
      "add DHCP range 10.1.0.20-10.1.0.40 lease 600 s",
      "write spec",
    ]);
  });
  it("DHCP turned on where libvirt still has a range: that range is deleted first", () => {
    const off = { ...spec, dhcp: { enabled: false, start: null, end: null, leaseTime: null } };
    const p = planChange(
      off,
      { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40" },
      native([], { start: "10.1.0.50", end: "10.1.0.60", leaseTime: null }),
    );
    expect(names(p)).toEqual(["delete DHCP range 10.1.0.50-10.1.0.60", "add DHCP range 10.1.0.20-10.1.0.40 lease 3600 s", "write spec"]);
    expect(steps(p)[0]?.virsh[4]).toBe("<range start='10.1.0.50' end='10.1.0.60'/>");
  });
  it("DHCP turned on where libvirt has no range: only the add", () => {
    const off = { ...spec, dhcp: { enabled: false, start: null, end: null, leaseTime: null } };
    const p = planChange(off, { kind: "dhcp", start: "10.1.0.20", end: "10.1.0.40" }, native([], null));
    expect(names(p)).toEqual(["add DHCP range 10.1.0.20-10.1.0.40 lease 3600 s", "write spec"]);
  });
  it("a firewall change is planned the same with or without them", () => {
    const change: NetworkChange = { kind: "firewall", firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: [] } };
    expect(planChange(spec, change, native()).steps).toEqual(planChange(spec, change, up).steps);
  });
});

describe("the configure actions and their bodies as changes (each definition's change)", () => {
  it("lists the eight configure actions", () => {
    expect([...CONFIGURE_ACTIONS].sort()).toEqual([
      "assign-static-ip",
      "configure-network-dhcp",
      "configure-network-dns",
      "configure-network-firewall",
      "configure-network-mtu",
      "configure-network-port-forward",
      "configure-network-qos",
      "unassign-static-ip",
    ]);
  });
  it("dhcp: the range and lease time", () => {
    expect(changeOfBody("configure-network-dhcp", { name: "web", start: "10.1.0.2", end: "10.1.0.9", leaseTime: 600 })).toEqual({
      kind: "dhcp",
      start: "10.1.0.2",
      end: "10.1.0.9",
      leaseTime: 600,
    });
  });
  it("assign: hostname null when absent, force only when true", () => {
    expect(changeOfBody("assign-static-ip", { name: "web", mac: A, ip: "10.1.0.5" })).toEqual({
      kind: "reserve-ip",
      mac: A,
      ip: "10.1.0.5",
      hostname: null,
      force: false,
    });
    expect(changeOfBody("assign-static-ip", { mac: A, ip: "10.1.0.5", hostname: "db", force: true })).toMatchObject({
      hostname: "db",
      force: true,
    });
    expect(changeOfBody("assign-static-ip", { mac: A, ip: "10.1.0.5", force: false })).toMatchObject({ force: false });
    // A force that is not a boolean never reaches the change: the payload parser refuses it.
    expect(() => changeOfBody("assign-static-ip", { mac: A, ip: "10.1.0.5", force: "true" })).toThrow(/payload refused/);
  });
  it("unassign: the MAC", () => {
    expect(changeOfBody("unassign-static-ip", { name: "web", mac: A })).toEqual({ kind: "release-ip", mac: A });
  });
  it("port forward: add unless the action says remove; hostIp only when given", () => {
    const body = { name: "web", protocol: "udp", hostPort: 53, vmIp: "10.1.0.5", vmPort: 5353 };
    expect(changeOfBody("configure-network-port-forward", body)).toStrictEqual({
      kind: "port-forward",
      op: "add",
      protocol: "udp",
      hostPort: 53,
      vmIp: "10.1.0.5",
      vmPort: 5353,
    });
    expect(changeOfBody("configure-network-port-forward", { ...body, action: "add", hostIp: "198.51.100.2" })).toMatchObject({
      op: "add",
      hostIp: "198.51.100.2",
    });
    expect(changeOfBody("configure-network-port-forward", { ...body, action: "remove" })).toMatchObject({ op: "remove" });
  });
  it("firewall: absent optional rule fields become null, defaults accept, no rules and no host services when absent", () => {
    expect(changeOfBody("configure-network-firewall", { name: "web" })).toEqual({
      kind: "firewall",
      firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
    });
    expect(
      changeOfBody("configure-network-firewall", {
        defaultInbound: "drop",
        defaultOutbound: "reject",
        rules: [
          {
            direction: "outbound",
            protocol: "udp",
            source: "10.1.0.0/24",
            destination: "0.0.0.0/0",
            ports: "53",
            action: "accept",
            comment: "dns",
          },
          { direction: "inbound", protocol: "icmp", action: "drop" },
        ],
        hostServices: [{ protocol: "udp", ports: "5000-5100" }],
      }),
    ).toHaveProperty("firewall", {
      defaultInbound: "drop",
      defaultOutbound: "reject",
      rules: [
        {
          direction: "outbound",
          protocol: "udp",
          source: "10.1.0.0/24",
          destination: "0.0.0.0/0",
          ports: "53",
          action: "accept",
          comment: "dns",
        },
        { direction: "inbound", protocol: "icmp", source: null, destination: null, ports: null, action: "drop", comment: null },
      ],
      hostServices: [{ protocol: "udp", ports: "5000-5100" }],
    });
  });
});
