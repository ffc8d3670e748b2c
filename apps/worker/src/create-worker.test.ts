/** createWorker's start/stop around startWorker (mocked here; the system tests run the real one on Redis). */
import { pino } from "pino";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { WorkerConfig } from "./config";
import { createWorker } from "./create-worker";
import { HostIdInUse } from "./host-lease";
import type { CommandRunner } from "./host/command-runner";
import { type RunningWorker, startWorker } from "./worker";

vi.mock("./worker", () => ({ startWorker: vi.fn() }));
const start = vi.mocked(startWorker);

const config = { hostId: "h1", logLevel: "silent" } as WorkerConfig; // createWorker reads only these; startWorker is mocked
const logger = pino({ level: "silent" });

function running() {
  let lose: (err: HostIdInUse) => void = () => undefined;
  const leaseLost = new Promise<HostIdInUse>((r) => {
    lose = r;
  });
  const close = vi.fn(async () => undefined);
  // Only what createWorker reads of a running worker (the host context is passed through untouched).
  const w = { host: { hostId: "h1" }, leaseLost, close } as unknown as RunningWorker;
  return { w, close, lose };
}

beforeEach(() => {
  start.mockReset();
});

describe("createWorker", () => {
  it("starts nothing until start(); passes config, logger and runner on; starts once however often called", async () => {
    const { w } = running();
    start.mockResolvedValue(w);
    const runner = {} as CommandRunner;
    const worker = createWorker(config, { logger, runner });
    expect(start).not.toHaveBeenCalled();
    expect(worker.host).toBeNull();
    await Promise.all([worker.start(), worker.start()]);
    expect(start).toHaveBeenCalledTimes(1);
    expect(start).toHaveBeenCalledWith(config, logger, runner);
    expect(worker.host).toBe(w.host);
  });

  it("without a runner, leaves startWorker's default (the real one)", async () => {
    start.mockResolvedValue(running().w);
    await createWorker(config, { logger }).start();
    expect(start.mock.calls[0]?.[2]).toBeUndefined();
  });

  it("makes its own logger at the config's level when given none", () => {
    expect(createWorker({ ...config, logLevel: "warn" }).logger.level).toBe("warn");
  });

  it("stop() closes a started worker, once, and is a no-op before start", async () => {
    const { w, close } = running();
    start.mockResolvedValue(w);
    const worker = createWorker(config, { logger });
    await worker.stop();
    await worker.start();
    await worker.stop();
    expect(close).toHaveBeenCalledTimes(1);
  });

  it("start() rejects as startWorker does (HostIdInUse); stop() after it is a no-op", async () => {
    start.mockImplementation(async () => {
      throw new HostIdInUse("h1", null, "", 5_000);
    });
    const refused = createWorker(config, { logger });
    const err = await refused.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HostIdInUse);
    const stopped = await refused.stop().then(
      () => "ok",
      (e: unknown) => `rejected ${String(e)}`,
    );
    expect(stopped).toBe("ok");
  });

  it("leaseLost resolves with the running worker's", async () => {
    const { w, lose } = running();
    start.mockResolvedValue(w);
    const worker = createWorker(config, { logger });
    await worker.start();
    const err = new HostIdInUse("h1", null, "", 5_000);
    lose(err);
    await expect(worker.leaseLost).resolves.toBe(err);
  });
});
