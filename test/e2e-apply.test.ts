/**
 * Declarative plan/apply/export (docs/adr/0043) in a real terminal: tmux runs `npx netforge plan|apply|export`
 * against a real API, a worker and a sandbox hypervisor. apply creates two networks; a second apply plans
 * nothing; one field changed plans one change, applied live while a namespace VM stays attached (its link up,
 * its gateway answering); export then plan is nothing; --prune deletes only the file's own network; a change
 * made between plan and apply gets 412 and a fresh plan; an invalid file is refused naming every path.
 * Run under the e2e lock (it creates a sandbox host).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createNamespaceVm, type NamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, TOKENS } from "./support/cluster";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "apply";
const SOCKET = `netforge-apply-test-${process.pid}`;
const tmux = (...args: string[]) => execa("tmux", ["-L", SOCKET, ...args]);
const SCREENS = join(ROOT, ".netforge", "cli-screens");
mkdirSync(SCREENS, { recursive: true });
let screenNo = 0;

let c: Cluster;
let h: SandboxHost;
let vm: NamespaceVm | null = null;
const dir = mkdtempSync(join(tmpdir(), "netforge-apply-"));
const FILE = join(dir, "fleet.yaml");

async function screen(): Promise<string> {
  return (await tmux("capture-pane", "-p", "-J", "-t", "cli", "-S", "-400")).stdout;
}

/** Type `command` into the terminal and wait for it to end; the screen and its exit code. */
async function run(command: string, opts: { timeoutMs?: number; whileRunning?: (screen: string) => Promise<boolean> } = {}) {
  await tmux("send-keys", "-t", "cli", "clear", "Enter");
  for (let i = 0; i < 100 && /^EXIT=\d+$/m.test(await screen()); i++) await new Promise((r) => setTimeout(r, 50));
  await tmux("clear-history", "-t", "cli");
  await tmux("send-keys", "-t", "cli", "-l", `${command}; echo "EXIT=$?"`);
  await tmux("send-keys", "-t", "cli", "Enter");
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  let acted = false;
  for (;;) {
    const s = await screen();
    const m = /^EXIT=(\d+)$/m.exec(s);
    if (m) {
      writeFileSync(join(SCREENS, `apply-${++screenNo}.txt`), `${s.trimEnd()}\n`);
      return { screen: s, code: Number(m[1]) };
    }
    if (opts.whileRunning && !acted) acted = await opts.whileRunning(s);
    if (Date.now() > deadline) throw new Error(`'${command}' did not end; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The file: web (nat, DHCP range `range`) and, unless left out, db (isolated). */
interface FleetOptions {
  range?: [string, string];
  db?: boolean;
  rule?: boolean;
  dbCidr?: string;
  forward?: boolean;
  reservation?: boolean;
  dns?: boolean;
  mtu?: number;
}
function writeFleet(o: FleetOptions = {}): void {
  const [start, end] = o.range ?? ["10.71.0.100", "10.71.0.200"];
  const lines = [
    "apiVersion: netforge/v1",
    "kind: Fleet",
    "metadata:",
    "  name: lab",
    "networks:",
    "  - name: web",
    "    type: nat",
    `    host: ${HOST}`,
    "    cidr: 10.71.0.0/24",
    ...(o.mtu ? [`    mtu: ${o.mtu}`] : []),
    "    dhcp:",
    `      start: ${start}`,
    `      end: ${end}`,
    "      leaseTime: 3600",
    "    firewall:",
    "      defaultInbound: drop",
    "      rules:",
    "        - { direction: inbound, protocol: tcp, ports: 22, action: accept, comment: ssh }",
    ...(o.rule ? ["        - { direction: inbound, protocol: tcp, ports: 443, action: accept }"] : []),
    "    reservations:",
    "      - { mac: '52:54:00:71:00:10', ip: 10.71.0.10, hostname: db1 }",
    ...(o.reservation ? ["      - { mac: '52:54:00:71:00:11', ip: 10.71.0.11 }"] : []),
    ...(o.forward ? ["    portForwards:", "      - { protocol: tcp, hostPort: 8022, vmIp: 10.71.0.20, vmPort: 22 }"] : []),
    ...(o.dns ? ["    dnsHosts:", "      - { ip: 10.71.0.20, names: [app] }"] : []),
    ...(o.db === false
      ? []
      : [
          "  - name: db",
          "    type: isolated",
          `    host: ${HOST}`,
          `    cidr: ${o.dbCidr ?? "10.72.0.0/24"}`,
          "    dnsHosts:",
          "      - { ip: 10.72.0.5, names: [pg] }",
        ]),
  ];
  writeFileSync(FILE, `${lines.join("\n")}\n`);
}

const versionOf = async (name: string): Promise<number> => (await c.call("describe-network", { name })).body.network.version;

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST }], label: "apply" });
  h = c.hosts.get(HOST) as SandboxHost;
  await tmux(
    "new-session",
    "-d",
    "-s",
    "cli",
    "-x",
    "200",
    "-y",
    "60",
    "-c",
    ROOT,
    "-e",
    `NETFORGE_URL=${c.baseUrl}`,
    "-e",
    `NETFORGE_TOKEN=${TOKENS.operator}`,
    "-e",
    "PS1=$ ",
    "bash --norc --noprofile",
  );
});

afterAll(async () => {
  await vm?.destroy().catch(() => undefined);
  await tmux("kill-server").catch(() => undefined);
  await c?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("netforge plan / apply / export", () => {
  it("an invalid file is refused as a whole (exit 2), naming the path of every error; nothing is read or changed", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      "apiVersion: netforge/v1\nkind: Fleet\nmetadata: { name: lab }\nnetworks:\n  - { name: a, type: nat, cidr: 10.73.0.5/24 }\n  - { name: b, type: nat, cidr: 10.74.0.0/24, firewall: { defaultInbound: maybe } }\n",
    );
    const r = await run(`npx netforge plan -f ${bad}`);
    expect(r.code, r.screen).toBe(2);
    expect(r.screen).toContain("is invalid");
    expect(r.screen).toMatch(/- networks\[0\]\.cidr: /);
    expect(r.screen).toMatch(/- networks\[1\]\.firewall\.defaultInbound: /);
  });

  it("plan shows both creates with their exact commands; apply creates both networks, live, per network", async () => {
    writeFleet();
    const p = await run(`npx netforge plan -f ${FILE}`);
    expect(p.code, p.screen).toBe(0);
    expect(p.screen).toContain("network web: create");
    expect(p.screen).toContain("network db: create");
    expect(p.screen).toMatch(/\$ virsh net-define/);
    const a = await run(`npx netforge apply -f ${FILE} --yes`, { timeoutMs: 120_000 });
    expect(a.code, a.screen).toBe(0);
    expect(a.screen).toMatch(/\[web\] {3}✔ defining network \(\d+\.\d+s\)/);
    expect(a.screen).toMatch(/\[db\] {3}✔ starting network/);
    expect(a.screen).toMatch(/\[web\] ✔ done \(3 change\(s\)\)/);
    expect(a.screen).toContain("Apply complete");
    const web = (await c.call("describe-network", { name: "web" })).body.network;
    expect(web).toMatchObject({
      managedBy: "lab",
      dhcp: { start: "10.71.0.100", end: "10.71.0.200" },
      firewall: { defaultInbound: "drop" },
    });
    expect(web.reservations).toEqual([{ mac: "52:54:00:71:00:10", ip: "10.71.0.10", hostname: "db1" }]);
    expect((await c.call("describe-network", { name: "db" })).body.network.dnsHosts).toEqual([{ ip: "10.72.0.5", names: ["pg"] }]);
  });

  it("a second apply of the same file plans nothing", async () => {
    const p = await run(`npx netforge plan -f ${FILE}`);
    expect(p.code, p.screen).toBe(0);
    expect(p.screen).toContain("network web: No changes");
    expect(p.screen).toContain("No changes: the cluster matches the file (lab).");
    const before = await versionOf("web");
    const a = await run(`npx netforge apply -f ${FILE}`);
    expect(a.code, a.screen).toBe(0);
    expect(a.screen).toContain("No changes");
    expect(await versionOf("web")).toBe(before);
  });

  it("one field changed (the DHCP range): one change, applied live while a VM stays attached", async () => {
    vm = await createNamespaceVm(h, { name: "applyvm", bridge: "nf-web", mac: "52:54:00:71:00:20" });
    await vm.dhcp();
    writeFleet({ range: ["10.71.0.100", "10.71.0.150"] });
    const p = await run(`npx netforge plan -f ${FILE}`);
    expect(p.code, p.screen).toBe(0);
    expect(p.screen).toContain("network web: update (1 change)");
    expect(p.screen).toContain("network db: No changes");
    expect(p.screen).toMatch(/\[1\] netforge network dhcp web: DHCP range 10\.71\.0\.100-10\.71\.0\.150/);
    expect(p.screen).toMatch(/\$ virsh net-update web add ip-dhcp-range/);
    const before = await versionOf("web");
    const a = await run(`npx netforge apply -f ${FILE} --yes`);
    expect(a.code, a.screen).toBe(0);
    expect(a.screen).toMatch(/\[web\] {3}✔ applying change/);
    expect(a.screen).toContain("Apply complete: 1 change(s) applied to 1 network(s).");
    expect(await versionOf("web")).toBe(before + 1);
    expect((await c.call("describe-network", { name: "web" })).body.network.dhcp.end).toBe("10.71.0.150");
    // The VM's link stayed up on the bridge, and its gateway still answers.
    const link = await vm.exec(["ip", "-o", "link", "show", "eth0"]);
    expect(link.stdout).toMatch(/state UP/);
    expect((await h.exec(["ip", "-o", "link", "show", "master", "nf-web"])).stdout).toContain(vm.hostIfname);
    await vm.exec(["busybox", "ping", "-c", "1", "-W", "2", "10.71.0.1"]);
  });

  it("each other part changed alone (firewall, forward, reservation, DNS, MTU): one change each, live, the VM attached", async () => {
    const base: FleetOptions = { range: ["10.71.0.100", "10.71.0.150"] };
    const steps: [FleetOptions, string][] = [
      [{ rule: true }, "network firewall"],
      [{ rule: true, forward: true }, "network forward"],
      [{ rule: true, forward: true, reservation: true }, "network ip assign"],
      [{ rule: true, forward: true, reservation: true, dns: true }, "network dns"],
      [{ rule: true, forward: true, reservation: true, dns: true, mtu: 1400 }, "network mtu"],
    ];
    for (const [opts, command] of steps) {
      writeFleet({ ...base, ...opts });
      const p = await run(`npx netforge plan -f ${FILE}`);
      expect(p.code, p.screen).toBe(0);
      expect(p.screen, command).toContain("network web: update (1 change)");
      expect(p.screen).toContain(`[1] netforge ${command} web:`);
      const a = await run(`npx netforge apply -f ${FILE} --yes`);
      expect(a.code, a.screen).toBe(0);
      expect(a.screen).toContain("Apply complete: 1 change(s) applied to 1 network(s).");
      expect((await vm?.exec(["ip", "-o", "link", "show", "eth0"]))?.stdout).toMatch(/state UP/);
    }
    const web = (await c.call("describe-network", { name: "web" })).body.network;
    expect(web.firewall.rules).toHaveLength(2);
    expect(web.portForwards).toEqual([{ protocol: "tcp", hostPort: 8022, vmIp: "10.71.0.20", vmPort: 22 }]);
    expect(web.reservations).toHaveLength(2);
    expect(web.dnsHosts).toEqual([{ ip: "10.71.0.20", names: ["app"] }]);
    expect(web.mtu).toBe(1400);
    // Back to the file without them: each part's removal, in one apply (an MTU left out is kept: nothing unsets one).
    writeFleet(base);
    const back = await run(`npx netforge apply -f ${FILE} --yes`);
    expect(back.code, back.screen).toBe(0);
    expect(back.screen).toContain("network web: update (4 changes)");
    await vm?.exec(["busybox", "ping", "-c", "1", "-W", "2", "10.71.0.1"]);
  });

  it("a cidr changed: a replacement, refused without --allow-replace, run with it", async () => {
    writeFleet({ range: ["10.71.0.100", "10.71.0.150"], dbCidr: "10.76.0.0/24" });
    const p = await run(`npx netforge plan -f ${FILE}`);
    expect(p.screen).toContain("network db: REPLACE");
    expect(p.screen).toContain('because cidr: "10.72.0.0/24" -> "10.76.0.0/24"');
    expect(p.screen).toContain("network web: No changes");
    const refused = await run(`npx netforge apply -f ${FILE} --yes`);
    expect(refused.code, refused.screen).toBe(2);
    expect(refused.screen).toContain("run again with --allow-replace");
    expect((await c.call("describe-network", { name: "db" })).body.network.cidr).toBe("10.72.0.0/24");
    const a = await run(`npx netforge apply -f ${FILE} --yes --allow-replace`);
    expect(a.code, a.screen).toBe(0);
    expect(a.screen).toMatch(/\[db\] {3}✔ removing definition/);
    const db = (await c.call("describe-network", { name: "db" })).body.network;
    expect(db).toMatchObject({ cidr: "10.76.0.0/24", managedBy: "lab", dnsHosts: [{ ip: "10.72.0.5", names: ["pg"] }] });
  });

  it("export, then plan of the exported file: nothing to do", async () => {
    const out = join(dir, "exported.yaml");
    const e = await run(`npx netforge export > ${out}`);
    expect(e.code, e.screen).toBe(0);
    const p = await run(`npx netforge plan -f ${out}`);
    expect(p.code, p.screen).toBe(0);
    expect(p.screen).toContain("No changes: the cluster matches the file (lab).");
  });

  it("--prune deletes the network the file no longer lists, and never a network it did not create", async () => {
    const hand = await c.call("create-network", { name: "hand", type: "isolated", host: HOST, cidr: "10.75.0.0/24" }, { wait: 30 });
    expect(hand.status, JSON.stringify(hand.body)).toBe(200);
    writeFleet({ range: ["10.71.0.100", "10.71.0.150"], db: false });
    const p = await run(`npx netforge plan -f ${FILE}`);
    expect(p.screen).toContain("network(s) managed by lab are no longer in the file: --prune deletes them");
    const a = await run(`npx netforge apply -f ${FILE} --prune --yes`);
    expect(a.code, a.screen).toBe(0);
    expect(a.screen).toContain("network db: PRUNE");
    expect(a.screen).not.toContain("network hand");
    expect((await c.call("describe-network", { name: "db" })).status).toBe(404);
    expect((await c.call("describe-network", { name: "hand" })).status).toBe(200);
    expect((await c.call("describe-network", { name: "web" })).status).toBe(200);
  });

  it("a change made between plan and apply: 412, 'changed since the plan' and the fresh plan; nothing of the file applied", async () => {
    writeFleet({ range: ["10.71.0.100", "10.71.0.150"], db: false, rule: true });
    const a = await run(`npx netforge apply -f ${FILE}`, {
      // At the question, someone else changes web (its version moves), then the question is answered yes.
      whileRunning: async (s) => {
        if (!s.includes("[y/N]")) return false;
        const other = await c.call("configure-network-dhcp", { name: "web", start: "10.71.0.100", end: "10.71.0.160" }, { wait: 30 });
        expect(other.status, JSON.stringify(other.body)).toBe(200);
        await tmux("send-keys", "-t", "cli", "y", "Enter");
        return true;
      },
    });
    expect(a.code, a.screen).toBe(3);
    expect(a.screen).toContain("PRECONDITION_FAILED");
    expect(a.screen).toContain("network web changed since the plan (412 PRECONDITION_FAILED): run plan again. The plan now:");
    // The fresh plan has both: the file's range back and the new rule.
    expect(a.screen).toMatch(/network web: update \(2 changes\)/);
    const web = (await c.call("describe-network", { name: "web" })).body.network;
    expect(web.dhcp.end).toBe("10.71.0.160");
    expect(web.firewall.rules).toHaveLength(1);
  });
});
