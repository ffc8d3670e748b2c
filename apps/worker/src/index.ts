/** Worker process entry: env -> createWorker -> start; graceful shutdown on SIGTERM/SIGINT. */
import { loadWorkerConfig } from "./config";
import { createWorker } from "./create-worker";
import { HostIdInUse } from "./host-lease";

const cfg = loadWorkerConfig();
// No runner given: the real one (ExecaRunner).
const worker = createWorker(cfg);
const logger = worker.logger;

worker
  .start()
  .then(() => {
    let closing = false;
    const shutdown = async (signal: string) => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, "shutting down");
      await worker.stop();
      process.exit(0);
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
    // Another worker took this host id (see host-lease.ts): this one has stopped acting; exit non-zero.
    void worker.leaseLost.then((err) => {
      logger.fatal({ hostId: cfg.hostId }, err.message);
      process.exit(1);
    });
  })
  .catch((err) => {
    // A second worker for a host id: one line naming the owner and the lease's time left.
    if (err instanceof HostIdInUse) logger.fatal({ hostId: cfg.hostId }, `worker refused to start: ${err.message}`);
    else logger.fatal({ err }, "worker failed to start");
    process.exit(1);
  });
