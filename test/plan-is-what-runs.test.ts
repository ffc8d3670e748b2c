/**
 * The plan is what runs. For every lifecycle action (create, stop, start, delete) of every network type, over
 * random specs (fast-check), the host-changing commands a worker handler actually runs, as recorded by a fake
 * host that answers like one, are exactly the host steps of core's plan for the same host facts — the plan a
 * dry run answers (apps/api/src/dry-run.ts calls the same planners) — in the plan's order (steps a phase runs
 * at the same time compared as a set), and the nft transaction carries the plan's text for the network.
 * The fake host has a little state (defined and active networks, links, a PF's VF count in a sysfs tree), so
 * a later action plans from what an earlier one left. The job records live in the real test Redis.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CreateNetworkPayload, JobAction } from "@netforge/core/contract";
import {
  type HostFacts,
  changeHostSteps,
  commandOf,
  type HostStep,
  type JobPlan,
  type NetSpec,
  type NetworkChange,
  type NetworkFacts,
  parseNetworkXml,
  planChange,
  planCreate,
  planDelete,
  planStart,
  planStop,
  planViews,
  type StepView,
} from "@netforge/core/model";
import { newJobRecord, saveNewJob } from "@netforge/core/store";
import { commandFailed, type CommandResult, type CommandRunner, type RunOptions } from "@netforge/worker";
import {
  configureNetwork,
  createNetwork,
  deleteNetwork,
  HostFirewall,
  type JobContext,
  JobReporter,
  NetworkCatalog,
  NftBackend,
  Revert,
  startNetwork,
  stopNetwork,
  Virsh,
} from "@netforge/worker/testing";
import fc from "fast-check";
import pino from "pino";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { testRedis } from "./support/redis";

const t = testRedis("plan-runs");
afterAll(() => t.cleanup());

interface Link {
  ifname: string;
  master?: string;
  mtu: number;
  flags: string[];
  linkinfo?: { info_kind: string };
  addr_info: { family: string; local: string; prefixlen: number }[];
}

/** A fake host: answers ip/ss/nft/virsh like a host, records every command that changes it. */
class FakeHost implements CommandRunner {
  /** Host-changing commands, as a plan view writes them (virsh without its connection options, a defined file as <file>). */
  changes: { command: string[]; input?: string }[] = [];
  defined = new Map<string, string>();
  active = new Set<string>();
  autostart = new Set<string>();
  links: Link[] = [
    { ifname: "lo", mtu: 65536, flags: ["UP"], addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }] },
    { ifname: "uplink0", mtu: 1500, flags: ["UP"], addr_info: [{ family: "inet", local: "198.51.100.2", prefixlen: 24 }] },
    // An unconfigured NIC a bridge network may take, and a host bridge an operator allowed.
    { ifname: "eth1", mtu: 1500, flags: [], addr_info: [] },
    { ifname: "br0", mtu: 1500, flags: ["UP"], linkinfo: { info_kind: "bridge" }, addr_info: [] },
  ];

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const r = await this.answer(cmd, [...args], opts.input);
    if (r.exitCode !== 0 && !opts.allowFailure) throw commandFailed(cmd, args, r);
    return r;
  }

  private link(name: string): Link | undefined {
    return this.links.find((l) => l.ifname === name);
  }

  private async answer(cmd: string, args: string[], input?: string): Promise<CommandResult> {
    const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
    if (cmd === "ip" && args[0] === "link") {
      this.changes.push({ command: ["ip", ...args] });
      const [, verb, ...rest] = args;
      if (verb === "add")
        this.links.push({ ifname: rest[1] as string, mtu: 1500, flags: [], linkinfo: { info_kind: "bridge" }, addr_info: [] });
      else if (verb === "del") this.links = this.links.filter((l) => l.ifname !== rest[0]);
      else if (verb === "set") {
        const l = this.link(rest[1] as string);
        if (!l) return { stdout: "", stderr: "Cannot find device", exitCode: 1 };
        const what = rest[2];
        if (what === "master") l.master = rest[3];
        else if (what === "nomaster") delete l.master;
        else if (what === "up") l.flags = ["UP"];
        else if (what === "down") l.flags = [];
        else if (what === "mtu") l.mtu = Number(rest[3]);
      }
      return ok();
    }
    if (cmd === "ip" && args.includes("addr")) return ok(JSON.stringify(this.links));
    if (cmd === "ip" && args.includes("route")) return ok("[]");
    if (cmd === "ss")
      return ok([...this.active].map((n) => `UNCONN 0 0 0.0.0.0%nf-${n}:67 0.0.0.0:* users:(("dnsmasq",pid=9,fd=3))`).join("\n"));
    if (cmd === "nft") {
      if (args[0] === "-f") this.changes.push({ command: ["nft", ...args], input: input ?? "" });
      return ok(args[0] === "-j" ? '{"nftables":[]}' : "");
    }
    if (cmd === "iptables") return ok("");
    if (cmd === "conntrack") {
      this.changes.push({ command: [cmd, ...args] });
      return { stdout: "", stderr: "0 flow entries have been deleted.", exitCode: 1 };
    }
    if (cmd !== "virsh") throw new Error(`unexpected command ${cmd}`);
    const [, , , verb, name, flag] = args; // -c uri -q <verb> <arg>
    const record = (...rest: string[]) => this.changes.push({ command: ["virsh", verb as string, ...rest] });
    switch (verb) {
      case "net-list":
        return ok([...this.defined.keys()].map((n) => ` ${n} ${this.active.has(n) ? "active" : "inactive"} no yes`).join("\n"));
      case "net-dumpxml": {
        const n = args[args.length - 1] as string;
        return this.defined.has(n) ? ok(this.defined.get(n)) : { stdout: "", stderr: "error: Network not found", exitCode: 1 };
      }
      case "net-define": {
        record("<file>");
        const xml = await readFile(name as string, "utf8");
        this.defined.set(/<name>([^<]+)</.exec(xml)?.[1] ?? "?", xml);
        return ok();
      }
      case "net-start":
        record(name as string);
        this.active.add(name as string);
        return ok();
      case "net-destroy":
        record(name as string);
        this.active.delete(name as string);
        return ok();
      case "net-undefine":
        record(name as string);
        this.defined.delete(name as string);
        return ok();
      case "net-autostart":
        record(...[name as string, ...(flag ? [flag] : [])]);
        if (flag === "--disable") this.autostart.delete(name as string);
        else this.autostart.add(name as string);
        return ok();
      case "net-info":
        if (!this.defined.has(name as string))
          return { stdout: "", stderr: "error: Network not found: no network with matching name", exitCode: 1 };
        return ok(
          `Name: ${name}\nActive: ${this.active.has(name as string) ? "yes" : "no"}\nPersistent: yes\nAutostart: ${this.autostart.has(name as string) ? "yes" : "no"}\n`,
        );
      case "list":
        return ok("");
      case "net-update":
        // The live state only (the definition is written whole by the change's last step).
        record(...args.slice(4));
        return ok();
      default:
        throw new Error(`unexpected virsh ${verb}`);
    }
  }
}

