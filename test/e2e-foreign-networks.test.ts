/**
 * libvirt networks of other tools on a sandbox hypervisor, one of every forward mode (route, open, nat with
 * IPv6 and DNS records, isolated with an MTU, a host bridge, vepa, hostdev) and one carrying another tool's
 * `<app:network>` metadata, are never netforge's: through a whole netforge lifecycle beside them (create,
 * firewall, forward, stop, start, delete, worker restarts and reconcile rounds) they are never listed or
 * described, never changed (their definitions stay byte for byte), never stopped, started or deleted, never
 * in netforge's nft table, and their subnets count as taken (CIDR_CONFLICT, naming them), their names too.
 */
import { writeFile } from "node:fs/promises";
import type { SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
const HOST = "frn";

interface Foreign {
  name: string;
  xml: string;
  /** Its IPv4 subnet, when it has one (netforge must count it as taken). */
  cidr?: string;
  /** libvirt refuses to start it here (hostdev without SR-IOV hardware): defined only. */
  definedOnly?: boolean;
}

const FOREIGN: Foreign[] = [
  {
    name: "fr-route",
    cidr: "10.91.1.0/24",
    xml: "<network><name>fr-route</name><forward mode='route'/><bridge name='frroute0'/><ip address='10.91.1.1' prefix='24'/></network>",
  },
  {
    name: "fr-open",
    cidr: "10.91.2.0/24",
    xml: "<network><name>fr-open</name><forward mode='open'/><bridge name='fropen0'/><ip address='10.91.2.1' prefix='24'/></network>",
  },
  {
    name: "fr-nat6",
    cidr: "10.91.3.0/24",
    xml:
      "<network><name>fr-nat6</name><forward mode='nat'><nat ipv6='yes'/></forward><bridge name='frnat0'/>" +
      "<dns><host ip='10.91.3.5'><hostname>db</hostname></host></dns>" +
      "<ip address='10.91.3.1' prefix='24'><dhcp><range start='10.91.3.100' end='10.91.3.200'/></dhcp></ip>" +
      "<ip family='ipv6' address='fd91:3::1' prefix='64'/></network>",
  },
  {
    name: "fr-iso",
    cidr: "10.91.4.0/24",
    xml: "<network><name>fr-iso</name><bridge name='friso0'/><mtu size='1400'/><ip address='10.91.4.1' prefix='24'/></network>",
  },
  { name: "fr-hostbr", xml: "<network><name>fr-hostbr</name><forward mode='bridge'/><bridge name='frhostbr'/></network>" },
  { name: "fr-vepa", xml: "<network><name>fr-vepa</name><forward mode='vepa'><interface dev='frnic0'/></forward></network>" },
  {
    name: "fr-hostdev",
    definedOnly: true,
    xml: "<network><name>fr-hostdev</name><forward mode='hostdev' managed='yes'><pf dev='frnic1'/></forward></network>",
  },
  {
    name: "fr-meta",
    cidr: "10.91.8.0/24",
    xml:
      "<network><name>fr-meta</name><metadata><app:network xmlns:app='https://example.org/xmlns/app/1'>" +
      "<app:type>nat</app:type><app:description>another tool's</app:description><app:bridge>frmeta0</app:bridge>" +
      "</app:network></metadata><forward mode='nat'/><bridge name='frmeta0'/><ip address='10.91.8.1' prefix='24'>" +
      "<dhcp><range start='10.91.8.100' end='10.91.8.200'/></dhcp></ip></network>",
  },
];
const BRIDGES = ["frroute0", "fropen0", "frnat0", "friso0", "frhostbr", "frmeta0"];

async function state(name: string): Promise<{ xml: string; active: boolean; autostart: boolean }> {
  const xml = (await h.virsh(["net-dumpxml", "--inactive", name])).stdout;
  const info = (await h.virsh(["net-info", name])).stdout;
  return { xml, active: /Active:\s+yes/.test(info), autostart: /Autostart:\s+yes/.test(info) };
}
async function allStates() {
  return Object.fromEntries(await Promise.all(FOREIGN.map(async (f) => [f.name, await state(f.name)] as const)));
}
const netforgeTable = async () => (await h.exec(["nft", "list", "table", "inet", "netforge"], { reject: false })).stdout;

let before: Awaited<ReturnType<typeof allStates>>;

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST }], label: HOST, workerEnv: { NETFORGE_RECONCILE_MS: "1000" } });
  h = c.hosts.get(HOST) as SandboxHost;
  // What the host bridge and the macvtap/hostdev modes name must exist on the host: another tool's bridge and NICs.
  await h.exec(["ip", "link", "add", "frhostbr", "type", "bridge"]);
  await h.exec(["ip", "link", "set", "frhostbr", "up"]);
  await h.exec(["ip", "link", "add", "frnic0", "type", "veth", "peer", "name", "frnic1"]);
  for (const f of FOREIGN) {
    const file = `${h.dir}/${f.name}.xml`;
    await writeFile(file, f.xml);
    await h.virsh(["net-define", file]);
    if (!f.definedOnly) await h.virsh(["net-start", f.name]);
  }
  await h.virsh(["net-autostart", "fr-open"]);
  before = await allStates();
  for (const f of FOREIGN) expect(before[f.name]?.active, f.name).toBe(!f.definedOnly);
}, 180_000);
afterAll(async () => {
  for (const f of FOREIGN) {
    await h?.virsh(["net-destroy", f.name], { reject: false });
    await h?.virsh(["net-undefine", f.name], { reject: false });
  }
  await c?.stop();
});

