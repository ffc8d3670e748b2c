import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CommandResult, CommandRunner, RunOptions } from "./command-runner";
import { dnsmasqPid, dnsmasqReadsOptions, mtuDrift, restoreLinkMtu, setLinkMtu, writeDhcpOptions } from "./mtu";

/** Temporary directories of this file, removed after it. */
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "nf-mtu-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A host with links (name, mtu, master) answering `ip -d -j addr show` and recording every other command. */
function fakeHost(links: { name: string; mtu: number; master?: string }[], gone: string[] = []) {
  const ran: string[] = [];
  const runner: CommandRunner = {
    async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
      if (cmd === "ip" && args.join(" ") === "-d -j addr show") {
        return { stdout: JSON.stringify(links.map((l) => ({ ifname: l.name, mtu: l.mtu, master: l.master }))), stderr: "", exitCode: 0 };
      }
      ran.push([cmd, ...args].join(" "));
      const dev = args[3] ?? "";
      if (gone.includes(dev)) {
        const r = { stdout: "", stderr: `Cannot find device "${dev}"`, exitCode: 1 };
        if (!opts.allowFailure) throw new Error(r.stderr);
        return r;
      }
      const l = links.find((x) => x.name === dev);
      if (l && args[4] === "mtu") l.mtu = Number(args[5]);
      return { stdout: "", stderr: "", exitCode: 0 };
    },
  };
  return { runner, ran, links };
}

describe("a bridge's and its ports' MTU", () => {
  it("sets the bridge first, then each port that differs; answers what they had and the ports set", async () => {
    const h = fakeHost([
      { name: "nf-web", mtu: 1400 },
      { name: "vnet0", mtu: 1400, master: "nf-web" },
      { name: "vnet1", mtu: 1300, master: "nf-web" },
      { name: "eth0", mtu: 1500 },
    ]);
    const r = await setLinkMtu(h.runner, "nf-web", 1300);
    expect(h.ran).toEqual(["ip link set dev nf-web mtu 1300", "ip link set dev vnet0 mtu 1300"]);
    expect(r).toEqual({
      before: [
        { dev: "nf-web", mtu: 1400 },
        { dev: "vnet0", mtu: 1400 },
        { dev: "vnet1", mtu: 1300 },
      ],
      ports: ["vnet0"],
    });
    await restoreLinkMtu(h.runner, r.before);
    expect(h.ran.slice(2)).toEqual(["ip link set dev vnet1 mtu 1300", "ip link set dev vnet0 mtu 1400", "ip link set dev nf-web mtu 1400"]);
  });

  it("a port gone meanwhile is skipped; a missing bridge fails as the plan's own command", async () => {
    const h = fakeHost(
      [
        { name: "nf-web", mtu: 1500 },
        { name: "vnet0", mtu: 1500, master: "nf-web" },
      ],
      ["vnet0"],
    );
    expect((await setLinkMtu(h.runner, "nf-web", 1400)).ports).toEqual([]);
    const none = fakeHost([], ["nf-web"]);
    await expect(setLinkMtu(none.runner, "nf-web", 1400)).rejects.toThrow(/Cannot find device/);
  });

  it("a port the kernel refuses the MTU fails naming it, with the bridge and the ports set before it put back", async () => {
    const h = fakeHost([
      { name: "nfov10000", mtu: 1400 },
      { name: "vnet0", mtu: 1400, master: "nfov10000" },
      { name: "capvx", mtu: 1400, master: "nfov10000" },
    ]);
    const run = h.runner.run.bind(h.runner);
    h.runner.run = async (cmd, args, opts = {}) =>
      args[3] === "capvx" && args[5] === "1450"
        ? { stdout: "", stderr: "RTNETLINK answers: Invalid argument\n", exitCode: 2 }
        : run(cmd, args, opts);
    await expect(setLinkMtu(h.runner, "nfov10000", 1450)).rejects.toThrow(
      "could not set MTU 1450 on capvx: ip link failed: RTNETLINK answers: Invalid argument",
    );
    expect(h.links.map((l) => `${l.name} ${l.mtu}`)).toEqual(["nfov10000 1400", "vnet0 1400", "capvx 1400"]);
  });

  it("drift: the links with another MTU, and a dnsmasq reading the options file that hands out another MTU", async () => {
    const dir = tempDir();
    const file = join(dir, "x.options");
    const conf = `interface=nf-web\ndhcp-option=option:mtu,1400\ndhcp-optsfile=${file}\n`;
    const h = fakeHost([
      { name: "nf-web", mtu: 1500 },
      { name: "vnet0", mtu: 1300, master: "nf-web" },
    ]);
    // No file yet (a network just created): libvirt's own option is what is served.
    expect(await mtuDrift(h.runner, "nf-web", 1400, { conf, file })).toEqual({
      links: [
        { dev: "nf-web", mtu: 1500 },
        { dev: "vnet0", mtu: 1300 },
      ],
      options: false,
    });
    expect((await mtuDrift(h.runner, "nf-web", 1300, { conf, file })).options).toBe(true);
    // The file's option, tagged with the bridge, wins over libvirt's.
    writeFileSync(file, "tag:nf-web,option:mtu,1300\n");
    expect(await mtuDrift(h.runner, "nf-web", 1300, { conf, file })).toEqual({ links: [{ dev: "nf-web", mtu: 1500 }], options: false });
    expect((await mtuDrift(h.runner, "nf-web", 1400, { conf, file })).options).toBe(true);
    // A dnsmasq that does not read the file: nothing to put back there (its next start serves the definition's).
    expect((await mtuDrift(h.runner, "nf-web", 1200, { conf: "interface=nf-web\n", file })).options).toBe(false);
    expect((await mtuDrift(h.runner, "nf-web", 1200, null)).options).toBe(false);
  });
});

describe("netforge's DHCP options file", () => {
  it("is written whole, readable by dnsmasq (0644), the old text answered; no dnsmasq of the network: nothing signalled", async () => {
    const dir = tempDir();
    const file = join(dir, "netforge-u.options");
    const h = fakeHost([]);
    const first = await writeDhcpOptions(h.runner, "web", file, "tag:nf-web,option:mtu,1400\n", dir);
    expect(first).toEqual({ before: "", signalled: null });
    expect(readFileSync(file, "utf8")).toBe("tag:nf-web,option:mtu,1400\n");
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect((await writeDhcpOptions(h.runner, "web", file, "", dir)).before).toBe("tag:nf-web,option:mtu,1400\n");
    expect(h.ran).toEqual([]);
  });

  it("signals only the pid file's process when it is that network's dnsmasq", async () => {
    const dir = tempDir();
    // This test's own process is no dnsmasq of network web: never signalled.
    writeFileSync(join(dir, "web.pid"), `${process.pid}\n`);
    expect(await dnsmasqPid("web", dir)).toBeNull();
    writeFileSync(join(dir, "web.pid"), "garbage");
    expect(await dnsmasqPid("web", dir)).toBeNull();
    expect(await dnsmasqPid("none", dir)).toBeNull();
  });

  it("the running dnsmasq reads it when libvirt's configuration names it", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.conf"), "interface=nf-web\ndhcp-optsfile=/f.options\n");
    expect(await dnsmasqReadsOptions("web", "/f.options", dir)).toBe(true);
    expect(await dnsmasqReadsOptions("web", "/g.options", dir)).toBe(false);
    expect(await dnsmasqReadsOptions("other", "/f.options", dir)).toBe(false);
  });
});
