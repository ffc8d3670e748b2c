/**
 * The desired-state file of `netforge plan|apply|export` (docs/adr/0043): its schema (every error with its
 * path), the current state of a network in the same shape (export), and the diff of the two into an ordered
 * list of requests per network. Pure: no I/O (fleet-commands.ts reads the cluster and runs the requests).
 *
 *   apiVersion: netforge/v1
 *   kind: Fleet
 *   metadata: { name: lab }          # the file's id: apply marks the networks it creates with it (managedBy)
 *   networks:
 *     - name: web                    # the create-network body (type, host, cidr, gateway, dhcp, ...)
 *       type: nat
 *       cidr: 192.168.100.0/24
 *       firewall: { defaultInbound: drop, rules: [...], hostServices: [...] }   # configure-network-firewall
 *       portForwards: [ { protocol: tcp, hostPort: 2222, vmIp: ..., vmPort: 22 } ]
 *       reservations: [ { mac: ..., ip: ..., hostname: ... } ]
 *       dnsHosts: [ { ip: ..., names: [db] } ]
 *
 * Each configurable part is one row of CONFIGURABLE (its key, the command of the action that changes it, and
 * the requests that take it from the current value to the desired one): a new part is one row.
 */
import {
  AppError,
  AssignStaticIpBody,
  ConfigureDnsBody,
  ConfigureFirewallBody,
  ConfigurePortForwardBody,
  ConfigureQosBody,
  CreateNetworkBody,
  canonicalIp,
  IpAddress,
  ManagedBy,
  resolveCreate,
} from "@netforge/core/contract";
import { z } from "zod";

export const FLEET_API_VERSION = "netforge/v1";
export const FLEET_KIND = "Fleet";

/** One problem of a file, named by its path (`networks[1].dhcp.start`). */
export interface FileIssue {
  path: string;
  message: string;
}

const FirewallPart = ConfigureFirewallBody.omit({ name: true, dryRun: true });
/** IPv6 addresses in their one text (the server's), so a file spelling one otherwise is no change. */
const Addr = (what: string) => IpAddress.transform(canonicalIp).describe(what);
const ForwardPart = ConfigurePortForwardBody.omit({ name: true, dryRun: true, action: true }).extend({
  vmIp: Addr("The VM's address the host port goes to: IPv4 in the subnet or IPv6 in the network's prefix (one family per forward)"),
  hostIp: Addr("Only this host address (of vmIp's family); absent: every host address of that family").optional(),
});
/** A reservation: by `mac` (IPv4) or by `duid` (IPv6, the server checks which an address needs). */
const ReservationPart = AssignStaticIpBody.pick({ mac: true, duid: true, ip: true, hostname: true });
/** A network's bandwidth limits (configure-network-qos's body without the name): absent parts are none. */
const QosPart = ConfigureQosBody.omit({ name: true, dryRun: true }).transform((q) => ({ network: q.network ?? null, vms: q.vms ?? [] }));

/** The parts of a file's network beside its create body, each with its schema. */
const PART_SCHEMAS = {
  firewall: FirewallPart,
  portForwards: z.array(ForwardPart),
  reservations: z.array(ReservationPart),
  dnsHosts: ConfigureDnsBody.shape.hosts,
  qos: QosPart,
};
type PartKey = keyof typeof PART_SCHEMAS;
const PART_KEYS = Object.keys(PART_SCHEMAS) as PartKey[];

export type FirewallValue = z.output<typeof FirewallPart>;
export type ForwardValue = z.output<typeof ForwardPart>;
export type ReservationValue = z.output<typeof ReservationPart>;
export type DnsValue = z.output<typeof PART_SCHEMAS.dnsHosts>;
export type QosValue = z.output<typeof QosPart>;

