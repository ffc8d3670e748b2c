/**
 * Which Linux bridge a bridge network uses, decided from one read of the host
 * (pure, so every refusal is unit-tested): `{ bridge }` names an existing host
 * bridge, used as it is; `{ interface }` names a NIC: its bridge when it is
 * already a port of one, otherwise a bridge netforge creates for it, which
 * needs a NIC carrying no address (enslaving a configured NIC would move its
 * traffic to the bridge and cut the host off from that address), nor any
 * upper device of it (VLAN/macvlan children, their masters...) carrying one.
 * An existing bridge (named, or reached through one of its ports) is not
 * netforge's: it is used only when the host lists it in its allow-list
 * (NETFORGE_ALLOWED_INTERFACES), and then as it is (never changed).
 */
import { AppError } from "../errors";
import { bridgeNameFor } from "../render/bridge-name";
import { type L2Request, validationError } from "../schemas/network";
import type { BridgeNetSpec } from "../planner/network-spec";

/** What the choice reads of a host link (the worker's `ip -j` read, or a host's published inventory). */
export interface LinkFacts {
  name: string;
  kind: string | null;
  state: string;
  master: string | null;
  addresses: string[];
  addresses6?: string[];
  mtu?: number | null;
  adminUp?: boolean;
  /** The device it sits on (`ip`'s "link": a VLAN's or macvlan's parent), null for none. */
  link?: string | null;
}

/** The setting that lists the existing bridges netforge may use on a host. */
export const ALLOWED_INTERFACES_SETTING = "NETFORGE_ALLOWED_INTERFACES";

/** Kinds whose "link" is a peer, not a lower device. */
const PEER_KINDS: ReadonlySet<string> = new Set(["veth", "vxcan", "netkit"]);

/**
 * The upper devices of `name` that carry addresses: walking up from it through masters (bond, bridge,
 * team, vrf) and devices stacked on it (VLAN, macvlan, ipvlan children), each with its addresses.
 */
export function addressedUppers(name: string, links: LinkFacts[]): { name: string; addresses: string[] }[] {
  const byName = new Map(links.map((l) => [l.name, l]));
  const out: { name: string; addresses: string[] }[] = [];
  const seen = new Set<string>([name]);
  const queue = [name];
  while (queue.length > 0) {
    const cur = queue.shift() as string;
    const uppers = [
      byName.get(cur)?.master ?? null,
      ...links.filter((l) => l.link === cur && !PEER_KINDS.has(l.kind ?? "")).map((l) => l.name),
    ];
    for (const u of uppers) {
      if (u === null || seen.has(u)) continue;
      seen.add(u);
      queue.push(u);
      const l = byName.get(u);
      const addresses = l ? [...l.addresses, ...(l.addresses6 ?? [])] : [];
      if (addresses.length > 0) out.push({ name: u, addresses });
    }
  }
  return out;
}

/** What a bridge that is not netforge's carries (for the refusal): its addresses and its ports. */
function describeForeignBridge(bridge: string, links: LinkFacts[]): { addresses: string[]; ports: string[]; text: string } {
  const br = links.find((l) => l.name === bridge);
  const addresses = br ? [...br.addresses, ...(br.addresses6 ?? [])] : [];
  const ports = links.filter((l) => l.master === bridge).map((l) => l.name);
  const parts = [
    addresses.length > 0 ? `it carries ${addresses.join(", ")}` : "it carries no address",
    ports.length > 0 ? `its ports are ${ports.join(", ")}` : "it has no ports",
  ];
  return { addresses, ports, text: parts.join("; ") };
}

/** Another network of the host: its bridge device and, for bridge networks, its NIC. */
export interface BridgeUser {
  name: string;
  bridge: string | null;
  interface: string | null;
}

/** The other network already on `bridge` or using NIC `nic`, if any. */
function userOf(users: BridgeUser[], self: string, bridge: string | null, nic: string | null): string | null {
  for (const u of users) {
    if (u.name === self) continue;
    if (bridge !== null && u.bridge === bridge) return u.name;
    if (nic !== null && u.interface === nic) return u.name;
  }
  return null;
}