let sysfs: string;
beforeEach(() => {
  sysfs = mkdtempSync(join(tmpdir(), "nf-plan-sysfs-"));
  const dev = join(sysfs, "class", "net", "enp3s0f0", "device");
  mkdirSync(dev, { recursive: true });
  writeFileSync(join(dev, "sriov_totalvfs"), "8\n");
  writeFileSync(join(dev, "sriov_numvfs"), "0\n");
});
afterEach(() => rmSync(sysfs, { recursive: true, force: true }));
const numVfs = () => Number(readFileSync(join(sysfs, "class", "net", "enp3s0f0", "device", "sriov_numvfs"), "utf8"));

/** One context per host (its catalog and table persist across jobs, as a worker's do). */
function hostContext(host: FakeHost) {
  const virsh = new Virsh(host, "qemu:///system");
  return {
    hostId: "h1",
    runner: host,
    virsh,
    catalog: new NetworkCatalog(virsh),
    firewall: new HostFirewall(new NftBackend(host), pino({ level: "silent" })),
    redis: t.redis,
    keys: t.keys,
    logger: pino({ level: "silent" }),
    leasesDir: "/nonexistent",
    resolvConf: "/nonexistent",
    sysfsRoot: sysfs,
    allowedInterfaces: ["br0"],
    hostChanged: () => undefined,
  };
}

