/**
 * `npm run counts`: the shape counts of issue 22, measured on this checkout (what is counted: see
 * scripts/shape-counts/measure.ts). Prints one table; `--verbose` also lists every location; `--check` exits 1
 * when a count misses its target. Without --check it always exits 0: it measures, it does not gate.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { buildOptions, TARGETS } from "./build";
import { type BundleMeta, type Counts, countAll, type Finding, redisInBundle, type SourceFile } from "./shape-counts/measure";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const verbose = args.has("--verbose") || args.has("-v");
const check = args.has("--check");

/** The repository's TypeScript files (tracked or new, not ignored). */
function sourceFiles(): SourceFile[] {
  const listed = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "--", "*.ts"], { cwd: ROOT, encoding: "utf8" });
  return listed
    .split("\n")
    .filter((p) => p !== "" && existsSync(join(ROOT, p)))
    .map((path) => ({ path, text: readFileSync(join(ROOT, path), "utf8") }));
}

/** A workspace package's exported subpaths, by its short name (core, worker...). */
function exportsOf(pkg: string): readonly string[] | null {
  for (const dir of ["apps", "packages"]) {
    const file = join(ROOT, dir, pkg, "package.json");
    if (!existsSync(file)) continue;
    const json = JSON.parse(readFileSync(file, "utf8")) as { exports?: string | Record<string, unknown> };
    if (json.exports === undefined) return ["."];
    return typeof json.exports === "string" ? ["."] : Object.keys(json.exports);
  }
  return null;
}

/** The Redis/BullMQ modules in the CLI's bundle, built in memory with scripts/build.ts's options. */
async function cliBundleRedis(): Promise<string[]> {
  const cli = TARGETS.find((t) => t.entry.startsWith("packages/cli/"));
  if (!cli) throw new Error("scripts/build.ts has no CLI target");
  const result = await build({ ...buildOptions(cli), write: false, metafile: true, sourcemap: false, logLevel: "silent" });
  const meta: BundleMeta = result.metafile;
  return redisInBundle(meta);
}

interface Row {
  what: string;
  now: string;
  target: string;
  ok: boolean | null;
}

function rows(c: Counts, bundle: string[] | Error): Row[] {
  const out: Row[] = [];
  const n = (what: string, v: number, target: number) => out.push({ what, now: String(v), target: String(target), ok: v <= target });
  const kinds = (fs: Finding[]) => {
    const m = new Map<string, number>();
    for (const f of fs) m.set(f.kind, (m.get(f.kind) ?? 0) + 1);
    return [...m].map(([k, v]) => `${k} ${v}`).join(", ");
  };
  n("type switches outside drivers", c.typeSwitches.length, 0);
  if (c.typeSwitches.length > 0) out.push({ what: `  (${kinds(c.typeSwitches)})`, now: "", target: "", ok: null });
  out.push({
    what: "  files with one",
    now: String(new Set(c.typeSwitches.map((f) => f.path)).size),
    target: "0",
    ok: null,
  });
  for (const kind of ["as unknown as", "as any", "as never", "@ts-expect-error"])
    n(`\`${kind}\` in product code`, c.casts.filter((f) => f.kind === kind).length, 0);
  const maxLists = Math.max(0, ...c.actions.map((a) => a.lists.length));
  const maxFiles = Math.max(0, ...c.actions.map((a) => a.files.length));
  // An action's definition, its API half and its worker half: at most 3 places, in 3 files.
  n("lists an action appears in (most)", maxLists, 3);
  n("files an action appears in (most)", maxFiles, 3);
  out.push({
    what: "  lists per action (mean)",
    now: c.actions.length ? (c.actions.reduce((s, a) => s + a.lists.length, 0) / c.actions.length).toFixed(1) : "0",
    target: "",
    ok: null,
  });
  n("system test imports of app internals", c.internalImports.length, 0);
  out.push({
    what: "  test files with one",
    now: String(new Set(c.internalImports.map((f) => f.path)).size),
    target: "0",
    ok: null,
  });
  if (bundle instanceof Error)
    out.push({ what: "CLI bundle contains Redis/BullMQ code", now: `n/a (${bundle.message})`, target: "no", ok: null });
  else
    out.push({ what: "CLI bundle contains Redis/BullMQ code", now: bundle.length ? "yes" : "no", target: "no", ok: bundle.length === 0 });
  return out;
}

function table(rs: Row[]): string {
  const w0 = Math.max(...rs.map((r) => r.what.length), 7);
  const w1 = Math.max(...rs.map((r) => r.now.length), 3);
  const line = (a: string, b: string, c: string, d: string) => `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c.padStart(6)}  ${d}`.trimEnd();
  return [
    line("measure", "now", "target", ""),
    ...rs.map((r) => line(r.what, r.now, r.target, r.ok === null ? "" : r.ok ? "ok" : "over")),
  ].join("\n");
}

const locations = (title: string, fs: Finding[]) =>
  fs.length ? `\n${title}:\n${fs.map((f) => `  ${f.path}:${f.line}  [${f.kind}]  ${f.text}`).join("\n")}` : "";

async function main(): Promise<number> {
  const counts = countAll(sourceFiles(), exportsOf);
  const bundle = await cliBundleRedis().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  const rs = rows(counts, bundle);
  let text = table(rs);
  if (verbose) {
    text += locations("type switches outside drivers", counts.typeSwitches);
    text += locations("casts in product code", counts.casts);
    text += "\n\nactions (lists / files):";
    for (const a of [...counts.actions].sort((x, y) => y.lists.length - x.lists.length))
      text += `\n  ${a.action.padEnd(32)} ${String(a.lists.length).padStart(3)} / ${String(a.files.length).padStart(3)}  ${a.files.join(" ")}`;
    for (const a of counts.actions) text += locations(`where ${a.action} is listed`, a.lists);
    text += locations("system test imports of app internals", counts.internalImports);
    if (Array.isArray(bundle) && bundle.length) text += `\n\nRedis/BullMQ in the CLI bundle:\n${bundle.map((b) => `  ${b}`).join("\n")}`;
  }
  process.stdout.write(`${text}\n`);
  return check && rs.some((r) => r.ok === false) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // A measuring tool: a failure to measure is reported, and fails only a --check run.
    process.stderr.write(`shape-counts: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(check ? 1 : 0);
  },
);
