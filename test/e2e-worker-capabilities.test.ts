/**
 * The worker works with exactly the capabilities deploy/systemd/netforge-worker.service gives it: its
 * sandbox host's worker is started through `setpriv` with the unit's CapabilityBoundingSet= as bounding set,
 * its AmbientCapabilities= as inheritable and ambient sets, and --no-new-privs (NoNewPrivileges=yes), all read
 * from the unit file. With those, it creates a nat network, adds a port forward, and traffic goes through:
 * from the host's outside to a VM's service over the forwarded port, from the VM out with masquerade. Then
 * the forward and the network are removed. A live MTU change reaches the network's DHCP server (the options
 * file written, libvirt's dnsmasq, which runs as nobody, signalled: CAP_KILL). A control run without CAP_NET_ADMIN shows that the capabilities
 * are really what setpriv restricts (the worker's first nft command is refused and it does not start).
 *
 * What setpriv does not reproduce (systemd's other protections of the unit, checked only by
 * `systemd-analyze verify` in test/deploy-units.test.ts): ProtectSystem=strict with ReadWritePaths=/run and
 * StateDirectory=, ProtectHome=, PrivateTmp=, PrivateDevices=, ProtectKernelModules=/Logs=, ProtectControlGroups=,
 * ProtectClock=, ProtectHostname=, RestrictNamespaces=, RestrictAddressFamilies=, SystemCallFilter=,
 * LockPersonality=, RestrictRealtime=, RestrictSUIDSGID= (mount namespaces, seccomp and the like need systemd
 * as the service manager, which this machine does not run).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NamespaceVm, SandboxHost } from "@netforge/sandbox";
import { createNamespaceVm } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor, workerLog } from "./support/cluster";
import { unitCapabilities } from "./support/systemd-unit";
import { sourceSeenOutside, writeTcpHello } from "./support/traffic";

const UNIT = "netforge-worker.service";
const caps = unitCapabilities(UNIT);

/** setpriv's argv for a capability set: bounding, inheritable and ambient as the unit has them, no new privileges. */
function setprivArgv(bounding: string[], ambient: string[]): string[] {
  const list = (l: string[]) => ["-all", ...l.map((c) => `+${c}`)].join(",");
  return [
    "setpriv",
    "--no-new-privs",
    "--bounding-set",
    list(bounding),
    "--inh-caps",
    list(ambient),
    "--ambient-caps",
    list(ambient),
    "--",
  ];
}

/** Capability numbers (linux/capability.h) of the names the unit uses, to read /proc/<pid>/status masks. */
const CAP_NUMBERS: Record<string, number> = { kill: 5, net_admin: 12, net_raw: 13, net_bind_service: 10, sys_admin: 21, dac_override: 1 };
function mask(names: string[]): bigint {
  return names.reduce((m, n) => {
    const bit = CAP_NUMBERS[n];
    if (bit === undefined) throw new Error(`capability ${n}: add its number to CAP_NUMBERS`);
    return m | (1n << BigInt(bit));
  }, 0n);
}
function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .map((l) => l.split(/:\s*/, 2) as [string, string])
      .filter(([, v]) => v !== undefined),
  );
}

let c: Cluster;
let h: SandboxHost;
let srv: NamespaceVm | undefined;
let vmIp: string;
const NET = "capn";

beforeAll(async () => {
  expect(caps.bounding.length).toBeGreaterThan(0);
  c = await startCluster({ hosts: [{ id: "cap" }], label: "cap", workerWrap: setprivArgv(caps.bounding, caps.ambient) });
  h = c.hosts.get("cap") as SandboxHost;
}, 180_000);
afterAll(async () => {
  await srv?.destroy().catch(() => undefined);
  await c?.stop();
});

