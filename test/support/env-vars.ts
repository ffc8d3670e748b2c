/**
 * Every environment variable netforge's code reads, found by scanning its sources (shared by the tests that
 * check a document or an example lists them all: docs/api.md's Configuration, deploy/systemd/netforge.env.example).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Source files of the programs whose environment the docs describe (tests, goldens and fixtures left out). */
export const SOURCE_DIRS = ["apps/api/src", "apps/worker/src", "packages/core/src", "packages/cli/src"];
/** The env schemas: their top-level keys (two-space indent in the z.object) are variables read. */
const ENV_SCHEMAS = ["apps/api/src/env.ts", "apps/worker/src/config.ts"];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return e.name.startsWith("__") ? [] : sourceFiles(rel);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [rel] : [];
  });
}

/** Every environment variable the code under `dirs` reads -> a file (relative to the repository) that names it. */
export function variablesRead(dirs: readonly string[] = SOURCE_DIRS): Map<string, string> {
  // The constants of NETFORGE_* names come from every source dir, whatever `dirs` is.
  const all = new Map(SOURCE_DIRS.flatMap(sourceFiles).map((f) => [f, readFileSync(join(ROOT, f), "utf8")]));
  const texts = new Map(dirs.flatMap(sourceFiles).map((f) => [f, all.get(f) ?? readFileSync(join(ROOT, f), "utf8")]));
  // NETFORGE_* identifiers that are constants of the code, not variables (NETFORGE_XMLNS...).
  const constants = new Set<string>();
  for (const t of all.values()) for (const m of t.matchAll(/\b(?:const|let|var)\s+(NETFORGE_[A-Z0-9_]+)\b/g)) constants.add(m[1] as string);
  const read = new Map<string, string>();
  const add = (name: string, file: string) => {
    if (!constants.has(name) && !read.has(name)) read.set(name, relative(ROOT, join(ROOT, file)));
  };
  for (const [file, t] of texts) {
    for (const m of t.matchAll(/\bNETFORGE_[A-Z0-9_]+\b/g)) add(m[0], file);
    for (const m of t.matchAll(/\bprocess\.env(?:\.([A-Z_][A-Z0-9_]*)|\[\s*["']([A-Z_][A-Z0-9_]*)["']\s*\])/g))
      add((m[1] ?? m[2]) as string, file);
    for (const m of t.matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b/g)) add(m[1] as string, file);
  }
  for (const file of ENV_SCHEMAS) {
    if (!texts.has(file)) continue;
    for (const m of (texts.get(file) ?? "").matchAll(/^ {2}([A-Z][A-Z0-9_]*): z\b/gm)) add(m[1] as string, file);
  }
  return read;
}
