/** The query actions: answered synchronously from the cluster index; one definition each, with what it answers. */
import { z } from "zod";
import { HostView, ListHostsBody } from "../schemas/host";
import { ListNetworkIpsBody, NetworkIp } from "../schemas/ipam";
import { JobView, ListJobsBody } from "../schemas/job";
import { ListNetworksBody, NetworkRef, NetworkSummary, NetworkView } from "../schemas/network";
import { queryAction } from "./define";

export const QUERY_DEFINITIONS = {
  "list-networks": queryAction({
    kind: "query",
    body: ListNetworksBody,
    role: "viewer",
    summary: "List networks with filters and cursor paging",
    description:
      "Rows ordered by name, at most limit (default 100, at most 1000) per page; send nextCursor back as cursor for the next page. name matches a case-insensitive substring; type, state and host filter exactly.",
    cli: ["network", "list"],
    examples: {
      default: { summary: "active networks whose name contains web", value: { state: "active", name: "web", limit: 50 } },
    },
    response: z.object({ networks: z.array(NetworkSummary), nextCursor: z.string().nullable() }),
  }),
  "describe-network": queryAction({
    kind: "query",
    body: NetworkRef,
    role: "viewer",
    summary: "One network with its configuration and live stats",
    description:
      "The network's configuration as its host's worker last published it, with live stats (attached VMs, allocated IPs, traffic counters; stats.observedAt says when they were read, every worker heartbeat), its version (+1 on every change applied; also the ETag header, for If-Match) and managedBy. NOT_FOUND for an unknown network.",
    cli: ["network", "describe"],
    examples: { default: { summary: "network web", value: { name: "web" } } },
    response: z.object({ network: NetworkView }),
    headers: { ETag: 'the network\'s version, quoted ("7"): send it as If-Match with a job action to change only this version' },
  }),
  "list-jobs": queryAction({
    kind: "query",
    body: ListJobsBody,
    role: "viewer",
    summary: "Recent jobs, newest first",
    description:
      "Jobs newest first, filtered by network, host and state, at most limit (default 50). Finished jobs are kept 7 days by default (NETFORGE_JOB_RETENTION_SECONDS).",
    cli: ["job", "list"],
    examples: { default: { summary: "the last 20 failed jobs of network web", value: { network: "web", state: "failed", limit: 20 } } },
    response: z.object({ jobs: z.array(JobView) }),
  }),
  "list-hosts": queryAction({
    kind: "query",
    body: ListHostsBody,
    role: "viewer",
    summary: "Registered hypervisors and their inventory",
    description:
      "Every registered hypervisor with its status (online while its worker's heartbeat is fresh) and the inventory its worker last published: libvirt version, network count, interfaces, SR-IOV PFs, listening ports and firewall warnings.",
    cli: ["host", "list"],
    examples: { default: { summary: "every host", value: {} } },
    response: z.object({ hosts: z.array(HostView) }),
  }),
  "release-network-claim": queryAction({
    kind: "query",
    body: NetworkRef,
    role: "admin",
    summary: "Free a name/subnet claim that has neither a network on an online host nor a live job (else INVALID_STATE naming the holder)",
    description:
      "For cleaning up after a crash between claim and queue, or after a host that never came back. Claims younger than 5 minutes are never released; the API also sweeps unheld claims every 60 s on its own.",
    cli: ["network", "release-claim"],
    examples: { default: { summary: "free the claim on the name web", value: { name: "web" } } },
    irreversible: true,
    response: z.object({ released: z.object({ name: z.string(), host: z.string() }) }),
    errors: {
      "404": "NOT_FOUND (no claim on that name)",
      "409":
        "INVALID_STATE: a network on an online host, a queued/running job, or a create still being submitted holds the claim (details.heldBy)",
    },
  }),
  "list-network-ips": queryAction({
    kind: "query",
    body: ListNetworkIpsBody,
    role: "viewer",
    summary: "Active leases and reservations of a network, with the VM owning each MAC",
    description:
      "Active DHCP leases and static reservations merged, ordered by IP, with the libvirt domain owning each MAC and each VM's traffic counters; observedAt says when the worker read them. Empty for sriov networks; a bridge network (netforge sees no leases there) lists the VMs seen at its uplink NIC by MAC (ip empty) with their traffic. On a network with IPv6 also its DHCPv6 leases and IPv6 reservations (with the DUID) and the SLAAC addresses its VMs use (slaac: true). An overlay's are its gateway host's leases and reservations, each VM named by the member host whose running domain has its MAC.",
    cli: ["network", "ips"],
    examples: { default: { summary: "leases and reservations of network web", value: { name: "web" } } },
    response: z.object({ ips: z.array(NetworkIp), observedAt: z.string().nullable() }),
  }),
};

export type QueryActionName = keyof typeof QUERY_DEFINITIONS;