describe("other tools' libvirt networks, of every forward mode", () => {
  it("are never listed or described, and netforge's actions on their names find nothing of netforge's", async () => {
    const l = await c.call("list-networks", {});
    expect(l.status).toBe(200);
    expect(l.body.networks.map((n: { name: string }) => n.name).filter((n: string) => n.startsWith("fr-"))).toEqual([]);
    for (const f of FOREIGN) {
      expect((await c.call("describe-network", { name: f.name })).status, f.name).toBe(404);
      for (const action of ["stop-network", "start-network", "delete-network"]) {
        const r = await c.call(action, { name: f.name }, { wait: 30 });
        expect(r.status, `${action} ${f.name}: ${JSON.stringify(r.body)}`).toBe(404);
      }
    }
  });

  it("their subnets are taken (CIDR_CONFLICT naming the network) and their names too", async () => {
    for (const f of FOREIGN.filter((x) => x.cidr)) {
      const r = await c.call("create-network", { name: `x${f.name.slice(3)}`, type: "nat", cidr: f.cidr }, { wait: 30 });
      expect(r.status, `${f.name}: ${JSON.stringify(r.body)}`).toBe(409);
      const err = r.body.error ?? r.body.job?.error;
      expect(err.code, f.name).toBe("CIDR_CONFLICT");
      expect(err.message, f.name).toContain(f.name);
    }
    const named = await c.call("create-network", { name: "fr-meta", type: "isolated", cidr: "10.92.0.0/24" }, { wait: 30 });
    expect(named.status, JSON.stringify(named.body)).toBe(409);
    expect(named.body.error?.code ?? named.body.job?.error?.code).toBe("NAME_TAKEN");
  });

  it("a whole netforge lifecycle, worker restarts and reconcile rounds beside them leave them exactly as they were", async () => {
    const mk = await c.call("create-network", { name: "mine", type: "nat", cidr: "10.93.0.0/24" }, { wait: 30 });
    expect(mk.status, JSON.stringify(mk.body)).toBe(200);
    const fw = await c.call(
      "configure-network-firewall",
      { name: "mine", defaultInbound: "drop", rules: [{ direction: "inbound", protocol: "tcp", ports: "22", action: "accept" }] },
      { wait: 30 },
    );
    expect(fw.status, JSON.stringify(fw.body)).toBe(200);
    const fwd = await c.call(
      "configure-network-port-forward",
      { name: "mine", protocol: "tcp", hostPort: 2299, vmIp: "10.93.0.10", vmPort: 22 },
      { wait: 30 },
    );
    expect(fwd.status, JSON.stringify(fwd.body)).toBe(200);
    const table = await netforgeTable();
    expect(table).toContain("mine");
    for (const b of BRIDGES) expect(table, b).not.toContain(b);
    for (const a of ["stop-network", "start-network"]) expect((await c.call(a, { name: "mine" }, { wait: 30 })).status, a).toBe(200);
    // A restarted worker reconciles and migrates what it believes is its own at start; then a few rounds at 1 s.
    await c.startWorker(HOST);
    await new Promise((r) => setTimeout(r, 3500));
    for (const b of BRIDGES) expect(await netforgeTable(), b).not.toContain(b);
    expect((await c.call("delete-network", { name: "mine" }, { wait: 30 })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2500));

    const after = await allStates();
    for (const f of FOREIGN) expect(after[f.name], f.name).toEqual(before[f.name]);
    // Their bridges are still up with their addresses (nothing stopped or re-created them).
    for (const b of ["frroute0", "fropen0", "frnat0", "friso0", "frmeta0"]) {
      const a = await h.exec(["ip", "-br", "addr", "show", "dev", b]);
      expect(a.stdout, b).toContain("10.91.");
    }
    const l = await c.call("list-networks", {});
    expect(l.body.networks.map((n: { name: string }) => n.name).filter((n: string) => n.startsWith("fr-"))).toEqual([]);
  });
});