async function jobContext(base: ReturnType<typeof hostContext>, action: JobAction, steps: readonly string[]): Promise<JobContext> {
  const record = newJobRecord({ action, network: "web", host: "h1", payload: {}, steps: [...steps] });
  await saveNewJob(t.redis, t.keys, record);
  return { ...base, report: new JobReporter(t.redis, t.keys, record), revert: new Revert() };
}

/** The host facts a plan reads, from the fake host as it is now (what the worker's drivers read). */
function factsOf(host: FakeHost): HostFacts {
  return {
    links: host.links.map((l) => ({
      name: l.ifname,
      master: l.master ?? null,
      mtu: l.mtu,
      up: l.flags.includes("UP"),
      kind: l.linkinfo?.info_kind ?? null,
    })),
    pfs: [{ pf: "enp3s0f0", totalVfs: 8, numVfs: numVfs(), vfsInUse: 0, vfsBound: [] }],
  };
}

/**
 * What ran equals what was planned: the recorded commands against the plan's views, phase by phase (a
 * concurrent phase as a set), sysfs writes against the VF count they leave; each nft transaction carries the
 * step's chains.
 */
function expectRanAsPlanned(host: FakeHost, from: number, plan: JobPlan, vfsBefore: number): void {
  const ran = host.changes.slice(from);
  const isSysfs = (v: StepView) => v.command[0] === "write";
  // A phase that begins with the previous one runs at the same time as it: compared together, as a set.
  const groups: { phases: JobPlan["phases"]; concurrent: boolean }[] = [];
  for (const phase of plan.phases) {
    const last = groups.at(-1);
    if (phase.overlapsPrevious && last) {
      last.phases.push(phase);
      last.concurrent = true;
    } else groups.push({ phases: [phase], concurrent: phase.concurrent === true });
  }
  let at = 0;
  for (const phase of groups) {
    const views = planViews({ ...plan, phases: phase.phases }).filter((v) => !isSysfs(v));
    const cmds = views.map((v) => v.command);
    const got = ran.slice(at, at + cmds.length);
    if (phase.concurrent) expect(got.map((r) => r.command.join(" ")).sort()).toEqual(cmds.map((c) => c.join(" ")).sort());
    else expect(got.map((r) => r.command)).toEqual(cmds);
    for (const v of views) {
      if (!v.nft) continue;
      // The host's whole table in one transaction, carrying this network's chains as planned.
      const tx = got.find((r) => r.command[0] === "nft");
      for (const line of v.nft.trim().split("\n")) expect(tx?.input).toContain(line.trim());
    }
    at += cmds.length;
  }
  expect(ran.slice(at)).toEqual([]);
  const writes = plan.phases.flatMap((p) => p.hostSteps.flatMap((s) => (s.kind === "sysfs-vfs" ? [s.vfs] : [])));
  expect(numVfs()).toBe(writes.at(-1) ?? vfsBefore);
}

const CREATE_STEPS = ["checking host", "defining network", "starting network", "setting autostart", "verifying DHCP"];

type Kind = "nat" | "isolated" | "bridge-nic" | "bridge-host" | "sriov";

function payloadOf(kind: Kind, third: number, start: boolean, autostart: boolean, dhcp: boolean): CreateNetworkPayload {
  const base = {
    name: "web",
    uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
    host: "h1",
    description: "",
    autostart,
    createdAt: "2026-11-28T00:00:00.000Z",
    start,
  };
  const none = { cidr: null, gateway: null, dhcp: { enabled: false, start: null, end: null, leaseTime: null } };
  if (kind === "nat" || kind === "isolated") {
    return {
      ...base,
      type: kind,
      cidr: `10.${third}.0.0/24`,
      gateway: `10.${third}.0.1`,
      dhcp: dhcp
        ? { enabled: true, start: `10.${third}.0.100`, end: `10.${third}.0.150`, leaseTime: 600 }
        : { enabled: false, start: null, end: null, leaseTime: null },
    };
  }
  if (kind === "sriov") return { ...base, ...none, type: "sriov", l2: { kind: "sriov", pf: "enp3s0f0", vfs: 4, vlan: null } };
  return {
    ...base,
    ...none,
    type: "bridge",
    l2: kind === "bridge-nic" ? { kind: "interface", interface: "eth1" } : { kind: "bridge", bridge: "br0" },
  };
}

