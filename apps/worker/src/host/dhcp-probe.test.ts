import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandRunner } from "./command-runner";
import { type DhcpProbePaths, dhcpListening, dhcpSocketInodes, probeDnsmasq } from "./dhcp-probe";

// /proc/net/udp as the kernel writes it: 0.0.0.0:67 (inode 41001) and 10.70.0.1:53 (inode 41002).
const UDP = [
  "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
  "  101: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41001 2 0000000000000000 0",
  "  102: 0100460A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41002 2 0000000000000000 0",
].join("\n");

describe("dhcpSocketInodes", () => {
  it("takes the sockets bound to port 67 only", () => {
    expect([...dhcpSocketInodes(UDP)]).toEqual(["41001"]);
    expect(dhcpSocketInodes(UDP.split("\n").slice(0, 1).join("\n")).size).toBe(0);
  });
});

describe("probeDnsmasq (a fake /proc and pid dir)", () => {
  /** Whether the network's dnsmasq holds a UDP socket on port 67; null when its pid file cannot be read. */
  const dnsmasqHoldsDhcp = async (network: string, p: DhcpProbePaths) => {
    const probe = await probeDnsmasq(network, p);
    return probe === null ? null : probe === "serving";
  };
  let root = "";
  let paths: DhcpProbePaths;
  const proc = (pid: number, comm: string, cmdline: string[], sockets: string[]) =>
    (async () => {
      const d = join(root, "proc", String(pid));
      await mkdir(join(d, "fd"), { recursive: true });
      await writeFile(join(d, "comm"), `${comm}\n`);
      await writeFile(join(d, "cmdline"), `${cmdline.join("\0")}\0`);
      for (const [i, s] of sockets.entries()) await symlink(s, join(d, "fd", String(i + 3)));
    })();
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "dhcp-probe-"));
    paths = { pidDir: join(root, "run"), proc: join(root, "proc") };
    await mkdir(join(root, "proc", "net"), { recursive: true });
    await mkdir(paths.pidDir);
    await writeFile(join(root, "proc", "net", "udp"), UDP);
    const conf = (n: string) => ["/usr/sbin/dnsmasq", `--conf-file=/var/lib/libvirt/dnsmasq/${n}.conf`, "--leasefile-ro"];
    await proc(500, "dnsmasq", conf("web"), ["socket:[41002]", "socket:[41001]", "/dev/null"]);
    await proc(501, "dnsmasq", conf("dns"), ["socket:[41002]"]);
    await proc(502, "sleep", conf("odd"), ["socket:[41001]"]);
    await proc(503, "dnsmasq", conf("other"), ["socket:[41001]"]);
    // This network's dnsmasq whose fds cannot be read (no CAP_SYS_PTRACE; here: no fd directory).
    await proc(504, "dnsmasq", conf("hidden"), []);
    await rm(join(root, "proc", "504", "fd"), { recursive: true });
    for (const [n, pid] of [
      ["web", 500],
      ["dns", 501],
      ["odd", 502],
      ["reused", 503],
      ["gone", 999],
      ["hidden", 504],
    ] as const)
      await writeFile(join(paths.pidDir, `${n}.pid`), `${pid}\n`);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it("true when the network's dnsmasq holds a UDP socket on port 67", async () => {
    expect(await dnsmasqHoldsDhcp("web", paths)).toBe(true);
  });
  it("false when it holds none, is not dnsmasq, is another network's dnsmasq (reused pid), or is gone", async () => {
    expect(await dnsmasqHoldsDhcp("dns", paths)).toBe(false);
    expect(await dnsmasqHoldsDhcp("odd", paths)).toBe(false);
    expect(await dnsmasqHoldsDhcp("reused", paths)).toBe(false);
    expect(await dnsmasqHoldsDhcp("gone", paths)).toBe(false);
  });
  it("running (not serving) when it is the network's dnsmasq but its fds cannot be read", async () => {
    expect(await probeDnsmasq("hidden", paths)).toBe("running");
    expect(await dnsmasqHoldsDhcp("hidden", paths)).toBe(false);
    expect(await probeDnsmasq("web", paths)).toBe("serving");
    expect(await probeDnsmasq("reused", paths)).toBe("absent");
  });
  it("null (ask ss instead) without a pid file", async () => {
    expect(await dnsmasqHoldsDhcp("nopid", paths)).toBeNull();
    expect(await dnsmasqHoldsDhcp("../x", paths)).toBeNull();
  });
});

describe("dhcpListening (ss -p)", () => {
  const ss = (stdout: string) => ({ run: async () => ({ stdout, stderr: "", exitCode: 0 }) }) as unknown as CommandRunner;
  const owned = 'UNCONN 0 0 0.0.0.0%nf-web:67 0.0.0.0:* users:(("dnsmasq",pid=500,fd=4))';
  const ownerHidden = "UNCONN 0 0 0.0.0.0%nf-web:67 0.0.0.0:*";
  const other = 'UNCONN 0 0 0.0.0.0%nf-web:67 0.0.0.0:* users:(("python3",pid=77,fd=3))';
  it("dnsmasq's socket on the bridge counts; another bridge's or another program's does not", async () => {
    expect(await dhcpListening(ss(owned), "nf-web")).toBe(true);
    expect(await dhcpListening(ss(owned), "nf-dns")).toBe(false);
    expect(await dhcpListening(ss(other), "nf-web", true)).toBe(false);
  });
  it("a socket whose owner ss cannot see counts only when the network's dnsmasq is known to run", async () => {
    expect(await dhcpListening(ss(ownerHidden), "nf-web")).toBe(false);
    expect(await dhcpListening(ss(ownerHidden), "nf-web", true)).toBe(true);
  });
});
