/**
 * The worker as a library: `createWorker(config)` builds a host's worker from its configuration (no environment
 * read, no signal handled, no process exit); `start()` runs it (host-id lease, reconcile, queue consumer,
 * heartbeat) and `stop()` shuts it down gracefully. index.ts is the process around it: it reads the environment,
 * calls this, and turns signals and a lost host id into exits.
 */
import { pino, type Logger } from "pino";
import type { WorkerConfig } from "./config";
import type { HostContext } from "./context";
import type { HostIdInUse } from "./host-lease";
import type { CommandRunner } from "./host/command-runner";
import { type RunningWorker, startWorker } from "./worker";

export interface WorkerOptions {
  /** Default: pino at config.logLevel, each line naming the app and the host id. */
  logger?: Logger;
  /** What runs the host's commands (virsh, nft, ip...). Default: the real one (ExecaRunner). */
  runner?: CommandRunner;
}

export interface NetforgeWorker {
  readonly config: WorkerConfig;
  readonly logger: Logger;
  /**
   * Takes the host id's lease, reconciles the host and starts consuming its queue; resolves once the worker is
   * ready. Rejects with HostIdInUse when another worker owns the host id. A second call returns the first's outcome.
   */
  start(): Promise<void>;
  /** Graceful shutdown (see RunningWorker.close); nothing to do before start, once only however often called. */
  stop(): Promise<void>;
  /**
   * Resolves when another worker took this host id's lease while this one ran: this one has stopped acting
   * (the process exits non-zero on it).
   */
  readonly leaseLost: Promise<HostIdInUse>;
  /** The running worker's host context; null before start() has resolved. */
  readonly host: HostContext | null;
}

export function createWorker(config: WorkerConfig, options: WorkerOptions = {}): NetforgeWorker {
  const logger = options.logger ?? pino({ level: config.logLevel, base: { app: "worker", host: config.hostId } });
  let running: RunningWorker | null = null;
  let starting: Promise<RunningWorker> | null = null;
  let onLeaseLost: (err: HostIdInUse) => void = () => undefined;
  const leaseLost = new Promise<HostIdInUse>((resolve) => {
    onLeaseLost = resolve;
  });
  return {
    config,
    logger,
    leaseLost,
    get host() {
      return running?.host ?? null;
    },
    async start() {
      starting ??= startWorker(config, logger, options.runner).then((w) => {
        running = w;
        void w.leaseLost.then(onLeaseLost);
        return w;
      });
      await starting;
    },
    async stop() {
      const w = await starting?.catch(() => null);
      await w?.close();
    },
  };
}
