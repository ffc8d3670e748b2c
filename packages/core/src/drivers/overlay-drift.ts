/**
 * What a running overlay's part on one member lost, and the commands that put it back (issue 17, ADR 0051
 * "Slice 2"): reconcile reads the member's links, its VXLAN device's forwarding entries and its guard table,
 * and this compares them with the spec. Pure: the worker reads and runs (apps/worker/src/overlay-drift.ts).
 * Repaired: the non-gateway member's bridge (netforge's; the gateway's is libvirt's), the VXLAN device (absent,
 * or not the one the spec wants: another VNI, local address or learning on), its place on the bridge (master,
 * port learning off, ARP suppression on, up), the flood entries (one per other member, none toward a non-member), the guard table.
 */
import { floodEntry, floodLimitTable, floodLimitTableCommands, VXLAN_PORT, vxlanDeviceName, vxlanDeviceSetup } from "../render/vxlan";
import { memberBridgeIpv6Off, type OverlayNetSpec, overlayFloodLimit, overlayGuardTable } from "./overlay";

/** The member's host state the repair compares (read in one round for every overlay on the host). */
export interface OverlayObserved {
  /** The overlay's bridge exists (and is up). */
  bridge: { up: boolean } | null;
  /** The VXLAN device `nfvx<VNI>`, as `ip -d -j link show` describes it; null: absent. */
  device: {
    master: string | null;
    up: boolean;
    vni: number | null;
    local: string | null;
    /** The device's own learning (must be off). */
    learning: boolean | null;
    /** The bridge's learning on this port (must be off). */
    portLearning: boolean | null;
    /** The bridge's ARP suppression on this port (must be on; absent in an older observation: not checked). */
    portNeighSuppress?: boolean | null;
  } | null;
  /** The destinations of the device's all-zero (flood) entries. */
  floods: string[];
  /** The guard table's text (`nft list table inet netforge-vx<VNI>`); null: absent. */
  guard: string | null;
  /** The flood limit table's text (`nft list table bridge netforge-fl<VNI>`); null: absent; undefined: not read. */
  floodLimit?: string | null;
}

/** One repair: what it puts back (logged, counted) and its commands (argv; `input` fed to stdin). */
export interface OverlayRepair {
  what: string;
  commands: { argv: string[]; input?: string }[];
}

const isGatewayPart = (spec: OverlayNetSpec): boolean => spec.self === spec.gatewayHost;

/** The remote members' underlay addresses (the flood destinations of this member). */
export function floodTargets(spec: OverlayNetSpec): string[] {
  return [...new Set(spec.members.filter((m) => m.id !== spec.self).map((m) => m.ip))].sort();
}

/** The guard rule's member set, as the spec wants it. */
const guardMembers = (spec: OverlayNetSpec) => [...new Set(spec.members.map((m) => m.ip))].sort();

/**
 * Whether the guard table's text is the spec's: its chain hooked at prerouting/raw, one drop rule for this VNI
 * (nft prints it in hex) whose accepted sources are exactly the members.
 */