/** A network of a file, validated: its create body (without start/managedBy) and its parts, defaults filled. */
export interface DesiredNetwork {
  name: string;
  /** The create-network body as the file gives it (what a create sends, plus managedBy). */
  create: Record<string, unknown>;
  /** The create body resolved (defaults filled: gateway, DHCP range): what the network will show. */
  resolved: { type: string; cidr: string | null; gateway: string | null; description: string; autostart: boolean; dhcp: Dhcp };
  firewall: FirewallValue;
  portForwards: ForwardValue[];
  reservations: ReservationValue[];
  dnsHosts: DnsValue;
  qos: QosValue;
}

export interface Fleet {
  name: string;
  networks: DesiredNetwork[];
}

interface Dhcp {
  enabled: boolean;
  start: string | null;
  end: string | null;
  leaseTime: number | null;
}

const Header = z.strictObject({
  apiVersion: z.literal(FLEET_API_VERSION, { error: `must be ${FLEET_API_VERSION}` }),
  kind: z.literal(FLEET_KIND, { error: `must be ${FLEET_KIND}` }),
  metadata: z.strictObject({ name: ManagedBy.describe("The file's id: apply marks the networks it creates with it") }),
  networks: z.array(z.record(z.string(), z.unknown()), { error: "must be a list of networks" }),
});

const pathOf = (parts: readonly PropertyKey[]): string =>
  parts.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), "");

function zodIssues(err: z.ZodError, prefix: readonly PropertyKey[]): FileIssue[] {
  return err.issues.flatMap((i) => {
    if (i.code === "unrecognized_keys")
      return i.keys.map((k) => ({ path: pathOf([...prefix, ...i.path, k]), message: "is not a field here" }));
    return [{ path: pathOf([...prefix, ...i.path]), message: i.message }];
  });
}

/** Fields of a create body the file may not set: apply sets managedBy itself, and a network in a file runs. */
const NOT_IN_FILE = ["managedBy", "start"];

/**
 * Validate a parsed file as a whole: every problem, each with its path, or the fleet. Names must be unique;
 * each network's create body must resolve (gateway, DHCP range inside the subnet...).
 */
