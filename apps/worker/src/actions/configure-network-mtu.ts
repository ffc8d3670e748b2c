/** configure-network-mtu on the host: its payload's one change on the configure path (handlers/configure-network.ts). */
import { changeOf } from "@netforge/core/contract";
import { configureNetwork } from "../handlers/configure-network";
import { workerHalf } from "./half";

export const configureNetworkMtu = workerHalf("configure-network-mtu", {
  run: (ctx, p) => configureNetwork(ctx, p.name, changeOf("configure-network-mtu", p)),
});
