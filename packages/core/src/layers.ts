/**
 * The three parts of @netforge/core, written down once. Every module of packages/core/src belongs to one part,
 * by its directory (first path segment) or, for a file at the top of src/, by its name:
 *
 *   contract  schemas/, net/, actions/, errors.ts, api-contract.ts, validation.ts, jobs.ts
 *             what the CLI and any HTTP client need; imports no other part.
 *   model     planner/ (was spec/), render/, drivers/, plan/, limits.ts
 *             the pure model: specs, planner, renderers, drivers' pure halves; imports contract only.
 *   store     store/, random-id.ts
 *             Redis, its Lua scripts, the queue adapter, server-minted ids; imports contract and model.
 *
 * net/ is contract, not model: the request schemas validate addresses and CIDRs with it.
 * Entry points: src/contract.ts, src/model.ts, src/store.ts (package.json "exports": ./contract, ./model, ./store).
 * layering.test.ts enforces the directions and fails on a module whose part is not written here; the codemod that
 * moves imports to the subpaths (/work/wt/_tools/split-core-imports.ts) reads this table too.
 * This file has no imports and is exported by no entry.
 */
export type Layer = "contract" | "model" | "store";

/** Part of each directory (trailing slash) and each top-level file of packages/core/src. */
export const LAYER_OF_PATH: Readonly<Record<string, Layer>> = {
  "schemas/": "contract",
  "net/": "contract",
  "actions/": "contract",
  "errors.ts": "contract",
  "api-contract.ts": "contract",
  "validation.ts": "contract",
  "jobs.ts": "contract",
  "contract.ts": "contract",
  "layers.ts": "contract",
  "planner/": "model",
  // The planner's old name: a branch merged after the rename may still add files there (the codemod moves them).
  "spec/": "model",
  "render/": "model",
  "drivers/": "model",
  "plan/": "model",
  "limits.ts": "model",
  "model.ts": "model",
  "store/": "store",
  "random-id.ts": "store",
  "store.ts": "store",
};

/** The parts each part may import (itself included). */
export const MAY_IMPORT: Readonly<Record<Layer, readonly Layer[]>> = {
  contract: ["contract"],
  model: ["contract", "model"],
  store: ["contract", "model", "store"],
};

/** npm packages only the store may import (the CLI's bundle must not carry them). */
export const STORE_ONLY_PACKAGES: readonly string[] = ["ioredis", "bullmq"];

/**
 * The part of a module, from its path relative to packages/core/src ("store/jobs.ts"); undefined when not written
 * down. A test at the top of src/ takes its module's part (errors.test.ts: errors.ts's); one named after no module
 * there (a test across modules) may import every part.
 */
export function layerOf(relPath: string): Layer | undefined {
  const path = relPath.replaceAll("\\", "/").replace(/^\.\//, "");
  const slash = path.indexOf("/");
  const key = slash === -1 ? path : path.slice(0, slash + 1);
  const written = LAYER_OF_PATH[key];
  if (written || slash !== -1 || !path.endsWith(".test.ts")) return written;
  return LAYER_OF_PATH[path.replace(/\.test\.ts$/, ".ts")] ?? "store";
}
