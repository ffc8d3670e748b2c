/** Entry point of the `netforge` bin (see bin/netforge.js). */
import { runCli } from "./program";

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const code = await runCli(argv);
  process.exitCode = code;
  // Normally nothing is left and the process ends by itself; a lingering keep-alive socket must not hold it.
  setTimeout(() => process.exit(code), 2_000).unref();
}

// The HTTP client and the job follower, for code that talks to the API as the CLI does (test/cli-reconnect).
export { ApiClient } from "./client";
export { followJob, type JobViewLike } from "./job-stream";
