/** @netforge/core: schemas, errors, pure network math and renderers, and the Redis store shared by api and worker. */
export * from "./api-contract";
export * from "./errors";
export * from "./net/ipv4";
export * from "./render/index";
export * from "./schemas/common";
export * from "./schemas/host";
export * from "./schemas/job";
export * from "./schemas/network";
export * from "./store/claims";
export * from "./store/hosts";
export * from "./store/jobs";
export * from "./store/keys";
export * from "./store/locks";
export * from "./store/network-index";
export * from "./store/redis";
export * from "./validation";
export * from "./jobs";
