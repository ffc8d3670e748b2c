/**
 * A sandbox host reaps libvirt's daemons as a real host's init does (packages/sandbox/src/reaper.ts): a
 * dnsmasq that exits is gone at once, not left a zombie that libvirt's `kill(pid, 0)` probe still sees (which
 * made every dnsmasq restart, and so every DHCP range change, wait for this machine's slow PID 1).
 * Creates its own sandbox host (root, under the e2e lock with the other host tests).
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandboxHost, destroySandboxHost, type SandboxHost } from "@netforge/sandbox";

const ID = "sbreap";
const NET_XML = `<network>
  <name>r1</name>
  <forward mode='open'/>
  <bridge name='nf-r1' stp='off'/>
  <ip address='10.79.0.1' prefix='24'>
    <dhcp><range start='10.79.0.100' end='10.79.0.150'/></dhcp>
  </ip>
</network>
`;

/** The process's state letter from /proc (Z: a zombie), or null once it is gone (reaped). */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return null;
  }
}
const parentOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
};
const dnsmasqPid = (h: SandboxHost) => Number(readFileSync(join(h.dir, "run", "network", "r1.pid"), "utf8").trim());

describe.skipIf(process.getuid?.() !== 0)("a sandbox host's reaper", () => {
  let h: SandboxHost;
  beforeAll(async () => {
    await destroySandboxHost(ID);
    h = await createSandboxHost({ id: ID });
    const file = join(h.dir, "r1.xml");
    await writeFile(file, NET_XML);
    await h.virsh(["net-create", file]);
  });
  afterAll(async () => {
    await destroySandboxHost(ID);
  });

  it("adopts libvirtd and its dnsmasq (not PID 1) and reaps a dnsmasq that exits at once", async () => {
    const pid = dnsmasqPid(h);
    expect(procState(pid)).not.toBeNull();
    const reaper = parentOf(pid);
    expect(reaper).not.toBe(1);
    expect(parentOf(h.libvirtdPid)).toBe(reaper);
    expect(readFileSync(`/proc/${reaper}/cmdline`, "utf8").split("\0")[0]).toMatch(/python3/);
    process.kill(pid, "SIGTERM");
    const t0 = Date.now();
    while (procState(pid) !== null && Date.now() - t0 < 2_000) await new Promise((r) => setTimeout(r, 10));
    // Gone, not a zombie: PID 1 here left it a zombie for more than a second.
    expect(procState(pid)).toBeNull();
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it("so libvirt restarts dnsmasq for a DHCP range change without waiting on a zombie, with the new range", async () => {
    await h.virsh(["net-destroy", "r1"]);
    await h.virsh(["net-create", join(h.dir, "r1.xml")]);
    const before = dnsmasqPid(h);
    await h.virsh(["net-update", "r1", "delete", "ip-dhcp-range", "<range start='10.79.0.100' end='10.79.0.150'/>", "--live"]);
    await h.virsh(["net-update", "r1", "add", "ip-dhcp-range", "<range start='10.79.0.100' end='10.79.0.120'/>", "--live"]);
    const after = dnsmasqPid(h);
    expect(after).not.toBe(before);
    expect(procState(before)).toBeNull();
    expect(readFileSync(join(h.dir, "lib", "dnsmasq", "r1.conf"), "utf8")).toContain("dhcp-range=10.79.0.100,10.79.0.120");
  });
});
