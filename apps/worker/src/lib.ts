/**
 * @netforge/worker: the worker as a library. `createWorker(config, { logger, runner })` gives a host's worker with
 * start/stop; index.ts is the process that reads the environment and runs one. Pieces that system tests drive on
 * their own (the firewall backend, virsh, handlers) are in @netforge/worker/testing, not here.
 */
export { loadWorkerConfig, type WorkerConfig } from "./config";
export type { HostContext } from "./context";
export { createWorker, type NetforgeWorker, type WorkerOptions } from "./create-worker";
export { HostIdInUse } from "./host-lease";
export {
  type CommandResult,
  type CommandRunner,
  commandFailed,
  ExecaRunner,
  type InteractiveProcess,
  type RunOptions,
} from "./host/command-runner";
