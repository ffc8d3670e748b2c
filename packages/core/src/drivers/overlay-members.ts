/**
 * configure-network-hosts (issue 17, ADR 0051): an overlay's member list changed in one job. Pure: the next
 * member list from the current spec and the request (with its refusals), the steps of a member that stays (flood
 * entries toward the added members, none toward the removed, the guard's member set replaced in one nft
 * transaction, the definition written with the new list), the create payload of an added member's part (and of
 * a removed member's part put back by an undo), and the whole plan across hosts a dry run shows.
 */
import { AppError } from "../errors";
import type { CreateNetworkPayload } from "../jobs";
import { parseIPv4 } from "../net/ipv4";
import type { HostFacts } from "../plan/facts";
import { planCreate, planDelete, planStart, planStop } from "../plan/lifecycle";
import type { NetSpec } from "../planner/network-spec";
import type { HostStep, JobPlan, PlanPhase } from "../plan/steps";
import { firewallBodyOf } from "../planner/firewall";
import { resolveCreate } from "../schemas/network";
import { validationError } from "../schemas/network-fields";
import { floodEntry, VXLAN_PORT, vxlanDeviceName } from "../render/vxlan";
import { type OverlayMember, type OverlayNetSpec, overlayFloodLimit, overlayGuardTable, overlayModel } from "./overlay";

/** What a configure-network-hosts request asks: the hosts (ids) to add and to remove. */
export interface MembersRequest {
  add: readonly string[];
  remove: readonly string[];
}

/**
 * The member list after `req` (the current members but the removed, in their order, then the added in the
 * request's order), or the refusal: VALIDATION_FAILED for a request that names nothing, a host twice or a host in
 * both lists; INVALID_STATE for an added host already a member, a removed host that is none, or the gateway host.
 */
export function nextOverlayMembers(spec: OverlayNetSpec, req: MembersRequest, ipOf: (id: string) => string): OverlayMember[] {
  const issues: { path: string; message: string }[] = [];
  if (req.add.length === 0 && req.remove.length === 0) {
    issues.push({ path: "", message: "give hosts to add or to remove" });
  }
  for (const [list, path] of [
    [req.add, "add"],
    [req.remove, "remove"],
  ] as const) {
    const seen = new Set<string>();
    list.forEach((h, i) => {
      if (seen.has(h)) issues.push({ path: `${path}.${i}`, message: `host '${h}' is listed twice` });
      seen.add(h);
    });
  }
  req.remove.forEach((h, i) => {
    if (req.add.includes(h)) issues.push({ path: `remove.${i}`, message: `host '${h}' is both added and removed` });
  });
  if (issues.length > 0) throw validationError(issues);
  const ids = new Set(spec.members.map((m) => m.id));
  const details = { name: spec.name, members: spec.members.map((m) => m.id) };
  for (const h of req.add) {
    if (ids.has(h)) {
      throw new AppError("INVALID_STATE", `host '${h}' is already a member of overlay '${spec.name}' (${[...ids].join(", ")})`, {
        ...details,
        host: h,
      });
    }
  }
  for (const h of req.remove) {
    if (h === spec.gatewayHost) {
      throw new AppError(
        "INVALID_STATE",
        `host '${h}' is the gateway host of overlay '${spec.name}' (its gateway address, DHCP and NAT live there): it cannot be removed; move the gateway to another member first (gatewayHost)`,
        { ...details, host: h, gatewayHost: spec.gatewayHost },
      );
    }
    if (!ids.has(h)) {
      throw new AppError("INVALID_STATE", `host '${h}' is not a member of overlay '${spec.name}' (${[...ids].join(", ")})`, {
        ...details,
        host: h,
      });
    }
  }
  return [...spec.members.filter((m) => !req.remove.includes(m.id)), ...req.add.map((id) => ({ id, ip: ipOf(id) }))];
}

/** The members `after` adds to and removes from `before` (by id), and those in both (staying). */
export function membersDiff(
  before: readonly OverlayMember[],
  after: readonly OverlayMember[],
): { added: OverlayMember[]; removed: OverlayMember[]; staying: OverlayMember[] } {
  const had = new Set(before.map((m) => m.id));
  const has = new Set(after.map((m) => m.id));
  return {
    added: after.filter((m) => !had.has(m.id)),
    removed: before.filter((m) => !has.has(m.id)),
    staying: after.filter((m) => had.has(m.id)),
  };
}

const IPV4 = (ip: string): string => {
  if (parseIPv4(ip) === null || ip.includes("/")) throw new Error(`overlay guard: not an IPv4 address: ${JSON.stringify(ip)}`);
  return ip;
};

/**
 * The guard's member set replaced as one nft invocation: nft runs the commands of one invocation as one
 * transaction, so the guard is never without its rule (and a failed replacement leaves the old one).
 */