export function guardInPlace(spec: OverlayNetSpec, text: string | null): boolean {
  if (text === null) return false;
  if (!/chain guard \{\s*type filter hook prerouting priority raw; policy accept;/.test(text)) return false;
  // nft prints a one-element set without braces.
  const rules = [...text.matchAll(/udp dport (\d+) @th,96,24 (0x[0-9a-f]+|\d+) ip saddr != (?:\{ ([^}]*) \}|(\S+)) .*?\bdrop\b/g)];
  if (rules.length !== 1) return false;
  const [, port, vni, set, one] = rules[0] as RegExpMatchArray;
  const members = (set ?? one ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();
  return Number(port) === VXLAN_PORT && Number(vni) === spec.vni && JSON.stringify(members) === JSON.stringify(guardMembers(spec));
}

/** The guard table replaced whole in one nft transaction (no moment without it): an `nft -f -` script. */
export function guardScript(spec: OverlayNetSpec): string {
  const t = overlayGuardTable(spec.vni);
  const rule = `udp dport ${VXLAN_PORT} @th,96,24 ${spec.vni} ip saddr != { ${guardMembers(spec).join(", ")} } counter drop comment "overlay ${spec.name}: VNI ${spec.vni} only from its members"`;
  return [
    `table inet ${t}`,
    `delete table inet ${t}`,
    `table inet ${t} {`,
    "\tchain guard {",
    "\t\ttype filter hook prerouting priority raw; policy accept;",
    `\t\t${rule}`,
    "\t}",
    "}",
    "",
  ].join("\n");
}

/**
 * Whether the flood limit table's text is the spec's: its chain hooked at the bridge's forward, one drop rule
 * over the spec's rate out of this overlay's VXLAN device, unless the destination is in the set of known MACs.
 */
export function floodLimitInPlace(spec: OverlayNetSpec, text: string | null): boolean {
  const pps = overlayFloodLimit(spec);
  if (pps === 0 || text === null) return (pps === 0) === (text === null);
  if (!/chain flood \{\s*type filter hook forward priority (?:filter|0); policy accept;/.test(text)) return false;
  const rules = [
    ...text.matchAll(
      /oifname "([^"]+)" ether daddr != @remote update @ports \{ iifname limit rate over (\d+)\/second burst (\d+) packets \} .*?\bdrop\b/g,
    ),
  ];
  if (rules.length !== 1) return false;
  const [, dev, rate, burst] = rules[0] as RegExpMatchArray;
  return dev === vxlanDeviceName(spec.vni) && Number(rate) === pps && Number(burst) === pps * 2 && /set remote \{/.test(text);
}

/**
 * The flood limit table replaced whole in one nft transaction (`nft -f -`), or removed when the spec has no
 * limit. Its set of known MACs starts empty: the worker's entry sync fills it within its next full round.
 */
export function floodLimitScript(spec: OverlayNetSpec): string {
  const t = floodLimitTable(spec.vni);
  const body = floodLimitTableCommands(spec.vni, overlayFloodLimit(spec)).slice(1);
  return [
    `table bridge ${t}`,
    `delete table bridge ${t}`,
    ...(body.length > 0 ? [`table bridge ${t}`] : []),
    // The commands' arguments after `nft` as script lines: `add set bridge <t> remote { ... }`, ...
    ...body.map((argv) => argv.slice(1).join(" ")),
    "",
  ].join("\n");
}

/** A non-gateway member's bridge (netforge's), as its create makes it: `ip` argv lists. */
export function overlayBridgeCommands(spec: OverlayNetSpec): string[][] {
  return [
    ["ip", "link", "add", spec.bridge, "type", "bridge", "stp_state", "0"],
    ["ip", "link", "set", spec.bridge, "mtu", String(spec.mtu)],
    ["ip", "link", "set", spec.bridge, "up"],
  ];
}

/** A non-gateway member's bridge made again: its `ip` commands, then (with IPv6) the host's IPv6 off on it. */
export function memberBridgeSetup(spec: OverlayNetSpec): string[][] {
  const v6off = memberBridgeIpv6Off(spec);
  const [add, ...rest] = overlayBridgeCommands(spec) as [string[], ...string[][]];
  return v6off ? [add, v6off, ...rest] : [add, ...rest];
}

/** What `spec`'s part on its member (`spec.self`) lost, given what the host shows; empty: all in place. */
export function overlayDrift(spec: OverlayNetSpec, seen: OverlayObserved): OverlayRepair[] {
  const me = spec.members.find((m) => m.id === spec.self);
  if (!me) return [];
  const dev = vxlanDeviceName(spec.vni);
  const ipArgs = (a: string[]) => ({ argv: ["ip", ...a] });
  const out: OverlayRepair[] = [];
  if (!seen.bridge) {
    // The gateway's bridge is libvirt's (made by its start): nothing of netforge's can stand in for it.
    if (isGatewayPart(spec)) return [];
    out.push({ what: `bridge ${spec.bridge}`, commands: memberBridgeSetup(spec).map((argv) => ({ argv })) });
  } else if (!seen.bridge.up && !isGatewayPart(spec)) {
    out.push({ what: `bridge ${spec.bridge} up`, commands: [ipArgs(["link", "set", spec.bridge, "up"])] });
  }
  const d = seen.device;
  const wrong = d !== null && (d.vni !== spec.vni || d.local !== me.ip || d.learning !== false);
  const floods = floodTargets(spec);
  if (d === null || wrong) {
    const setup = vxlanDeviceSetup({ vni: spec.vni, local: me.ip, bridge: spec.bridge, mtu: spec.mtu });
    out.push({
      what:
        d === null
          ? `VXLAN device ${dev} with ${floods.length} flood entries`
          : `VXLAN device ${dev} (was VNI ${d.vni}, local ${d.local}, learning ${d.learning}) with ${floods.length} flood entries`,
      commands: [
        ...(wrong ? [ipArgs(["link", "del", dev])] : []),
        ...setup.map(ipArgs),
        ...floods.map((ip) => ({ argv: ["bridge", ...floodEntry(spec.vni, ip)] })),
      ],
    });
  } else {
    const port: string[][] = [];
    if (d.master !== spec.bridge) port.push(["link", "set", dev, "master", spec.bridge]);
    if (d.master !== spec.bridge || d.portLearning !== false || (d.portNeighSuppress !== undefined && d.portNeighSuppress !== true))
      port.push(["link", "set", "dev", dev, "type", "bridge_slave", "learning", "off", "neigh_suppress", "on"]);
    if (!d.up) port.push(["link", "set", dev, "up"]);
    if (port.length > 0) out.push({ what: `VXLAN device ${dev} on bridge ${spec.bridge}`, commands: port.map(ipArgs) });
    const have = new Set(seen.floods);
    for (const ip of floods) {
      if (!have.has(ip)) out.push({ what: `flood entry to ${ip}`, commands: [{ argv: ["bridge", ...floodEntry(spec.vni, ip)] }] });
    }
    // A flood entry toward a host that is no (other) member would send the segment's broadcasts to it.
    for (const ip of [...have].sort()) {
      if (!floods.includes(ip)) {
        out.push({
          what: `flood entry to ${ip} removed (not a member)`,
          commands: [{ argv: ["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", dev, "dst", ip] }],
        });
      }
    }
  }
  if (!guardInPlace(spec, seen.guard)) {
    out.push({
      what: `VXLAN guard table ${overlayGuardTable(spec.vni)}`,
      commands: [{ argv: ["nft", "-f", "-"], input: guardScript(spec) }],
    });
  }
  if (seen.floodLimit !== undefined && !floodLimitInPlace(spec, seen.floodLimit)) {
    out.push({
      what: `flood limit table ${floodLimitTable(spec.vni)}`,
      commands: [{ argv: ["nft", "-f", "-"], input: floodLimitScript(spec) }],
    });
  }
  return out;
}
