/**
 * `npm run build` and the compiled output: the API started with plain `node`
 * from apps/api/dist (against the run's Redis) answers /healthz, serves /docs
 * assets, /metrics and the queue dashboard's files from node_modules; the
 * compiled CLI talks to it. This is what the image runs.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testRedisUrl, uniquePrefix } from "./support/redis";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const TOKEN = `build-${randomBytes(12).toString("hex")}`;
let api: ResultPromise | null = null;
let url = "";

beforeAll(async () => {
  await execa("npm", ["run", "build"], { cwd: ROOT });
  api = execa(process.execPath, ["apps/api/dist/index.js"], {
    cwd: ROOT,
    reject: false,
    env: {
      REDIS_URL: testRedisUrl(),
      NETFORGE_PREFIX: uniquePrefix("build"),
      PORT: "0",
      HOST: "127.0.0.1",
      NETFORGE_TOKENS: `${TOKEN}:admin`,
      LOG_LEVEL: "info",
    },
  });
  // The listening line carries the address (PORT=0: a free port).
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the compiled API did not start")), 15_000);
    api?.stdout?.on("data", (chunk: Buffer) => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(String(chunk));
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
  });
}, 60_000);

afterAll(async () => {
  api?.kill("SIGTERM");
  await api;
});

describe("compiled build", () => {
  it("the API runs from dist with node alone", async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/docs/swagger-ui-bundle.js`)).status).toBe(200);
    const metrics = await fetch(`${url}/metrics`);
    expect(await metrics.text()).toContain("process_resident_memory_bytes");
    const page = await fetch(`${url}/admin/queues`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(page.status).toBe(200);
    const script = /<script[^>]+src="([^"]+)"/.exec(await page.text())?.[1];
    expect((await fetch(`${url}/admin/queues/${script}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it("the compiled CLI lists hosts through it", async () => {
    const run = (args: string[]) =>
      execa(process.execPath, ["-e", `import("./packages/cli/dist/main.js").then((m) => m.main(${JSON.stringify(args)}))`], {
        cwd: ROOT,
        reject: false,
        env: { NETFORGE_URL: url, NETFORGE_TOKEN: TOKEN },
      });
    const help = await run(["--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("Exit codes:");
    const hosts = await run(["host", "list"]);
    expect(hosts.exitCode, hosts.stderr).toBe(0);
    expect(hosts.stdout).toContain("(no hosts)");
  });

  it("the CLI's bundle carries no Redis or BullMQ code (it imports @netforge/core/contract only)", () => {
    const bundle = readFileSync(join(ROOT, "packages/cli/dist/main.js"), "utf8");
    expect(bundle).toContain("create-network");
    expect(bundle).not.toMatch(/from\s*["'](ioredis|bullmq)["']|require\(["'](ioredis|bullmq)["']\)/);
    expect(bundle).not.toMatch(/redis\.call\(|EVALSHA/);
  });
});
