/**
 * The commands a systemd unit shipped in deploy/ runs (its ExecStart lines), with its Environment=
 * defaults, `%H` and `${VAR}` resolved the way systemd resolves them, and installed paths mapped to the
 * repository's files: what a sandbox host's "boot" runs in place of systemd.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const DEPLOY_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "deploy");

export function unitExecStart(unit: string, opts: { hostname: string; installed: Record<string, string> }): string[][] {
  const text = readFileSync(join(DEPLOY_DIR, unit), "utf8");
  const env = new Map<string, string>();
  const spec = (s: string) => s.replaceAll("%H", opts.hostname);
  for (const l of text.split("\n")) {
    const m = /^Environment=([A-Z_]+)=(\S+)$/.exec(l);
    if (m) env.set(m[1] as string, spec(m[2] as string));
  }
  return text
    .split("\n")
    .filter((l) => l.startsWith("ExecStart="))
    .map((l) =>
      l
        .slice("ExecStart=".length)
        .split(/\s+/)
        .map((w) => spec(w).replace(/^\$\{([A-Z_]+)\}$/, (_, k: string) => env.get(k) ?? ""))
        .map((w) => opts.installed[w] ?? w),
    );
}
