/**
 * The worker's persistent virsh sessions against a real libvirtd (a sandbox
 * host): same answers as one-shot virsh, errors classified, many commands in
 * flight answered in order, unsafe arguments never written to the shell,
 * and a slow command failing alone, timed from its own start. The slow
 * command is real: `net-define` of a FIFO, which virsh reads only when the
 * test writes the definition into it.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CommandResult, ExecaRunner, type RunOptions } from "@netforge/worker";
import { sessionSafe, Virsh, VirshSession } from "@netforge/worker/testing";
import { createSandboxHost, destroySandboxHost, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Runs every command inside the sandbox host, recording one-shot calls. */
class HostRunner extends ExecaRunner {
  oneShots: string[][] = [];
  constructor(private readonly h: SandboxHost) {
    super();
  }
  override run(cmd: string, args: readonly string[], o?: RunOptions): Promise<CommandResult> {
    this.oneShots.push([cmd, ...args]);
    return super.run(this.h.nsenterPrefix[0] as string, [...this.h.nsenterPrefix.slice(1), cmd, ...args], o);
  }
  override spawnInteractive(cmd: string, args: readonly string[]) {
    return super.spawnInteractive(this.h.nsenterPrefix[0] as string, [...this.h.nsenterPrefix.slice(1), cmd, ...args]);
  }
}

let h: SandboxHost;
let runner: HostRunner;
let virsh: Virsh;
beforeAll(async () => {
  h = await createSandboxHost({ id: `vs${Math.random().toString(36).slice(2, 8)}` });
  runner = new HostRunner(h);
  virsh = new Virsh(runner, "qemu:///system");
});
afterAll(async () => {
  virsh?.close();
  if (h) await destroySandboxHost(h);
});

describe("virsh sessions", () => {
  it("answer like one-shot virsh, including multi-line output and errors", async () => {
    const xml = `<network><name>vs1</name><bridge name='nf-vs1'/><ip address='10.88.0.1' prefix='24'/></network>`;
    const file = join(h.dir, "vs1.xml");
    await writeFile(file, xml);
    await virsh.define(xml);
    await virsh.start("vs1");
    const viaSession = await virsh.run(["net-dumpxml", "vs1"]);
    const oneShot = await h.virsh(["net-dumpxml", "vs1"]);
    expect(viaSession.stdout.trim()).toBe(oneShot.stdout.trim());
    expect(await virsh.listNetworks()).toEqual([{ name: "vs1", active: true, autostart: false, persistent: true }]);
    await expect(virsh.start("vs1")).rejects.toMatchObject({ code: "INVALID_STATE" });
    await expect(virsh.start("nosuch")).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await virsh.info("nosuch")).toBeNull();
    await virsh.destroy("vs1");
    await virsh.undefine("vs1");
    expect(await virsh.listNetworks()).toEqual([]);
  });

  it("keeps many concurrent commands in order", async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? virsh.info(`n${i}`) : virsh.daemonVersion())));
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => (i % 2 ? null : "9.0.0")));
  });

  it("never writes unsafe arguments to the shell: they run as one-shot argv", async () => {
    expect(sessionSafe(["net-info", "a;b"])).toBe(false);
    expect(sessionSafe(["net-info", "a b"])).toBe(false);
    expect(sessionSafe(["net-info", "'x'"])).toBe(false);
    expect(sessionSafe(["net-define", "/tmp/x.xml"])).toBe(true);
    // netforge's own net-update elements go through (double-quoted); anything that could end the quote does not.
    expect(sessionSafe(["net-update", "n", "add", "ip-dhcp-host", "<host mac='52:54:00:00:00:01' name='a' ip='10.0.0.5'/>"])).toBe(true);
    expect(sessionSafe(["net-update", "n", "add", "ip-dhcp-host", '<host name="a" ip="10.0.0.5"/>'])).toBe(false);
    expect(sessionSafe(["net-update", "n", "add", "ip-dhcp-host", "<host name='a;b'/>"])).toBe(false);
    expect(sessionSafe(["net-update", "n", "add", "ip-dhcp-host", "<host name='a\\'/>"])).toBe(false);
    runner.oneShots = [];
    const r = await virsh.run(["net-info", "x; net-destroy y"], { allowFailure: true });
    expect(r.exitCode).not.toBe(0);
    expect(runner.oneShots).toEqual([["virsh", "-c", "qemu:///system", "-q", "net-info", "x; net-destroy y"]]);
  });
});

