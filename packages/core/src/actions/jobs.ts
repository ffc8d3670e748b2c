/**
 * The job actions: one definition each (body, role, summary, job steps, payload). JOB_ACTIONS, the job
 * catalog's steps and payload types are derived from this table.
 */
import { canonicalIp } from "../net/ipv6";
import { ConfigureFirewallBody, ConfigurePortForwardBody, firewallOfBody } from "../schemas/firewall";
import { AssignStaticIpBody, ConfigureDhcpBody, ConfigureDnsBody, UnassignStaticIpBody } from "../schemas/ipam";
import { ConfigureMtuBody, CREATE_EXAMPLES, CreateNetworkBody, NetworkRef } from "../schemas/network";
import { bodyPayload, parseCreatePayload } from "../schemas/payload-parse";
import { ConfigureNetworkHostsBody, ConfigureNetworkHostsPayload } from "../schemas/types/overlay";
import { ConfigureQosBody } from "../schemas/qos";
import type {
  DhcpChange,
  DnsChange,
  FirewallChange,
  MtuChange,
  NetworkChange,
  PortForwardChange,
  QosChange,
  QosDirectionsSpec,
  ReleaseIp6Change,
  ReleaseIpChange,
  ReserveIp6Change,
  ReserveIpChange,
} from "./changes";
import { configureAction, type JobDefinition, jobAction, type PayloadOf } from "./define";

/** Steps of every configure job: load the spec and check the change, then apply the planned host steps. */
export const CONFIGURE_STEPS = ["checking change", "applying change"] as const;

