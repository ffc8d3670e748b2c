/**
 * The exact host commands of a create, and of its undo when a step fails —
 * the libvirt-tests pattern: a recording runner answers like a host (with a
 * little state: which networks are defined/active) and the argv sequence is
 * compared with the expected one. Every command is an argv array; nothing
 * goes through a shell. The job record lives in the real test Redis.
 */
import type { CreateNetworkPayload } from "@netforge/core/contract";
import { newJobRecord, saveNewJob } from "@netforge/core/store";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { commandFailed, type CommandResult, type CommandRunner, type RunOptions } from "@netforge/worker";
import {
  createNetwork,
  HostFirewall,
  type JobContext,
  JobReporter,
  NetworkCatalog,
  NftBackend,
  Revert,
  Virsh,
} from "@netforge/worker/testing";
import { testRedis } from "./support/redis";

const t = testRedis("cmds");
afterAll(() => t.cleanup());

/** A fake host: answers ip/ss/virsh like a host with no networks yet, remembering define/start. */
class FakeHost implements CommandRunner {
  calls: string[][] = [];
  defined = new Map<string, string>();
  active = new Set<string>();
  failOn: string | null = null;

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const argv = [cmd, ...args];
    this.calls.push(argv.map((a) => (a.startsWith("/") && a.endsWith(".xml") ? "<tmp.xml>" : a)));
    const r = await this.answer(cmd, [...args]);
    if (r.exitCode !== 0 && !opts.allowFailure) throw commandFailed(cmd, args, r);
    return r;
  }

  private async answer(cmd: string, args: string[]): Promise<CommandResult> {
    const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
    if (cmd === "ip" && args.includes("addr")) {
      return ok(
        JSON.stringify([{ ifname: "uplink0", operstate: "UP", addr_info: [{ family: "inet", local: "198.51.100.2", prefixlen: 24 }] }]),
      );
    }
    if (cmd === "ip" && args.includes("route")) return ok("[]");
    if (cmd === "ss")
      return ok([...this.active].map((n) => `UNCONN 0 0 0.0.0.0%nf-${n}:67 0.0.0.0:* users:(("dnsmasq",pid=9,fd=3))`).join("\n"));
    if (cmd === "nft") return ok(args[0] === "-j" ? '{"nftables":[]}' : "");
    if (cmd !== "virsh") throw new Error(`unexpected command ${cmd}`);
    const [, , , verb, name] = args; // -c uri -q <verb> <arg>
    if (verb === this.failOn) return { stdout: "", stderr: `error: injected failure of ${verb}`, exitCode: 1 };
    const { readFile } = await import("node:fs/promises");
    switch (verb) {
      case "net-list":
        return ok([...this.defined.keys()].map((n) => ` ${n} ${this.active.has(n) ? "active" : "inactive"} no yes`).join("\n"));
      case "net-define": {
        const xml = await readFile(name as string, "utf8");
        this.defined.set(/<name>([^<]+)</.exec(xml)?.[1] ?? "?", xml);
        return ok();
      }
      case "net-start":
        this.active.add(name as string);
        return ok();
      case "net-destroy":
        this.active.delete(name as string);
        return ok();
      case "net-undefine":
        this.defined.delete(name as string);
        return ok();
      case "net-autostart":
        return ok();
      case "net-info":
        if (!this.defined.has(name as string))
          return { stdout: "", stderr: "error: Network not found: no network with matching name", exitCode: 1 };
        return ok(`Name: ${name}\nActive: ${this.active.has(name as string) ? "yes" : "no"}\nPersistent: yes\nAutostart: no\n`);
      default:
        throw new Error(`unexpected virsh ${verb}`);
    }
  }
}

async function jobContext(host: FakeHost): Promise<JobContext> {
  const record = newJobRecord({
    action: "create-network",
    network: "web",
    host: "h1",
    payload: {},
    steps: ["checking host", "defining network", "starting network", "setting autostart", "verifying DHCP"],
  });
  await saveNewJob(t.redis, t.keys, record);
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
    hostChanged: () => undefined,
    report: new JobReporter(t.redis, t.keys, record),
    revert: new Revert(),
  };
}