describe("virsh command timeouts", () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const xmlOf = (name: string, octet: number) =>
    `<network><name>${name}</name><bridge name='nf-${name}'/><ip address='10.87.${octet}.1' prefix='24'/></network>`;
  /** A path virsh blocks on until someone writes a definition into it. */
  async function fifo(name: string): Promise<string> {
    const path = join(h.dir, `${name}.fifo`);
    await h.exec(["mkfifo", path]);
    return path;
  }

  it("one slow command times out alone: the commands queued behind it on the same session get their answers", async () => {
    const session = new VirshSession(runner, "qemu:///system", 1500);
    try {
      const slowPath = await fifo("never-written");
      const started = Date.now();
      const slow = session.run(["net-define", slowPath]).then(
        () => "answered",
        (e: Error) => e.message,
      );
      const behind = await Promise.allSettled([
        session.run(["version", "--daemon"]),
        session.run(["net-info", "nosuch"]),
        session.run(["net-list", "--all"]),
      ]);
      expect(await slow).toBe("virsh net-define timed out after 1500 ms");
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      expect(behind.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
      const [version, info, list] = behind.map((r) => (r as PromiseFulfilledResult<CommandResult>).value);
      expect(version?.stdout).toContain("Running against daemon: 9.0.0");
      expect(info).toMatchObject({ exitCode: 1 });
      expect(info?.stderr).toMatch(/not found/);
      expect(list?.exitCode).toBe(0);
      // The session goes on serving (on a fresh virsh).
      expect(session.alive).toBe(true);
      expect((await session.run(["net-info", "nosuch2"])).exitCode).toBe(1);
    } finally {
      session.close();
    }
  });

  it("each command's timeout counts from its own start, not from when it was queued", async () => {
    const session = new VirshSession(runner, "qemu:///system", 1500);
    try {
      const [a, b] = [await fifo("slow-a"), await fifo("slow-b")];
      const queuedAt = Date.now();
      const first = session.run(["net-define", a]);
      const second = session.run(["net-define", b]);
      // Each runs about 1 s (under its 1.5 s), one after the other: the second is answered about 2 s after
      // it was queued, which only a clock started when it was queued would call a timeout.
      await sleep(1000);
      await writeFile(a, xmlOf("slowa", 1));
      expect((await first).exitCode).toBe(0);
      await sleep(1000);
      // Raced with the command: if it failed already (nobody reads the FIFO), fail now instead of blocking.
      await Promise.race([writeFile(b, xmlOf("slowb", 2)), second]);
      expect((await second).exitCode).toBe(0);
      expect(Date.now() - queuedAt).toBeGreaterThan(1900);
      expect((await virsh.listNetworks()).map((n) => n.name).sort()).toEqual(["slowa", "slowb"]);
    } finally {
      session.close();
      for (const n of ["slowa", "slowb"]) await h.virsh(["net-undefine", n]).catch(() => undefined);
    }
  });

  it("through the worker's Virsh (one session): a timed-out command fails as HOST_COMMAND_FAILED, the others succeed", async () => {
    const one = new Virsh(runner, "qemu:///system", { sessions: 1, commandTimeoutMs: 1000 });
    try {
      const slowPath = await fifo("never-written-2");
      const results = await Promise.allSettled([one.run(["net-define", slowPath]), one.daemonVersion(), one.info("nosuch")]);
      expect(results[0]).toMatchObject({ status: "rejected", reason: { code: "HOST_COMMAND_FAILED" } });
      expect(String((results[0] as PromiseRejectedResult).reason.message)).toContain("timed out after 1000 ms");
      expect(results.slice(1)).toEqual([
        { status: "fulfilled", value: "9.0.0" },
        { status: "fulfilled", value: null },
      ]);
    } finally {
      one.close();
    }
  });
});
