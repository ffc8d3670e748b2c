/**
 * The worker's virsh pool across a libvirtd restart, against a real libvirtd (a sandbox host). A restart makes
 * every persistent virsh of the pool stale at once; the first session that sees it retires all of them, so
 * commands sent right after the restart, spread over several sessions at once, all succeed — before, each
 * stale session failed its next command once. A command that was in flight when libvirtd went, and whose
 * effect is unknown, fails once and is not run again.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createSandboxHost, destroySandboxHost, restartLibvirtd, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecaRunner, type InteractiveProcess } from "@netforge/worker";
import { Virsh } from "@netforge/worker/testing";

/** Runs virsh on this machine against the sandbox host's socket; counts the interactive virsh processes. */
class CountingRunner extends ExecaRunner {
  spawns = 0;
  override spawnInteractive(cmd: string, args: readonly string[]): InteractiveProcess {
    this.spawns++;
    return super.spawnInteractive(cmd, args);
  }
}

const xmlOf = (name: string, octet: number) =>
  `<network><name>${name}</name><bridge name='nf-${name}'/><ip address='10.86.${octet}.1' prefix='24'/></network>`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rejected = (rs: PromiseSettledResult<unknown>[]) =>
  rs.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => String(r.reason?.message ?? r.reason));

let h: SandboxHost;
beforeAll(async () => {
  h = await createSandboxHost({ id: `vp${Math.random().toString(36).slice(2, 8)}` });
});
afterAll(async () => {
  if (h) await destroySandboxHost(h);
});

describe("virsh pool across a libvirtd restart", () => {
  it("commands spread over the formerly open sessions right after the restart all succeed", async () => {
    const runner = new CountingRunner();
    const virsh = new Virsh(runner, h.libvirtUri);
    try {
      await virsh.define(xmlOf("pr1", 1));
      await virsh.start("pr1");
      // Several sessions open at once (the pool adds one per command while the others are busy).
      await Promise.all([virsh.info("pr1"), virsh.dumpXml("pr1"), virsh.listNetworks(), virsh.daemonVersion()]);
      expect(runner.spawns).toBeGreaterThanOrEqual(2);
      const spawnsBefore = runner.spawns;

      const oldPid = h.libvirtdPid;
      h = await restartLibvirtd(h);
      expect(h.libvirtdPid).not.toBe(oldPid);

      // What a job does right after: reads and a write spread over sessions at once (the overlaps of create and
      // configure). None may fail on a stale virsh.
      const rs = await Promise.allSettled([
        virsh.info("pr1"),
        virsh.dumpXml("pr1", { inactive: true }),
        virsh.setAutostart("pr1", true),
        virsh.listNetworks(),
      ]);
      expect(rejected(rs)).toEqual([]);
      const [info, xml] = rs.map((r) => (r as PromiseFulfilledResult<unknown>).value);
      expect(info).toMatchObject({ name: "pr1", active: true, persistent: true });
      expect(xml).toContain("<name>pr1</name>");
      expect((await h.virsh(["net-info", "pr1"])).stdout).toMatch(/Autostart:\s+yes/);
      // They ran on virsh processes started after the restart.
      expect(runner.spawns).toBeGreaterThan(spawnsBefore);

      // And the pool keeps working as usual.
      await virsh.setAutostart("pr1", false);
      await virsh.destroy("pr1");
      await virsh.undefine("pr1");
      expect(await virsh.listNetworks()).toEqual([]);
    } finally {
      virsh.close();
      await h.virsh(["net-destroy", "pr1"]).catch(() => undefined);
      await h.virsh(["net-undefine", "pr1"]).catch(() => undefined);
    }
  });

  it("a define in flight when libvirtd goes fails once and is not run again; the other sessions are replaced", async () => {
    const runner = new CountingRunner();
    const virsh = new Virsh(runner, h.libvirtUri);
    const fifo = join(h.dir, "pr2.fifo");
    try {
      await runner.run("mkfifo", [fifo]);
      await Promise.all([virsh.listNetworks(), virsh.daemonVersion(), virsh.info("nosuch")]);
      expect(runner.spawns).toBeGreaterThanOrEqual(2);
      // virsh reads the definition from the FIFO before it asks libvirtd: it is blocked there, connected.
      const define = virsh.run(["net-define", fifo]).then(
        () => null,
        (e: { code?: string; details?: Record<string, unknown> }) => e,
      );
      await sleep(300);
      h = await restartLibvirtd(h);
      await writeFile(fifo, xmlOf("pr2", 2));
      const err = await define;
      expect(err).toMatchObject({ code: "HOST_COMMAND_FAILED", details: { connectionLost: true, ran: "unknown" } });
      // Not run again behind the job's back: libvirtd never got the definition.
      expect((await h.virsh(["net-list", "--all", "--name"])).stdout.trim()).toBe("");

      const rs = await Promise.allSettled([virsh.info("nosuch"), virsh.listNetworks(), virsh.daemonVersion(), virsh.info("nosuch2")]);
      expect(rejected(rs)).toEqual([]);
      expect(rs.map((r) => (r as PromiseFulfilledResult<unknown>).value)).toEqual([null, [], "9.0.0", null]);
    } finally {
      virsh.close();
      await h.virsh(["net-undefine", "pr2"]).catch(() => undefined);
    }
  });
});