export function chooseBridge(
  req: L2Request | undefined,
  name: string,
  host: string,
  links: LinkFacts[],
  catalog: BridgeUser[],
  /** The host's NETFORGE_ALLOWED_INTERFACES: existing bridges netforge may use as they are. */
  allowed: readonly string[] = [],
): Pick<BridgeNetSpec, "bridge" | "interface" | "created"> {
  if (!req || req.kind === "sriov") throw validationError([{ path: "interface", message: "a bridge network needs interface or bridge" }]);
  const byName = new Map(links.map((l) => [l.name, l]));
  const inUse = (what: string, other: string) =>
    new AppError("INVALID_STATE", `${what} on host ${host} is already used by network '${other}'`, { host, usedBy: other });
  /** An existing bridge that is not listed: another tool's (docker0, virbr0, lxdbr0...) or the host's own (br0). */
  const notListed = (bridge: string, via: string | null) => {
    const d = describeForeignBridge(bridge, links);
    const what = via ? `interface ${via} on host ${host} is a port of bridge ${bridge}, which` : `bridge ${bridge} on host ${host}`;
    return new AppError(
      "NOT_ALLOWED",
      `${what} is not netforge's (${d.text}): an existing bridge is used only when listed in ${ALLOWED_INTERFACES_SETTING} of host ${host}, and then as it is (netforge never changes its addresses, ports or MTU)`,
      {
        host,
        bridge,
        ...(via ? { interface: via } : {}),
        addresses: d.addresses,
        ports: d.ports,
        setting: ALLOWED_INTERFACES_SETTING,
      },
    );
  };

  if (req.kind === "bridge") {
    const br = byName.get(req.bridge);
    if (!br) throw validationError([{ path: "bridge", message: `host ${host} has no bridge ${req.bridge}` }]);
    if (br.kind !== "bridge")
      throw validationError([
        { path: "bridge", message: `${req.bridge} on host ${host} is a ${br.kind ?? "plain"} device, not a Linux bridge` },
      ]);
    const other = userOf(catalog, name, req.bridge, null);
    if (other) throw inUse(`bridge ${req.bridge}`, other);
    if (!allowed.includes(req.bridge)) throw notListed(req.bridge, null);
    return { bridge: req.bridge, interface: null, created: null };
  }

  const nicName = req.interface;
  const nic = byName.get(nicName);
  if (!nic) throw validationError([{ path: "interface", message: `host ${host} has no interface ${nicName}` }]);
  if (nic.kind === "bridge") {
    throw validationError([
      { path: "interface", message: `${nicName} is itself a bridge: create the network with "bridge": "${nicName}"` },
    ]);
  }
  if (nic.kind === "loopback") throw validationError([{ path: "interface", message: `${nicName} is the loopback device` }]);
  const other = userOf(catalog, name, null, nicName);
  if (other) throw inUse(`interface ${nicName}`, other);
  if (nic.master) {
    const master = byName.get(nic.master);
    if (master?.kind !== "bridge") {
      throw new AppError(
        "INVALID_STATE",
        `interface ${nicName} on host ${host} is a port of ${nic.master} (${master?.kind ?? "unknown"}), not of a Linux bridge: it cannot join a bridge`,
        { host, interface: nicName, master: nic.master },
      );
    }
    const onBridge = userOf(catalog, name, nic.master, null);
    if (onBridge) throw inUse(`bridge ${nic.master} (of interface ${nicName})`, onBridge);
    if (!allowed.includes(nic.master)) throw notListed(nic.master, nicName);
    return { bridge: nic.master, interface: nicName, created: null };
  }
  const addresses = [...nic.addresses, ...(nic.addresses6 ?? [])];
  if (addresses.length > 0) {
    throw new AppError(
      "INVALID_STATE",
      `interface ${nicName} on host ${host} carries ${addresses.join(", ")}: moving a configured NIC into a bridge would cut the host off from that address; remove its addresses first, or create the network on an existing bridge with "bridge"`,
      { host, interface: nicName, addresses },
    );
  }
  const uppers = addressedUppers(nicName, links);
  if (uppers.length > 0) {
    const held = uppers.map((u) => `${u.name} carries ${u.addresses.join(", ")}`).join("; ");
    throw new AppError(
      "INVALID_STATE",
      `interface ${nicName} on host ${host} has upper devices carrying addresses (${held}): moving it into a bridge would cut the host off from them; use a NIC without configured upper devices, or an existing bridge listed in ${ALLOWED_INTERFACES_SETTING} with "bridge"`,
      { host, interface: nicName, uppers },
    );
  }
  const taken = new Set(links.map((l) => l.name));
  for (const c of catalog) if (c.bridge) taken.add(c.bridge);
  return {
    bridge: bridgeNameFor(name, taken),
    interface: nicName,
    created: { nic: { up: nic.adminUp ?? nic.state === "up", mtu: nic.mtu ?? 1500, master: null } },
  };
}

