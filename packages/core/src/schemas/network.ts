/**
 * Network request and record schemas. The create body is validated in two
 * layers: zod checks each field's shape, then `resolveCreate` checks the
 * relations between fields (gateway inside the subnet, DHCP range inside and
 * not covering the gateway...) and fills the defaults, producing the fully
 * explicit NetworkSpec that the worker applies.
 */
import { z } from "zod";
import { AppError } from "../errors";
import { type Cidr, cidrContains, defaultDhcpRange, formatCidr, formatIPv4, parseCidrOrThrow, parseIPv4, usableRange } from "../net/ipv4";
import { CidrString, Description, HostId, IPv4, Limit, NetworkName } from "./common";

/** The network types of the module. */
export const NETWORK_TYPES = ["nat", "bridge", "isolated", "sriov"] as const;
export const NetworkType = z.enum(NETWORK_TYPES);
export type NetworkType = z.infer<typeof NetworkType>;

/** Network types this version can run (the others are rejected with UNSUPPORTED_FOR_TYPE). */
export const IMPLEMENTED_TYPES: ReadonlySet<NetworkType> = new Set<NetworkType>(["nat", "isolated", "bridge", "sriov"]);

export const MIN_LEASE_SECONDS = 120;
export const MAX_LEASE_SECONDS = 31_536_000;
export const DEFAULT_LEASE_SECONDS = 3600;

const LeaseTime = z.number().int().min(MIN_LEASE_SECONDS).max(MAX_LEASE_SECONDS).describe("DHCP lease time, seconds");

const DhcpInput = z.union([
  z.literal(false),
  z.strictObject({
    start: IPv4.optional(),
    end: IPv4.optional(),
    leaseTime: LeaseTime.optional(),
  }),
]);

const common = {
  name: NetworkName,
  host: HostId.optional(),
  description: Description.optional(),
  autostart: z.boolean().optional().describe("Start with the host (default true)"),
  start: z.boolean().optional().describe("Start after creating (default true)"),
};

const RoutedNetworkBody = {
  ...common,
  cidr: CidrString,
  gateway: IPv4.optional(),
  dhcp: DhcpInput.optional(),
};

/**
 * A host interface name (NIC, bridge, PF): up to 15 of letters, digits and _.:-, not only dots ("." and ".."
 * are no device, and would be path components where the worker reads sysfs).
 */
const ifName = (message: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,15}$/, message)
    .refine((s) => !/^\.+$/.test(s), `${message}, not only dots`);

/** Body of create-network, one shape per type. */
export const CreateNetworkBody = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("nat"), ...RoutedNetworkBody }),
  z.strictObject({ type: z.literal("isolated"), ...RoutedNetworkBody }),
  z.strictObject({
    type: z.literal("bridge"),
    ...common,
    interface: ifName("must be an interface name").optional(),
    bridge: ifName("must be a bridge name").optional(),
  }),
  z.strictObject({
    type: z.literal("sriov"),
    ...common,
    pf: ifName("must be an interface name"),
    vfs: z.number().int().min(1).max(256).optional(),
    vlan: z.number().int().min(1).max(4094).optional(),
  }),
]);
export type CreateNetworkBody = z.infer<typeof CreateNetworkBody>;

/** DHCP settings as stored and shown. */
export const DhcpConfig = z.object({
  enabled: z.boolean(),
  start: z.string().nullable(),
  end: z.string().nullable(),
  leaseTime: z.number().int().nullable(),
});
export type DhcpConfig = z.infer<typeof DhcpConfig>;

/** The fully resolved definition of a network: what the worker renders and applies. */
export interface NetworkSpec {
  name: string;
  type: NetworkType;
  uuid: string;
  host: string;
  description: string;
  cidr: string | null;
  gateway: string | null;
  dhcp: DhcpConfig;
  autostart: boolean;
  /** Bridge device name; chosen by the worker (unique on the host, <= 15 chars). */
  bridge: string | null;
  createdAt: string;
  /** bridge and sriov networks: what they attach to (absent for nat/isolated). */
  l2?: L2Request;
}