const payload: CreateNetworkPayload = {
  name: "web",
  type: "nat",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  host: "h1",
  description: "",
  cidr: "10.70.0.0/24",
  gateway: "10.70.0.1",
  dhcp: { enabled: true, start: "10.70.0.100", end: "10.70.0.150", leaseTime: 600 },
  autostart: true,
  createdAt: "2026-11-28T00:00:00.000Z",
  start: true,
};
const V = ["virsh", "-c", "qemu:///system", "-q"];
const READ_HOST = [
  [...V, "net-list", "--all"],
  ["ip", "-d", "-j", "addr", "show"],
  ["ip", "-j", "-4", "route", "show", "table", "all"],
];

/** What create-network runs at the same time after the define (as joined command lines, sorted: their order varies). */
const STARTED_TOGETHER = [
  [...V, "net-start", "web"],
  // The traffic counters of the table now, carried into the new one (render/nft.ts), then the transaction.
  ["nft", "-j", "list", "table", "inet", "netforge"],
  ["nft", "-f", "-"],
  ["nft", "-j", "list", "ruleset"],
  [...V, "net-autostart", "web"],
]
  .map((c) => c.join(" "))
  .sort();

describe("create-network host commands", () => {
  it("define; then start, netforge's nft table and autostart at the same time; then the DHCP probe — nothing else", async () => {
    const host = new FakeHost();
    const ctx = await jobContext(host);
    const rec = await createNetwork(ctx, payload);
    expect(rec).toMatchObject({ name: "web", state: "active", bridge: { name: "nf-web" }, cidr: "10.70.0.0/24" });
    expect(host.calls.slice(0, 3).sort()).toEqual([...READ_HOST].sort()); // read in parallel
    expect(host.calls[3]).toEqual([...V, "net-define", "<tmp.xml>"]);
    const together = host.calls.slice(4, 9).map((c) => c.join(" "));
    expect([...together].sort()).toEqual(STARTED_TOGETHER);
    // The policy read follows our table's transaction, which follows the counters' read.
    expect(together.indexOf("nft -j list ruleset")).toBeGreaterThan(together.indexOf("nft -f -"));
    expect(together.indexOf("nft -f -")).toBeGreaterThan(together.indexOf("nft -j list table inet netforge"));
    expect(host.calls.slice(9)).toEqual([["ss", "-H", "-u", "-l", "-n", "-p", "sport", "=", ":67"]]);
    // libvirt writes no rules of its own (forward mode 'open'); the type lives in the metadata and our table.
    expect(host.defined.get("web")).toContain("<forward mode='open'/>");
    expect(host.defined.get("web")).toContain("<nf:type>nat</nf:type>");
    expect(ctx.firewall.get("web")).toMatchObject({ reachOutside: true, masquerade: true, bridge: "nf-web", ownsTypeRules: true });
  });

  it("a failing step runs the undos newest first and leaves nothing defined", async () => {
    const host = new FakeHost();
    host.failOn = "net-autostart";
    const ctx = await jobContext(host);
    await expect(createNetwork(ctx, payload)).rejects.toMatchObject({ code: "HOST_COMMAND_FAILED" });
    const undo = await ctx.revert.run();
    expect(undo.failed).toEqual([]);
    // The network's start and its table ran at the same time: their undos (newest first) in either order, then the undefine.
    const labels = undo.undone.map((u) => u.label);
    expect(labels.slice(0, 2).sort()).toEqual(["restore firewall of web", "stop network"]);
    expect(labels[2]).toBe("undefine network");
    expect(host.calls[3]).toEqual([...V, "net-define", "<tmp.xml>"]);
    expect(
      host.calls
        .slice(4, 9)
        .map((c) => c.join(" "))
        .sort(),
    ).toEqual(STARTED_TOGETHER);
    // The undo: the table restored (its counters read first) and the network stopped, in the order their parts
    // finished, then undefined; what follows only reads the table (the counters of the network dropped).
    expect(
      host.calls
        .slice(9, 12)
        .map((c) => c.join(" "))
        .sort(),
    ).toEqual(["nft -f -", "nft -j list table inet netforge", [...V, "net-destroy", "web"].join(" ")].sort());
    expect(host.calls.slice(12, 14)).toEqual([
      [...V, "net-info", "web"],
      [...V, "net-undefine", "web"],
    ]);
    for (const c of host.calls.slice(14)) expect(c.join(" ")).toBe("nft -j list table inet netforge");
    expect(host.defined.size).toBe(0);
    expect(host.active.size).toBe(0);
    expect(ctx.firewall.get("web")).toBeNull();
  });
});
