/**
 * What a sandbox host's "boot" runs in place of systemd: the ExecStart lines of a unit shipped in the
 * repository's deploy/, with its Environment= defaults, `%H` and `${VAR}` resolved the way systemd resolves
 * them, and installed paths mapped to the repository's files.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const DEPLOY_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "deploy");

export function unitExecStart(unitText: string, opts: { hostname: string; installed?: Record<string, string> }): string[][] {
  const env = new Map<string, string>();
  const spec = (s: string) => s.replaceAll("%H", opts.hostname);
  for (const l of unitText.split("\n")) {
    const m = /^Environment=([A-Z_]+)=(\S+)$/.exec(l);
    if (m) env.set(m[1] as string, spec(m[2] as string));
  }
  return unitText
    .split("\n")
    .filter((l) => l.startsWith("ExecStart="))
    .map((l) =>
      l
        .slice("ExecStart=".length)
        .trim()
        // systemd's "-" prefix (a failure does not fail the unit): the sandbox's boot runs every line anyway.
        .replace(/^-/, "")
        .split(/\s+/)
        .map((w) => spec(w).replace(/^\$\{([A-Z_]+)\}$/, (_, k: string) => env.get(k) ?? ""))
        .map((w) => opts.installed?.[w] ?? w),
    );
}

/** netforge-firewall.service's commands for a host whose worker runs with HOST_ID `hostId` (its default boot file). */
export function netforgeFirewallBoot(hostId: string): string[][] {
  return unitExecStart(readFileSync(join(DEPLOY_DIR, "netforge-firewall.service"), "utf8"), {
    hostname: hostId,
    installed: { "/usr/local/lib/netforge/netforge-failclosed.nft": join(DEPLOY_DIR, "netforge-failclosed.nft") },
  });
}

/** netforge-overlay.service's commands for a host whose worker runs with HOST_ID `hostId` (its default boot files). */
export function netforgeOverlayBoot(hostId: string): string[][] {
  return unitExecStart(readFileSync(join(DEPLOY_DIR, "netforge-overlay.service"), "utf8"), { hostname: hostId });
}
