/** Isolated networks: VMs reach each other and the host's gateway address, nothing beyond (libvirt rejects forwarding). */
import { routedDriver } from "./routed";

export const isolatedDriver = routedDriver("isolated");
