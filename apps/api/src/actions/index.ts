/**
 * The API's half of every job action, one file each (actions/<action>.ts), each carrying its action: the list
 * below must name every job action of core's definitions exactly once (oneHalfEach: a half missing or doubled
 * does not compile), and a half of the wrong payload type does not compile either.
 */
import { type JobAction, oneHalfEach } from "@netforge/core/contract";
import { assignStaticIp } from "./assign-static-ip";
import { configureNetworkDhcp } from "./configure-network-dhcp";
import { configureNetworkDns } from "./configure-network-dns";
import { configureNetworkHosts } from "./configure-network-hosts";
import { configureNetworkMtu } from "./configure-network-mtu";
import { configureNetworkQos } from "./configure-network-qos";
import { configureNetworkFirewall } from "./configure-network-firewall";
import { configureNetworkPortForward } from "./configure-network-port-forward";
import { createNetwork } from "./create-network";
import { deleteNetwork } from "./delete-network";
import type { AnyApiHalf, ApiHalf } from "./half";
import { startNetwork } from "./start-network";
import { stopNetwork } from "./stop-network";
import { unassignStaticIp } from "./unassign-static-ip";

export type { AnyApiHalf, ApiHalf } from "./half";

/** Every job action's API half. */
export const API_HALVES = oneHalfEach([
  createNetwork,
  deleteNetwork,
  startNetwork,
  stopNetwork,
  configureNetworkDhcp,
  assignStaticIp,
  unassignStaticIp,
  configureNetworkFirewall,
  configureNetworkPortForward,
  configureNetworkDns,
  configureNetworkMtu,
  configureNetworkQos,
  configureNetworkHosts,
]);

const isHalfOf = <A extends JobAction>(half: AnyApiHalf, action: A): half is AnyApiHalf & ApiHalf<A> => half.action === action;

/** The API half of `action`. */
export function apiHalfOf<A extends JobAction>(action: A): ApiHalf<A> {
  for (const half of API_HALVES) if (isHalfOf(half, action)) return half;
  // Unreachable: oneHalfEach holds a half of every job action.
  throw new Error(`no API half for job action '${action}'`);
}