/** What a bridge or sriov network was asked to attach to (the worker resolves it against the host). */
export type L2Request =
  | { kind: "interface"; interface: string }
  | { kind: "bridge"; bridge: string }
  | { kind: "sriov"; pf: string; vfs: number | null; vlan: number | null };

/** An issue found by the cross-field checks, shaped like the zod issues of VALIDATION_FAILED. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Result of resolving a create body: everything but the host-chosen fields (uuid, host, bridge, createdAt). */
export type ResolvedCreate = Omit<NetworkSpec, "uuid" | "host" | "bridge" | "createdAt"> & {
  start: boolean;
  requestedHost: string | null;
};

/**
 * Check the relations between fields of a routed (nat/isolated) body and fill
 * defaults. Throws VALIDATION_FAILED listing every problem at once.
 */
export function resolveCreate(body: CreateNetworkBody): ResolvedCreate {
  const base = {
    name: body.name,
    type: body.type,
    description: body.description ?? "",
    autostart: body.autostart ?? true,
    start: body.start ?? true,
    requestedHost: body.host ?? null,
  };
  if (body.type !== "nat" && body.type !== "isolated") {
    return { ...base, cidr: null, gateway: null, dhcp: { enabled: false, start: null, end: null, leaseTime: null }, l2: l2Request(body) };
  }
  const issues: FieldIssue[] = [];
  const cidr: Cidr = parseCidrOrThrow(body.cidr);
  const usable = usableRange(cidr);
  const inUsable = (ip: number) => ip >= usable.first && ip <= usable.last;

  let gateway = usable.first;
  if (body.gateway !== undefined) {
    gateway = parseIPv4(body.gateway) as number;
    if (!cidrContains(cidr, gateway)) issues.push({ path: "gateway", message: `must be inside ${formatCidr(cidr)}` });
    else if (!inUsable(gateway)) issues.push({ path: "gateway", message: "must not be the network or broadcast address" });
  }

  let dhcp: DhcpConfig = { enabled: false, start: null, end: null, leaseTime: null };
  if (body.dhcp !== false) {
    const d = body.dhcp ?? {};
    const def = defaultDhcpRange(cidr, gateway);
    if ((d.start === undefined) !== (d.end === undefined)) {
      issues.push({ path: d.start === undefined ? "dhcp.start" : "dhcp.end", message: "give both start and end, or neither" });
    }
    const start = d.start !== undefined ? (parseIPv4(d.start) as number) : def.start;
    const end = d.end !== undefined ? (parseIPv4(d.end) as number) : def.end;
    issues.push(...checkDhcpRange(cidr, gateway, start, end, "dhcp."));
    dhcp = { enabled: true, start: formatIPv4(start), end: formatIPv4(end), leaseTime: d.leaseTime ?? DEFAULT_LEASE_SECONDS };
  }
  if (issues.length > 0) throw validationError(issues);
  return { ...base, cidr: formatCidr(cidr), gateway: formatIPv4(gateway), dhcp };
}

/** A bridge body names exactly one of `interface` and `bridge`; an sriov body its PF. */
function l2Request(body: Extract<CreateNetworkBody, { type: "bridge" | "sriov" }>): L2Request {
  if (body.type === "sriov") return { kind: "sriov", pf: body.pf, vfs: body.vfs ?? null, vlan: body.vlan ?? null };
  if (body.interface !== undefined && body.bridge !== undefined) {
    throw validationError([{ path: "bridge", message: "give either interface (a NIC) or bridge (an existing host bridge), not both" }]);
  }
  if (body.interface !== undefined) return { kind: "interface", interface: body.interface };
  if (body.bridge !== undefined) return { kind: "bridge", bridge: body.bridge };
  throw validationError([{ path: "interface", message: "a bridge network needs interface (a NIC) or bridge (an existing host bridge)" }]);
}

