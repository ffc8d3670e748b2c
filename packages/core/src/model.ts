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
export * from "./planner/changes";
export * from "./planner/firewall";
export * from "./planner/forward-devices";
export * from "./planner/host-ports";
export * from "./planner/network-spec";
export * from "./drivers/index";
export * from "./drivers/bridge-choice";
export * from "./drivers/sriov-vfs";
export * from "./plan/steps";
export * from "./plan/facts";
export * from "./plan/lifecycle";
export * from "./plan/change-steps";
export * from "./drivers/host-steps";
