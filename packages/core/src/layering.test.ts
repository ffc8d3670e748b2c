/**
 * The three parts of @netforge/core keep their directions (layers.ts): contract imports no other part, model
 * imports contract only, store may import both; only store imports ioredis/bullmq; each entry re-exports its own
 * part; every module's part is written down. The CLI imports nothing of core but @netforge/core/contract.
 * Imports are read from the source (import, export ... from, import(), require), not from a bundle.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { type Layer, layerOf, MAY_IMPORT, STORE_ONLY_PACKAGES } from "./layers";

const CORE_SRC = dirname(fileURLToPath(import.meta.url));
const CLI_SRC = resolve(CORE_SRC, "../../cli/src");
const ENTRY_OF: Readonly<Record<string, Layer>> = { "contract.ts": "contract", "model.ts": "model", "store.ts": "store" };

interface Source {
  /** Path relative to its package's src/ ("store/jobs.ts"). */
  path: string;
  text: string;
}

function sourcesUnder(dir: string): Source[] {
  const out: Source[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|tsx|mts)$/.test(e.name) && !e.name.endsWith(".d.ts"))
        out.push({ path: relative(dir, p).replaceAll("\\", "/"), text: readFileSync(p, "utf8") });
    }
  };
  walk(dir);
  return out;
}

function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** A relative specifier resolved against the set of paths: "store/jobs.ts" for "../store/jobs" from "planner/x.ts". */
function resolveIn(paths: ReadonlySet<string>, from: string, spec: string): string | undefined {
  const base = join(dirname(from), spec.replace(/\.(js|mjs)$/, "")).replaceAll("\\", "/");
  return [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`].find((c) => paths.has(c));
}

/** Every wrong import among core's sources, as "from -> to: why". */
export function coreViolations(files: readonly Source[]): string[] {
  const paths = new Set(files.map((f) => f.path));
  const out: string[] = [];
  for (const f of files) {
    const layer = layerOf(f.path);
    if (!layer) {
      out.push(`${f.path}: its part is not written down in layers.ts`);
      continue;
    }
    for (const spec of importsOf(f.text)) {
      if (!spec.startsWith(".")) {
        const pkg = spec
          .split("/")
          .slice(0, spec.startsWith("@") ? 2 : 1)
          .join("/");
        if (STORE_ONLY_PACKAGES.includes(pkg) && layer !== "store") out.push(`${f.path} -> ${spec}: only store may import ${pkg}`);
        if (pkg.startsWith("@netforge/")) out.push(`${f.path} -> ${spec}: core imports itself by relative paths, never a package`);
        continue;
      }
      const target = resolveIn(paths, f.path, spec);
      if (!target) continue; // not a core source (golden data files are read, not imported)
      if (target.startsWith("..")) {
        out.push(`${f.path} -> ${spec}: outside packages/core/src`);
        continue;
      }
      const to = layerOf(target);
      if (!to) continue; // reported on its own line
      if (!MAY_IMPORT[layer].includes(to)) out.push(`${f.path} -> ${target}: ${layer} may not import ${to}`);
      const entry = ENTRY_OF[f.path];
      if (entry && to !== entry) out.push(`${f.path} -> ${target}: the ${entry} entry re-exports only ${entry} modules`);
    }
  }
  return out;
}

/** Every import of the CLI's sources that is not the client contract. */
export function cliViolations(files: readonly Source[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    for (const spec of importsOf(f.text)) {
      if (spec.startsWith("@netforge/") && spec !== "@netforge/core/contract")
        out.push(`cli/${f.path} -> ${spec}: the CLI imports only @netforge/core/contract`);
      if (STORE_ONLY_PACKAGES.includes(spec.split("/")[0] ?? "")) out.push(`cli/${f.path} -> ${spec}: the CLI talks HTTP, never Redis`);
      if (spec.startsWith("..") && !join("src", dirname(f.path), spec).replaceAll("\\", "/").startsWith("src/"))
        out.push(`cli/${f.path} -> ${spec}: outside packages/cli/src`);
    }
  }
  return out;
}

describe("the parts of @netforge/core", () => {
  const core = sourcesUnder(CORE_SRC);
  const cli = sourcesUnder(CLI_SRC);

  it("reads every source of core and of the CLI", () => {
    expect(core.map((f) => f.path)).toEqual(expect.arrayContaining(["contract.ts", "model.ts", "store.ts", "store/jobs.ts"]));
    expect(cli.map((f) => f.path)).toContain("program.ts");
  });

  it("core's imports go contract <- model <- store, and every module's part is written down", () => {
    expect(coreViolations(core)).toEqual([]);
  });

  it("the CLI imports only @netforge/core/contract", () => {
    expect(cliViolations(cli)).toEqual([]);
  });

  it("the package exports the three entries and no root barrel", () => {
    const pkg = JSON.parse(readFileSync(resolve(CORE_SRC, "../package.json"), "utf8")) as { exports: Record<string, string> };
    expect(pkg.exports).toEqual({ "./contract": "./src/contract.ts", "./model": "./src/model.ts", "./store": "./src/store.ts" });
    for (const target of Object.values(pkg.exports))
      expect(existsSync(resolve(CORE_SRC, "..", target)) && statSync(resolve(CORE_SRC, "..", target)).isFile()).toBe(true);
  });

  it("catches each wrong direction (the checks are not vacuous)", () => {
    const bad: Source[] = [
      { path: "errors.ts", text: 'import { x } from "./render/nft";\nexport const y = 1;' },
      { path: "schemas/a.ts", text: 'export { k } from "../store/keys";' },
      { path: "render/nft.ts", text: 'const m = await import("../store/keys");\nimport "ioredis";' },
      { path: "store/keys.ts", text: 'import { a } from "../schemas/a";\nimport { b } from "../render/nft";' },
      { path: "model.ts", text: 'export * from "./errors";' },
      { path: "mystery/thing.ts", text: "export const z = 1;" },
      { path: "net/ipv4.ts", text: 'import { q } from "@netforge/core/store";' },
      { path: "errors.test.ts", text: 'import { r } from "./render/nft";' },
      { path: "across.test.ts", text: 'import { r } from "./render/nft";\nimport { k } from "./store/keys";' },
    ];
    expect(coreViolations(bad)).toEqual([
      "errors.ts -> render/nft.ts: contract may not import model",
      "schemas/a.ts -> store/keys.ts: contract may not import store",
      "render/nft.ts -> store/keys.ts: model may not import store",
      "render/nft.ts -> ioredis: only store may import ioredis",
      "model.ts -> errors.ts: the model entry re-exports only model modules",
      "mystery/thing.ts: its part is not written down in layers.ts",
      "net/ipv4.ts -> @netforge/core/store: core imports itself by relative paths, never a package",
      "errors.test.ts -> render/nft.ts: contract may not import model",
    ]);
    expect(
      cliViolations([
        { path: "a.ts", text: 'import { ACTIONS } from "@netforge/core/contract";\nimport { x } from "./b";' },
        { path: "b.ts", text: 'import { connectRedis } from "@netforge/core/store";\nimport type { Redis } from "ioredis";' },
        { path: "c.ts", text: 'import { z } from "../../core/src/store";' },
      ]),
    ).toEqual([
      "cli/b.ts -> @netforge/core/store: the CLI imports only @netforge/core/contract",
      "cli/b.ts -> ioredis: the CLI talks HTTP, never Redis",
      "cli/c.ts -> ../../core/src/store: outside packages/cli/src",
    ]);
  });
});
