import { ACTIONS } from "@netforge/core/contract";
import { describe, expect, it } from "vitest";
import { buildOpenApiDocument } from "./openapi";

describe("buildOpenApiDocument", () => {
  const doc = buildOpenApiDocument() as { openapi: string; paths: Record<string, Record<string, any>> };
  it("has a path per action, with the body schema from the table", () => {
    expect(doc.openapi).toBe("3.1.0");
    for (const name of Object.keys(ACTIONS)) {
      const op = doc.paths[`/api/${name}`]?.post;
      expect(op?.operationId).toBe(name);
      expect(op.requestBody.content["application/json"].schema).toBeTypeOf("object");
    }
    const create = doc.paths["/api/create-network"]?.post;
    expect(JSON.stringify(create.requestBody.content["application/json"].schema)).toContain('"const":"nat"');
    expect(create.responses["202"]).toBeDefined();
    expect(doc.paths["/api/list-networks"]?.post.responses["200"].content["application/json"].schema.properties.networks).toBeDefined();
  });
  it("documents release-network-claim as admin-only with its 200, 404 and 409", () => {
    const op = doc.paths["/api/release-network-claim"]?.post;
    expect(op.description).toContain("'admin'");
    expect(op.responses["200"].content["application/json"].schema.properties.released).toBeDefined();
    expect(op.responses["409"].description).toContain("INVALID_STATE");
    expect(op.responses["404"]).toBeDefined();
  });
  it("documents the job and event routes", () => {
    expect(doc.paths["/api/jobs/{id}"]?.get).toBeDefined();
    expect(doc.paths["/api/jobs/{id}/events"]?.get).toBeDefined();
    expect(doc.paths["/api/events"]?.get).toBeDefined();
  });
  it("gives every operation a description beyond its summary, from its definition", () => {
    for (const [name, def] of Object.entries(ACTIONS)) {
      const op = doc.paths[`/api/${name}`]?.post;
      expect(op.description, name).toBe(`${def.description} Requires role '${def.role}'.`);
      expect(def.description.length, name).toBeGreaterThan(def.summary.length / 2);
      expect(def.description, name).not.toBe(def.summary);
    }
  });
  it("carries each definition's request examples", () => {
    for (const name of Object.keys(ACTIONS) as (keyof typeof ACTIONS)[]) {
      const examples = doc.paths[`/api/${name}`]?.post.requestBody.content["application/json"].examples;
      expect(examples, name).toEqual(ACTIONS[name].examples);
    }
  });
});
