/** @netforge/core: schemas, errors, pure network math and renderers, and the Redis store shared by api and worker. */
export * from "./api-contract";
export {
  CONFIGURE_ACTIONS,
  type ConfigureAction,
  DryRunFlag,
  JOB_DEFINITIONS,
  JOB_DEFS,
  type JobActionName,
  type JobDefinition,
  jobAction,
  type PayloadOf,
  QUERY_DEFINITIONS,
  type QueryActionName,
  type QueryDefinition,
  queryAction,
  splitDryRun,
} from "./actions/index";
export { bodyPayload, type CreateNetworkPayload, parseCreatePayload, type PayloadResult } from "./schemas/payload-parse";
export * from "./errors";
export * from "./net/ipv4";
export * from "./net/reserved";
export * from "./net/allowed";
export * from "./net/protected";
export * from "./render/index";
export * from "./schemas/common";
export * from "./schemas/host";
export * from "./schemas/job";
export * from "./schemas/network";
export * from "./schemas/text";
export * from "./store/claims";
export * from "./store/hosts";
export * from "./store/jobs";
export * from "./store/keys";
export * from "./store/locks";
export * from "./store/network-index";
export * from "./store/redis";
export * from "./store/submission";
export * from "./store/worker-counters";
export * from "./validation";
export * from "./jobs";
export * from "./store/claim-release";
export * from "./schemas/ipam";
export * from "./spec/changes";
export * from "./spec/network-spec";
export * from "./spec/bridge-choice";
export * from "./spec/sriov-vfs";
export * from "./spec/forward-devices";
export * from "./store/network-ips";
export * from "./store/network-door";
export * from "./spec/firewall";
export * from "./spec/host-ports";
export * from "./schemas/firewall";
export * from "./store/port-claims";
export { evalScript } from "./store/scripts";
export * from "./random-id";
export * from "./store/api-addresses";
export * from "./limits";
export * from "./render/xml-digest";
export * from "./store/host-lease";
export * from "./schemas/job-payload";
