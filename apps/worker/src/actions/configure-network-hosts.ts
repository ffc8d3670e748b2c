/** configure-network-hosts on the host: the coordinator on the gateway host, or a member's part of it. */
import { configureNetworkHosts as run } from "../handlers/configure-network-hosts";
import { workerHalf } from "./half";

export const configureNetworkHosts = workerHalf("configure-network-hosts", { run });
