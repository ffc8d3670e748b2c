/**
 * @netforge/core/store: the Redis store shared by the API and the worker. Keys, Lua scripts, claims, locks, the
 * job records and the submission script, host leases, and server-minted ids.
 *
 * Part of this entry: store/, random-id.ts.
 * May import: contract and model. Only this part may import ioredis or bullmq. The table is in layers.ts.
 */
export * from "./random-id";
export * from "./store/api-addresses";
export * from "./store/claim-release";
export * from "./store/claims";
export * from "./store/host-lease";
export * from "./store/hosts";
export * from "./store/jobs";
export * from "./store/keys";
export * from "./store/locks";
export * from "./store/network-door";
export * from "./store/network-index";
export * from "./store/network-ips";
export * from "./store/overlay-parts";
export * from "./store/port-claims";
export * from "./store/redis";
export { evalScript } from "./store/scripts";
export * from "./store/submission";
export * from "./store/store-epoch";
export * from "./store/vni-claims";
export * from "./store/worker-counters";
export * from "./store/queue";