export const JOB_DEFINITIONS = {
  "create-network": jobAction({
    kind: "job",
    body: CreateNetworkBody,
    role: "operator",
    summary: "Create (and by default start) a network on a host",
    description:
      "Validates the body, places the network on the given host (or the least-loaded online host that can take it) and claims its name (cluster-wide) and subnet (on that host) before queueing; NAME_TAKEN, CIDR_CONFLICT, NOT_ALLOWED, NO_HOST and HOST_UNAVAILABLE are answered at once. The job defines the network in libvirt, starts it and sets autostart as asked, and for nat/isolated waits until its DHCP server answers.",
    cli: ["network", "create"],
    examples: CREATE_EXAMPLES,
    steps: ["checking host", "defining network", "starting network", "setting autostart", "verifying DHCP"],
    partUndoneBy: "delete-network",
    change: null,
    payload: parseCreatePayload,
  }),
  "delete-network": jobAction({
    kind: "job",
    body: NetworkRef,
    role: "operator",
    summary: "Stop and remove a network; refused while anything is attached",
    description:
      "The job refuses with NETWORK_IN_USE while a VM or device is attached; otherwise it stops the network and removes its libvirt definition, its firewall rules and port forwards, and a bridge netforge created for a NIC. Irreversible.",
    cli: ["network", "delete"],
    examples: { default: { summary: "delete network web", value: { name: "web" } } },
    irreversible: true,
    steps: ["checking attachments", "stopping network", "removing definition"],
    change: null,
    payload: bodyPayload(NetworkRef),
  }),
  "start-network": jobAction({
    kind: "job",
    body: NetworkRef,
    role: "operator",
    summary: "Start an inactive network",
    description:
      "Refused with INVALID_STATE when the network is already active. The job starts it in libvirt (bridge, DHCP server, firewall rules and port forwards from its definition) and, for nat/isolated, waits until DHCP answers.",
    cli: ["network", "start"],
    examples: { default: { summary: "start network web", value: { name: "web" } } },
    steps: ["starting network", "verifying DHCP"],
    partUndoneBy: "stop-network",
    change: null,
    payload: bodyPayload(NetworkRef),
  }),
  "stop-network": jobAction({
    kind: "job",
    body: NetworkRef,
    role: "operator",
    summary: "Stop an active network; refused while anything is attached",
    description:
      "Refused with INVALID_STATE when the network is already inactive, and by the job with NETWORK_IN_USE while anything is attached. Its firewall rules and forwards leave the kernel but stay in its definition, so a later start restores them.",
    cli: ["network", "stop"],
    examples: { default: { summary: "stop network web", value: { name: "web" } } },
    steps: ["checking attachments", "stopping network"],
    partUndoneBy: "start-network",
    change: null,
    payload: bodyPayload(NetworkRef),
  }),
  "configure-network-dhcp": configureAction(
    {
      kind: "job",
      body: ConfigureDhcpBody,
      role: "operator",
      summary: "Change the DHCP range and lease time of a running network (VMs stay attached)",
      description:
        "nat, isolated and overlay networks only (else UNSUPPORTED_FOR_TYPE; an overlay's is its gateway host's DHCP server). The range must lie inside the subnet and leave out the gateway; a reservation inside the new range leased to another MAC is an IP_CONFLICT. Applied live and to the persistent definition; attached VMs stay connected.",
      cli: ["network", "dhcp"],
      examples: {
        default: {
          summary: "hand out .50-.99 for two hours",
          value: { name: "web", start: "192.168.100.50", end: "192.168.100.99", leaseTime: 7200 },
        },
      },
      steps: CONFIGURE_STEPS,
      // A change's payload is its body without dryRun (the action route takes dryRun off before parsing).
      payload: bodyPayload(ConfigureDhcpBody.omit({ dryRun: true })),
    },
    (p): DhcpChange => ({ kind: "dhcp", start: p.start, end: p.end, leaseTime: p.leaseTime }),
  ),
  "assign-static-ip": configureAction(
    {
      kind: "job",
      body: AssignStaticIpBody,
      role: "operator",
      summary: "Reserve an IP for a MAC (live and persistent)",
      description:
        "nat, isolated and overlay networks only (an overlay's reservations are its gateway host's DHCP server's, for VMs on every member). The IP must be a usable address of the subnet other than the gateway, not reserved for another MAC, and not leased to another MAC unless force is true (IP_CONFLICT); a MAC holds one reservation at a time. Applied live and to the persistent definition; an IP inside the dynamic range is accepted with a warning. An IPv6 ip is a DHCPv6 reservation: it takes the client's duid instead of mac (libvirt hands DHCPv6 addresses out by DUID), needs a network whose ipv6 mode is dhcpv6 (else 422 UNSUPPORTED_FOR_TYPE), and the same rules inside the IPv6 prefix.",
      cli: ["network", "ip", "assign"],
      examples: {
        default: {
          summary: "reserve 192.168.100.10 for a VM's MAC",
          value: { name: "web", mac: "52:54:00:12:34:56", ip: "192.168.100.10", hostname: "db1" },
        },
        ipv6: {
          summary: "reserve an IPv6 address for a DHCPv6 client (dhcpv6 mode)",
          value: { name: "web", duid: "00:03:00:01:52:54:00:12:34:56", ip: "fd00:1:2:3::10", hostname: "db1" },
        },
      },
      steps: CONFIGURE_STEPS,
      payload: bodyPayload(AssignStaticIpBody.omit({ dryRun: true })),
    },
    // An IPv6 address (or a DUID) is a DHCPv6 reservation: the planner refuses a MAC with it, and an IPv4 one without a MAC.
    (p): ReserveIpChange | ReserveIp6Change =>
      p.ip.includes(":") || p.duid !== undefined
        ? { kind: "reserve-duid", duid: p.duid, mac: p.mac, ip: p.ip, hostname: p.hostname ?? null, force: p.force === true }
        : { kind: "reserve-ip", mac: p.mac ?? "", ip: p.ip, hostname: p.hostname ?? null, force: p.force === true },
  ),
  "unassign-static-ip": configureAction(
    {
      kind: "job",
      body: UnassignStaticIpBody,
      role: "operator",
      summary: "Remove a MAC's reservation (live and persistent)",
      description:
        "nat, isolated and overlay networks only; NOT_FOUND when the MAC (or, for an IPv6 reservation, the DUID) has no reservation. Removes the reservation live and from the persistent definition.",
      cli: ["network", "ip", "unassign"],
      examples: { default: { summary: "remove the MAC's reservation", value: { name: "web", mac: "52:54:00:12:34:56" } } },
      steps: CONFIGURE_STEPS,
      payload: bodyPayload(UnassignStaticIpBody.omit({ dryRun: true })),
    },
    (p): ReleaseIpChange | ReleaseIp6Change =>
      p.duid !== undefined ? { kind: "release-duid", duid: p.duid, mac: p.mac } : { kind: "release-ip", mac: p.mac ?? "" },
  ),
  "configure-network-firewall": configureAction(
    {
      kind: "job",
      body: ConfigureFirewallBody,
      role: "operator",
      summary: "Replace a network's firewall rule set and defaults, atomically (one nft transaction)",
      description:
        "nat, isolated and overlay networks (UNSUPPORTED_FOR_TYPE on bridge and sriov; an overlay's rules hold on every member host for the VMs there, one job across its hosts, all or nothing). The body replaces the network's whole rule set, its two defaults and the host services its VMs may reach, in one nft transaction; rules are ordered (first match wins) and stateful. Over the per-network or per-host rule cap: LIMIT_REACHED.",
      cli: ["network", "firewall"],
      examples: {
        default: {
          summary: "inbound closed but ssh from 10/8 and https; outbound open except udp 5000-5100",
          value: {
            name: "web",
            defaultInbound: "drop",
            defaultOutbound: "accept",
            rules: [
              { direction: "inbound", protocol: "tcp", source: "10.0.0.0/8", ports: "22", action: "accept", comment: "ssh from office" },
              { direction: "inbound", protocol: "tcp", ports: "443", action: "accept" },
              { direction: "outbound", protocol: "udp", destination: "0.0.0.0/0", ports: "5000-5100", action: "reject" },
            ],
            hostServices: [{ protocol: "tcp", ports: "3128" }],
          },
        },
      },
      steps: CONFIGURE_STEPS,
      // An overlay member's part (the firewall is every member's) is taken back by the same action with the former rules.
      partUndoneBy: "configure-network-firewall",
      payload: bodyPayload(ConfigureFirewallBody.omit({ dryRun: true })),
    },
    // The firewall as kept: absent optional rule fields null, defaults accept; host services only when some are
    // opened (a spec without them stays as it was written before they existed).
    (p): FirewallChange => ({ kind: "firewall", firewall: firewallOfBody(p) }),
  ),
  "configure-network-port-forward": configureAction(
    {
      kind: "job",
      body: ConfigurePortForwardBody,
      role: "operator",
      summary: "Add or remove a DNAT from a host port to a VM (nat networks; host ports claimed per host and protocol)",
      description:
        "nat networks and overlay networks with nat only (else UNSUPPORTED_FOR_TYPE; an overlay's forwards are its gateway host's, to VMs on any member). An add claims the host port per host and protocol, across IPv4 and IPv6 (PORT_CONFLICT when another forward or a host process holds it, NOT_ALLOWED for a denied port) and sends it from every host address of vmIp's family, or hostIp alone, to vmIp:vmPort; an IPv6 vmIp needs a network with IPv6; a remove names the same protocol, hostPort and hostIp (else NOT_FOUND).",
      cli: ["network", "forward"],
      examples: {
        default: {
          summary: "host port 2222 (tcp, every host address) to the VM's ssh",
          value: { name: "web", action: "add", protocol: "tcp", hostPort: 2222, vmIp: "192.168.100.10", vmPort: 22 },
        },
      },
      // An add first reads the host's listening ports again (a remove skips it).
      steps: ["checking host port", ...CONFIGURE_STEPS],
      payload: bodyPayload(ConfigurePortForwardBody.omit({ dryRun: true })),
    },
    // An add unless the body says remove; hostIp only when given; IPv6 addresses in their one canonical text.
    (p): PortForwardChange => ({
      kind: "port-forward",
      op: p.action === "remove" ? "remove" : "add",
      protocol: p.protocol,
      hostPort: p.hostPort,
      vmIp: p.vmIp === undefined ? undefined : canonicalIp(p.vmIp),
      vmPort: p.vmPort,
      ...(p.hostIp === undefined ? {} : { hostIp: canonicalIp(p.hostIp) }),
    }),
  ),
  "configure-network-dns": configureAction(
    {
      kind: "job",
      body: ConfigureDnsBody,
      role: "operator",
      summary: "Replace a network's DNS host records (live and persistent)",
      description:
        "nat, isolated and overlay networks only (UNSUPPORTED_FOR_TYPE on bridge and sriov; an overlay's DNS server is its gateway host's). The body is every DNS host record of the network: the network's DNS server (its gateway address) answers each name with its address, live and in the persistent definition, kept in the spec and put back by reconcile when the running network lost one. A name or an address in two records: VALIDATION_FAILED.",
      cli: ["network", "dns"],
      examples: {
        default: {
          summary: "db and db.internal answer 192.168.100.10; cache answers 192.168.100.11",
          value: {
            name: "web",
            hosts: [
              { ip: "192.168.100.10", names: ["db", "db.internal"] },
              { ip: "192.168.100.11", names: ["cache"] },
            ],
          },
        },
      },
      steps: CONFIGURE_STEPS,
      payload: bodyPayload(ConfigureDnsBody.omit({ dryRun: true })),
    },
    // Names as the network keeps them: lower case (DNS compares names without case), in the order given.
    (p): DnsChange => ({ kind: "dns", hosts: p.hosts.map((h) => ({ ip: h.ip, names: h.names.map((n) => n.toLowerCase()) })) }),
  ),
  "configure-network-mtu": configureAction(
    {
      kind: "job",
      body: ConfigureMtuBody,
      role: "operator",
      summary: "Set a network's MTU (its bridge and ports at once; guests learn it at their next DHCP)",
      description:
        "nat, isolated and overlay networks (UNSUPPORTED_FOR_TYPE on bridge and sriov: their MTU is the LAN's). mtu is 576-9000 (at least 1280 on a network with IPv6; on an overlay at most every member's underlay MTU less 50, else 400 naming the host). A running network's bridge and every port on it take the new MTU at once (VMs stay attached), its DHCP server hands out the new MTU from then on (dnsmasq re-reads netforge's DHCP options file on SIGHUP: no restart, leases kept), and the persistent definition carries it for the next start; reconcile puts back a bridge or port MTU changed by hand. On an overlay it is one job across its members, all or nothing: every member's bridge, VXLAN device and VM ports, and every member's definition. Guests learn the new MTU at their next DHCP lease or renewal (the job result says so); until then they keep the one they have.",
      cli: ["network", "mtu"],
      examples: {
        default: { summary: "MTU 1400 on network web", value: { name: "web", mtu: 1400 } },
      },
      steps: CONFIGURE_STEPS,
      // An overlay member's part (every member's links carry the MTU) is taken back by the same action with the former MTU.
      partUndoneBy: "configure-network-mtu",
      payload: bodyPayload(ConfigureMtuBody.omit({ dryRun: true })),
    },
    (p): MtuChange => ({ kind: "mtu", mtu: p.mtu }),
  ),
  "configure-network-qos": configureAction(
    {
      kind: "job",
      body: ConfigureQosBody,
      role: "operator",
      summary: "Set a network's bandwidth limits (the whole QoS set: the network's own and per VM NIC, by MAC)",
      description:
        "Replaces the network's whole QoS set (`network: null` and `vms: []` clear it). Inbound = toward the VMs, outbound = from them. The network's limit is the aggregate crossing its edge on its host (to and from the gateway and outside); VM limits are HTB classes nested under it, selected by MAC. Applied live with tc (HTB on the bridge for inbound, on an IFB fed from the bridge's ports for outbound; nothing is detached), kept in the spec, put back by reconcile. nat and isolated networks; bridge networks made on a NIC are shaped at that uplink NIC (its egress, and an IFB fed from its ingress), the host's own frames never limited, and PRECONDITION_FAILED when the NIC carries a qdisc another tool set (UNSUPPORTED_FOR_TYPE on sriov: VF rate limits are the NIC's, and on a bridge network made on an existing bridge: no uplink known). On an overlay it is one job across its members, all or nothing: the network's limit holds at the gateway host's edge (its bridge, and its VXLAN port's frames to the gateway), each VM's limit on the member its port is on (both ways, VM-to-VM across hosts included) and, for its traffic with the outside, at the gateway too. A host whose kernel lacks what shaping needs: the job fails with HOST_COMMAND_FAILED naming it and changes nothing.",
      cli: ["network", "qos"],
      examples: {
        default: {
          summary: "100 Mbit/s in and 50 Mbit/s out for network web, 20 Mbit/s each way for one VM",
          value: {
            name: "web",
            network: { inbound: { averageKbps: 100000, peakKbps: 200000, burstKib: 1024 }, outbound: { averageKbps: 50000 } },
            vms: [{ mac: "52:54:00:12:34:56", inbound: { averageKbps: 20000 }, outbound: { averageKbps: 20000 } }],
          },
        },
        clear: { summary: "Remove every limit of network web", value: { name: "web", network: null, vms: [] } },
      },
      steps: CONFIGURE_STEPS,
      // An overlay member's part (each member shapes its own VMs' ports) is taken back by the same action with the former set.
      partUndoneBy: "configure-network-qos",
      payload: bodyPayload(ConfigureQosBody.omit({ dryRun: true })),
    },
    (p): QosChange => ({
      kind: "qos",
      qos: {
        network: p.network ? directions(p.network) : null,
        vms: (p.vms ?? []).map((v) => ({ mac: v.mac.toLowerCase(), ...directions(v) })),
      },
    }),
  ),
  "configure-network-hosts": jobAction({
    kind: "job",
    body: ConfigureNetworkHostsBody,
    role: "operator",
    summary: "Add and remove member hosts of an overlay network, or move its gateway, in one job (all or nothing)",
    description:
      "overlay networks only (else UNSUPPORTED_FOR_TYPE). An added host must be registered (404), online (503 HOST_UNAVAILABLE), have an underlay address and an underlay MTU that carries the overlay's MTU (400), and not be a member yet; a removed host must be a member other than the gateway host (INVALID_STATE) with no VM attached there (NETWORK_IN_USE). One job on the gateway host: each added host makes its part (bridge, VXLAN device, guard, libvirt network, flood entries toward every member), each remaining member adds and drops the flood entries and replaces its guard's member set, each removed host takes its part down, and every member's definition keeps the new member list; if any host's part fails, what the others did is undone. The VXLAN id stays. With gatewayHost (a request of its own: 400 with add or remove), the gateway (its address, DHCP server, masquerade with MSS clamping, port forwards, reservations and DNS records) moves to that member (INVALID_STATE for the gateway host itself or a host that is not a member; 503 HOST_UNAVAILABLE when a member is offline; PORT_CONFLICT when a forwarded port is another network's there) in one job: the new gateway prepares (its member part down, its gateway definition written), the old gateway stops, the new one starts (its bridge, address, dnsmasq, table part, a gratuitous ARP) and the old one becomes a member; every other member's definition names the new gateway. If the new gateway's part fails, both hosts are put back as they were. Reservations, DNS records, forwards and the dynamic leases move with it (the old gateway's lease file is handed to the new gateway before its dnsmasq starts): a VM keeps its address and no new VM is offered one that is held. describe-network shows the new gateway once the job succeeded.",
    cli: ["network", "hosts"],
    examples: {
      default: { summary: "add hv4 to overlay tenant-a and remove hv2", value: { name: "tenant-a", add: ["hv4"], remove: ["hv2"] } },
      move: { summary: "move the gateway of overlay tenant-a to hv3", value: { name: "tenant-a", gatewayHost: "hv3" } },
    },
    steps: ["checking members", "updating members"],
    partUndoneBy: "configure-network-hosts",
    change: null,
    payload: bodyPayload(ConfigureNetworkHostsPayload),
  }),
};

