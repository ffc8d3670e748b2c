/**
 * The forms' table: every network type the API has (create-network's body, docs/api.md), with the fields of
 * its create form and the forms its network page offers. The only place in the console that names a type:
 * the pages read this table (a new type is a new row here), never `if (type === ...)`.
 */

/** A form's values by field path, as the inputs hold them (text; a check box: "on" or ""). */
export type Values = Record<string, string>;

/** One interface of a host's inventory (list-hosts). */
export interface HostInterface {
  name: string;
  kind: string | null;
  master: string | null;
  addresses: string[];
  addresses6?: string[];
}

/** A host as list-hosts shows it (the parts the console reads). */
export interface Host {
  id: string;
  hostname: string;
  status: string;
  lastSeenAt: string | null;
  libvirtVersion: string | null;
  networks: number;
  firewallWarnings?: string[];
  interfaces: HostInterface[];
  sriovPfs: { pf: string; vfsTotal: number; vfsConfigured: number; vfsInUse?: number }[];
  allowedInterfaces?: string[];
  qos?: { supported: boolean; missing: string[] };
  /** The address other hosts reach this one on for overlays (null: none found, `underlayProblem` says why). */
  underlay?: { ip: string; interface: string; mtu: number; source: string } | null;
  underlayProblem?: string;
}

/** A value offered for a field from the hosts' inventory (a datalist entry). */
export interface Suggestion {
  value: string;
  label: string;
}

export interface FormField {
  /** Where the value goes in the create body ("cidr", "dhcp.start", "ipv6.mode"). */
  path: string;
  label: string;
  /** text (default), number (sent as a number when it is one), select, check (a check box), list (ids separated by commas or spaces, sent as an array). */
  kind?: "text" | "number" | "select" | "check" | "list";
  hint?: string;
  /** A select's choices: [value, label]. */
  options?: [string, string][];
  /** A check box: what is sent when it is ticked (unticked: nothing). */
  on?: unknown;
  /** Not sent: it only chooses which other fields show (a bridge's NIC or existing bridge). */
  local?: true;
  /** The form is incomplete without it (the preview waits for it). */
  required?: true;
  /** Shown, and sent, only while this holds of the form's values. */
  when?: (v: Values) => boolean;
  /** Values to offer from the hosts the network may go to (free text stays possible). */
  suggest?: (hosts: Host[]) => Suggestion[];
}

/** The forms a network's page offers (each previewed, then applied). */
export type PageForm = "dhcp" | "reservations" | "firewall" | "forwards" | "dns" | "qos";

export interface TypeForm {
  /** One line under the type's choice: what the type is. */
  summary: string;
  fields: FormField[];
  page: PageForm[];
  /** The type names its hosts in its own fields (an overlay's members): the form's host is not sent. */
  ownHosts?: true;
}

const has = (path: string) => (v: Values) => (v[path] ?? "") !== "";
const dhcpOn = (v: Values) => v.dhcp !== "on";

/** The fields of the addressed types (a subnet of netforge's: nat, isolated); `routed`: nat's IPv6 without NAT66. */
function addressed(routedIpv6: boolean): FormField[] {
  return [
    { path: "cidr", label: "Subnet", hint: "192.168.100.0/24", required: true },
    { path: "gateway", label: "Gateway (optional)", hint: "the subnet's first address" },
    { path: "dhcp", label: "Turn DHCP off", kind: "check", on: false },
    { path: "dhcp.start", label: "DHCP start (optional)", when: dhcpOn },
    { path: "dhcp.end", label: "DHCP end (optional)", when: dhcpOn },
    { path: "dhcp.leaseTime", label: "DHCP lease time, s (optional)", kind: "number", hint: "3600", when: dhcpOn },
    { path: "mtu", label: "MTU (optional)", kind: "number", hint: "576-9000" },
    { path: "ipv6.cidr", label: "IPv6 prefix (optional)", hint: "fd12:3456:789a:1::/64" },
    {
      path: "ipv6.mode",
      label: "IPv6 mode",
      kind: "select",
      options: [
        ["slaac", "slaac (guests make their address)"],
        ["dhcpv6", "dhcpv6 (guests lease one)"],
      ],
      when: has("ipv6.cidr"),
    },
    { path: "ipv6.dhcp.start", label: "DHCPv6 start (optional)", when: (v) => has("ipv6.cidr")(v) && v["ipv6.mode"] === "dhcpv6" },
    { path: "ipv6.dhcp.end", label: "DHCPv6 end (optional)", when: (v) => has("ipv6.cidr")(v) && v["ipv6.mode"] === "dhcpv6" },
    ...(routedIpv6
      ? [{ path: "ipv6.routed", label: "IPv6 routed (no NAT66)", kind: "check", on: true, when: has("ipv6.cidr") } as FormField]
      : []),
  ];
}

const ifaceLabel = (h: Host, i: HostInterface, many: boolean) =>
  `${i.name}${many ? ` on ${h.id}` : ""} (${i.kind ?? "nic"}${i.master ? `, port of ${i.master}` : ""}${i.addresses.length > 0 ? `, ${i.addresses.join(" ")}` : ", no address"})`;

/** The interfaces of `hosts` that `keep` accepts, each named once per host. */
const interfacesOf = (hosts: Host[], keep: (i: HostInterface, h: Host) => boolean): Suggestion[] =>
  hosts.flatMap((h) => h.interfaces.filter((i) => keep(i, h)).map((i) => ({ value: i.name, label: ifaceLabel(h, i, hosts.length > 1) })));

// not-a-network-type: "bridge" below is a link kind (ip link's), not the network type.
const isBridgeDevice = (i: HostInterface) => i.kind === "bridge";

