/**
 * deploy/systemd/: both units pass `systemd-analyze verify` without a warning about them, start what
 * `npm run api:prod` / `worker:prod` start, and are sandboxed as docs/adr/0041 says (the API without any
 * capability under a transient user; the worker uid 0 with only network capabilities, after libvirtd,
 * restarted on failure). netforge.env.example lists every variable the API and the worker read, and only those.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnApi } from "./support/api-process";
import { variablesRead } from "./support/env-vars";
import { deleteKeysUnder, testRedisUrl, uniquePrefix } from "./support/redis";
import { connectRedis } from "@netforge/core/store";
import { DEPLOY_DIR, readUnit, serviceList, unitCapabilities } from "./support/systemd-unit";

const UNITS = ["netforge-api.service", "netforge-worker.service"];
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
const work = mkdtempSync(join(tmpdir(), "netforge-units-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

describe("systemd units", () => {
  it("systemd-analyze is installed (scripts/setup.sh: the systemd package)", () => {
    expect(executable(SYSTEMD_ANALYZE), `${SYSTEMD_ANALYZE} missing: run scripts/setup.sh`).toBe(true);
  });

  it.each(UNITS)("%s passes systemd-analyze verify with no warning about it", (name) => {
    const { text } = readUnit(name);
    // verify checks that ExecStart's program exists: where /usr/bin/node is not this machine's node, verify a copy
    // that starts this node instead (the rest of the unit unchanged).
    const copy = executable("/usr/bin/node") ? text : text.replaceAll("ExecStart=/usr/bin/node ", `ExecStart=${process.execPath} `);
    const file = join(work, name);
    writeFileSync(file, copy);
    const r = spawnSync(SYSTEMD_ANALYZE, ["verify", "--man=no", file], { encoding: "utf8" });
    const aboutIt = r.stderr.split("\n").filter((l) => l.includes(name));
    expect({ status: r.status, aboutIt }).toEqual({ status: 0, aboutIt: [] });
  });

  it("verify does see a broken unit (a misspelt key, a missing program): the check above can fail", () => {
    const { text } = readUnit("netforge-api.service");
    const file = join(work, "broken.service");
    writeFileSync(
      file,
      text.replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomme=yes").replaceAll("/usr/bin/node", "/nonexistent/node"),
    );
    const r = spawnSync(SYSTEMD_ANALYZE, ["verify", "--man=no", file], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Unknown key 'ProtectHomme'/);
    expect(r.stderr).toMatch(/\/nonexistent\/node is not executable/);
  });

  it("each unit starts the compiled program package.json's *:prod script starts, from /opt/netforge", () => {
    const scripts = (JSON.parse(readFileSync(join(DEPLOY_DIR, "..", "package.json"), "utf8")) as { scripts: Record<string, string> })
      .scripts;
    for (const [unit, script] of [
      ["netforge-api.service", "api:prod"],
      ["netforge-worker.service", "worker:prod"],
    ] as const) {
      const entry = /^node (\S+)$/.exec(scripts[script] ?? "")?.[1];
      expect(entry, script).toBeDefined();
      const service = readUnit(unit).settings.get("Service");
      expect(service?.get("ExecStart")).toEqual([`/usr/bin/node /opt/netforge/${entry}`]);
      expect(service?.get("WorkingDirectory")).toEqual(["/opt/netforge"]);
      expect(service?.get("EnvironmentFile")).toEqual(["/etc/netforge/netforge.env"]);
      expect(service?.get("Restart")).toEqual(["on-failure"]);
      expect(service?.get("NoNewPrivileges")).toEqual(["yes"]);
      expect(service?.get("ProtectSystem")).toEqual(["strict"]);
    }
  });

  it("the API runs as a transient user with no capability at all", () => {
    const { settings } = readUnit("netforge-api.service");
    const service = settings.get("Service");
    expect(service?.get("DynamicUser")).toEqual(["yes"]);
    // Present and empty: systemd's way of saying "none" (absent would mean "all" for the bounding set).
    expect(service?.get("CapabilityBoundingSet")).toEqual([]);
    expect(service?.get("AmbientCapabilities")).toEqual([]);
    expect(service?.get("ProtectKernelTunables")).toEqual(["yes"]);
    expect(serviceList(settings, "RestrictAddressFamilies").sort()).toEqual(["AF_INET", "AF_INET6", "AF_UNIX"]);
  });

  it("the worker: after libvirtd (wanted, not required), restarted on failure, only network capabilities, the tunables protection off with its reason", () => {
    const { settings, text } = readUnit("netforge-worker.service");
    const unit = settings.get("Unit");
    expect(serviceList(settings, "User")).toEqual([]);
    expect((unit?.get("After") ?? []).join(" ").split(/\s+/)).toEqual(
      expect.arrayContaining(["libvirtd.service", "netforge-firewall.service"]),
    );
    expect((unit?.get("Wants") ?? []).join(" ").split(/\s+/)).toContain("libvirtd.service");
    expect(unit?.get("Requires")).toBeUndefined();
    const caps = unitCapabilities("netforge-worker.service");
    const known = execFileSync("setpriv", ["--list-caps"], { encoding: "utf8" }).split("\n").filter(Boolean);
    expect(caps.bounding.filter((c) => !known.includes(c))).toEqual([]);
    expect(caps.bounding).toContain("net_admin");
    expect(caps.ambient).toEqual(caps.bounding);
    for (const broad of ["sys_admin", "dac_override", "sys_ptrace", "sys_module", "setuid", "chown", "fowner"])
      expect(caps.bounding).not.toContain(broad);
    // Off because the worker writes sysfs (sriov_numvfs); the unit says so.
    expect(settings.get("Service")?.get("ProtectKernelTunables")).toBeUndefined();
    expect(text).toMatch(/^# ProtectKernelTunables=no: .*sriov_numvfs/m);
    expect(settings.get("Service")?.get("StateDirectory")).toEqual(["netforge"]);
    // The stop timeout covers the worker's own shutdown (grace 30 s + abort 15 s by default).
    expect(Number.parseInt(settings.get("Service")?.get("TimeoutStopSec")?.[0] ?? "0", 10)).toBeGreaterThan(45);
  });
});

describe("the API with netforge-api.service's capabilities", () => {
  it("serves /healthz and /readyz (Redis ok) with the unit's empty capability set and no_new_privs", async () => {
    const caps = unitCapabilities("netforge-api.service");
    expect(caps).toEqual({ bounding: [], ambient: [] });
    const prefix = uniquePrefix("apicaps");
    const redisUrl = testRedisUrl();
    // uid 0 here (the run's Redis socket is root's; the unit's DynamicUser= needs systemd), but no capability at all.
    const api = spawnApi({
      redisUrl,
      prefix,
      token: "apicaps-token-0123456789",
      wrap: ["setpriv", "--no-new-privs", "--bounding-set", "-all", "--inh-caps", "-all", "--ambient-caps", "-all", "--"],
    });
    const redis = connectRedis(redisUrl);
    try {
      const [url] = await api.listening();
      const pid = api.proc.pid as number;
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      expect(status).toMatch(/^CapBnd:\s+0+$/m);
      expect(status).toMatch(/^CapEff:\s+0+$/m);
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const ready = (await (await fetch(`${url}/readyz`)).json()) as { checks: { redis: string } };
      expect(ready.checks.redis).toBe("ok");
    } finally {
      api.kill();
      await deleteKeysUnder(redis, prefix);
      redis.disconnect();
    }
  });
});

describe("deploy/systemd/netforge.env.example", () => {
  const example = readFileSync(join(DEPLOY_DIR, "systemd", "netforge.env.example"), "utf8");
  /** Variables it assigns, commented out (a default shown) or not. */
  const listed = new Set([...example.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] as string));
  const read = variablesRead(["apps/api/src", "apps/worker/src", "packages/core/src"]);

  it("lists every variable the API and the worker read", () => {
    for (const v of ["REDIS_URL", "HOST_ID", "PORT", "NETFORGE_TOKENS", "NETFORGE_SHUTDOWN_GRACE_MS", "LIBVIRT_URI"]) {
      expect(read.has(v), `${v} found in the sources`).toBe(true);
    }
    const missing = [...read].filter(([v]) => !listed.has(v)).map(([v, file]) => `${v} (read in ${file})`);
    expect(missing).toEqual([]);
  });

  it("lists only variables they read, each with a comment above it", () => {
    expect([...listed].filter((v) => !read.has(v))).toEqual([]);
    const lines = example.split("\n");
    const bare = lines.flatMap((l, i) => {
      if (!/^#?[A-Z][A-Z0-9_]*=/.test(l)) return [];
      // Up the block of assignments to its comment.
      let j = i - 1;
      while (j >= 0 && /^#?[A-Z][A-Z0-9_]*=/.test(lines[j] as string)) j--;
      return j >= 0 && /^# \S/.test(lines[j] as string) ? [] : [l];
    });
    expect(bare).toEqual([]);
    // REDIS_URL is the one required setting: assigned, not commented out.
    expect(example).toMatch(/^REDIS_URL=\S+$/m);
  });
});