describe(`the worker with exactly ${UNIT}'s capabilities (${caps.bounding.join(", ")})`, () => {
  it("runs with that set and no other, and cannot gain any (no_new_privs)", () => {
    const w = c.workers.get("cap");
    expect(w).toBeDefined();
    // nsenter and setpriv exec: the pid is node's own.
    const s = status(w?.pid as number);
    expect(s.Name).toBe("node");
    expect(BigInt(`0x${s.CapBnd}`)).toBe(mask(caps.bounding));
    expect(BigInt(`0x${s.CapEff}`)).toBe(mask(caps.bounding));
    expect(BigInt(`0x${s.CapAmb}`)).toBe(mask(caps.ambient));
    expect(s.NoNewPrivs).toBe("1");
    expect(s.Uid?.split(/\s+/)[0]).toBe("0");
  });

  it("creates a nat network, adds a port forward, and traffic is forwarded (in through the port, out with masquerade)", async () => {
    const r = await c.call("create-network", { name: NET, type: "nat", cidr: "10.78.0.0/24" }, { wait: 60 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    srv = await createNamespaceVm(h, { name: "capsrv", bridge: r.body.job.result.bridge.name as string });
    vmIp = (await srv.dhcp()).ip;
    const dir = join(h.dir, "www-cap");
    await writeTcpHello(dir);
    await srv.exec(["sh", "-c", `python3 ${join(dir, "svc.py")} >/dev/null 2>&1 &`]);
    const f = await c.call(
      "configure-network-port-forward",
      { name: NET, protocol: "tcp", hostPort: 2424, vmIp, vmPort: 7000 },
      { wait: 60 },
    );
    expect(f.status, JSON.stringify(f.body)).toBe(200);
    // From the host's outside to the VM, through the host port: the VM sees the outside's own address (DNAT).
    const answer = await waitFor(
      "the forwarded port answers",
      async () => {
        const a = await h.execOutside(["python3", join(dir, "client.py"), h.hostAddress, "2424"], { reject: false, timeoutMs: 5000 });
        return a.exitCode === 0 ? a.stdout.trim() : null;
      },
      15_000,
      300,
    );
    expect(answer).toBe(`tcp hello ${h.outsideAddress}`);
    // And out: the VM reaches the outside masqueraded behind the host's address.
    expect(await sourceSeenOutside(h, srv)).toBe(h.hostAddress);
  });

  it("a live MTU change and a range move reach the DHCP server: libvirt's dnsmasq (uid nobody) signalled with CAP_KILL", async () => {
    const r = await c.call("create-network", { name: "capm", type: "nat", cidr: "10.78.1.0/24", mtu: 1400 }, { wait: 60 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const m = await c.call("configure-network-mtu", { name: "capm", mtu: 1300 }, { wait: 60 });
    expect(m.status, JSON.stringify(m.body)).toBe(200);
    expect(m.body.job.result.applied.map((a: { command: string[] }) => a.command[0])).toContain("kill");
    // A range move: the worker ends libvirt's dnsmasq (uid nobody) itself before each update (CAP_KILL).
    const d = await c.call("configure-network-dhcp", { name: "capm", start: "10.78.1.50", end: "10.78.1.60" }, { wait: 60 });
    expect(d.status, JSON.stringify(d.body)).toBe(200);
    const kills = d.body.job.result.applied.filter((a: { command: string[] }) => a.command.join(" ").startsWith("kill -TERM "));
    expect(kills).toHaveLength(2);
    const vm = await createNamespaceVm(h, { name: "capmtu", bridge: r.body.job.result.bridge.name as string });
    try {
      const lease = await vm.dhcp();
      expect(lease.mtu).toBe(1300);
      expect(Number(lease.ip.split(".")[3])).toBeGreaterThanOrEqual(50);
      expect(Number(lease.ip.split(".")[3])).toBeLessThanOrEqual(60);
    } finally {
      await vm.destroy();
    }
    expect((await c.call("delete-network", { name: "capm" }, { wait: 60 })).status).toBe(200);
  });

  it("removes the forward (the port stops answering) and deletes the network", async () => {
    const f = await c.call(
      "configure-network-port-forward",
      { name: NET, action: "remove", protocol: "tcp", hostPort: 2424 },
      { wait: 60 },
    );
    expect(f.status, JSON.stringify(f.body)).toBe(200);
    const a = await h.execOutside(["python3", join(h.dir, "www-cap", "client.py"), h.hostAddress, "2424"], {
      reject: false,
      timeoutMs: 5000,
    });
    expect(a.exitCode).not.toBe(0);
    await srv?.destroy();
    srv = undefined;
    const d = await c.call("delete-network", { name: NET }, { wait: 60 });
    expect(d.status, JSON.stringify(d.body)).toBe(200);
    expect((await h.virsh(["net-list", "--all", "--name"])).stdout).not.toContain(NET);
  });

  it("control: without CAP_NET_ADMIN the same worker does not start, its first nft command refused (the set is what restricts it)", async () => {
    const without = caps.bounding.filter((x) => x !== "net_admin");
    const log = workerLog(c.prefix, "cap");
    const before = readFileSync(log, "utf8").length;
    const started = await c.startWorker("cap", { wrap: setprivArgv(without, without) }).then(
      () => "started",
      (e: Error) => e.message,
    );
    expect(started).toMatch(/worker cap exited/);
    expect(readFileSync(log, "utf8").slice(before)).toMatch(/nft -f failed: .*Operation not permitted/);
    // Back to the unit's set: it starts again.
    await c.startWorker("cap");
    expect(c.workers.get("cap")?.exited).toBe(false);
  });
});
