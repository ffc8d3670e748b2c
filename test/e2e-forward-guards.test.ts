/**
 * Port forwards and the host's own services (issue 15), on a sandbox
 * hypervisor with real traffic from its outside namespace:
 * - a forward bound to one host address (hostIp) reaches the VM through that
 *   address and not through another address of the host; remove names it;
 * - a port a host process starts listening on after the inventory was
 *   published passes the door but is refused by the worker, which reads the
 *   listening sockets again under the network's lock (job fails
 *   PORT_CONFLICT, nothing applied);
 * - when `ss` is unavailable to the worker (its NETFORGE_SS_PATH points at a
 *   link the test removes), the job fails closed with nothing applied, and
 *   the next inventory has no listening ports, so the door refuses (503).
 */
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import type { HostRecord } from "@netforge/core/contract";
import { getHost } from "@netforge/core/store";
import { createNamespaceVm, type NamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";
import { writeTcpHello } from "./support/traffic";

let c: Cluster;
let h: SandboxHost;
let srv: NamespaceVm | undefined;
let vmIp: string;
let ssDir: string;
let ssLink: string;
const NET = "fgn";
/** A second address of the host, on its uplink next to hostAddress. */
const EXTRA = "198.51.100.50";

beforeAll(async () => {
  // The worker reads listening ports through this link to the real ss: removing it makes ss unavailable to
  // the worker only. A slow heartbeat (still under the 15 s offline limit) leaves the test a window in which the
  // published inventory is older than the host.
  ssDir = await mkdtemp("/tmp/netforge-fg-ss-");
  ssLink = join(ssDir, "ss");
  await symlink("/usr/bin/ss", ssLink);
  c = await startCluster({ hosts: [{ id: "fg" }], label: "fg", workerEnv: { NETFORGE_SS_PATH: ssLink, NETFORGE_HEARTBEAT_MS: "8000" } });
  h = c.hosts.get("fg") as SandboxHost;
  const r = await c.call("create-network", { name: NET, type: "nat", cidr: "10.78.0.0/24" }, { wait: 30 });
  if (r.status !== 200) throw new Error(JSON.stringify(r.body));
  srv = await createNamespaceVm(h, { name: "fsrv", bridge: r.body.job.result.bridge.name as string });
  vmIp = (await srv.dhcp()).ip;
  await writeTcpHello(join(h.dir, "www-fg"));
  await srv.exec(["sh", "-c", `python3 ${join(h.dir, "www-fg", "svc.py")} >/dev/null 2>&1 &`]);
  await h.exec(["ip", "addr", "add", `${EXTRA}/24`, "dev", "uplink0"]);
  await waitFor(
    "inventory shows the extra address",
    async () => (await getHost(c.redis, c.keys, "fg"))?.interfaces.some((i) => i.addresses.includes(`${EXTRA}/24`)),
    20_000,
    300,
  );
}, 120_000);
afterAll(async () => {
  await srv?.destroy().catch(() => undefined);
  await c?.stop();
  await rm(ssDir, { recursive: true, force: true });
});

async function hello(to: string, port: number): Promise<string> {
  const r = await h.execOutside(["python3", join(h.dir, "www-fg", "client.py"), to, String(port)], { reject: false, timeoutMs: 5000 });
  return r.exitCode === 0 ? r.stdout.trim() : "failed";
}
const forward = (body: Record<string, unknown>) =>
  c.call("configure-network-port-forward", { name: NET, protocol: "tcp", ...body }, { wait: 30 });
const tableText = async () => (await h.exec(["nft", "list", "table", "inet", "netforge"], { reject: false })).stdout;
const forwardsOf = async () => (await c.call("describe-network", { name: NET })).body.network.portForwards as object[];
/** Wait for the next heartbeat's record (the inventory is then as fresh as it gets), and return it. */
async function freshInventory(): Promise<HostRecord> {
  const seen = (await getHost(c.redis, c.keys, "fg"))?.lastSeenAt;
  return waitFor(
    "a fresh heartbeat",
    async () => {
      const rec = await getHost(c.redis, c.keys, "fg");
      return rec && rec.lastSeenAt !== seen ? rec : null;
    },
    20_000,
    50,
  );
}

describe("a forward bound to one host address", () => {
  it("reaches the VM through that address and not through the host's other address; remove names the address", async () => {
    expect(await hello(EXTRA, 7000)).toBe("failed"); // nothing listens on the host itself
    const r = await forward({ hostPort: 2222, vmIp, vmPort: 7000, hostIp: EXTRA });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await hello(EXTRA, 2222)).toBe(`tcp hello ${h.outsideAddress}`);
    expect(await hello(h.hostAddress, 2222)).toBe("failed");
    expect(await tableText()).toContain(`${EXTRA} . 2222 : ${vmIp} . 7000`);
    expect(await forwardsOf()).toEqual([{ protocol: "tcp", hostPort: 2222, vmIp, vmPort: 7000, hostIp: EXTRA }]);
    expect(await c.redis.hgetall(c.keys.portClaims("fg"))).toEqual({ [`tcp/2222@${EXTRA}`]: NET });

    // Every address of that port overlaps it: refused. The other address of the host is its own forward.
    const all = await forward({ hostPort: 2222, vmIp, vmPort: 7000 });
    expect(all.status).toBe(409);
    expect(all.body.error.code).toBe("PORT_CONFLICT");
    const other = await forward({ hostPort: 2222, vmIp, vmPort: 7000, hostIp: h.hostAddress });
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    expect(await hello(h.hostAddress, 2222)).toBe(`tcp hello ${h.outsideAddress}`);

    // Remove without the address names the every-address forward, which does not exist.
    expect((await forward({ action: "remove", hostPort: 2222 })).status).toBe(404);
    const rm1 = await forward({ action: "remove", hostPort: 2222, hostIp: EXTRA });
    expect(rm1.status, JSON.stringify(rm1.body)).toBe(200);
    expect(await hello(EXTRA, 2222)).toBe("failed");
    expect(await hello(h.hostAddress, 2222)).toBe(`tcp hello ${h.outsideAddress}`);
    expect(await forwardsOf()).toEqual([{ protocol: "tcp", hostPort: 2222, vmIp, vmPort: 7000, hostIp: h.hostAddress }]);
    expect((await forward({ action: "remove", hostPort: 2222, hostIp: h.hostAddress })).status).toBe(200);
    expect(await tableText()).not.toContain("fwd-addr");
    expect(await c.redis.hgetall(c.keys.portClaims("fg"))).toEqual({});
  });
});

