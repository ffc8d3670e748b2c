/** Network type -> driver. Types without a driver are refused with UNSUPPORTED_FOR_TYPE. */
import { AppError, type NetworkType } from "@netforge/core/contract";
import type { NetworkDriver } from "./driver";
import { bridgeDriver } from "./bridge";
import { isolatedDriver } from "./isolated";
import { natDriver } from "./nat";
import { sriovDriver } from "./sriov";

const DRIVERS: Partial<Record<NetworkType, NetworkDriver>> = {
  nat: natDriver,
  isolated: isolatedDriver,
  bridge: bridgeDriver,
  sriov: sriovDriver,
};

/** The driver of a type, or UNSUPPORTED_FOR_TYPE. */
export function driverFor(type: NetworkType): NetworkDriver {
  const d = DRIVERS[type];
  if (!d) throw new AppError("UNSUPPORTED_FOR_TYPE", `network type '${type}' is not supported by this worker`, { type });
  return d;
}