export function guardReplaceArgv(spec: OverlayNetSpec): string[] {
  const t = overlayGuardTable(spec.vni);
  const ips = [...new Set(spec.members.map((m) => IPV4(m.ip)))].sort().join(", ");
  return [
    "nft",
    `flush chain inet ${t} guard; add rule inet ${t} guard udp dport ${VXLAN_PORT} @th,96,24 ${spec.vni} ip saddr != { ${ips} } counter drop comment "overlay ${spec.name}: VNI ${spec.vni} only from its members"`,
  ];
}

const floodDel = (vni: number, ip: string): string[] => [
  "bridge",
  "fdb",
  "del",
  "00:00:00:00:00:00",
  "dev",
  vxlanDeviceName(vni),
  "dst",
  ip,
];

/**
 * The host steps of a member that stays (its definition is `spec`, for `spec.self`): with the network running,
 * a flood entry toward each added member, none toward each removed one, the guard's member set replaced; then
 * the definition written with the new member list (`oldXml`: what its undo writes back; default the spec's
 * rendering). Each step undoes itself.
 */
export function planMembersUpdate(
  spec: OverlayNetSpec,
  members: readonly OverlayMember[],
  active: boolean,
  oldXml?: string,
): { spec: OverlayNetSpec; hostSteps: HostStep[] } {
  if (!members.some((m) => m.id === spec.self)) {
    throw new AppError("INVALID_STATE", `host ${spec.self} is not in overlay '${spec.name}''s new member list`, {
      name: spec.name,
      host: spec.self,
    });
  }
  const next: OverlayNetSpec = { ...spec, members: members.map((m) => ({ id: m.id, ip: m.ip })) };
  const { added, removed } = membersDiff(spec.members, next.members);
  const steps: HostStep[] = [];
  if (active) {
    for (const m of added) {
      steps.push({
        kind: "command",
        name: `flood to member ${m.id} (${m.ip})`,
        argv: ["bridge", ...floodEntry(spec.vni, m.ip)],
        undo: floodDel(spec.vni, m.ip),
        live: true,
      });
    }
    for (const m of removed) {
      steps.push({
        kind: "command",
        name: `stop flooding to ${m.id} (${m.ip})`,
        argv: floodDel(spec.vni, m.ip),
        undo: ["bridge", ...floodEntry(spec.vni, m.ip)],
        live: true,
      });
    }
    if (added.length > 0 || removed.length > 0) {
      steps.push({
        kind: "command",
        name: `VXLAN guard: accept ${[...new Set(next.members.map((m) => m.ip))].sort().join(", ")}`,
        argv: guardReplaceArgv(next),
        undo: guardReplaceArgv(spec),
        live: true,
      });
    }
  }
  steps.push({
    kind: "xml",
    name: "write spec",
    network: spec.name,
    xml: overlayModel.render(next),
    undo: { xml: oldXml ?? overlayModel.render(spec) },
    undoName: `restore definition of ${spec.name}`,
    live: false,
  });
  return { spec: next, hostSteps: steps };
}

/**
 * The create-network payload of a member's part (an added host's, or a removed host's put back by an undo): the
 * overlay's body as it stands for `members`, resolved as the API resolves it (the worker's payload check wants
 * exactly that), with the spec's uuid and creation time and the members' underlay addresses.
 */
export function memberCreatePayload(
  spec: OverlayNetSpec,
  members: readonly OverlayMember[],
  host: string,
  opts: { start: boolean; autostart: boolean },
): CreateNetworkPayload {
  const d = spec.dhcp;
  const body = {
    name: spec.name,
    type: "overlay" as const,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.managedBy === undefined ? {} : { managedBy: spec.managedBy }),
    cidr: spec.cidr,
    gateway: spec.gateway,
    dhcp: d.enabled
      ? {
          ...(d.start === null ? {} : { start: d.start }),
          ...(d.end === null ? {} : { end: d.end }),
          ...(d.leaseTime === null ? {} : { leaseTime: d.leaseTime }),
        }
      : (false as const),
    mtu: spec.mtu,
    hosts: members.map((m) => m.id),
    gatewayHost: spec.gatewayHost,
    nat: spec.nat,
    floodLimitPps: overlayFloodLimit(spec),
    start: opts.start,
    autostart: opts.autostart,
  };
  const { requestedHost: _r, ...resolved } = resolveCreate(body);
  return {
    ...resolved,
    uuid: spec.uuid,
    host,
    createdAt: spec.createdAt,
    overlayDoor: {
      vni: spec.vni,
      underlay: Object.fromEntries(members.map((m) => [m.id, m.ip])),
      mtu: spec.mtu,
      // The rules every member holds: an added member's part filters its VMs from its start.
      ...(spec.firewall ? { firewall: firewallBodyOf(spec.firewall) } : {}),
      // The bandwidth limits every member holds: an added member shapes its VMs from its start.
      ...(spec.qos ? { qos: spec.qos } : {}),
    },
  };
}

