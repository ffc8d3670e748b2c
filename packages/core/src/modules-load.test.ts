/**
 * Every pure module of core loads. A module whose top-level code throws (a bad
 * CIDR in a constant table, a discriminated union without its key) takes every
 * test file that imports it down before a single test is collected; this file
 * imports nothing of core statically, so such a module fails here as a test
 * that names it (and Stryker, which scores mutants from failed tests, sees it).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

/** Source modules under src/, store/ (Redis) and barrels left out. */
function pureModules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "store" || e.name.startsWith("__") ? [] : pureModules(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && e.name !== "index.ts" ? [path] : [];
  });
}

const modules = pureModules(__dirname).map((p) => relative(__dirname, p));

describe("core's pure modules load", () => {
  it("finds the modules (the walk itself works: core has dozens, in several directories)", () => {
    expect(modules.length).toBeGreaterThan(20);
    expect(new Set(modules.map((m) => m.split("/")[0])).size).toBeGreaterThan(3);
  });
  it.each(modules)("%s loads and exports something (a module of types only: nothing at run time)", async (m) => {
    const mod = (await import(`./${m}`)) as Record<string, unknown>;
    // A runtime export: export const/function/class/let/enum, export * or export { ... } not marked `type`.
    const source = readFileSync(join(__dirname, m), "utf8");
    const runtime = /^export (?:const|function|async function|class|let|enum|\*|\{)/m.test(source);
    if (runtime) expect(Object.keys(mod).length).toBeGreaterThan(0);
    else expect(Object.keys(mod)).toEqual([]);
  });
});
