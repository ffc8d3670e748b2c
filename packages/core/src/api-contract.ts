/**
 * The action table: every `POST /api/<action>` with its body schema, the
 * role it needs and whether it runs as a job. Routes, OpenAPI and the job
 * catalog are all driven from this one table.
 */
import type { z } from "zod";
import { ListHostsBody } from "./schemas/host";
import { type JobAction, ListJobsBody } from "./schemas/job";
import { AssignStaticIpBody, ConfigureDhcpBody, ListNetworkIpsBody, UnassignStaticIpBody } from "./schemas/ipam";
import { CreateNetworkBody, ListNetworksBody, NetworkRef } from "./schemas/network";

/** Roles, weakest first; each includes the ones before it. */
export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** True when `have` is at least `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

interface ActionBase {
  body: z.ZodType;
  role: Role;
  summary: string;
}
/** An action answered synchronously from the cluster index. */
export interface QueryAction extends ActionBase {
  kind: "query";
}
/** An action queued as a job on the network's host. */
export interface JobActionDef extends ActionBase {
  kind: "job";
  action: JobAction;
}
export type ActionDef = QueryAction | JobActionDef;

/** Every action of the API. */
export const ACTIONS = {
  "create-network": {
    kind: "job",
    action: "create-network",
    body: CreateNetworkBody,
    role: "operator",
    summary: "Create (and by default start) a network on a host",
  },
  "delete-network": {
    kind: "job",
    action: "delete-network",
    body: NetworkRef,
    role: "operator",
    summary: "Stop and remove a network; refused while anything is attached",
  },
  "start-network": {
    kind: "job",
    action: "start-network",
    body: NetworkRef,
    role: "operator",
    summary: "Start an inactive network",
  },
  "stop-network": {
    kind: "job",
    action: "stop-network",
    body: NetworkRef,
    role: "operator",
    summary: "Stop an active network; refused while anything is attached",
  },
  "list-networks": {
    kind: "query",
    body: ListNetworksBody,
    role: "viewer",
    summary: "List networks with filters and cursor paging",
  },
  "describe-network": {
    kind: "query",
    body: NetworkRef,
    role: "viewer",
    summary: "One network with its configuration and live stats",
  },
  "list-jobs": { kind: "query", body: ListJobsBody, role: "viewer", summary: "Recent jobs, newest first" },
  "list-hosts": { kind: "query", body: ListHostsBody, role: "viewer", summary: "Registered hypervisors and their inventory" },
  "release-network-claim": {
    kind: "query",
    body: NetworkRef,
    role: "admin",
    summary: "Free a name/subnet claim that has neither a network on an online host nor a live job (else INVALID_STATE naming the holder)",
  },
  "configure-network-dhcp": {
    kind: "job",
    action: "configure-network-dhcp",
    body: ConfigureDhcpBody,
    role: "operator",
    summary: "Change the DHCP range and lease time of a running network (VMs stay attached)",
  },
  "assign-static-ip": {
    kind: "job",
    action: "assign-static-ip",
    body: AssignStaticIpBody,
    role: "operator",
    summary: "Reserve an IP for a MAC (live and persistent)",
  },
  "unassign-static-ip": {
    kind: "job",
    action: "unassign-static-ip",
    body: UnassignStaticIpBody,
    role: "operator",
    summary: "Remove a MAC's reservation (live and persistent)",
  },
  "list-network-ips": {
    kind: "query",
    body: ListNetworkIpsBody,
    role: "viewer",
    summary: "Active leases and reservations of a network, with the VM owning each MAC",
  },
} as const satisfies Record<string, ActionDef>;

export type ActionName = keyof typeof ACTIONS;
