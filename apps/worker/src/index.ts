/** Worker process entry: env -> logger -> startWorker; graceful shutdown on SIGTERM/SIGINT. */
import pino from "pino";
import { loadWorkerConfig } from "./config";
import { HostIdInUse } from "./host-lease";
import { startWorker } from "./worker";

const cfg = loadWorkerConfig();
const logger = pino({ level: cfg.logLevel, base: { app: "worker", host: cfg.hostId } });

startWorker(cfg, logger)
  .then((w) => {
    let closing = false;
    const shutdown = async (signal: string) => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, "shutting down");
      await w.close();
      process.exit(0);
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
    // Another worker took this host id (see host-lease.ts): this one has stopped acting; exit non-zero.
    void w.leaseLost.then((err) => {
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
