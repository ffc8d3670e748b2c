/**
 * The published shape of every schema: what apps/api/src/openapi.ts turns into
 * the OpenAPI document (field names, types, enums, bounds, patterns, the
 * descriptions clients read). A change here is a contract change, so it shows
 * up as a diff of the golden file. Regenerate with UPDATE_GOLDEN=1 after an
 * intended change.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DryRunFlag, QUERY_DEFINITIONS } from "../actions";
import * as common from "./common";
import * as firewall from "./firewall";
import * as host from "./host";
import * as ipam from "./ipam";
import * as job from "./job";
import * as network from "./network";
import * as qos from "./qos";

const modules = { common, firewall, host, ipam, job, network, qos };

function jsonSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [mod, exports] of Object.entries(modules)) {
    for (const [name, value] of Object.entries(exports).sort(([a], [b]) => a.localeCompare(b))) {
      if (!(value instanceof z.ZodType)) continue;
      out[`${mod}.${name}`] = z.toJSONSchema(value, { io: "input", unrepresentable: "any" });
    }
  }
  // What the OpenAPI document publishes beside the schemas: the dryRun flag of every job action and each
  // query's answer.
  out["actions.DryRunFlag"] = z.toJSONSchema(DryRunFlag, { io: "input", unrepresentable: "any" });
  for (const [name, d] of Object.entries(QUERY_DEFINITIONS)) {
    out[`query.${name}.response`] = z.toJSONSchema(d.response, { io: "output", unrepresentable: "any" });
  }
  return out;
}

describe("schemas as JSON Schema", () => {
  it("match the golden file", () => {
    const actual = `${JSON.stringify(jsonSchemas(), null, 2)}\n`;
    const file = join(__dirname, "__golden__", "json-schemas.json");
    if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
    expect(actual).toBe(readFileSync(file, "utf8"));
  });
});