/** Cross-field rules for a DHCP range (also used by configure-network-dhcp). */
export function checkDhcpRange(cidr: Cidr, gateway: number, start: number, end: number, prefix = ""): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const usable = usableRange(cidr);
  const where = formatCidr(cidr);
  if (start < usable.first || start > usable.last) issues.push({ path: `${prefix}start`, message: `must be a usable address of ${where}` });
  if (end < usable.first || end > usable.last) issues.push({ path: `${prefix}end`, message: `must be a usable address of ${where}` });
  if (start > end) issues.push({ path: `${prefix}end`, message: "must not be below start" });
  else if (gateway >= start && gateway <= end)
    issues.push({ path: `${prefix}start`, message: `range must not include the gateway ${formatIPv4(gateway)}` });
  return issues;
}

/** Build the VALIDATION_FAILED error for a list of field issues. */
export function validationError(issues: FieldIssue[]): AppError {
  const first = issues[0];
  const message = first ? `invalid request: ${first.path || "body"}: ${first.message}` : "invalid request";
  return new AppError("VALIDATION_FAILED", message, { issues });
}

/** Body of the actions that only name a network. */
export const NetworkRef = z.strictObject({ name: NetworkName });
export type NetworkRef = z.infer<typeof NetworkRef>;

export const NetworkState = z.enum(["active", "inactive"]);
export type NetworkState = z.infer<typeof NetworkState>;

/** Body of list-networks. */
export const ListNetworksBody = z.strictObject({
  type: NetworkType.optional(),
  state: NetworkState.optional(),
  // Only characters a name can contain: anything else could never match, so it is refused rather than ignored.
  name: z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9-]*$/, "must be part of a network name (letters, digits, '-')")
    .optional()
    .describe("case-insensitive substring of the name"),
  host: HostId.optional(),
  limit: Limit.optional(),
  cursor: z.string().max(128).optional(),
});
export type ListNetworksBody = z.infer<typeof ListNetworksBody>;

/** A firewall rule (kept in the record from the start so later versions only fill it). */
export const FirewallConfig = z.object({
  defaultInbound: z.enum(["accept", "drop", "reject"]),
  defaultOutbound: z.enum(["accept", "drop", "reject"]),
  rules: z.array(z.record(z.string(), z.unknown())),
  /** Host ports the VMs may reach on the host (absent from records written before it existed: none). */
  hostServices: z.array(z.object({ protocol: z.enum(["tcp", "udp"]), ports: z.string() })).optional(),
});

export const PortForward = z.object({
  protocol: z.enum(["tcp", "udp"]),
  hostPort: z.number().int(),
  vmIp: z.string(),
  vmPort: z.number().int(),
  /** The one host address the forward is bound to; absent: every host address. */
  hostIp: z.string().optional(),
});

/** Live numbers observed on the host. */
export const NetworkStats = z.object({
  connectedVms: z.number().int(),
  allocatedIps: z.number().int(),
  observedAt: z.string().nullable(),
});
export type NetworkStats = z.infer<typeof NetworkStats>;

/** A network as describe-network shows it (and as the cluster index stores it, minus stats). */
export const NetworkView = z.object({
  name: z.string(),
  uuid: z.string(),
  type: NetworkType,
  host: z.string(),
  description: z.string(),
  cidr: z.string().nullable(),
  gateway: z.string().nullable(),
  dhcp: DhcpConfig,
  state: NetworkState,
  autostart: z.boolean(),
  stats: NetworkStats,
  bridge: z.object({ name: z.string().nullable(), interface: z.string().nullable() }),
  sriov: z.object({ pf: z.string(), vfsTotal: z.number(), vfsInUse: z.number(), vlan: z.number().nullable() }).nullable(),
  firewall: FirewallConfig,
  portForwards: z.array(PortForward),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type NetworkView = z.infer<typeof NetworkView>;

/** One row of list-networks. */
export const NetworkSummary = NetworkView.pick({
  name: true,
  uuid: true,
  type: true,
  host: true,
  cidr: true,
  state: true,
  autostart: true,
});
export type NetworkSummary = z.infer<typeof NetworkSummary>;
