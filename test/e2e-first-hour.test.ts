/**
 * The README's "first hour" runs verbatim: its shell block (write fleet.yaml, plan, apply, plan again, change
 * one field, plan, apply, export, plan the export) is taken from README.md as it is and run by bash against a
 * real API, worker and sandbox hypervisor, in a directory that has the checkout's node_modules (what `npx
 * netforge` finds in a checkout). Under the e2e lock (it creates a sandbox host).
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, TOKENS } from "./support/cluster";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
let c: Cluster;
const dir = mkdtempSync(join(tmpdir(), "netforge-first-hour-"));

/** The shell block under "## The first hour" in README.md. */
function firstHourBlock(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf("## The first hour");
  if (at < 0) throw new Error("README.md has no '## The first hour' section");
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m?.[1]) throw new Error("the first hour has no sh block");
  return m[1];
}

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "hour" }], label: "hour" });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
});
afterAll(async () => {
  await c?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("README: the first hour", () => {
  it("runs verbatim: two networks applied, a second plan empty, one field one live change, export then plan empty", async () => {
    const script = join(dir, "first-hour.sh");
    writeFileSync(script, `set -e\n${firstHourBlock()}`);
    const r = await execa("bash", [script], {
      cwd: dir,
      reject: false,
      all: true,
      env: { NETFORGE_URL: c.baseUrl, NETFORGE_TOKEN: TOKENS.operator },
      timeout: 180_000,
    });
    writeFileSync(join(ROOT, ".netforge", "first-hour.txt"), r.all ?? "");
    expect(r.exitCode, r.all).toBe(0);
    const out = r.all ?? "";
    expect(out).toContain("network web: create (3 changes)");
    expect(out).toContain("network db: create (2 changes)");
    expect(out).toContain("Apply complete: 5 change(s) applied to 2 network(s).");
    expect(out).toContain("network web: update (1 change)");
    expect(out).toMatch(/virsh net-update web add ip-dhcp-range .*--live/);
    expect(out).toContain("Apply complete: 1 change(s) applied to 1 network(s).");
    // The last plan (of the exported file) has nothing to do.
    expect(out.trimEnd().split("\n").at(-1)).toBe("No changes: the cluster matches the file (lab).");
    const web = (await c.call("describe-network", { name: "web" })).body.network;
    expect(web).toMatchObject({ managedBy: "lab", version: 4, dhcp: { end: "192.168.100.150" } });
  });
});