/** One `ip` command of setting up a created bridge, with what takes it back. */
export interface BridgeStep {
  name: string;
  ip: string[];
  /** `ip` arguments that undo it, or "restore-nic" (give the NIC back as the spec recorded it), or null. */
  undo: string[] | "restore-nic" | null;
}

/**
 * The `ip` commands that make a created bridge ready from what the host has now (the worker runs them;
 * a dry run shows them): the bridge (no STP, no forwarding delay: ports forward at once), the NIC enslaved,
 * both up. Nothing for a host bridge, and nothing already in place.
 */
export function bridgeSetUpSteps(
  spec: Pick<BridgeNetSpec, "bridge" | "interface" | "created">,
  have: { bridgeExists: boolean; nicMaster: string | null; nicUp: boolean },
): BridgeStep[] {
  if (!spec.created || spec.interface === null) return [];
  const nic = spec.interface;
  const steps: BridgeStep[] = [];
  if (!have.bridgeExists) {
    steps.push({
      name: `create bridge ${spec.bridge}`,
      ip: ["link", "add", "name", spec.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"],
      undo: ["link", "del", spec.bridge],
    });
  }
  if (have.nicMaster !== spec.bridge) {
    steps.push({ name: `enslave ${nic} to ${spec.bridge}`, ip: ["link", "set", "dev", nic, "master", spec.bridge], undo: "restore-nic" });
  }
  steps.push({ name: `bring ${spec.bridge} up`, ip: ["link", "set", "dev", spec.bridge, "up"], undo: null });
  if (!have.nicUp) steps.push({ name: `bring ${nic} up`, ip: ["link", "set", "dev", nic, "up"], undo: null });
  return steps;
}

/**
 * The `ip` commands that give a created bridge's NIC back as the spec recorded it (out of the bridge, its
 * former master, MTU and up/down state, each only when it differs now) and remove the bridge. Nothing for
 * a host bridge. The worker runs them on delete; a dry run shows them.
 */
export function bridgeTearDownSteps(
  spec: Pick<BridgeNetSpec, "bridge" | "interface" | "created">,
  now: { bridgeExists: boolean; nic: { master: string | null; mtu: number | null; up: boolean } | null },
  opts: { removeBridge?: boolean } = {},
): BridgeStep[] {
  const was = spec.created?.nic;
  if (!was || spec.interface === null) return [];
  const nic = spec.interface;
  const steps: BridgeStep[] = [];
  if (now.nic) {
    if (now.nic.master === spec.bridge) steps.push({ name: `release ${nic}`, ip: ["link", "set", "dev", nic, "nomaster"], undo: null });
    if (was.master !== null && now.nic.master !== was.master) {
      steps.push({ name: `give ${nic} back to ${was.master}`, ip: ["link", "set", "dev", nic, "master", was.master], undo: null });
    }
    if (now.nic.mtu !== was.mtu)
      steps.push({ name: `restore MTU ${was.mtu} of ${nic}`, ip: ["link", "set", "dev", nic, "mtu", String(was.mtu)], undo: null });
    if (now.nic.up !== was.up) {
      steps.push({
        name: `set ${nic} ${was.up ? "up" : "down"} as it was`,
        ip: ["link", "set", "dev", nic, was.up ? "up" : "down"],
        undo: null,
      });
    }
  }
  if ((opts.removeBridge ?? true) && now.bridgeExists) {
    steps.push({ name: `remove bridge ${spec.bridge}`, ip: ["link", "del", spec.bridge], undo: null });
  }
  return steps;
}
