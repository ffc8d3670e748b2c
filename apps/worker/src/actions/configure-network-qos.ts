/** configure-network-qos on the host: its payload's one change on the configure path (handlers/configure-network.ts). */
import { changeOf } from "@netforge/core/contract";
import { configureNetwork } from "../handlers/configure-network";
import { workerHalf } from "./half";

export const configureNetworkQos = workerHalf("configure-network-qos", {
  run: (ctx, p) => configureNetwork(ctx, p.name, changeOf("configure-network-qos", p)),
});
