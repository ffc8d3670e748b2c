/**
 * The simulated executor of the fleet benchmark (bench/simulated-host.ts) and
 * everything else in bench/ stay out of the product: walking the import graph
 * from each shipped entry point (API, worker, CLI), following relative imports
 * and @netforge/* workspace packages, reaches no file under bench/ or test/.
 * The fleet reaches the worker only through startWorker's runner parameter,
 * whose default is the real ExecaRunner.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const ENTRIES = ["apps/api/src/index.ts", "apps/worker/src/index.ts", "packages/cli/src/main.ts"];

/** The file a workspace package's specifier ("@netforge/core/model") names, through its package.json exports. */
function workspaceEntry(spec: string): string {
  const [scope, name, ...sub] = spec.split("/");
  for (const dir of ["packages", "apps"]) {
    const pkgDir = join(ROOT, dir, name as string);
    if (!existsSync(join(pkgDir, "package.json"))) continue;
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { name: string; exports?: Record<string, unknown> };
    if (pkg.name !== `${scope}/${name}`) continue;
    const target = pkg.exports?.[sub.length ? `./${sub.join("/")}` : "."];
    if (typeof target === "string") return join(pkgDir, target);
    throw new Error(`${spec}: ${pkg.name} exports no such entry`);
  }
  throw new Error(`${spec}: no workspace package of that name`);
}

/** Local module files an import specifier resolves to (none for npm packages). */
function resolveSpec(from: string, spec: string): string | null {
  let base: string;
  if (spec.startsWith(".")) base = resolve(dirname(from), spec);
  else if (spec.startsWith("@netforge/")) base = workspaceEntry(spec);
  else return null;
  for (const c of [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")])
    if (existsSync(c) && c.endsWith(".ts")) return c;
  throw new Error(`cannot resolve ${spec} from ${relative(ROOT, from)}`);
}

/** Every local file reachable from `entry` through static and dynamic imports. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [join(ROOT, entry)];
  while (todo.length) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, "utf8");
    for (const m of src.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
      const next = resolveSpec(file, m[1] as string);
      if (next) todo.push(next);
    }
  }
  return seen;
}

describe("the fleet simulation cannot leak into the product", () => {
  for (const entry of ENTRIES) {
    it(`${entry} reaches nothing in bench/ or test/`, () => {
      const files = [...reachable(entry)].map((f) => relative(ROOT, f));
      expect(files.length).toBeGreaterThan(5); // the walk really followed imports
      expect(files.filter((f) => f.startsWith("bench/") || f.startsWith("test/"))).toEqual([]);
    });
  }

  it("the worker process starts startWorker with its default, real runner", () => {
    // index.ts gives createWorker no options (no runner); createWorker passes on only a runner it was given.
    const index = readFileSync(join(ROOT, "apps/worker/src/index.ts"), "utf8");
    expect(index).toMatch(/createWorker\(cfg\)/);
    expect(index.match(/createWorker\(/g)).toHaveLength(1);
    const lib = readFileSync(join(ROOT, "apps/worker/src/create-worker.ts"), "utf8");
    expect(lib).toMatch(/startWorker\(config, logger, options\.runner\)/);
    const worker = readFileSync(join(ROOT, "apps/worker/src/worker.ts"), "utf8");
    expect(worker).toMatch(/runner: CommandRunner = new ExecaRunner\(\)/);
  });

  it("the walk would notice a product file importing the simulation", () => {
    // Guard against a walk that silently follows nothing: bench/fleet-hosts.ts does reach the simulation.
    const files = [...reachable("bench/fleet-hosts.ts")].map((f) => relative(ROOT, f));
    expect(files).toContain("bench/simulated-host.ts");
    expect(files).toContain("apps/worker/src/worker.ts");
  });
});
