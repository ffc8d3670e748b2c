/**
 * `npm run build`: the API, the worker and the CLI as compiled JavaScript
 * (esbuild bundles of each entry point, ESM for Node 20). The workspace
 * packages (@netforge/*, TypeScript sources) are bundled in; every npm
 * dependency stays external and is loaded from node_modules, so the output is
 * small and a dependency's files (swagger-ui-dist, Bull Board's UI) are found
 * where the package put them. Production runs these files with plain `node`,
 * without the TypeScript loader.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type BuildOptions, build, type Plugin } from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Every npm dependency named by a workspace package (not the workspace packages themselves). */
function externalDependencies(): string[] {
  const out = new Set<string>();
  for (const pkg of ["apps/api", "apps/worker", "packages/core", "packages/cli", "packages/devstack", "packages/sandbox"]) {
    const json = JSON.parse(readFileSync(join(ROOT, pkg, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(json.dependencies ?? {})) if (!name.startsWith("@netforge/")) out.add(name);
  }
  return [...out];
}

export interface Target {
  entry: string;
  out: string;
  /** An executable with its dependencies inside (nothing loaded from node_modules): the installed `netforge`. */
  standalone?: boolean;
}

export const TARGETS: Target[] = [
  { entry: "apps/api/src/index.ts", out: "apps/api/dist/index.js" },
  { entry: "apps/worker/src/index.ts", out: "apps/worker/dist/index.js" },
  { entry: "packages/cli/src/main.ts", out: "packages/cli/dist/main.js" },
  { entry: "packages/cli/src/bin.ts", out: "packages/cli/dist/netforge.js", standalone: true },
];

/**
 * The compiled command's action table: packages/cli/src/action-table.ts replaced by its value, computed now
 * (JSON Schemas of the request bodies), so the bundle needs neither zod nor core's schemas at start.
 */
const precomputedActionTable: Plugin = {
  name: "netforge-action-table",
  setup(b) {
    b.onResolve({ filter: /^\.\/action-table$/ }, (args) =>
      args.importer.startsWith(join(ROOT, "packages/cli/src")) ? { path: "action-table", namespace: "netforge-precomputed" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "netforge-precomputed" }, async () => {
      const { actionTable } = (await import(pathToFileURL(join(ROOT, "packages/cli/src/action-table.ts")).href)) as {
        actionTable: () => unknown;
      };
      return {
        contents: `const TABLE = ${JSON.stringify(actionTable())};\nexport function actionTable() { return TABLE; }\n`,
        loader: "js",
      };
    });
  },
};

/** esbuild's options for one target (scripts/shape-counts.ts bundles the CLI with these, in memory). */
export function buildOptions(t: Target): BuildOptions {
  if (t.standalone) {
    // dist/netforge.js and, beside it, chunks/ with what only some commands load (the job spinner, YAML).
    return {
      entryPoints: { [basename(t.out, ".js")]: join(ROOT, t.entry) },
      outdir: join(ROOT, dirname(t.out)),
      chunkNames: "chunks/[name]-[hash]",
      splitting: true,
      plugins: [precomputedActionTable],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      minify: true,
      // The CommonJS dependencies (cli-table3...) require Node's modules: give the ESM bundle a require.
      banner: {
        js: '#!/usr/bin/env node\nimport { createRequire as __nfCreateRequire } from "node:module";\nconst require = __nfCreateRequire(import.meta.url);',
      },
      logLevel: "warning",
    };
  }
  const external = externalDependencies();
  return {
    entryPoints: [join(ROOT, t.entry)],
    outfile: join(ROOT, t.out),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    // Each dependency and its subpaths (prom-client, @bull-board/api/bullMQAdapter...); esbuild itself only
    // where the API builds the console in memory when no built console lies beside it (never in production).
    external: [...external.flatMap((name) => [name, `${name}/*`]), "esbuild"],
    logLevel: "warning",
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  for (const t of TARGETS) {
    const result = await build({ ...buildOptions(t), metafile: true });
    if (t.standalone) {
      chmodSync(join(ROOT, t.out), 0o755);
      // Chunks of earlier builds go (not before building: a build running beside this one writes the same names).
      const chunks = join(ROOT, dirname(t.out), "chunks");
      const written = new Set(Object.keys(result.metafile.outputs).map((o) => resolve(o)));
      for (const f of readdirSync(chunks)) if (!written.has(join(chunks, f))) rmSync(join(chunks, f), { force: true });
    }
    process.stdout.write(`build: ${t.out}\n`);
  }
  // The console's browser bundle, served by the compiled API from dist/console/ (routes/console.ts).
  const { buildConsole } = await import("../packages/console/src/bundle");
  const assets = await buildConsole();
  mkdirSync(join(ROOT, "apps/api/dist/console"), { recursive: true });
  writeFileSync(join(ROOT, "apps/api/dist/console/app.js"), assets.js);
  writeFileSync(join(ROOT, "apps/api/dist/console/app.css"), assets.css);
  process.stdout.write("build: apps/api/dist/console/app.js, app.css\n");
}
