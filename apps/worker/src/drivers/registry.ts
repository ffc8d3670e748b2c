/** Network type -> driver. Types without a driver are refused with UNSUPPORTED_FOR_TYPE. */
import { AppError, type NetworkType } from "@netforge/core/contract";
import { type SpecOf, type TypedDefinition, typeOf } from "@netforge/core/model";
import type { NetworkDriver } from "./driver";
import { bridgeDriver } from "./bridge";
import { isolatedDriver } from "./isolated";
import { natDriver } from "./nat";
import { sriovDriver } from "./sriov";
import { overlayDriver } from "./overlay";

/** Each driver typed to its own spec; held as a driver of NetSpec, and only ever given a spec of its type. */
const DRIVERS: { [T in NetworkType]: NetworkDriver<SpecOf<T>> } = {
  nat: natDriver,
  isolated: isolatedDriver,
  bridge: bridgeDriver,
  sriov: sriovDriver,
  overlay: overlayDriver,
};

/** The driver of a type, or UNSUPPORTED_FOR_TYPE. */
export function driverFor(type: NetworkType): NetworkDriver {
  const d: NetworkDriver | undefined = DRIVERS[type];
  if (!d) throw new AppError("UNSUPPORTED_FOR_TYPE", `network type '${type}' is not supported by this worker`, { type });
  return d;
}

/** The driver of a network as libvirt defines it (core's typeOf: its spec's type, else its metadata's, else libvirt's forward mode). */
export const driverOf = (entry: { def: TypedDefinition }): NetworkDriver => driverFor(typeOf(entry.def));
