/**
 * @netforge/core/model: the pure model. Network specs and the planner (changes, bridge choice, host ports),
 * the libvirt XML and nft renderers, the drivers' pure halves and the size limits. No I/O.
 *
 * Part of this entry: planner/ (was spec/), render/, drivers/, plan/, limits.ts.
 * May import: contract only (layering.test.ts fails on an import of store). The table is in layers.ts.
 */
export * from "./limits";
export * from "./render/index";
export * from "./render/xml-digest";
export * from "./spec/bridge-choice";
export * from "./spec/changes";
export * from "./spec/firewall";
export * from "./spec/forward-devices";
export * from "./spec/host-ports";
export * from "./spec/network-spec";
export * from "./spec/sriov-vfs";