describe("the worker checks the host port again, under the network's lock", () => {
  it("a port a process starts listening on after the inventory was published: the job fails PORT_CONFLICT, nothing applied", async () => {
    const rec = await freshInventory();
    expect(rec.listeningPorts?.tcp).not.toContain(7777);
    await h.exec([
      "sh",
      "-c",
      "python3 -c 'import socket,time; s=socket.socket(); s.bind((\"0.0.0.0\", 7777)); s.listen(); time.sleep(600)' >/dev/null 2>&1 &",
    ]);
    await waitFor("the listener", async () => /:7777\s/.test((await h.exec(["ss", "-H", "-l", "-n", "-t"])).stdout), 5000, 50);
    const r = await forward({ hostPort: 7777, vmIp, vmPort: 7000 });
    // The door still saw the old inventory: the job was queued, and the worker refused it.
    expect(r.body.job, JSON.stringify(r.body)).toBeDefined();
    expect((await getHost(c.redis, c.keys, "fg"))?.listeningPorts?.tcp).not.toContain(7777);
    expect(r.status).toBe(409);
    expect(r.body.job.state).toBe("failed");
    expect(r.body.job.error.code).toBe("PORT_CONFLICT");
    expect(r.body.job.error.message).toContain("listens on tcp port 7777");
    expect(await tableText()).not.toMatch(/7777 :/);
    expect(await forwardsOf()).toEqual([]);
    expect(await c.redis.hget(c.keys.portClaims("fg"), "tcp/7777")).toBeNull();
  });

  it("ss unavailable to the worker: the job fails closed with nothing applied, then the door refuses (503)", async () => {
    await freshInventory();
    await rm(ssLink);
    try {
      const r = await forward({ hostPort: 2300, vmIp, vmPort: 7000 });
      expect(r.body.job, JSON.stringify(r.body)).toBeDefined();
      expect(r.body.job.state).toBe("failed");
      expect(r.body.job.error.code).toBe("HOST_COMMAND_FAILED");
      expect(r.body.job.error.message).toMatch(/could not read the ports host processes listen on.*the forward is not applied/);
      expect(await tableText()).not.toMatch(/2300 :/);
      expect(await forwardsOf()).toEqual([]);
      expect(await c.redis.hget(c.keys.portClaims("fg"), "tcp/2300")).toBeNull();
      // The next inventory cannot say which ports are taken: the door refuses instead of guessing "none".
      await waitFor(
        "an inventory without listening ports",
        async () => (await getHost(c.redis, c.keys, "fg"))?.listeningPorts === undefined,
        20_000,
        200,
      );
      const door = await forward({ hostPort: 2300, vmIp, vmPort: 7000 });
      expect(door.status, JSON.stringify(door.body)).toBe(503);
      expect(door.body.error.code).toBe("HOST_UNAVAILABLE");
      expect(door.body.job).toBeUndefined();
    } finally {
      await symlink("/usr/bin/ss", ssLink).catch(() => undefined);
    }
    await waitFor("listening ports published again", async () => (await getHost(c.redis, c.keys, "fg"))?.listeningPorts, 20_000, 200);
    const ok = await forward({ hostPort: 2300, vmIp, vmPort: 7000 });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(await hello(h.hostAddress, 2300)).toBe(`tcp hello ${h.outsideAddress}`);
  });
});
