/**
 * configure-network-hosts { gatewayHost } (issue 17, ADR 0051 "Gateway move"): an overlay's gateway (its address,
 * DHCP server, NAT masquerade with MSS clamping, port forwards, reservations and DNS records) moved to another
 * member in one job. Pure: the refusals, each host's spec after the move, the host steps of a member whose role
 * changes (gateway -> member, member -> gateway), each with its undo, and the whole plan a dry run shows.
 *
 * A role change cannot be made in place: the gateway's bridge is libvirt's (a routed network made by its start,
 * which refuses a bridge that already exists), a member's is netforge's under a `forward mode='bridge'` network.
 * So the host's ports (the VXLAN device and every VM port) leave the bridge, the running part stops (and a
 * member's bridge is removed), the definition is written for the new role, the part starts again (a member's
 * bridge made first) and the ports come back. The VXLAN device, its forwarding entries and the guard are kept
 * throughout (they do not depend on the bridge), so the rest of the segment never loses them.
 */
import { AppError } from "../errors";
import { qosStartStep, qosStopStep } from "../plan/lifecycle";
import type { HostStep, JobPlan, PlanPhase } from "../plan/steps";
import { nftStep } from "../plan/steps";
import { parseNetworkXml } from "../render/network-xml";
import { validationError } from "../schemas/network-fields";
import { bridgePortEntry, neighbourEntry, overlayGatewayMac, unicastEntry, unicastEntryRemoval, vxlanDeviceName } from "../render/vxlan";
import { type OverlayNetSpec, overlayHostSteps, overlayModel } from "./overlay";
import { memberBridgeSetup } from "./overlay-drift";

/** The job steps of the coordinator's own halves (the old gateway host's). */
export const GATEWAY_DOWN_STEP = "stopping the old gateway";
export const GATEWAY_UP_STEP = "updating members";

/**
 * The refusals of a gateway move, against the gateway host's spec: with add or remove in the same request
 * (VALIDATION_FAILED: a move is a request of its own), to the gateway host itself or to a host that is not a
 * member (INVALID_STATE, naming the members).
 */
export function checkGatewayMove(spec: OverlayNetSpec, to: string, req: { add: readonly string[]; remove: readonly string[] }): void {
  if (req.add.length > 0 || req.remove.length > 0) {
    throw validationError([
      { path: "gatewayHost", message: "move the gateway in a request of its own (without add or remove), then change the members" },
    ]);
  }
  const ids = spec.members.map((m) => m.id);
  const details = { name: spec.name, members: ids, gatewayHost: spec.gatewayHost, host: to };
  if (to === spec.gatewayHost) {
    throw new AppError("INVALID_STATE", `host '${to}' is already the gateway host of overlay '${spec.name}': nothing to move`, details);
  }
  if (!ids.includes(to)) {
    throw new AppError(
      "INVALID_STATE",
      `host '${to}' is not a member of overlay '${spec.name}' (${ids.join(", ")}): the gateway moves to a member; add the host first`,
      details,
    );
  }
  // A forward bound to one of the old gateway host's own addresses has no meaning on another host.
  const bound = (spec.portForwards ?? []).filter((f) => f.hostIp !== undefined);
  if (bound.length > 0) {
    const f = bound[0] as NonNullable<OverlayNetSpec["portForwards"]>[number];
    throw new AppError(
      "INVALID_STATE",
      `overlay '${spec.name}' forwards ${f.protocol} port ${f.hostPort} on host address ${f.hostIp} of ${spec.gatewayHost}: that address does not move with the gateway; remove the forward (or make it listen on every address) first`,
      { ...details, portForward: f },
    );
  }
}

/**
 * The old gateway's definition as the coordinator hands it to the new gateway (the payload's `gateway.xml`),
 * read back with the parser every definition is read with: the gateway's parts exactly as they are there.
 */
export function gatewaySpecFromXml(xml: string, name: string): OverlayNetSpec {
  const spec = parseNetworkXml(xml).spec;
  if (!spec || !overlayModel.is(spec) || spec.name !== name) {
    throw new AppError("VALIDATION_FAILED", `the old gateway's definition handed over for '${name}' is not that overlay's`, {
      issues: [{ path: "gateway.xml", message: "not the overlay's definition" }],
    });
  }
  return spec;
}

/**
 * This host's spec after the gateway moved to `to`: on the new gateway, the old gateway's spec (`gateway`: its
 * DHCP range, reservations, DNS records, forwards, firewall) with this host as `self`; on any other member its
 * own spec with the new gateway host (a member's copy of the gateway's parts stays as it was: nothing there reads
 * them).
 */
export function specAfterMove(own: OverlayNetSpec, to: string, gateway: OverlayNetSpec | null): OverlayNetSpec {
  if (own.self !== to) return { ...own, gatewayHost: to };
  if (!gateway) throw new AppError("INTERNAL", `the new gateway ${to} of '${own.name}' needs the old gateway's definition`, {});
  return { ...gateway, members: own.members.map((m) => ({ ...m })), self: to, gatewayHost: to };
}

