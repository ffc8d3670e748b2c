/**
 * A private redis-server for tests (and the one-command start): listens only
 * on a unix socket in its own directory, so it never collides with a Redis
 * already on 6379 and is reachable from inside sandbox network namespaces.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { Redis } from "ioredis";
import { recordProcess } from "@netforge/sandbox";

export interface RedisServer {
  url: string;
  socket: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Start redis-server and wait until it answers PING. Without `dir` it runs in
 * a fresh temp dir that is removed on stop, keeping nothing on disk (tests);
 * with `appendonly` it keeps an AOF in `dir` (the one-command start).
 */
export async function startRedisServer(
  opts: {
    dir?: string;
    appendonly?: boolean;
    /** Own process group: a terminal's Ctrl-C does not reach it, so the caller decides when it stops (after its clients). */
    detached?: boolean;
  } = {},
): Promise<RedisServer> {
  const dir = opts.dir;
  const d = dir ?? (await mkdtemp(join(tmpdir(), "netforge-redis-")));
  const socket = join(d, "redis.sock");
  const proc: ResultPromise = execa(
    "redis-server",
    [
      "--port",
      "0",
      "--unixsocket",
      socket,
      "--unixsocketperm",
      "700",
      "--save",
      "",
      "--appendonly",
      opts.appendonly ? "yes" : "no",
      "--dir",
      d,
      "--maxmemory-policy",
      "noeviction",
    ],
    { stdio: "ignore", reject: false, cleanup: true, detached: opts.detached ?? false },
  );
  const pid = proc.pid;
  if (pid === undefined) throw new Error("redis-server did not start");
  recordProcess(pid);
  const url = `unix://${socket}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const c = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on("error", () => undefined);
      await c.connect();
      await c.ping();
      c.disconnect();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error("redis-server did not answer within 10 s");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    socket,
    dir: d,
    pid,
    async stop() {
      proc.kill("SIGTERM");
      await proc;
      if (!dir) await rm(d, { recursive: true, force: true });
    },
  };
}
