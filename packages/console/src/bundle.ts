/**
 * The console's browser bundle (one JS file, one CSS file) built with esbuild: by `npm run build` into
 * apps/api/dist (production serves those files), or in memory by the API when it runs from its sources.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = dirname(fileURLToPath(import.meta.url));

export interface ConsoleAssets {
  js: string;
  css: string;
}

/** Build the console now (esbuild: a dev dependency; production uses the files `npm run build` wrote). */
export async function buildConsole(): Promise<ConsoleAssets> {
  const { build } = await import("esbuild");
  const r = await build({
    entryPoints: [join(SRC, "main.ts")],
    bundle: true,
    write: false,
    format: "esm",
    target: "es2022",
    platform: "browser",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  return { js: r.outputFiles[0]?.text ?? "", css: await readFile(join(SRC, "style.css"), "utf8") };
}
