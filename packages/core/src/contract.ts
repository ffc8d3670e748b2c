/**
 * @netforge/core/contract: the client contract. The request and record schemas, the action table, the job
 * catalog (payloads, step names), errors and the address math the schemas validate with: all that the CLI and an
 * HTTP client need.
 *
 * Part of this entry: schemas/, net/, actions/, errors.ts, api-contract.ts, validation.ts, jobs.ts.
 * May import: nothing of model or store (layering.test.ts fails on it). The table is in layers.ts.
 */
export * from "./api-contract";
export * from "./errors";
export * from "./jobs";
export * from "./net/allowed";
export * from "./net/ipv4";
export * from "./net/ipv6";
export * from "./net/protected";
export * from "./net/reserved";
export * from "./schemas/common";
export * from "./schemas/firewall";
export * from "./schemas/host";
export * from "./schemas/ipam";
export * from "./schemas/job";
export * from "./schemas/job-payload";
export * from "./schemas/network";
export * from "./schemas/qos";
export * from "./schemas/text";
export { ConfigureNetworkHostsBody, ConfigureNetworkHostsPayload } from "./schemas/types/overlay";
export * from "./validation";
export {
  CHANGE_KINDS,
  type ChangeKind,
  type ChangeOfPayload,
  changeOf,
  CONFIGURE_ACTIONS,
  configureAction,
  type DhcpChange,
  type DnsChange,
  type DnsHost,
  sameDnsHost,
  type FirewallChange,
  type NetworkChange,
  type PortForwardChange,
  type QosChange,
  type QosSpec,
  type ReleaseIpChange,
  type ReserveIpChange,
  type ConfigureAction,
  DryRunFlag,
  JOB_DEFINITIONS,
  JOB_DEFS,
  type JobActionName,
  type JobDefinition,
  jobAction,
  type HalfCoverage,
  oneHalfEach,
  type OneHalfEach,
  type PayloadOf,
  QUERY_DEFINITIONS,
  type QueryActionName,
  type QueryDefinition,
  queryAction,
  splitDryRun,
  parseIfMatch,
  versionMismatch,
  versionTag,
  type JobRequestOptions,
} from "./actions/index";
export {
  bodyPayload,
  type CreateNetworkPayload,
  type OverlayDoorPart,
  parseCreatePayload,
  type PayloadResult,
} from "./schemas/payload-parse";