export function parseFleet(doc: unknown): { ok: true; fleet: Fleet } | { ok: false; issues: FileIssue[] } {
  const head = Header.safeParse(doc);
  if (!head.success) {
    // The networks are checked even when the header is wrong, so every error is named at once.
    const issues = zodIssues(head.error, []);
    const nets = isRecord(doc) ? doc.networks : undefined;
    if (Array.isArray(nets))
      issues.push(
        ...parseNetworks(
          nets.map((n) => (isRecord(n) ? n : {})),
          null,
        ).issues,
      );
    return { ok: false, issues };
  }
  const r = parseNetworks(head.data.networks, head.data.metadata.name);
  if (r.issues.length > 0) return { ok: false, issues: r.issues };
  return { ok: true, fleet: { name: head.data.metadata.name, networks: r.networks } };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Port numbers written as YAML numbers (`ports: 22`) are the strings the firewall takes ("22"). */
function portsAsText(firewall: unknown): unknown {
  if (!isRecord(firewall)) return firewall;
  const fix = (list: unknown) =>
    Array.isArray(list) ? list.map((r) => (isRecord(r) && typeof r.ports === "number" ? { ...r, ports: String(r.ports) } : r)) : list;
  return {
    ...firewall,
    ...(firewall.rules !== undefined ? { rules: fix(firewall.rules) } : {}),
    ...(firewall.hostServices !== undefined ? { hostServices: fix(firewall.hostServices) } : {}),
  };
}

function parseNetworks(raw: Record<string, unknown>[], owner: string | null): { networks: DesiredNetwork[]; issues: FileIssue[] } {
  const issues: FileIssue[] = [];
  const networks: DesiredNetwork[] = [];
  const seen = new Map<string, number>();
  raw.forEach((n, i) => {
    const at = ["networks", i];
    const before = issues.length;
    const createRaw: Record<string, unknown> = {};
    const partsRaw: Partial<Record<PartKey, unknown>> = {};
    for (const [k, v] of Object.entries(n)) {
      if (k === "firewall") partsRaw.firewall = portsAsText(v);
      else if ((PART_KEYS as string[]).includes(k)) partsRaw[k as PartKey] = v;
      else if (NOT_IN_FILE.includes(k))
        issues.push({ path: pathOf([...at, k]), message: "is not a field of a file's network (apply sets it)" });
      else createRaw[k] = v;
    }
    const create = CreateNetworkBody.safeParse(createRaw);
    if (!create.success) issues.push(...zodIssues(create.error, at));
    const parts: Record<string, unknown> = {};
    for (const k of PART_KEYS) {
      const schema: z.ZodType = PART_SCHEMAS[k];
      const r = schema.safeParse(partsRaw[k] ?? (k === "firewall" || k === "qos" ? {} : []));
      if (r.success) parts[k] = r.data;
      else issues.push(...zodIssues(r.error, [...at, k]));
    }
    let resolved: DesiredNetwork["resolved"] | null = null;
    if (create.success) {
      try {
        const r = resolveCreate(create.data);
        resolved = { type: r.type, cidr: r.cidr, gateway: r.gateway, description: r.description, autostart: r.autostart, dhcp: r.dhcp };
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        const list = (err.details.issues as FileIssue[] | undefined) ?? [{ path: "", message: err.message }];
        for (const x of list) issues.push({ path: pathOf([...at, ...(x.path ? x.path.split(".") : [])]), message: x.message });
      }
      const name = create.data.name;
      const first = seen.get(name);
      if (first !== undefined) issues.push({ path: pathOf([...at, "name"]), message: `"${name}" is also networks[${first}]'s name` });
      else seen.set(name, i);
    }
    if (issues.length > before || !create.success || !resolved || owner === null) return;
    networks.push({
      name: create.data.name,
      create: { ...createRaw, managedBy: owner },
      resolved,
      firewall: parts.firewall as FirewallValue,
      portForwards: parts.portForwards as ForwardValue[],
      reservations: parts.reservations as ReservationValue[],
      dnsHosts: parts.dnsHosts as DnsValue,
      qos: parts.qos as QosValue,
    });
  });
  return { networks, issues };
}

/** A network as describe-network shows it (the fields the diff and export read). */
// not-a-network-type: the view's `bridge` (its bridge device) and `sriov` (its SR-IOV PF) sections are fields of
// every network's view, named after devices; the view is no map keyed by type.
export interface NetworkView {
  name: string;
  type: string;
  host: string;
  description: string;
  cidr: string | null;
  gateway: string | null;
  dhcp: Dhcp;
  autostart: boolean;
  bridge: { name: string | null; interface: string | null };
  sriov: { pf: string; vfsTotal: number; vlan: number | null } | null;
  firewall: { defaultInbound: string; defaultOutbound: string; rules: Record<string, unknown>[]; hostServices?: Record<string, unknown>[] };
  portForwards: { protocol: string; hostPort: number; vmIp: string; vmPort: number; hostIp?: string }[];
  reservations?: { mac: string; ip: string; hostname: string | null }[];
  /** IPv6 reservations by DUID (describe shows them only when there are some). */
  reservations6?: { duid: string; ip: string; hostname: string | null }[];
  dnsHosts: { ip: string; names: string[] }[];
  /** The MTU set on the network (null: none set). */
  mtu?: number | null;
  /** The bandwidth limits as describe shows them (null: none). */
  qos?: { network: unknown; vms: unknown[] } | null;
  /** IPv6 as describe shows it (null: IPv4 only). */
  ipv6?: {
    cidr: string;
    gateway?: string;
    mode: string;
    dhcp: { start: string; end: string; leaseTime?: number | null } | null;
    routed: boolean;
  } | null;
  managedBy?: string | null;
  version?: number;
}

/** JSON with object keys sorted and null/undefined fields left out: equal texts <=> equal values. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isRecord(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined && v[k] !== null)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

const dropNulls = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));

/** A network's current parts in the file's shape. */
function currentParts(v: NetworkView): {
  firewall: FirewallValue;
  portForwards: ForwardValue[];
  reservations: ReservationValue[];
  dnsHosts: DnsValue;
  qos: QosValue;
} {
  return {
    firewall: FirewallPart.parse({
      defaultInbound: v.firewall.defaultInbound,
      defaultOutbound: v.firewall.defaultOutbound,
      rules: v.firewall.rules.map(dropNulls),
      hostServices: v.firewall.hostServices ?? [],
    }),
    portForwards: v.portForwards.map((f) => ForwardPart.parse(dropNulls(f))),
    reservations: [...(v.reservations ?? []), ...(v.reservations6 ?? [])].map((r) => ReservationPart.parse(dropNulls(r))),
    dnsHosts: v.dnsHosts.map((h) => ({ ip: h.ip, names: [...h.names] })),
    qos: QosPart.parse(v.qos ?? {}),
  };
}

/** One request of a plan: the action (named by its command words) and its body. */
export interface PlannedRequest {
  /** The command words of the action (`network dhcp`): program.ts's actionAt gives its name. */
  command: string[];
  body: Record<string, unknown>;
  /** What it does, in words. */
  summary: string;
  /** True for a request whose network does not exist yet when planned (after a create): no dry run possible. */
  afterCreate?: boolean;
}

export type NetworkPlan =
  | { name: string; kind: "none" }
  | { name: string; kind: "create"; requests: PlannedRequest[] }
  | { name: string; kind: "update"; version: number; requests: PlannedRequest[] }
  | { name: string; kind: "replace"; version: number; reasons: string[]; requests: PlannedRequest[] }
  | { name: string; kind: "prune"; version: number; requests: PlannedRequest[] };

/** A part a network has that a configure action changes: one row each (a new part is one row). */
interface Configurable<K extends PartKey> {
  key: K;
  /** The requests taking `now` to `want` on network `name` (none when equal). */
  requests(name: string, want: DesiredNetwork[K], now: DesiredNetwork[K]): PlannedRequest[];
}
const part = <K extends PartKey>(c: Configurable<K>) => c;

const forwardKey = (f: { protocol: string; hostPort: number; hostIp?: string | undefined }) =>
  `${f.protocol}/${f.hostPort}@${f.hostIp ?? "*"}`;

/** The configurable parts beside DHCP (DHCP's range is a configure action too, but read from the resolved body). */
export const CONFIGURABLE = [
  part({
    key: "firewall",
    requests: (name, want, now) =>
      canonical(want) === canonical(now)
        ? []
        : [
            {
              command: ["network", "firewall"],
              body: { name, ...want },
              summary: `firewall: ${want.rules.length} rule(s), inbound ${want.defaultInbound}, outbound ${want.defaultOutbound}`,
            },
          ],
  }),
  part({
    key: "qos",
    // The whole set, as configure-network-qos replaces it (absent from the file: none).
    requests: (name, want, now) =>
      canonical(want) === canonical(now)
        ? []
        : [
            {
              command: ["network", "qos"],
              body: { name, network: want.network, vms: want.vms },
              summary: `bandwidth limits: ${want.network ? "network" : "no network limit"}, ${want.vms.length} VM(s)`,
            },
          ],
  }),
  part({
    key: "dnsHosts",
    requests: (name, want, now) =>
      canonical(want.map(lowerNames)) === canonical(now.map(lowerNames))
        ? []
        : [{ command: ["network", "dns"], body: { name, hosts: want }, summary: `DNS records: ${want.length}` }],
  }),
  part({
    key: "reservations",
    requests: (name, want, now) => {
      const out: PlannedRequest[] = [];
      // A reservation is its MAC's (IPv4) or its DUID's (IPv6): one per client.
      const who = (r: { mac?: string | undefined; duid?: string | undefined }) => r.mac ?? `duid ${r.duid}`;
      const byClient = (r: { mac?: string | undefined; duid?: string | undefined }) => (r.mac ? { mac: r.mac } : { duid: r.duid });
      const wanted = new Map(want.map((r) => [who(r), r]));
      for (const r of now) {
        const w = wanted.get(who(r));
        if (!w || canonical(w) !== canonical(r)) {
          out.push({
            command: ["network", "ip", "unassign"],
            body: { name, ...byClient(r) },
            summary: `reservation ${who(r)} -> ${r.ip}: remove`,
          });
        }
      }
      const have = new Map(now.map((r) => [who(r), r]));
      for (const w of want) {
        const r = have.get(who(w));
        if (!r || canonical(w) !== canonical(r)) {
          out.push({ command: ["network", "ip", "assign"], body: { name, ...w }, summary: `reservation ${who(w)} -> ${w.ip}: add` });
        }
      }
      return out;
    },
  }),
  part({
    key: "portForwards",
    requests: (name, want, now) => {
      const out: PlannedRequest[] = [];
      const wanted = new Map(want.map((f) => [forwardKey(f), f]));
      for (const f of now) {
        if (!wanted.has(forwardKey(f))) {
          out.push({
            command: ["network", "forward"],
            body: { name, action: "remove", protocol: f.protocol, hostPort: f.hostPort, ...(f.hostIp ? { hostIp: f.hostIp } : {}) },
            summary: `forward ${forwardKey(f)}: remove`,
          });
        }
      }
      const have = new Map(now.map((f) => [forwardKey(f), f]));
      for (const f of want) {
        const cur = have.get(forwardKey(f));
        const full = { ...f, vmPort: f.vmPort ?? f.hostPort };
        if (!cur || canonical(full) !== canonical(cur)) {
          out.push({
            command: ["network", "forward"],
            body: { name, action: "add", ...full },
            summary: `forward ${forwardKey(f)} -> ${f.vmIp}:${full.vmPort}: ${cur ? "re-target" : "add"}`,
          });
        }
      }
      return out;
    },
  }),
] as const;

const lowerNames = (h: { ip: string; names: string[] }) => ({ ip: h.ip, names: h.names.map((n) => n.toLowerCase()) });

/** The DHCP request taking `now` to `want` (enabled; `now` enabled or off: switched on live), or none. */
function dhcpRequests(name: string, want: Dhcp, now: Dhcp): PlannedRequest[] {
  if (now.enabled && want.start === now.start && want.end === now.end && want.leaseTime === now.leaseTime) return [];
  return [
    {
      command: ["network", "dhcp"],
      body: { name, start: want.start, end: want.end, ...(want.leaseTime === null ? {} : { leaseTime: want.leaseTime }) },
      summary: `DHCP range ${want.start}-${want.end}, lease ${want.leaseTime} s`,
    },
  ];
}

/**
 * The MTU request taking the network to the file's `mtu` (configure-network-mtu, live), or none. A file without
 * `mtu` keeps the network's: there is no request that unsets an MTU (as a pool's VF count left out is kept).
 */
function mtuRequests(name: string, want: unknown, now: number | null | undefined): PlannedRequest[] {
  if (typeof want !== "number" || want === now) return [];
  return [{ command: ["network", "mtu"], body: { name, mtu: want }, summary: `MTU ${now ?? "none set"} -> ${want}` }];
}

/** What a create leaves at its defaults: the parts of a network just created. */
const EMPTY_PARTS = { firewall: FirewallPart.parse({}), portForwards: [], reservations: [], dnsHosts: [], qos: QosPart.parse({}) };

/** The create request of a desired network and the configure requests for its parts. */
function createRequests(d: DesiredNetwork): PlannedRequest[] {
  const out: PlannedRequest[] = [
    { command: ["network", "create"], body: d.create, summary: `create ${d.resolved.type} network ${d.name}` },
  ];
  for (const c of CONFIGURABLE) {
    const reqs = (c.requests as Configurable<PartKey>["requests"])(d.name, d[c.key], EMPTY_PARTS[c.key]);
    out.push(...reqs.map((r) => ({ ...r, afterCreate: true })));
  }
  return out;
}

/** Why a network must be replaced to reach `d` (fields no configure action changes), or none. */
export function replaceReasons(d: DesiredNetwork, v: NetworkView): string[] {
  const out: string[] = [];
  const diff = (what: string, want: unknown, now: unknown) => {
    if (canonical(want) !== canonical(now)) out.push(`${what}: ${JSON.stringify(now)} -> ${JSON.stringify(want)}`);
  };
  const r = d.resolved;
  diff("type", r.type, v.type);
  if (typeof d.create.host === "string") diff("host", d.create.host, v.host);
  diff("cidr", r.cidr, v.cidr);
  diff("gateway", r.gateway, v.gateway);
  diff("description", r.description, v.description);
  diff("autostart", r.autostart, v.autostart);
  // DHCP switched on is configure-network-dhcp (the range added live); switched off, no action does it.
  if (v.dhcp.enabled && !r.dhcp.enabled) diff("dhcp.enabled", false, true);
  if (out.length > 0) return out;
  // The type's own fields of its body (a bridge's NIC or bridge, a pool's PF and VLAN...), as export writes
  // them: given in the file or set now, they must agree. A VF count left out keeps the pool's.
  const now = deviceFields(v);
  for (const k of new Set([...Object.keys(now), ...Object.keys(d.create)])) {
    if (!DEVICE_KEYS.has(k) || (k === "vfs" && d.create[k] === undefined)) continue;
    diff(k, d.create[k] ?? null, k === "ipv6" ? ipv6AsGiven(d.create.ipv6, now.ipv6) : (now[k] ?? null));
  }
  return out;
}

/** The network's IPv6 body as the file gives it: a DHCPv6 range the file leaves out is the server's default, kept. */
function ipv6AsGiven(want: unknown, now: unknown): unknown {
  if (!isRecord(want) || !isRecord(now) || want.dhcp !== undefined) return now ?? null;
  const { dhcp: _default, ...rest } = now;
  return rest;
}

/** Fields of the create bodies beside the ones every type has and the addressing: what a device type attaches to. */
const DEVICE_KEYS: ReadonlySet<string> = new Set(
  CreateNetworkBody.options
    .flatMap((o) => Object.keys(o.shape))
    // mtu: changed live by its own request (mtuRequests), never a reason to replace.
    .filter(
      (k) => !["name", "type", "host", "description", "autostart", "start", "managedBy", "cidr", "gateway", "dhcp", "mtu"].includes(k),
    ),
);

/** The body fields of `type`'s create body (its variant of the union). */
function bodyKeysOf(type: string): ReadonlySet<string> {
  const variant = CreateNetworkBody.options.find((o) => o.shape.type.value === type);
  return new Set(variant ? Object.keys(variant.shape) : []);
}

/**
 * A network's create-body fields as its view shows them, kept to those its type's body has: no type is named
 * here, the body schemas say which fields a type takes.
 */
function deviceFields(v: NetworkView): Record<string, unknown> {
  const all: Record<string, unknown> = {
    cidr: v.cidr,
    gateway: v.gateway,
    dhcp: v.dhcp.enabled ? { start: v.dhcp.start, end: v.dhcp.end, leaseTime: v.dhcp.leaseTime } : false,
    interface: v.bridge.interface,
    // A bridge netforge made on a NIC is named by the NIC; an existing bridge by its own name.
    bridge: v.bridge.interface === null ? v.bridge.name : null,
    pf: v.sriov?.pf ?? null,
    vfs: v.sriov?.vfsTotal ?? null,
    vlan: v.sriov?.vlan ?? null,
    // The create body's shape: the gateway is derived, `routed` only when set.
    ipv6: v.ipv6
      ? {
          cidr: v.ipv6.cidr,
          mode: v.ipv6.mode,
          ...(v.ipv6.dhcp ? { dhcp: v.ipv6.dhcp } : {}),
          ...(v.ipv6.routed ? { routed: true } : {}),
        }
      : null,
  };
  const keys = bodyKeysOf(v.type);
  return Object.fromEntries(Object.entries(all).filter(([k, x]) => keys.has(k) && x !== null && x !== undefined));
}

/**
 * The plan of one network: nothing, a create (with its parts), an update (one request per changed part, DHCP
 * first), or a replacement (delete, then create) when a field no configure action changes differs.
 */
export function planNetwork(d: DesiredNetwork, v: NetworkView | null): NetworkPlan {
  if (v === null) return { name: d.name, kind: "create", requests: createRequests(d) };
  const version = v.version ?? 0;
  const reasons = replaceReasons(d, v);
  if (reasons.length > 0) {
    return {
      name: d.name,
      kind: "replace",
      version,
      reasons,
      requests: [
        { command: ["network", "delete"], body: { name: d.name }, summary: `delete ${v.type} network ${d.name}` },
        // Planned against a network that does not exist yet: no dry run before the delete ran.
        ...createRequests(d).map((r) => ({ ...r, afterCreate: true })),
      ],
    };
  }
  const now = currentParts(v);
  const requests: PlannedRequest[] = d.resolved.dhcp.enabled ? dhcpRequests(d.name, d.resolved.dhcp, v.dhcp) : [];
  requests.push(...mtuRequests(d.name, d.create.mtu, v.mtu));
  for (const c of CONFIGURABLE) requests.push(...(c.requests as Configurable<PartKey>["requests"])(d.name, d[c.key], now[c.key]));
  return requests.length === 0 ? { name: d.name, kind: "none" } : { name: d.name, kind: "update", version, requests };
}

/** Networks managed by `owner` that the file no longer lists: deleted by `apply --prune` (never any other). */
export function prunePlans(fleet: Fleet, views: NetworkView[]): NetworkPlan[] {
  const listed = new Set(fleet.networks.map((n) => n.name));
  return views
    .filter((v) => v.managedBy === fleet.name && !listed.has(v.name))
    .map((v) => ({
      name: v.name,
      kind: "prune" as const,
      version: v.version ?? 0,
      requests: [
        {
          command: ["network", "delete"],
          body: { name: v.name },
          summary: `delete ${v.type} network ${v.name} (managed by ${fleet.name}, not in the file)`,
        },
      ],
    }));
}

/** A network as a file lists it (export): its create body's fields and its parts, defaults left out. */
export function exportNetwork(v: NetworkView, opts: { host: boolean } = { host: true }): Record<string, unknown> {
  const n: Record<string, unknown> = { name: v.name, type: v.type };
  if (opts.host) n.host = v.host;
  if (v.description) n.description = v.description;
  if (!v.autostart) n.autostart = false;
  Object.assign(n, deviceFields(v));
  if (typeof v.mtu === "number") n.mtu = v.mtu;
  const p = currentParts(v);
  if (canonical(p.firewall) !== canonical(EMPTY_PARTS.firewall)) {
    const fw: Record<string, unknown> = { defaultInbound: p.firewall.defaultInbound, defaultOutbound: p.firewall.defaultOutbound };
    if (p.firewall.rules.length > 0) fw.rules = p.firewall.rules;
    if (p.firewall.hostServices.length > 0) fw.hostServices = p.firewall.hostServices;
    n.firewall = fw;
  }
  if (p.portForwards.length > 0) n.portForwards = p.portForwards;
  if (p.reservations.length > 0) n.reservations = p.reservations.map((r) => dropNulls(r));
  if (p.dnsHosts.length > 0) n.dnsHosts = p.dnsHosts;
  if (p.qos.network !== null || p.qos.vms.length > 0) n.qos = dropNulls(p.qos);
  return n;
}

/** The file `netforge export` writes for `views` (named `name`). */
export function exportFleet(name: string, views: NetworkView[]): Record<string, unknown> {
  return { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, metadata: { name }, networks: views.map((v) => exportNetwork(v)) };
}