/** A limit's directions as the spec keeps them (absent ones left out). */
function directions(d: QosDirectionsSpec): QosDirectionsSpec {
  return { ...(d.inbound ? { inbound: { ...d.inbound } } : {}), ...(d.outbound ? { outbound: { ...d.outbound } } : {}) };
}

type JobTable = typeof JOB_DEFINITIONS;
/** Actions that run as jobs on a host's worker. */
export type JobActionName = keyof JobTable;
/** The configure actions: changes of an existing network's configuration, one NetworkChange each (their definition's `change`). */
export type ConfigureAction = { [A in JobActionName]: JobTable[A]["change"] extends null ? never : A }[JobActionName];

/** Payload type of each job action. */
export type JobPayloads = { [A in JobActionName]: PayloadOf<JobTable[A]> };

/** The job definitions seen per action, so a generic action's payload type follows its definition. */
export const JOB_DEFS: { [A in JobActionName]: JobDefinition<JobTable[A]["body"], JobPayloads[A], JobTable[A]["change"]> } =
  JOB_DEFINITIONS;

const isJobAction = (k: string): k is JobActionName => k in JOB_DEFINITIONS;
/** Every job action, in the table's order. */
export const JOB_ACTIONS: readonly JobActionName[] = Object.keys(JOB_DEFINITIONS).filter(isJobAction);
/** The configure actions, in the table's order. */
export const CONFIGURE_ACTIONS: readonly ConfigureAction[] = JOB_ACTIONS.filter(
  (a): a is ConfigureAction => JOB_DEFINITIONS[a].change !== null,
);

