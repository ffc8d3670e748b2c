/**
 * 11. The CLI's start (BENCH_ONLY=cli): wall time of `netforge --version` and of `netforge network list`
 * against a local API (its own process, its own Redis, 20 networks in the index), the compiled command
 * (packages/cli/dist/netforge.js, plain node, built here first) beside `npx netforge` (the workspace bin:
 * the TypeScript sources through tsx). Interleaved, BENCH_CLI_ROUNDS (default 15) rounds after 2 warm-up
 * rounds; the target for the compiled command is a median under 150 ms.
 */
import { benchNetworkRecord } from "./network-record";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connectRedis, makeKeys, putNetwork } from "@netforge/core/store";
import { startRedisServer } from "@netforge/devstack";
import { execa } from "execa";
import { startApiProcess } from "./api-process";
import { median, ms, p95 } from "./stats";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI_TARGET_MS = 150;

/** `n` networks cli0..cli<n-1> in the index (also the console bench's). */
export async function seedNetworks(redisUrl: string, prefix: string, n: number): Promise<void> {
  const redis = connectRedis(redisUrl);
  const keys = makeKeys(prefix);
  const now = new Date().toISOString();
  try {
    for (let i = 0; i < n; i++) {
      const rec = benchNetworkRecord({
        name: `cli${i}`,
        uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        host: "bench",
        cidr: `10.${77 + Math.floor(i / 256)}.${i % 256}.0/24`,
        gateway: `10.${77 + Math.floor(i / 256)}.${i % 256}.1`,
        dhcp: { enabled: true, start: null, end: null, leaseTime: 3600 },
        bridge: `nf-c${i}`,
        at: now,
      });
      await putNetwork(redis, keys, rec);
    }
  } finally {
    redis.disconnect();
  }
}

/** `rounds` runs of `cmd args`: a row of their wall times. */
async function floorRow(label: string, rounds: number, cmd: string, args: string[]): Promise<string[]> {
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await execa(cmd, args);
    xs.push(performance.now() - t);
  }
  return [label, `${xs.length}`, ms(median(xs)), ms(p95(xs)), ""];
}

export async function benchCli(): Promise<string[][]> {
  await execa("npx", ["tsx", "scripts/build.ts"], { cwd: ROOT });
  const redisServer = await startRedisServer();
  const prefix = `bench-cli-${randomBytes(3).toString("hex")}`;
  const token = `bench-cli-${randomBytes(12).toString("hex")}`;
  await seedNetworks(redisServer.url, prefix, 20);
  const api = await startApiProcess({ redisUrl: redisServer.url, prefix, token });
  const env = { NETFORGE_URL: api.base, NETFORGE_TOKEN: token };
  const variants: [string, string, string[]][] = [
    ["compiled", join(ROOT, "packages/cli/dist/netforge.js"), []],
    ["npx netforge (tsx)", "npx", ["netforge"]],
  ];
  const commands: string[][] = [["--version"], ["network", "list"]];
  const times = new Map<string, number[]>();
  const rows: string[][] = [];
  let curlRow: string[] | null = null;
  let fetchRow: string[] | null = null;
  let httpRow: string[] | null = null;
  const rounds = Number(process.env.BENCH_CLI_ROUNDS ?? 15);
  try {
    for (let round = 0; round < rounds + 2; round++) {
      for (const args of commands) {
        for (const [label, cmd, pre] of variants) {
          const t = performance.now();
          const r = await execa(cmd, [...pre, ...args], { cwd: ROOT, env, reject: false });
          const took = performance.now() - t;
          if (r.exitCode !== 0 || (args[0] === "network" && !r.stdout.includes("cli19"))) {
            throw new Error(`${label} ${args.join(" ")}: exit ${r.exitCode}: ${r.stderr || r.stdout}`);
          }
          if (round < 2) continue;
          const key = `${args.join(" ")}|${label}`;
          times.set(key, [...(times.get(key) ?? []), took]);
        }
      }
    }
    // The request alone: curl posting the same list-networks (what the CLI adds is above this).
    curlRow = await floorRow("curl list-networks (the API's share of network list)", rounds, "curl", [
      "-sf",
      "-o",
      "/dev/null",
      "-H",
      `authorization: Bearer ${token}`,
      "-H",
      "content-type: application/json",
      "-d",
      "{}",
      `${api.base}/api/list-networks`,
    ]);
    // Node starting and doing the one fetch (undici's own load is most of a request's cost at start).
    fetchRow = await floorRow("node -e fetch(list-networks) (node + its fetch, no CLI)", rounds, process.execPath, [
      "-e",
      `fetch(${JSON.stringify(`${api.base}/api/list-networks`)}, { method: "POST", headers: { authorization: ${JSON.stringify(`Bearer ${token}`)}, "content-type": "application/json" }, body: "{}" }).then((r) => r.text())`,
    ]);
    // The same request through node:http, as the CLI sends it (http-fetch.ts): the floor the CLI can reach.
    httpRow = await floorRow("node -e http.request(list-networks) (node:http, the CLI's client)", rounds, process.execPath, [
      "-e",
      `const r = require("node:http").request(${JSON.stringify(`${api.base}/api/list-networks`)}, { method: "POST", agent: false, headers: { authorization: ${JSON.stringify(`Bearer ${token}`)}, "content-type": "application/json" } }, (res) => res.resume()); r.end("{}");`,
    ]);
  } finally {
    await api.stop();
    await redisServer.stop();
  }
  for (const args of commands) {
    const compiled = times.get(`${args.join(" ")}|compiled`) ?? [];
    for (const [label] of variants) {
      const xs = times.get(`${args.join(" ")}|${label}`) ?? [];
      const ratio =
        label === "compiled"
          ? `target < ${CLI_TARGET_MS} ms: ${median(xs) < CLI_TARGET_MS ? "met" : "missed"}`
          : `${(median(xs) / median(compiled)).toFixed(2)}x compiled`;
      rows.push([`netforge ${args.join(" ")}: ${label}`, `${xs.length}`, ms(median(xs)), ms(p95(xs)), ratio]);
    }
  }
  if (curlRow) rows.push(curlRow);
  if (fetchRow) rows.push(fetchRow);
  if (httpRow) rows.push(httpRow);
  rows.push(await floorRow("node -e 0 (this machine's floor for a node command)", rounds, process.execPath, ["-e", "0"]));
  return rows;
}
