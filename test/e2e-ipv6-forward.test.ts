/**
 * IPv6 port forwards (issue 18), proven with real traffic on a sandbox host whose uplink has an IPv6 address toward
 * the outside namespace (the sandbox's `uplinkCidr6`): a forward to a VM's IPv6 address answers on the host's IPv6
 * address, from the outside and from the host itself, and not on its IPv4 one; the VM sees the outside's own
 * address; the network's inbound rules and default apply to the forwarded flow as to an IPv4 one; a forward bound to
 * one host IPv6 address (hostIp); a dry run changes nothing; drift repair and a network restart render it again from
 * the spec; removing it cuts an open connection and stops it. The host port is one claim per protocol across both
 * families: an IPv4 forward of another network (or of the same one) on it is 409 PORT_CONFLICT naming the holder,
 * until the IPv6 forward is removed. Refusals (a network without IPv6, an address outside the prefix, the gateway, a
 * hostIp of the other family or not the host's) change nothing.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createNamespaceVm, type NamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { getHost } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";
import { FORWARD_CLIENT_PY } from "./support/traffic";

const HOST = "v6f";
let c: Cluster;
let h: SandboxHost;
let vm: NamespaceVm;
const NET = { name: "v6fw", cidr: "10.89.0.0/24", cidr6: "fd00:89::/64", gateway6: "fd00:89::1", bridge: "nf-v6fw" };
/** A network without IPv6 (the other claimant of the host port). */
const V4NET = { name: "v4fw", cidr: "10.90.0.0/24" };
const VM6 = "fd00:89::10";
const HOST_PORT = 18080;
const BOUND_PORT = 18443;
let HOST6: string;
let OUTSIDE6: string;

/** In the VM: "hello <client address>" to each connection on its IPv6 address, then an echo until the client goes. */
const SERVICE = `import socket, sys, threading
def serve(c, a):
    try:
        c.sendall(("hello %s\\n" % a[0]).encode())
        while True:
            d = c.recv(64)
            if not d: break
            c.sendall(d)
    except OSError: pass
    c.close()
t = socket.socket(socket.AF_INET6); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind((sys.argv[1], int(sys.argv[2]))); t.listen(16)
while True:
    c, a = t.accept(); threading.Thread(target=serve, args=(c, a), daemon=True).start()
`;
const dir = () => join(h.dir, "www-v6f");

async function client(where: "outside" | "host", args: string[], timeoutMs = 6000): Promise<string> {
  const argv = ["python3", join(dir(), "client.py"), ...args];
  const r =
    where === "outside" ? await h.execOutside(argv, { reject: false, timeoutMs }) : await h.exec(argv, { reject: false, timeoutMs });
  return r.exitCode === 0 ? r.stdout.trim() : `failed: ${r.stderr.trim().split("\n").at(-1) ?? r.exitCode}`;
}
const forward = (body: Record<string, unknown>, name = NET.name) =>
  c.call("configure-network-port-forward", { name, ...body }, { wait: 30 });
async function firewall(body: Record<string, unknown>) {
  const r = await c.call("configure-network-firewall", { name: NET.name, ...body }, { wait: 30 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}
/**
 * A VM with its IPv4 lease first (port security lets IPv6 through from a MAC the network knows), then a fixed address
 * of the prefix and its route through the gateway (the forward's subject is the address, not SLAAC, which
 * test/e2e-ipv6.test.ts proves), and the service on that address.
 */
async function makeVm(name: string): Promise<NamespaceVm> {
  const v = await createNamespaceVm(h, { name, bridge: NET.bridge });
  await v.dhcp();
  await v.exec(["ip", "-6", "addr", "add", `${VM6}/64`, "dev", "eth0", "nodad"]);
  await v.exec(["ip", "-6", "route", "replace", "default", "via", NET.gateway6, "dev", "eth0"]);
  await v.exec(["sh", "-c", `python3 ${join(dir(), "svc.py")} ${VM6} 80 >/dev/null 2>&1 &`]);
  await waitFor("the VM's service", async () => (await v.exec(["ss", "-H", "-t", "-l", "-n", "sport", "=", ":80"])).stdout.trim());
  return v;
}
const tableText = async () => (await h.exec(["nft", "list", "table", "inet", "netforge"], { reject: false })).stdout;
const claims = () => c.redis.hgetall(c.keys.portClaims(HOST));

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST, uplinkCidr6: "fd00:97::/64" }], label: HOST });
  h = c.hosts.get(HOST) as SandboxHost;
  HOST6 = h.hostAddress6 as string;
  OUTSIDE6 = h.outsideAddress6 as string;
  await mkdir(dir(), { recursive: true });
  await writeFile(join(dir(), "svc.py"), SERVICE);
  await writeFile(join(dir(), "client.py"), FORWARD_CLIENT_PY);
  for (const body of [
    { name: NET.name, type: "nat", cidr: NET.cidr, ipv6: { cidr: NET.cidr6, mode: "slaac" } },
    { name: V4NET.name, type: "nat", cidr: V4NET.cidr },
  ]) {
    const r = await c.call("create-network", body, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  vm = await makeVm("f1");
  // The host knows the outside over IPv6 (the sandbox's uplink), and the outside has no route to the VMs' prefix.
  expect((await h.exec(["ip", "-6", "addr", "show", "dev", h.uplinkInterface])).stdout).toContain(`${HOST6}/64`);
  await waitFor("the host's inventory lists its IPv6 uplink address", async () =>
    (await getHost(c.redis, c.keys, HOST))?.interfaces.some((i) => i.addresses6?.includes(`${HOST6}/64`)),
  );
}, 180_000);
afterAll(async () => {
  await vm?.destroy().catch(() => undefined);
  await c?.stop();
});

