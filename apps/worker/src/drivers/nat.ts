/** NAT networks: VMs reach out through the host (masquerade, rules written by libvirt), nothing reaches in. */
import { routedDriver } from "./routed";

export const natDriver = routedDriver("nat");
