/**
 * bridge networks: VMs are ports of a Linux bridge that carries the physical LAN (<forward mode='bridge'/>):
 * no address, no dnsmasq, no NAT; the LAN's DHCP server addresses them. The host half (the bridge netforge
 * creates for a NIC, and gives back) is apps/worker/src/drivers/bridge.ts.
 */
import type { QosSpec } from "../actions/changes";
import { CHANGE_KINDS } from "../actions/changes";
import { AppError } from "../errors";
import { checkQosOnly, planQosOnly } from "../planner/changes";
import type { ShapedAt } from "../render/tc-qos";
import { renderBridgeXml } from "../render/network-xml";
import type { HostRecord } from "../schemas/host";
import { type L2Request, validationError } from "../schemas/network";
import type { SpecBase } from "../planner/network-spec";
import { type BridgeUser, chooseBridge, type LinkFacts } from "./bridge-choice";
import type { DeviceDoor, IndexedNetwork } from "./door";
import { bridgeHostSteps } from "./host-steps";
import type { DriverModel } from "./model";
import { noAddressingParts } from "./no-addressing";

/** A NIC's own state before netforge enslaved it into a bridge it created: what delete gives back. */
export interface NicState {
  /** Administratively up (IFF_UP). */
  up: boolean;
  mtu: number;
  /** Its master device before (never a bridge: a NIC already in a bridge is used through that bridge). */
  master: string | null;
}

/**
 * bridge networks: VMs are ports of a Linux bridge that carries the physical LAN. libvirt only attaches
 * them (<forward mode='bridge'/>); the LAN's own DHCP server owns addressing.
 */
export interface BridgeNetSpec extends SpecBase {
  type: "bridge";
  /** The Linux bridge VMs are plugged into. */
  bridge: string;
  /** The NIC the network was asked for ({ interface }); null when made on an existing bridge ({ bridge }). */
  interface: string | null;
  /** Set when netforge created `bridge` and enslaved `interface` into it: the NIC's state before, given back on delete. */
  created: { nic: NicState } | null;
  /** Its bandwidth limits (configure-network-qos: tc on the uplink NIC and an IFB fed from its ingress); absent: none. */
  qos?: QosSpec;
}

/** The host's other networks as the bridge choice sees them (from the index). */
export function bridgeUsers(host: HostRecord, networks: readonly IndexedNetwork[]): BridgeUser[] {
  return networks.filter((n) => n.host === host.id).map((n) => ({ name: n.name, bridge: n.bridge.name, interface: n.bridge.interface }));
}

/** The bridge a bridge network would get on `host`, decided from its inventory (the worker decides again on the host). */
export function bridgeChoiceFromInventory(req: L2Request, host: HostRecord, networks: readonly IndexedNetwork[], name: string) {
  // A bridge netforge made (nf-*) that no network of the index holds is one a delete just removed: the
  // inventory is refreshed right after each job, so it may still show it. The door sees the host as it is
  // after that delete (the bridge gone, its NIC free); the worker decides from a fresh read of the host.
  const held = new Set(networks.filter((n) => n.host === host.id && n.bridge.name).map((n) => n.bridge.name as string));
  const gone = new Set(
    host.interfaces.filter((i) => i.kind === "bridge" && i.name.startsWith("nf-") && !held.has(i.name)).map((i) => i.name),
  );
  const links: LinkFacts[] = host.interfaces
    .filter((i) => !gone.has(i.name))
    .map((i) => ({
      name: i.name,
      kind: i.kind,
      state: i.state,
      master: i.master !== null && gone.has(i.master) ? null : i.master,
      addresses: i.addresses,
      addresses6: i.addresses6 ?? [],
      ...(i.mtu !== undefined ? { mtu: i.mtu } : {}),
      ...(i.up !== undefined ? { adminUp: i.up } : {}),
      link: i.link ?? null,
    }));
  return chooseBridge(req, name, host.id, links, bridgeUsers(host, networks), host.allowedInterfaces ?? []);
}

/** What a bridge request asks for, for messages ("interface eth1"). */
const what = (req: L2Request): string =>
  req.kind === "bridge" ? `bridge ${req.bridge}` : req.kind === "interface" ? `interface ${req.interface}` : "";

/**
 * The bridge door: a host can take the network when the bridge choice succeeds on its inventory (the NIC or
 * bridge exists, is allowed, is not another network's, the NIC carries no addresses).
 */
const bridgeDoor: DeviceDoor<BridgeNetSpec> = {
  refusal(req, host, networks, name) {
    try {
      bridgeChoiceFromInventory(req, host, networks, name);
      return null;
    } catch (err) {
      if (err instanceof AppError) return err;
      throw err;
    }
  },
  noHostHas: (req) => validationError([{ path: req.kind, message: `no online host has ${what(req)}` }]),
  lacks: (req, host) => {
    const device = req.kind === "bridge" ? req.bridge : req.kind === "interface" ? req.interface : null;
    return device !== null && !host.interfaces.some((i) => i.name === device);
  },
  specFor(payload, req, host, networks) {
    const choice = bridgeChoiceFromInventory(req, host, networks, payload.name);
    return {
      type: "bridge",
      name: payload.name,
      uuid: payload.uuid,
      description: payload.description,
      createdAt: payload.createdAt,
      ...(payload.managedBy === undefined ? {} : { managedBy: payload.managedBy }),
      ...choice,
    };
  },
};

const parts = noAddressingParts<BridgeNetSpec>(
  "VMs of a bridge network are on the physical LAN: the LAN's DHCP server owns addressing (configure it there, or address VMs statically)",
);

/**
 * Where a bridge network is shaped (docs/adr/0044-network-qos.md, fourth round): at the uplink NIC it was made
 * on; null when it was made on an existing bridge (netforge knows no uplink of it to shape at).
 */
const shapedAt = (spec: BridgeNetSpec): ShapedAt | null =>
  spec.interface === null ? null : { bridge: spec.bridge, uplink: spec.interface };

/** The bridge driver's pure half: everything but bandwidth limits refused (the LAN's). */
export const bridgeModel: DriverModel<BridgeNetSpec> = {
  type: "bridge",
  is: (spec): spec is BridgeNetSpec => spec.type === "bridge",
  render: renderBridgeXml,
  door: bridgeDoor,
  hostSteps: bridgeHostSteps,
  ...parts,
  unsupported: new Set(CHANGE_KINDS.filter((k) => k !== "qos")),
  view: (spec) => {
    const at = shapedAt(spec);
    return { ...parts.view(spec), qos: spec.qos ?? null, ...(at ? { shapedAt: at } : {}) };
  },
  planChange: (spec, change, host, currentXml) =>
    change.kind === "qos"
      ? planQosOnly(spec, change, host, shapedAt(spec), renderBridgeXml, currentXml)
      : parts.planChange(spec, change, host),
  checkChange: (spec, change, host) =>
    change.kind === "qos" ? checkQosOnly(spec, change, shapedAt(spec)).spec : parts.checkChange(spec, change, host),
};
