/**
 * @netforge/api/testing: the API's parts that system tests drive alone against a real Redis (the submission
 * path's queue commit, the idempotency claim, the door's halves of each action). Not for product code: no shipped entry
 * point imports it.
 */
export { HostQueues } from "./host-queues";
export { claimIdempotencyKey, idempotencyRedisKey } from "./idempotency";
export { apiHalfOf } from "./actions/index";
