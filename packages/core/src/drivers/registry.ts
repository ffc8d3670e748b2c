/**
 * The type registry: network type -> its driver's pure half, and the operations the rest of the code calls on
 * any spec (each goes to the spec's own driver). The only map keyed by type outside a driver.
 */
import { AppError } from "../errors";
import type { CreateNetworkPayload } from "../jobs";
import type { HostRecord } from "../schemas/host";
import type { FirewallNetwork } from "../render/nft";
import type { L2Request, NetworkType } from "../schemas/network";
import type { ChangePlan, HostObservation, NetworkChange } from "../planner/changes";
import type { RoutedNetSpec } from "../planner/network-spec";
import type { BridgeNetSpec } from "./bridge";
import type { SriovNetSpec } from "./sriov";
import { bridgeModel } from "./bridge";
import type { DeviceDoor, IndexedNetwork } from "./door";
import { isolatedModel } from "./isolated";
import type { DriverModel, SpecOf } from "./model";
import { natModel } from "./nat";
import type { RoutedModel, RoutedType } from "./routed";
import { sriovModel } from "./sriov";
import { type OverlayNetSpec, overlayModel } from "./overlay";
import { type TypedDefinition, typeOf } from "./type-of";

/** The spec of any network type netforge runs (a union: each type adds its driver's spec). */
export type NetSpec = RoutedNetSpec | BridgeNetSpec | SriovNetSpec | OverlayNetSpec;

/**
 * Every type's driver. Each is typed to its own spec; held here as a driver of NetSpec (its methods'
 * parameters are bivariant), which is sound because `modelOf` only ever hands a spec to its own type's driver.
 */
const MODELS: { [T in NetworkType]: DriverModel<SpecOf<T>> } = {
  nat: natModel,
  isolated: isolatedModel,
  bridge: bridgeModel,
  sriov: sriovModel,
  overlay: overlayModel,
};

/** The pure half of a type's driver; UNSUPPORTED_FOR_TYPE for a type this build has none for. */
export function modelFor(type: NetworkType): DriverModel {
  const m: DriverModel | undefined = MODELS[type];
  if (!m) throw new AppError("UNSUPPORTED_FOR_TYPE", `network type '${type}' is not supported by this worker`, { type });
  return m;
}

/** The driver of a spec's own type. */
export const modelOf = (spec: NetSpec): DriverModel => modelFor(spec.type);

/** The driver of a network as its definition says (typeOf). */
export const modelOfDefinition = (def: TypedDefinition): DriverModel => modelFor(typeOf(def));

/** Render the libvirt <network> definition of a spec (its type's renderer). */
export function renderNetworkXml(spec: NetSpec): string {
  const model: DriverModel | undefined = MODELS[spec.type];
  if (!model) throw new Error(`renderNetworkXml: type ${spec.type} is not rendered by this renderer`);
  return model.render(spec);
}

/** The subnet and DHCP part of a spec whose type has netforge-managed addressing; null otherwise. */
export function addressingOf(spec: NetSpec | null | undefined): RoutedNetSpec | null {
  return spec ? modelOf(spec).addressing(spec) : null;
}

/** The network's part of netforge's nft table (null: its type has no host firewall path). */
export function firewallPartOf(spec: NetSpec, ownsTypeRules = true): FirewallNetwork | null {
  return modelOf(spec).firewall(spec, ownsTypeRules);
}

/** The firewall part of the host table for a routed spec (what a dry run shows and the worker applies). */
export function firewallNetworkOf(spec: RoutedNetSpec, ownsTypeRules = true): FirewallNetwork {
  const model: RoutedModel<RoutedType> = ROUTED[spec.type];
  return model.firewall(spec, ownsTypeRules);
}

/** The routed types' drivers, whose firewall part always exists. */
const ROUTED: { [T in RoutedType]: RoutedModel<T> } = { nat: natModel, isolated: isolatedModel };

/** A network's share of its host's nft rules: its firewall rules and its port forwards. */
export function hostRuleCount(spec: NetSpec | null | undefined): number {
  return spec ? modelOf(spec).hostRuleCount(spec) : 0;
}

/** Validate `change` against `spec` and the host, and plan it. Throws the error the real call gets. */
export function planChange(spec: NetSpec, change: NetworkChange, host: HostObservation, previousXml?: string): ChangePlan {
  return modelOf(spec).planChange(spec, change, host, previousXml);
}

/**
 * The checks of planChange alone, rendering nothing (the API's door for a real call: the worker plans again on
 * the host). Throws exactly what planChange throws for an invalid change.
 */
export function checkChange(spec: NetSpec, change: NetworkChange, host: HostObservation): NetSpec {
  return modelOf(spec).checkChange(spec, change, host);
}

/** The device type a create request asks for: a NIC or a host bridge makes a bridge network, a PF an sriov one. */
const DEVICE_TYPES: { [K in L2Request["kind"]]: NetworkType } = { interface: "bridge", bridge: "bridge", sriov: "sriov" };

/** The door of the type a device request is for. */
function doorOf(req: L2Request): DeviceDoor<NetSpec> {
  const door = modelFor(DEVICE_TYPES[req.kind]).door;
  if (!door) throw new Error(`no door for a ${req.kind} request`);
  return door;
}

/** Why `host` cannot take a network asking for device `req`, or null when it can (as far as its inventory tells). */
export function l2Refusal(req: L2Request, host: HostRecord, networks: readonly IndexedNetwork[], name: string): AppError | null {
  return doorOf(req).refusal(req, host, networks, name);
}

/** Whether `host`'s inventory lacks the device `req` asks for entirely (its worker then decides, DeviceDoor.lacks). */
export function l2Lacks(req: L2Request, host: HostRecord): boolean {
  return doorOf(req).lacks(req, host);
}

/** The refusal when no online host has the device `req` asks for. */
export function l2Unavailable(req: L2Request): AppError {
  return doorOf(req).noHostHas(req);
}

/** The spec a device create would define on `host`, chosen from its inventory (a dry run); null without a device request. */
export function l2SpecFor(payload: CreateNetworkPayload, host: HostRecord, networks: readonly IndexedNetwork[]): NetSpec | null {
  const req = payload.l2;
  return req ? doorOf(req).specFor(payload, req, host, networks) : null;
}
