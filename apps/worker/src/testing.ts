/**
 * @netforge/worker/testing: the worker's parts that system tests run alone against a real nft, virsh or Redis
 * (in a namespace or sandbox they made), and the fixtures they share with the unit tests. Not for product code:
 * no shipped entry point imports it (test/bench-isolation walks them).
 */
import { configureNetworkPortForward } from "./actions/configure-network-port-forward";

export type { JobContext } from "./context";
export { fenceFor, LOCK_LOST } from "./fence";
export { webNetwork } from "./firewall/__fixtures__/fake-nft";
export { HostFirewall } from "./firewall/host-firewall";
export { NftSession } from "./firewall/nft-session";
export { NftBackend } from "./firewall/nftables";
export { configureNetwork } from "./handlers/configure-network";
export { createNetwork } from "./handlers/create-network";
export { deleteNetwork } from "./handlers/delete-network";
export { startNetwork } from "./handlers/start-network";
export { stopNetwork } from "./handlers/stop-network";
export { NetworkCatalog } from "./host/network-catalog";
export { Virsh } from "./host/virsh";
export { sessionSafe, VirshSession } from "./host/virsh-session";
export { publishIpTable } from "./ip-table";
export { JobReporter } from "./job-reporter";
export { failAbandonedJob } from "./processor";
export { Revert } from "./revert";

/** configure-network-port-forward's worker half run alone (its host port checks, then the configure path). */
export const configurePortForward = configureNetworkPortForward.run;
