/**
 * The worker's persistent virsh sessions against a real libvirtd (a sandbox
 * host): same answers as one-shot virsh, errors classified, many commands in
 * flight answered in order, unsafe arguments never written to the shell.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CommandResult, ExecaRunner, type RunOptions } from "../apps/worker/src/host/command-runner";
import { Virsh } from "../apps/worker/src/host/virsh";
import { sessionSafe } from "../apps/worker/src/host/virsh-session";
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
