/**
 * One private Redis for the whole test run (every suite uses its own key
 * prefix on it); its URL reaches tests as NETFORGE_TEST_REDIS_URL. At the end,
 * checks that the run left nothing behind: no sandbox namespace and no
 * libvirtd, dnsmasq, qemu or redis-server process that was not there before.
 * Leftovers are killed, listed on stderr and in .netforge/leftovers.json,
 * which scripts/test.sh counts as a failure.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedisServer } from "@netforge/devstack";
import { destroySandboxHost } from "@netforge/sandbox";
import { execa } from "execa";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WATCHED = new Set(["libvirtd", "dnsmasq", "redis-server", "qemu-system-x86", "virsh"]);

function watchedProcesses(): Map<number, string> {
  const out = new Map<number, string>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, "utf8").trim();
      if (!WATCHED.has(comm) && !comm.startsWith("qemu-system")) continue;
      // A zombie is already dead, merely not yet reaped by init (on some machines slowly): not a leftover.
      const state = readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1]?.[0];
      if (state !== "Z") out.set(Number(d), comm);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function sandboxNamespaces(): Promise<Set<string>> {
  const r = await execa("ip", ["netns", "list"], { reject: false });
  return new Set(
    r.stdout
      .split("\n")
      .map((l) => l.split(" ")[0] ?? "")
      .filter((n) => /^nf[hov]-/.test(n)),
  );
}

export default async function setup() {
  const beforeNs = await sandboxNamespaces();
  const beforePids = watchedProcesses();
  const server = await startRedisServer();
  process.env.NETFORGE_TEST_REDIS_URL = server.url;
  const report = join(ROOT, ".netforge", "leftovers.json");
  mkdirSync(dirname(report), { recursive: true });
  rmSync(report, { force: true });

  return async () => {
    await server.stop();
    const ns = [...(await sandboxNamespaces())].filter((n) => !beforeNs.has(n));
    // Give killed processes a moment to be reaped before judging.
    await new Promise((r) => setTimeout(r, 300));
    const procs = [...watchedProcesses()].filter(([pid]) => !beforePids.has(pid));
    if (ns.length === 0 && procs.length === 0) return;
    const leftovers = { namespaces: ns, processes: procs.map(([pid, comm]) => ({ pid, comm })) };
    writeFileSync(report, JSON.stringify(leftovers, null, 2));
    console.error(`test run left things behind: ${JSON.stringify(leftovers)}`);
    // Clean up anyway, so one bad run does not poison the next: only what this run created.
    for (const n of ns) {
      if (n.startsWith("nfh-")) await destroySandboxHost(n.slice(4), { graceful: false }).catch(() => undefined);
      else await execa("ip", ["netns", "del", n], { reject: false });
    }
    for (const [pid] of procs) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
}