/** The configure definitions seen per action, so a generic action's change follows its payload type. */
const CHANGES: { [A in ConfigureAction]: { change: (payload: JobPayloads[A]) => NetworkChange } } = JOB_DEFINITIONS;

/** The change a configure action's payload asks for (its definition's `change`). */
export function changeOf<A extends ConfigureAction>(action: A, payload: JobPayloads[A]): NetworkChange {
  return CHANGES[action].change(payload);
}

/**
 * The action that takes back a part of `action` in a job spanning hosts (its definition's `partUndoneBy`), or
 * null. A name that is no job action is a programming error, thrown at load (below), not at a failed job's undo.
 */
export function partUndoOf(action: JobActionName): JobActionName | null {
  const u: string | undefined = (JOB_DEFINITIONS[action] as JobDefinition).partUndoneBy;
  return u === undefined ? null : isJobAction(u) ? u : null;
}
for (const a of JOB_ACTIONS) {
  const u = (JOB_DEFINITIONS[a] as JobDefinition).partUndoneBy;
  if (u !== undefined && !isJobAction(u)) throw new Error(`job action ${a}: partUndoneBy '${u}' is no job action`);
}

/** Steps each action reports, in order. */
export const JOB_STEPS: { [A in JobActionName]: readonly string[] } = Object.fromEntries(
  JOB_ACTIONS.map((a) => [a, JOB_DEFINITIONS[a].steps]),
) as { [A in JobActionName]: readonly string[] };

/** The actions named more than once in a list of halves. */
type Doubled<T extends readonly { action: string }[]> = T extends readonly [
  infer F extends { action: string },
  ...infer R extends readonly { action: string }[],
]
  ? (F["action"] extends R[number]["action"] ? F["action"] : never) | Doubled<R>
  : never;
/** What a list of halves lacks (job actions without a half) and doubles (actions with more than one). */
export type HalfCoverage<T extends readonly { action: JobActionName }[]> = {
  missing: Exclude<JobActionName, T[number]["action"]>;
  doubled: Doubled<T>;
};
/** Nothing more when the halves name every job action exactly once; else a shape no list has (the error names what is wrong). */
export type OneHalfEach<T extends readonly { action: JobActionName }[]> =
  HalfCoverage<T> extends { missing: never; doubled: never } ? unknown : HalfCoverage<T>;

/**
 * The API's or the worker's halves, one per job action: each half carries its action (`apiHalf("create-network",
 * ...)`), and a list that leaves an action out or names one twice does not compile.
 */
export const oneHalfEach = <const T extends readonly { action: JobActionName }[]>(halves: T & OneHalfEach<T>): T => halves;