export const FORMS: Record<string, TypeForm> = {
  nat: {
    summary: "A subnet of its own, masqueraded to the outside; reached from outside through port forwards.",
    fields: addressed(true),
    page: ["dhcp", "reservations", "firewall", "forwards", "dns", "qos"],
  },
  isolated: {
    summary: "A subnet of its own whose VMs reach each other and the gateway, nothing beyond.",
    fields: addressed(false),
    page: ["dhcp", "reservations", "firewall", "dns", "qos"],
  },
  bridge: {
    summary: "VMs on the LAN of a NIC of the host (netforge makes the bridge) or of an existing host bridge.",
    fields: [
      {
        path: "attach",
        label: "Attach to",
        kind: "select",
        local: true,
        options: [
          ["interface", "a NIC of the host (netforge bridges it)"],
          ["bridge", "an existing bridge of the host"],
        ],
      },
      {
        path: "interface",
        label: "NIC (interface)",
        hint: "eth1",
        required: true,
        when: (v) => (v.attach ?? "interface") === "interface",
        // NICs netforge may bridge: no bridge themselves, no address, not the loopback.
        suggest: (hosts) => interfacesOf(hosts, (i) => !isBridgeDevice(i) && i.name !== "lo" && i.addresses.length === 0),
      },
      {
        path: "bridge",
        label: "Existing bridge (bridge)",
        hint: "br0",
        required: true,
        when: (v) => v.attach === "bridge",
        suggest: (hosts) => interfacesOf(hosts, (i, h) => isBridgeDevice(i) && (h.allowedInterfaces ?? []).includes(i.name)),
      },
    ],
    page: [],
  },
  sriov: {
    summary: "A pool of an SR-IOV physical function's virtual functions, handed to VMs as passthrough devices.",
    fields: [
      {
        path: "pf",
        label: "Physical function (pf)",
        hint: "enp3s0f0",
        required: true,
        suggest: (hosts) =>
          hosts.flatMap((h) =>
            h.sriovPfs.map((p) => ({ value: p.pf, label: `${p.pf} on ${h.id} (${p.vfsConfigured}/${p.vfsTotal} VFs)` })),
          ),
      },
      { path: "vfs", label: "VF count (optional)", kind: "number", hint: "keep the PF's count" },
      { path: "vlan", label: "VLAN (optional)", kind: "number", hint: "1-4094" },
    ],
    page: [],
  },
  overlay: {
    summary: "One L2 segment over several hosts (VXLAN); its gateway, DHCP and NAT on one of them.",
    ownHosts: true,
    fields: [
      {
        path: "hosts",
        label: "Member hosts",
        kind: "list",
        hint: "hv1, hv2, hv3",
        required: true,
        suggest: (hosts) => hosts.filter((h) => h.underlay).map((h) => ({ value: h.id, label: `${h.id} (underlay ${h.underlay?.ip})` })),
      },
      { path: "gatewayHost", label: "Gateway host (optional)", hint: "the first member" },
      { path: "cidr", label: "Subnet", hint: "10.50.0.0/24", required: true },
      { path: "gateway", label: "Gateway (optional)", hint: "the subnet's first address" },
      { path: "dhcp", label: "Turn DHCP off", kind: "check", on: false },
      { path: "dhcp.start", label: "DHCP start (optional)", when: dhcpOn },
      { path: "dhcp.end", label: "DHCP end (optional)", when: dhcpOn },
      { path: "mtu", label: "MTU (optional)", kind: "number", hint: "the smallest underlay MTU - 50" },
      { path: "nat", label: "No NAT to the outside", kind: "check", on: false },
    ],
    page: [],
  },
};

/** The network types, in the table's order (the networks page's filter, the create form's choice). */
export const TYPES = Object.keys(FORMS);

/** The forms a network of `type` offers on its page (none for a type the console does not know). */
export const pageForms = (type: string): ReadonlySet<PageForm> => new Set(FORMS[type]?.page ?? []);

/** A number when the text is one, else the text as typed (the API then names the field and why). */
export const numberOr = (raw: string): number | string => (/^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw);

function put(body: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let at = body;
  for (const k of keys.slice(0, -1)) {
    // A check box that set the parent to a value (dhcp: false) wins over its sub-fields (hidden then anyway).
    if (at[k] !== undefined && (typeof at[k] !== "object" || at[k] === null)) return;
    at[k] ??= {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys[keys.length - 1] as string] = value;
}

/** The fields of `type`'s form shown for these values. */
export const shownFields = (type: string, v: Values): FormField[] => (FORMS[type]?.fields ?? []).filter((f) => !f.when || f.when(v));

/**
 * The create body of the form's values (fields left empty are left out, numbers sent as numbers); null while
 * a required field is empty or the type is unknown.
 */
export function createBody(type: string, v: Values): Record<string, unknown> | null {
  if (!FORMS[type] || !v.name) return null;
  const body: Record<string, unknown> = { name: v.name, type };
  if (v.host && !FORMS[type]?.ownHosts) body.host = v.host;
  if (v.description) body.description = v.description;
  if (v.noAutostart === "on") body.autostart = false;
  if (v.noStart === "on") body.start = false;
  for (const f of shownFields(type, v)) {
    if (f.local) continue;
    const raw = v[f.path] ?? "";
    if (f.kind === "check") {
      if (raw === "on") put(body, f.path, f.on);
      continue;
    }
    if (raw === "") {
      if (f.required) return null;
      // A select shows its first choice before any is made: that is the value.
      if (f.kind === "select" && f.options?.[0]) put(body, f.path, f.options[0][0]);
      continue;
    }
    put(body, f.path, f.kind === "number" ? numberOr(raw) : f.kind === "list" ? raw.split(/[\s,]+/).filter((x) => x !== "") : raw);
  }
  return body;
}