const isGateway = (s: OverlayNetSpec): boolean => s.self === s.gatewayHost;

/** A host's part of the move: what runs before the new definition (`down`), the definition, and after it (`up`). */
export interface RoleChange {
  spec: OverlayNetSpec;
  down: HostStep[];
  define: HostStep[];
  up: HostStep[];
}

const ipLink = (...args: string[]): string[] => ["ip", "link", "set", "dev", ...args];

/**
 * The host steps of a member whose definition goes from `own` to `next` (the same overlay, this host's `self`).
 * `ports`: the VM ports on its bridge now (the VXLAN device is always one while it runs). Role unchanged, or the
 * part not running: only the definition is written. Otherwise, each step with its inverse, so that a failure at
 * any point (or the job's undo) brings the host back to the role it had, ports on the bridge again:
 * - down: every port leaves the bridge (undone: back on it, the VXLAN port with learning off again); libvirt's
 *   stop (undone: start); on a member, its bridge removed (undone: made again with its MTU, up).
 * - define: the definition for the new role (undone: the former one).
 * - up: on a member, its bridge made; libvirt's start (the gateway's makes its bridge, address and dnsmasq);
 *   the VXLAN device first back on the bridge, then the VMs' ports; this host's part of netforge's table for the
 *   new role (the gateway's: masquerade, MSS clamp, forwards); on the new gateway a gratuitous ARP for the gateway
 *   address (the VMs' neighbour entries point at the old gateway's bridge MAC until they learn the new one).
 */
export function planRoleChange(own: OverlayNetSpec, next: OverlayNetSpec, ports: readonly string[], active: boolean): RoleChange {
  const define: HostStep[] = [
    {
      kind: "xml",
      name: "write spec",
      network: own.name,
      xml: overlayModel.render(next),
      undo: { xml: overlayModel.render(own) },
      undoName: `restore definition of ${own.name}`,
      live: false,
    },
  ];
  if (!active) return { spec: next, down: [], define, up: [] };
  // A member that stays one: its entries for the gateway's MAC follow the gateway (after the old one stopped).
  if (isGateway(own) === isGateway(next)) return { spec: next, down: [], define, up: isGateway(next) ? [] : gatewayMacSteps(own, next) };
  const br = own.bridge;
  const dev = vxlanDeviceName(own.vni);
  const learningOff = ipLink(dev, "type", "bridge_slave", "learning", "off", "neigh_suppress", "on");
  // (libvirt's own port of the gateway's bridge, `<bridge>-nic`, goes and comes with libvirt's stop and start.)
  const vms = ports.filter((p) => p !== dev && p !== br && p !== `${br}-nic`);
  // Bandwidth limits (ADR 0044 "Overlay networks"): what the old role shaped here (the gateway's edge tree and
  // feeds, or a member's VM classes) goes while the ports are still on the bridge; the new role's after they are back.
  const unshape = qosStopStep(own);
  const down: HostStep[] = unshape ? [unshape] : [];
  down.push(
    ...[dev, ...vms].map((p) => ({
      kind: "command" as const,
      name: `port ${p} leaves bridge ${br}`,
      argv: ipLink(p, "nomaster"),
      undo: ipLink(p, "master", br),
      ...(p === dev ? { undoThen: [learningOff] } : {}),
      live: true,
    })),
  );
  down.push({
    kind: "virsh",
    name: isGateway(own) ? "stop the gateway (its address, dnsmasq and bridge go)" : "stop network",
    args: ["net-destroy", own.name],
    undo: ["net-start", own.name],
    undoName: "restart network",
    live: true,
  });
  if (!isGateway(own)) {
    const [bridgeAdd, ...bridgeRest] = memberBridgeSetup(own) as [string[], ...string[][]];
    down.push({
      kind: "command",
      name: "remove the overlay's bridge",
      argv: ["ip", "link", "del", br],
      // Made again as a member's create makes it.
      undo: bridgeAdd,
      undoThen: bridgeRest,
      live: true,
    });
  }
  const up: HostStep[] = [];
  if (!isGateway(next)) up.push(...overlayHostSteps.setUp(next, { links: [], pfs: [] }, next.self));
  up.push({
    kind: "virsh",
    name: isGateway(next) ? "start the gateway (libvirt makes its bridge, address and dnsmasq)" : "start network",
    args: ["net-start", own.name],
    undo: ["net-destroy", own.name],
    undoName: "stop network",
    live: true,
  });
  for (const p of [dev, ...vms]) {
    up.push({
      kind: "command",
      name: `port ${p} joins bridge ${br}`,
      argv: ipLink(p, "master", br),
      undo: ipLink(p, "nomaster"),
      live: true,
    });
    if (p === dev) up.push({ kind: "command", name: `no learning on port ${dev}`, argv: learningOff, undo: null, live: true });
  }
  up.push(...gatewayMacSteps(own, next));
  const part = overlayModel.firewall(next);
  if (part) up.push(nftStep("apply firewall (one nft transaction)", own.name, part));
  const shape = qosStartStep(next);
  if (shape) up.push(shape);
  if (isGateway(next)) {
    up.push({
      kind: "command",
      name: `announce gateway ${next.gateway} (gratuitous ARP)`,
      argv: garpArgv(br, next.gateway),
      undo: null,
      allowFailure: true,
      live: true,
    });
  }
  return { spec: next, down, define, up };
}

