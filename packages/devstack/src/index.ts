/** @netforge/devstack: the pieces that run a whole netforge locally (private Redis, worker processes), shared by the one-command start, the system tests and the benchmark. */
export * from "./redis-server";
export * from "./worker-process";
export * from "./redis-ha";