describe("an IPv6 port forward with real traffic", () => {
  it("a dry run shows the forward and changes nothing", async () => {
    const before = await tableText();
    const r = await forward({ protocol: "tcp", hostPort: HOST_PORT, vmIp: VM6, vmPort: 80, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.changed).toEqual([`added forward tcp ${HOST_PORT} -> [${VM6}]:80`]);
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command[0])).toEqual(["nft", "virsh"]);
    expect(await tableText()).toBe(before);
    expect(await claims()).toEqual({});
    expect(await client("outside", ["tcp", HOST6, String(HOST_PORT)], 4000)).toMatch(/^failed/);
  });

  it("from the outside, the host's IPv6 address on the host port reaches the VM's TCP service; the VM sees the outside's address", async () => {
    const r = await forward({ protocol: "tcp", hostPort: HOST_PORT, vmIp: VM6.toUpperCase(), vmPort: 80 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.state).toBe("succeeded");
    expect(await client("outside", ["tcp", HOST6, String(HOST_PORT)])).toBe(`hello ${OUTSIDE6}`);
    // From the host itself too (the nat output hook), as an IPv4 forward.
    expect(await client("host", ["tcp", HOST6, String(HOST_PORT)])).toBe(`hello ${HOST6}`);
    // An IPv6 forward answers on IPv6 only: the host's IPv4 address on that port reaches nothing.
    expect(await client("outside", ["tcp", h.hostAddress, String(HOST_PORT)], 4000)).toMatch(/^failed/);
    // The spec, describe, the table and the claim (one per host port and protocol).
    const d = await c.call("describe-network", { name: NET.name });
    expect(d.body.network.portForwards).toEqual([{ protocol: "tcp", hostPort: HOST_PORT, vmIp: VM6, vmPort: 80 }]);
    expect(await tableText()).toMatch(new RegExp(`map fwd6-tcp \\{[^}]*${HOST_PORT} : ${VM6} \\. 80`));
    expect(await claims()).toEqual({ [`tcp/${HOST_PORT}`]: NET.name });
  });

  it("the host port is one claim for both families: an IPv4 forward on it is 409 PORT_CONFLICT naming the holder", async () => {
    const other = await forward({ protocol: "tcp", hostPort: HOST_PORT, vmIp: "10.90.0.10", vmPort: 80 }, V4NET.name);
    expect(other.status, JSON.stringify(other.body)).toBe(409);
    expect(other.body.error.code).toBe("PORT_CONFLICT");
    expect(other.body.error.details.heldBy).toEqual({ network: NET.name });
    // In the same network: refused too, never a silent switch of family.
    const same = await forward({ protocol: "tcp", hostPort: HOST_PORT, vmIp: "10.89.0.10", vmPort: 80 });
    expect(same.status, JSON.stringify(same.body)).toBe(409);
    expect(same.body.error.code).toBe("PORT_CONFLICT");
    expect(same.body.error.details.heldBy.network).toBe(NET.name);
    expect(same.body.error.message).toMatch(/\(IPv6\); a forward has one family/);
    // Another protocol is another claim.
    expect((await forward({ protocol: "udp", hostPort: HOST_PORT, vmIp: "10.90.0.10", vmPort: 80 }, V4NET.name)).status).toBe(200);
    expect(await client("outside", ["tcp", HOST6, String(HOST_PORT)])).toBe(`hello ${OUTSIDE6}`);
  });

  it("refusals change nothing: no IPv6 on the network (422), outside the prefix or the gateway (400), hostIp of the other family or not the host's (400)", async () => {
    const before = await tableText();
    const cases: [Record<string, unknown>, string, number, string, string?][] = [
      [{ vmIp: "fd00:90::10" }, V4NET.name, 422, "UNSUPPORTED_FOR_TYPE"],
      [{ vmIp: "fd00:88::10" }, NET.name, 400, "VALIDATION_FAILED", "vmIp"],
      [{ vmIp: NET.gateway6 }, NET.name, 400, "VALIDATION_FAILED", "vmIp"],
      [{ vmIp: "fd00:89::" }, NET.name, 400, "VALIDATION_FAILED", "vmIp"],
      [{ vmIp: VM6, hostIp: h.hostAddress }, NET.name, 400, "VALIDATION_FAILED", "hostIp"],
      [{ vmIp: VM6, hostIp: "fd00:97::5" }, NET.name, 400, "VALIDATION_FAILED", "hostIp"],
    ];
    for (const [body, name, status, code, path] of cases) {
      const r = await forward({ protocol: "tcp", hostPort: 18500, vmPort: 80, ...body }, name);
      expect([r.status, r.body.error?.code], JSON.stringify(r.body)).toEqual([status, code]);
      if (path) expect(r.body.error.details.issues[0].path).toBe(path);
    }
    expect(await tableText()).toBe(before);
    expect(Object.keys(await claims()).sort()).toEqual([`tcp/${HOST_PORT}`, `udp/${HOST_PORT}`]);
  });

  it("the network's inbound rules and default apply to the forwarded IPv6 flow, as to an IPv4 one", async () => {
    await firewall({ defaultInbound: "drop", rules: [] });
    expect(await client("outside", ["tcp", HOST6, String(HOST_PORT)], 4000)).toMatch(/^failed/);
    await firewall({
      defaultInbound: "drop",
      rules: [{ direction: "inbound", protocol: "tcp", source: "fd00:97::/64", ports: "80", action: "accept" }],
    });
    expect(await client("outside", ["tcp", HOST6, String(HOST_PORT)])).toBe(`hello ${OUTSIDE6}`);
    await firewall({ defaultInbound: "accept", rules: [] });
  });

  it("a forward bound to one host IPv6 address (hostIp) answers there", async () => {
    const r = await forward({ protocol: "tcp", hostPort: BOUND_PORT, vmIp: VM6, vmPort: 80, hostIp: HOST6 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await client("outside", ["tcp", HOST6, String(BOUND_PORT)])).toBe(`hello ${OUTSIDE6}`);
    expect(await tableText()).toMatch(new RegExp(`map fwd6-addr-tcp \\{[^}]*${HOST6} \\. ${BOUND_PORT} : ${VM6} \\. 80`));
    expect(await claims()).toMatchObject({ [`tcp/${BOUND_PORT}@${HOST6}`]: NET.name });
  });

  it("re-rendered from the spec: the table removed by hand comes back (drift repair); a network restart keeps it", async () => {
    await h.exec(["nft", "delete", "table", "inet", "netforge"]);
    await waitFor(
      "the forward after drift repair",
      async () => (await client("outside", ["tcp", HOST6, String(HOST_PORT)], 3000)).startsWith("hello"),
      20_000,
      500,
    );
    await vm.destroy();
    expect((await c.call("stop-network", { name: NET.name }, { wait: 30 })).status).toBe(200);
    expect(await tableText()).not.toContain("fwd6");
    expect((await c.call("start-network", { name: NET.name }, { wait: 30 })).status).toBe(200);
    vm = await makeVm("f2");
    const text = await tableText();
    expect(text).toContain(`${HOST_PORT} : ${VM6} . 80`);
    expect(text).toContain(`${HOST6} . ${BOUND_PORT} : ${VM6} . 80`);
    await waitFor(
      "the forward after the restart",
      async () => (await client("outside", ["tcp", HOST6, String(HOST_PORT)], 3000)).startsWith("hello"),
      20_000,
      500,
    );
  });

  it("remove cuts an open forwarded connection and stops the forward; the port is free for an IPv4 forward", async () => {
    const connected = join(h.dir, `held6-${Date.now()}`);
    const holding = client("outside", ["hold", HOST6, String(HOST_PORT), "12", connected], 20_000);
    await waitFor("the held connection is up", async () => existsSync(connected), 10_000, 50);
    const r = await forward({ action: "remove", protocol: "tcp", hostPort: HOST_PORT });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const applied = r.body.job.result.applied as { command: string[] }[];
    expect(applied.map((s) => s.command[0])).toEqual(["nft", "conntrack", "virsh"]);
    expect(applied[1]?.command.slice(0, 4)).toEqual(["conntrack", "-D", "-f", "ipv6"]);
    expect(await holding).toBe("cut");
    expect(await client("outside", ["tcp", HOST6, String(HOST_PORT)], 4000)).toMatch(/^failed/);
    expect(await tableText()).not.toContain(`${HOST_PORT} : ${VM6}`);
    expect(await claims()).not.toHaveProperty(`tcp/${HOST_PORT}`);
    const v4 = await forward({ protocol: "tcp", hostPort: HOST_PORT, vmIp: "10.90.0.10", vmPort: 80 }, V4NET.name);
    expect(v4.status, JSON.stringify(v4.body)).toBe(200);
    // The bound one goes too (named by its hostIp, in any spelling); then no IPv6 forward map is left.
    const bound = await forward({ action: "remove", protocol: "tcp", hostPort: BOUND_PORT, hostIp: HOST6.replace("::", ":0::") });
    expect(bound.status, JSON.stringify(bound.body)).toBe(200);
    expect(await client("outside", ["tcp", HOST6, String(BOUND_PORT)], 4000)).toMatch(/^failed/);
    expect(await tableText()).not.toContain("fwd6");
  });
});
