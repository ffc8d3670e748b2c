/** Exactly one handler per job action; the mapped type makes a missing or mistyped handler a compile error. */
import type { JobAction, JobPayloads } from "@netforge/core/contract";
import type { JobContext } from "../context";
import { createNetwork } from "./create-network";
import { deleteNetwork } from "./delete-network";
import { configureFirewall, configurePortForward } from "./firewall";
import { assignStaticIp, configureDhcp, unassignStaticIp } from "./ipam";
import { startNetwork } from "./start-network";
import { stopNetwork } from "./stop-network";

export type HandlerMap = { [A in JobAction]: (ctx: JobContext, payload: JobPayloads[A]) => Promise<unknown> };

export const HANDLERS: HandlerMap = {
  "create-network": createNetwork,
  "delete-network": deleteNetwork,
  "start-network": startNetwork,
  "stop-network": stopNetwork,
  "configure-network-dhcp": configureDhcp,
  "assign-static-ip": assignStaticIp,
  "unassign-static-ip": unassignStaticIp,
  "configure-network-firewall": configureFirewall,
  "configure-network-port-forward": configurePortForward,
};
