/** Worker process entry: env -> logger -> startWorker; graceful shutdown on SIGTERM/SIGINT. */
import pino from "pino";
import { loadWorkerConfig } from "./config";
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
  })
  .catch((err) => {
    logger.fatal({ err }, "worker failed to start");
    process.exit(1);
  });
