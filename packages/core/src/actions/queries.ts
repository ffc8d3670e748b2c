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
    cli: ["network", "list"],
    response: z.object({ networks: z.array(NetworkSummary), nextCursor: z.string().nullable() }),
  }),
  "describe-network": queryAction({
    kind: "query",
    body: NetworkRef,
    role: "viewer",
    summary: "One network with its configuration and live stats",
    cli: ["network", "describe"],
    response: z.object({ network: NetworkView }),
  }),
  "list-jobs": queryAction({
    kind: "query",
    body: ListJobsBody,
    role: "viewer",
    summary: "Recent jobs, newest first",
    cli: ["job", "list"],
    response: z.object({ jobs: z.array(JobView) }),
  }),
  "list-hosts": queryAction({
    kind: "query",
    body: ListHostsBody,
    role: "viewer",
    summary: "Registered hypervisors and their inventory",
    cli: ["host", "list"],
    response: z.object({ hosts: z.array(HostView) }),
  }),
  "release-network-claim": queryAction({
    kind: "query",
    body: NetworkRef,
    role: "admin",
    summary: "Free a name/subnet claim that has neither a network on an online host nor a live job (else INVALID_STATE naming the holder)",
    cli: ["network", "release-claim"],
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
    cli: ["network", "ips"],
    response: z.object({ ips: z.array(NetworkIp), observedAt: z.string().nullable() }),
  }),
};

export type QueryActionName = keyof typeof QUERY_DEFINITIONS;
