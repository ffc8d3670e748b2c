/**
 * /openapi.json is what client generators consume: it passes Spectral's
 * `spectral:oas` ruleset with no warning at all (and no error).
 */
import { buildOpenApiDocument } from "@netforge/api/openapi";
import spectralCore from "@stoplight/spectral-core";
import * as Parsers from "@stoplight/spectral-parsers";
import { oas } from "@stoplight/spectral-rulesets";
import { describe, expect, it } from "vitest";

const { Document, Spectral } = spectralCore;

describe("OpenAPI document under Spectral", () => {
  it("has no finding of the spectral:oas ruleset", async () => {
    const spectral = new Spectral();
    // What `extends: spectral:oas` means in a .spectral.yaml (its recommended rules).
    spectral.setRuleset({ extends: [[oas as never, "recommended"]] });
    const doc = JSON.stringify(buildOpenApiDocument(), null, 2);
    const results = await spectral.run(new Document(doc, Parsers.Json, "openapi.json"));
    expect(results.length).toBeLessThan(1000); // (the run returned a list)
    const findings = results.map((r) => `${r.code} (severity ${r.severity}) at ${r.path.join(".")}: ${r.message}`);
    expect(findings).toEqual([]);
  });
});
