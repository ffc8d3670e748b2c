/**
 * One private Redis for the whole test run; every suite uses its own key
 * prefix on it. Its URL reaches tests as NETFORGE_TEST_REDIS_URL.
 */
import type { TestProject } from "vitest/node";
import { startRedisServer } from "@netforge/devstack";

export default async function setup(_project: TestProject) {
  const server = await startRedisServer();
  process.env.NETFORGE_TEST_REDIS_URL = server.url;
  return async () => {
    await server.stop();
  };
}
