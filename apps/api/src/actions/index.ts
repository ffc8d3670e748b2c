/**
 * The API's half of every job action, keyed by the action definitions (core's JOB_DEFINITIONS): the mapped
 * type makes an action without its API half, or a half of the wrong payload type, a compile error.
 */
import type { JobAction } from "@netforge/core/contract";
import { assignStaticIp } from "./assign-static-ip";
import { configureNetworkDhcp } from "./configure-network-dhcp";
import { configureNetworkFirewall } from "./configure-network-firewall";
import { configureNetworkPortForward } from "./configure-network-port-forward";
import { createNetwork } from "./create-network";
import { deleteNetwork } from "./delete-network";
import type { ApiHalf } from "./half";
import { startNetwork } from "./start-network";
import { stopNetwork } from "./stop-network";
import { unassignStaticIp } from "./unassign-static-ip";

export type { ApiHalf } from "./half";

export const API_HALVES: { [A in JobAction]: ApiHalf<A> } = {
  "create-network": createNetwork,
  "delete-network": deleteNetwork,
  "start-network": startNetwork,
  "stop-network": stopNetwork,
  "configure-network-dhcp": configureNetworkDhcp,
  "assign-static-ip": assignStaticIp,
  "unassign-static-ip": unassignStaticIp,
  "configure-network-firewall": configureNetworkFirewall,
  "configure-network-port-forward": configureNetworkPortForward,
};