/** A member's spec of the same overlay (its `self` that member) with `members`. */
export const memberSpec = (spec: OverlayNetSpec, host: string, members: readonly OverlayMember[]): OverlayNetSpec => ({
  ...spec,
  members: members.map((m) => ({ id: m.id, ip: m.ip })),
  self: host,
});

/**
 * The whole job across hosts as a dry run shows it (from the gateway host's spec; each host's facts unknown
 * here, so each part is planned as from a host without the overlay's devices): the removed members' parts
 * taken down first, then every other member's update and each added member's part, one job step per host
 * (`host <id>: ...`, as the job reports them), the gateway host's own update last.
 */
export function planMembersChange(
  spec: OverlayNetSpec,
  members: readonly OverlayMember[],
  net: { active: boolean; autostart: boolean },
): JobPlan {
  const { added, removed, staying } = membersDiff(spec.members, members);
  const none: HostFacts = { links: [], pfs: [] };
  const phases: PlanPhase[] = [];
  for (const m of removed) {
    const s = memberSpec(spec, m.id, spec.members);
    const facts: HostFacts = { links: [{ name: s.bridge, master: null, mtu: s.mtu, up: true, kind: "bridge" }], pfs: [] };
    const xml = overlayModel.render(s);
    const del = planDelete(s, s.name, { ...net, xml, forwardMode: "bridge", firewall: null }, facts);
    phases.push({ step: `host ${m.id}: delete-network`, hostSteps: del.phases.flatMap((p) => p.hostSteps) });
  }
  for (const m of staying) {
    if (m.id === spec.self) continue;
    const own = planMembersUpdate(memberSpec(spec, m.id, spec.members), members, net.active);
    phases.push({ step: `host ${m.id}: configure-network-hosts`, hostSteps: own.hostSteps });
  }
  for (const m of added) {
    const s = memberSpec(spec, m.id, members);
    const c = planCreate(s, { start: net.active, autostart: net.autostart }, none, m.id);
    phases.push({ step: `host ${m.id}: create-network`, hostSteps: c.phases.flatMap((p) => p.hostSteps) });
  }
  phases.push({ step: "updating members", hostSteps: planMembersUpdate(spec, members, net.active).hostSteps });
  return { phases, warnings: [] };
}

/** The lifecycle jobs of an overlay that run a part on every member. */
export type MemberPartAction = "create-network" | "start-network" | "stop-network" | "delete-network";

/**
 * A coordinator's plan with every other member's part of the same create, start, stop or delete appended, one
 * phase per host (`host <id>: <action>`, the job step the coordinator reports that part in): what the dry run
 * shows after the coordinator's own steps, and what the coordinator checks a previewed plan against (expectPlan),
 * so a previewed plan covers every host. Each part is planned from the spec as that member's (its host's facts are
 * known only there: planned as from a host without the overlay's devices to make them, with its bridge to take
 * them down), as configure-network-hosts's dry run plans its parts. The coordinator runs only its own phases.
 * Any other type's plan, or a member's own part (`parentJob`), is returned as it is.
 */
export function withMemberParts(
  plan: JobPlan,
  spec: NetSpec | null,
  action: MemberPartAction,
  net: { active: boolean; autostart: boolean },
): JobPlan {
  if (!spec || !overlayModel.is(spec)) return plan;
  const none: HostFacts = { links: [], pfs: [] };
  const phases: PlanPhase[] = [...plan.phases];
  for (const m of spec.members) {
    if (m.id === spec.self) continue;
    const s = memberSpec(spec, m.id, spec.members);
    const withBridge: HostFacts = { links: [{ name: s.bridge, master: null, mtu: s.mtu, up: true, kind: "bridge" }], pfs: [] };
    const facts = { active: net.active, autostart: net.autostart, xml: overlayModel.render(s), forwardMode: "bridge", firewall: null };
    const part =
      action === "create-network"
        ? planCreate(s, { start: net.active, autostart: net.autostart }, none, m.id)
        : action === "start-network"
          ? planStart(s, { ...facts, active: false }, none, m.id)
          : action === "stop-network"
            ? planStop(s.name, { active: true, firewall: overlayModel.firewall(s) }, s)
            : planDelete(s, s.name, { ...facts, firewall: net.active ? overlayModel.firewall(s) : null }, withBridge);
    phases.push({ step: `host ${m.id}: ${action}`, hostSteps: part.phases.flatMap((p) => p.hostSteps) });
  }
  return { ...plan, phases };
}
