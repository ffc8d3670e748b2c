/**
 * The job catalog: for each job action, its payload type, the steps it
 * reports (so progress percent is meaningful from the first event) and its
 * retry policy. The API builds payloads from this; the worker has exactly one
 * handler per entry (the HandlerMap type forces it).
 */
import type { JobAction } from "./schemas/job";
import type { NetworkSpec } from "./schemas/network";

/** Payload of create-network: the resolved spec (bridge chosen on the host) plus whether to start it. */
export type CreateNetworkPayload = Omit<NetworkSpec, "bridge"> & { start: boolean };
/** Payload of the actions that only name a network. */
export interface NetworkRefPayload {
  name: string;
}

/** Payload of configure-network-dhcp. */
export interface ConfigureDhcpPayload {
  name: string;
  start: string;
  end: string;
  leaseTime?: number;
}
/** Payload of assign-static-ip (MAC lower case). */
export interface AssignStaticIpPayload {
  name: string;
  mac: string;
  ip: string;
  hostname?: string;
  force?: boolean;
}
/** Payload of unassign-static-ip (MAC lower case). */
export interface UnassignStaticIpPayload {
  name: string;
  mac: string;
}

/** Payload of configure-network-firewall: the whole rule set (the body without dryRun, defaults filled). */
export interface ConfigureFirewallPayload {
  name: string;
  defaultInbound: "accept" | "drop" | "reject";
  defaultOutbound: "accept" | "drop" | "reject";
  rules: Record<string, unknown>[];
  /** Host ports opened to the VMs (absent in payloads queued before it existed: none). */
  hostServices?: { protocol: "tcp" | "udp"; ports: string }[];
}

/** Payload of configure-network-port-forward (the body without dryRun). */
export interface ConfigurePortForwardPayload {
  name: string;
  action: "add" | "remove";
  protocol: "tcp" | "udp";
  hostPort: number;
  vmIp?: string;
  vmPort?: number;
  /** One host address instead of all (absent: all). */
  hostIp?: string;
}

/** Payload type of each job action. */
export interface JobPayloads {
  "create-network": CreateNetworkPayload;
  "delete-network": NetworkRefPayload;
  "start-network": NetworkRefPayload;
  "stop-network": NetworkRefPayload;
  "configure-network-dhcp": ConfigureDhcpPayload;
  "assign-static-ip": AssignStaticIpPayload;
  "unassign-static-ip": UnassignStaticIpPayload;
  "configure-network-firewall": ConfigureFirewallPayload;
  "configure-network-port-forward": ConfigurePortForwardPayload;
}

/** Steps of every configure job: load the spec and check the change, then apply the planned host steps. */
export const CONFIGURE_STEPS = ["checking change", "applying change"];

/** Steps each action reports, in order. */
export const JOB_STEPS: Record<JobAction, string[]> = {
  "create-network": ["checking host", "defining network", "starting network", "setting autostart", "verifying DHCP"],
  "delete-network": ["checking attachments", "stopping network", "removing definition"],
  "start-network": ["starting network", "verifying DHCP"],
  "stop-network": ["checking attachments", "stopping network"],
  "configure-network-dhcp": CONFIGURE_STEPS,
  "assign-static-ip": CONFIGURE_STEPS,
  "unassign-static-ip": CONFIGURE_STEPS,
  "configure-network-firewall": CONFIGURE_STEPS,
  // An add first reads the host's listening ports again (a remove skips it).
  "configure-network-port-forward": ["checking host port", ...CONFIGURE_STEPS],
};

/** Retry policy for transient failures (BullMQ attempts + exponential backoff). */
export const JOB_ATTEMPTS = 3;
export const JOB_BACKOFF_MS = 1000;

/** The data carried by a BullMQ job: our job id and the typed payload. */
export interface QueuedJobData<A extends JobAction = JobAction> {
  jobId: string;
  action: A;
  payload: JobPayloads[A];
}