const netFacts = (host: FakeHost, base: ReturnType<typeof hostContext>, withXml: boolean): NetworkFacts => {
  const xml = host.defined.get("web") ?? "";
  return {
    active: host.active.has("web"),
    autostart: host.autostart.has("web"),
    xml: withXml ? xml : "",
    forwardMode: parseNetworkXml(xml).forwardMode,
    firewall: base.firewall.get("web"),
  };
};

describe("every lifecycle action of every type runs exactly its plan", () => {
  it("create, stop, start, delete (or create stopped, start, stop, delete) over random specs", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Kind>("nat", "isolated", "bridge-nic", "bridge-host", "sriov"),
        fc.integer({ min: 1, max: 250 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        async (kind, third, start, autostart, dhcp) => {
          writeFileSync(join(sysfs, "class", "net", "enp3s0f0", "device", "sriov_numvfs"), "0\n");
          const host = new FakeHost();
          const base = hostContext(host);
          const p = payloadOf(kind, third, start, autostart, dhcp);

          // create: the spec the handler chose (its bridge name) is read back from the definition it wrote.
          let vfs = numVfs();
          const before = factsOf(host);
          await createNetwork(await jobContext(base, "create-network", CREATE_STEPS), p);
          const spec = parseNetworkXml(host.defined.get("web") ?? "").spec as NetSpec;
          expect(spec).toBeTruthy();
          expectRanAsPlanned(host, 0, planCreate(spec, { start, autostart }, before, "h1"), vfs);

          const order: ("stop" | "start")[] = start ? ["stop", "start"] : ["start", "stop"];
          for (const step of order) {
            const from = host.changes.length;
            vfs = numVfs();
            const facts = factsOf(host);
            if (step === "stop") {
              const plan = planStop("web", netFacts(host, base, false));
              await stopNetwork(await jobContext(base, "stop-network", ["checking attachments", "stopping network"]), { name: "web" });
              expectRanAsPlanned(host, from, plan, vfs);
            } else {
              const plan = planStart(spec, netFacts(host, base, false), facts, "h1");
              await startNetwork(await jobContext(base, "start-network", ["starting network", "verifying DHCP"]), { name: "web" });
              expectRanAsPlanned(host, from, plan, vfs);
            }
          }

          const from = host.changes.length;
          vfs = numVfs();
          const plan = planDelete(spec, "web", netFacts(host, base, true), factsOf(host));
          await deleteNetwork(
            await jobContext(base, "delete-network", ["checking attachments", "stopping network", "removing definition"]),
            {
              name: "web",
            },
          );
          expectRanAsPlanned(host, from, plan, vfs);
          // Delete gave back what the type took: no definition, no bridge netforge made, the NIC as it was.
          expect(host.defined.size).toBe(0);
          expect(host.links.map((l) => l.ifname).sort()).toEqual(["br0", "eth1", "lo", "uplink0"]);
          expect(host.links.find((l) => l.ifname === "eth1")).toMatchObject({ flags: [] });
          expect(host.links.find((l) => l.ifname === "eth1")?.master).toBeUndefined();
        },
      ),
      { numRuns: 40, seed: 22 },
    );
  });
});