/**
 * The entries of the gateway's fixed MAC (`overlayGatewayMac`) on a host once the gateway is `next`'s, written by
 * the move's job (the unicast sync, ADR 0051 "Unicast forwarding entries", would only follow within its rounds):
 * - the new gateway: no VXLAN entry of its own bridge's MAC (frames to it are delivered on its bridge);
 * - any other member (the old gateway among them): the VXLAN device's entry toward the new gateway's underlay
 *   (undone: toward the old one's, or removed on the old gateway), the bridge's entry on the VXLAN port (known
 *   unicast, not flooded to the local ports; ARP suppression reads it) and the bridge's neighbour entry of the
 *   gateway address (ARP for it answered on the member; on the old gateway its bridge is a new one).
 */
export function gatewayMacSteps(own: OverlayNetSpec, next: OverlayNetSpec): HostStep[] {
  const mac = overlayGatewayMac(next.vni);
  if (isGateway(next)) {
    return [
      {
        kind: "command",
        name: `no VXLAN entry for the gateway's MAC ${mac} (its own bridge's now)`,
        argv: ["bridge", ...unicastEntryRemoval(next.vni, mac)],
        undo: null,
        allowFailure: true,
        live: true,
      },
    ];
  }
  const to = next.members.find((m) => m.id === next.gatewayHost)?.ip;
  if (!to) return [];
  const from = own.members.find((m) => m.id === own.gatewayHost)?.ip;
  const back = isGateway(own) || !from || from === to ? unicastEntryRemoval(next.vni, mac) : unicastEntry(next.vni, mac, from);
  return [
    {
      kind: "command",
      name: `the gateway's MAC ${mac} toward ${next.gatewayHost} (${to})`,
      argv: ["bridge", ...unicastEntry(next.vni, mac, to)],
      undo: ["bridge", ...back],
      live: true,
    },
    {
      kind: "command",
      name: `the gateway's MAC ${mac} behind the VXLAN port`,
      argv: ["bridge", ...bridgePortEntry(next.vni, mac)],
      undo: null,
      live: true,
    },
    {
      kind: "command",
      name: `ARP for ${next.gateway} answered with ${mac}`,
      argv: ["ip", ...neighbourEntry(next.bridge, next.gateway, mac)],
      undo: null,
      live: true,
    },
  ];
}

/**
 * A gratuitous ARP (a broadcast request for the gateway address from the gateway address, with the bridge's
 * MAC), three times 50 ms apart: a raw frame from python3 (in the worker's image), no arping needed. Linux
 * guests update an existing neighbour entry from it.
 */
export const GARP_PY = `import socket, struct, sys, time
dev, ip = sys.argv[1], sys.argv[2]
mac = bytes.fromhex(open('/sys/class/net/%s/address' % dev).read().strip().replace(':', ''))
a = socket.inet_aton(ip)
frame = b'\\xff' * 6 + mac + b'\\x08\\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + mac + a + b'\\x00' * 6 + a
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
for i in range(3):
    s.send(frame)
    time.sleep(0.05)
`;

export const garpArgv = (bridge: string, ip: string): string[] => ["python3", "-c", GARP_PY, bridge, ip];

/**
 * The whole move as a dry run shows it (from the gateway host's spec; the VM ports on each bridge are not known
 * there, so each part is planned with the VXLAN device as its only port): the new gateway's part, each other
 * member's definition, then the old gateway's halves. In the job, the new gateway's part prepares first (its
 * member part down, its gateway definition written), the old gateway stops, and only then the new one starts.
 */
export function planGatewayMove(spec: OverlayNetSpec, to: string, net: { active: boolean }): JobPlan {
  const phases: PlanPhase[] = [];
  const theirs = { ...spec, self: to };
  const b = planRoleChange(theirs, specAfterMove(theirs, to, spec), [], net.active);
  phases.push({ step: `host ${to}: configure-network-hosts`, hostSteps: [...b.down, ...b.define, ...b.up] });
  for (const m of spec.members) {
    if (m.id === spec.self || m.id === to) continue;
    const own = { ...spec, self: m.id };
    phases.push({
      step: `host ${m.id}: configure-network-hosts`,
      hostSteps: ((c) => [...c.define, ...c.up])(planRoleChange(own, specAfterMove(own, to, null), [], net.active)),
    });
  }
  const a = planRoleChange(spec, specAfterMove(spec, to, null), [], net.active);
  phases.push({ step: GATEWAY_DOWN_STEP, hostSteps: a.down });
  phases.push({ step: GATEWAY_UP_STEP, hostSteps: [...a.define, ...a.up] });
  return { phases, warnings: [] };
}
