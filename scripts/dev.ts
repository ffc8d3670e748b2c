/**
 * The whole system on one machine, in the foreground: a local Redis (unless
 * REDIS_URL is set), a sandbox hypervisor in network namespaces (unless
 * NETFORGE_HOST=local, which runs the worker against this machine's own
 * libvirt), one worker on it, and the API. Prints the API address and a token;
 * Ctrl-C stops everything and removes the sandbox.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnWorker, startRedisServer, type RedisServer, type WorkerProcess } from "@netforge/devstack";
import { createSandboxHost, destroySandboxHost, type SandboxHost } from "@netforge/sandbox";
import { execa } from "execa";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const STATE = join(ROOT, ".netforge");
mkdirSync(STATE, { recursive: true });

const log = (msg: string) => process.stdout.write(`[netforge] ${msg}\n`);

async function main() {
  const cleanups: (() => Promise<unknown>)[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log("stopping...");
    for (const c of cleanups.reverse()) await c().catch((e) => log(`cleanup: ${e instanceof Error ? e.message : e}`));
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  process.on("SIGHUP", () => void stop(0));

  try {
    const prefix = process.env.NETFORGE_PREFIX ?? "netforge";
    // Redis: the configured one, or a private one keeping its data in .netforge/redis (AOF on).
    let redisUrl = process.env.REDIS_URL;
    if (!redisUrl) {
      const dir = join(STATE, "redis");
      mkdirSync(dir, { recursive: true });
      const server: RedisServer = await startRedisServer({ dir, appendonly: true, detached: true });
      cleanups.push(() => server.stop());
      redisUrl = server.url;
      log(`Redis started (${redisUrl}, data in ${dir})`);
    }

    // Tokens: configured, or one admin token kept across runs in .netforge/tokens.
    let tokens = process.env.NETFORGE_TOKENS;
    let shownToken: string | null = null;
    if (!tokens) {
      const file = join(STATE, "tokens");
      if (!existsSync(file)) writeFileSync(file, `${randomBytes(18).toString("base64url")}:admin\n`, { mode: 0o600 });
      tokens = file;
      shownToken = readFileSync(file, "utf8").trim().split(":")[0] ?? null;
    }

    // The hypervisor: a sandbox host in namespaces, or this machine's libvirt when asked for explicitly.
    const hostMode = process.env.NETFORGE_HOST ?? "sandbox";
    const hostId = process.env.HOST_ID ?? (hostMode === "local" ? undefined : "sandbox1");
    let enter: string[] = [];
    let sandbox: SandboxHost | null = null;
    if (hostMode !== "local") {
      log("creating sandbox hypervisor 'sandbox1' (network namespaces nfh-sandbox1 + nfo-sandbox1, own libvirtd)...");
      await destroySandboxHost("sandbox1").catch(() => undefined); // leftovers of an interrupted run
      sandbox = await createSandboxHost({ id: "sandbox1" });
      cleanups.push(() => destroySandboxHost(sandbox as SandboxHost));
      enter = sandbox.nsenterPrefix;
      log(`sandbox host ready (libvirt ${sandbox.libvirtUri})`);
    }

    const worker: WorkerProcess = spawnWorker({
      hostId: hostId ?? "",
      redisUrl,
      prefix,
      enter,
      env: hostId ? {} : { HOST_ID: "" },
      detached: true,
    });
    cleanups.push(() => worker.stop());

    const port = process.env.PORT ?? "8080";
    const host = process.env.HOST ?? "127.0.0.1";
    const api = execa(process.execPath, ["--import", "tsx", join(ROOT, "apps/api/src/index.ts")], {
      cwd: ROOT,
      stdio: "inherit",
      reject: false,
      // Children get their own process groups: Ctrl-C reaches only this script, which stops them in order
      // (API, worker, sandbox, then Redis) instead of Redis vanishing under a worker that is still closing.
      detached: true,
      env: { REDIS_URL: redisUrl, NETFORGE_PREFIX: prefix, PORT: port, HOST: host, NETFORGE_TOKENS: tokens },
    });
    cleanups.push(async () => {
      api.kill("SIGTERM");
      await api;
    });
    void api.then((r) => {
      if (!stopping) {
        log(`API exited (code ${r.exitCode})`);
        void stop(1);
      }
    });

    const base = `http://${host}:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await fetch(`${base}/readyz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`API not ready at ${base}/readyz within 30 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const tok = shownToken ?? "<a token from NETFORGE_TOKENS>";
    log(`netforge is up: API ${base}  (docs ${base}/docs)`);
    log(`token: ${tok}`);
    log(`try:   curl -s -H 'Authorization: Bearer ${tok}' -H 'Prefer: wait=30' -H 'Content-Type: application/json' \\`);
    log(`         -d '{"name":"web","type":"nat","cidr":"192.168.100.0/24"}' ${base}/api/create-network`);
    log("Ctrl-C stops everything.");
  } catch (err) {
    log(`failed: ${err instanceof Error ? err.message : err}`);
    await stop(1);
  }
}

void main();