/** A random change a routed network can take (forwards on nat only), valid for the /24 of `third`. */
const changeOf = (third: number, forwards: boolean) =>
  fc.oneof(
    fc.record({ a: fc.integer({ min: 20, max: 90 }), n: fc.integer({ min: 1, max: 20 }), lease: fc.constantFrom(120, 600, 3600) }).map(
      ({ a, n, lease }): NetworkChange => ({
        kind: "dhcp",
        start: `10.${third}.0.${a}`,
        end: `10.${third}.0.${a + n}`,
        leaseTime: lease,
      }),
    ),
    fc
      .integer({ min: 2, max: 15 })
      .map(
        (i): NetworkChange => ({ kind: "reserve-ip", mac: `52:54:00:00:00:${i.toString(16).padStart(2, "0")}`, ip: `10.${third}.0.${i}` }),
      ),
    fc
      .integer({ min: 2, max: 15 })
      .map((i): NetworkChange => ({ kind: "release-ip", mac: `52:54:00:00:00:${i.toString(16).padStart(2, "0")}` })),
    fc.record({ inbound: fc.constantFrom("accept", "drop"), port: fc.integer({ min: 1, max: 9000 }) }).map(
      ({ inbound, port }): NetworkChange => ({
        kind: "firewall",
        firewall: {
          defaultInbound: inbound as "accept" | "drop",
          defaultOutbound: "accept",
          rules: [
            {
              direction: "inbound",
              protocol: "tcp",
              source: null,
              destination: null,
              ports: String(port),
              action: "accept",
              comment: null,
            },
          ],
        },
      }),
    ),
    ...(forwards
      ? [
          fc
            .record({ add: fc.boolean(), hostPort: fc.constantFrom(18080, 18081), i: fc.integer({ min: 2, max: 15 }) })
            .map(
              ({ add, hostPort, i }): NetworkChange =>
                add
                  ? { kind: "port-forward", op: "add", protocol: "tcp", hostPort, vmIp: `10.${third}.0.${i}`, vmPort: 80 }
                  : { kind: "port-forward", op: "remove", protocol: "tcp", hostPort },
            ),
        ]
      : []),
  );

describe("every change of a routed network runs exactly its plan", () => {
  it("random DHCP, reservation, firewall and forward changes, each against the plan core gives for the same state", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<"nat" | "isolated">("nat", "isolated"),
        fc.integer({ min: 1, max: 250 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        async (kind, third, start, pick) => {
          const changes =
            fc.sample(fc.array(changeOf(third, kind === "nat"), { minLength: 1, maxLength: 6 }), { numRuns: 1, seed: pick })[0] ?? [];
          const host = new FakeHost();
          const base = hostContext(host);
          await createNetwork(await jobContext(base, "create-network", CREATE_STEPS), payloadOf(kind, third, start, true, true));
          for (const change of changes) {
            const xml = host.defined.get("web") ?? "";
            const def = parseNetworkXml(xml);
            const spec = def.spec as NetSpec;
            let expected: HostStep[];
            try {
              expected = changeHostSteps(
                planChange(
                  spec,
                  change,
                  {
                    active: host.active.has("web"),
                    leases: [],
                    native: { hosts: def.hosts, range: def.dhcp },
                    ownsTypeRules: base.firewall.get("web")?.ownsTypeRules ?? true,
                  },
                  xml,
                ),
              );
            } catch {
              // A change the planner refuses (a reservation of a taken IP, removing a forward never added): the
              // job refuses it too, before anything runs.
              await new Promise((r) => setTimeout(r, 60));
              const from = host.changes.length;
              await expect(
                configureNetwork(await jobContext(base, "assign-static-ip", ["checking change", "applying change"]), "web", change),
              ).rejects.toThrow();
              expect(host.changes.slice(from)).toEqual([]);
              continue;
            }
            // The previous job's off-path work (the IP table, the port-security pairs it learns) settles first:
            // it is not this job's and must not be counted as its commands.
            await new Promise((r) => setTimeout(r, 60));
            const from = host.changes.length;
            const result = await configureNetwork(
              await jobContext(base, "assign-static-ip", ["checking change", "applying change"]),
              "web",
              change,
            );
            const ran = host.changes.slice(from).map((r) => r.command.join(" "));
            const planned = expected.map((st) => commandOf(st).join(" "));
            // No dnsmasq runs on the fake host: ending one (before a live range update) finds no pid and runs
            // nothing; the applied list still names the step.
            const running = expected.filter((st) => st.kind !== "end-dnsmasq").map((st) => commandOf(st).join(" "));
            // A firewall change's live part and its definition write run at the same time: compared as a set.
            expect([...ran].sort()).toEqual([...running].sort());
            if (!expected.some((st) => st.kind === "nft")) expect(ran).toEqual(running);
            // What the job reports applied is the plan, in its order.
            expect(result.applied.map((a) => a.command.join(" "))).toEqual(planned);
            // The table now holds exactly the planned part (its transaction may be a delta from the part before).
            for (const st of expected) if (st.kind === "nft") expect(base.firewall.get("web")).toEqual(st.part);
          }
        },
      ),
      { numRuns: 30, seed: 22 },
    );
  });
});
