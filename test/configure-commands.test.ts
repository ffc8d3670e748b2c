/**
 * The exact host commands of a configure job, and of its undo when a step
 * fails half-way (the range was deleted, adding the new one fails): the old
 * range is put back and the spec is never rewritten. A recording fake host
 * answers virsh like libvirt; the job record lives in the real test Redis.
 */
import { type NetSpec, renderNetworkXml, sha256Hex } from "@netforge/core/model";
import { newJobRecord, saveNewJob } from "@netforge/core/store";
import pino from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { commandFailed, type CommandResult, type CommandRunner, type RunOptions } from "@netforge/worker";
import {
  configureNetwork,
  HostFirewall,
  type JobContext,
  JobReporter,
  NetworkCatalog,
  NftBackend,
  Revert,
  Virsh,
} from "@netforge/worker/testing";
import { testRedis } from "./support/redis";

const t = testRedis("cfg");
afterAll(() => t.cleanup());

const spec: NetSpec = {
  type: "nat",
  name: "web",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-web",
  cidr: "10.70.0.0/24",
  gateway: "10.70.0.1",
  dhcp: { enabled: true, start: "10.70.0.100", end: "10.70.0.150", leaseTime: 600 },
  reservations: [],
};

class FakeHost implements CommandRunner {
  calls: string[][] = [];
  xml = renderNetworkXml(spec);
  failAddRange = false;
  failDefine = false;
  /** What each `nft -f -` was fed. */
  nftInputs: string[] = [];
  /** Other networks of the host (name -> persistent definition), listed with web by `net-list`. */
  others: Record<string, string> = {};
  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    if (cmd === "nft" && args[0] === "-f") this.nftInputs.push(opts.input ?? "");
    const a = cmd === "virsh" ? args.slice(3) : [cmd, ...args]; // virsh -c uri -q <verb> ...
    this.calls.push(a.map((x) => (x.startsWith("/") && x.endsWith(".xml") ? "<tmp.xml>" : x)));
    const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
    let r: CommandResult;
    if (cmd !== "virsh") r = ok("[]");
    else if (a[0] === "net-info") r = ok("Name: web\nActive: yes\nPersistent: yes\nAutostart: yes\n");
    else if (a[0] === "net-list") r = ok(["web", ...Object.keys(this.others)].map((n) => ` ${n} active yes yes`).join("\n"));
    else if (a[0]?.startsWith("net-dumpxml") && a[0].includes(" ")) {
      // dumpXmlMany: "net-dumpxml --inactive a ; net-dumpxml --inactive b"
      const names = a[0].split(" ; ").map((c) => c.split(" ").at(-1) as string);
      r = ok(names.map((n) => (n === "web" ? this.xml : (this.others[n] ?? ""))).join("\n"));
    } else if (a[0] === "net-dumpxml") r = ok(this.xml);
    else if (a[0] === "net-update" && this.failAddRange && a[2] === "add" && a[3] === "ip-dhcp-range") {
      this.failAddRange = false; // once: the undo's add of the old range succeeds
      r = { stdout: "", stderr: "error: injected failure", exitCode: 1 };
    } else if (a[0] === "net-update") r = ok();
    else if (a[0] === "net-define" && this.failDefine) r = { stdout: "", stderr: "error: injected failure", exitCode: 1 };
    else if (a[0] === "net-define") {
      this.xml = await (await import("node:fs/promises")).readFile(a[1] as string, "utf8");
      r = ok();
    } else r = ok();
    if (r.exitCode !== 0 && !opts.allowFailure) throw commandFailed(cmd, args, r);
    return r;
  }
}

async function jobContext(host: FakeHost): Promise<JobContext> {
  const record = newJobRecord({
    action: "configure-network-dhcp",
    network: "web",
    host: "h1",
    payload: {},
    steps: ["checking change", "applying change"],
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

const OLD = "<range start='10.70.0.100' end='10.70.0.150'><lease expiry='600' unit='seconds'/></range>";
const NEW = "<range start='10.70.0.20' end='10.70.0.40'><lease expiry='300' unit='seconds'/></range>";

describe("configure-network-dhcp host commands", () => {
  it("reads the persistent definition, deletes the old range, adds the new one, writes the spec", async () => {
    const host = new FakeHost();
    const res = await configureNetwork(await jobContext(host), "web", {
      kind: "dhcp",
      start: "10.70.0.20",
      end: "10.70.0.40",
      leaseTime: 300,
    });
    expect(host.calls.filter((c) => c[0] !== "net-info" && c[0] !== "list" && c[0] !== "ip")).toEqual([
      ["net-dumpxml", "--inactive", "web"],
      ["net-update", "web", "delete", "ip-dhcp-range", OLD, "--live"],
      ["net-update", "web", "add", "ip-dhcp-range", NEW, "--live"],
      ["net-define", "<tmp.xml>"],
    ]);
    expect(host.xml).toContain("<nf:dhcp enabled='yes' start='10.70.0.20' end='10.70.0.40' leaseTime='300'/>");
    // Before each live range update the network's dnsmasq is ended (none runs on this fake host: the step finds
    // no pid and reports what it would signal).
    expect(res.applied.map((s) => s.command.slice(0, 4))).toEqual([
      ["kill", "-TERM", "<pid of web's dnsmasq>"],
      ["virsh", "net-update", "web", "delete"],
      ["kill", "-TERM", "<pid of web's dnsmasq>"],
      ["virsh", "net-update", "web", "add"],
      ["virsh", "net-define", "<file>"],
    ]);
  });

  it("a failing step puts the old range back and never rewrites the spec", async () => {
    const host = new FakeHost();
    host.failAddRange = true;
    const before = host.xml;
    const ctx = await jobContext(host);
    await expect(
      configureNetwork(ctx, "web", { kind: "dhcp", start: "10.70.0.20", end: "10.70.0.40", leaseTime: 300 }),
    ).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
    });
    const undo = await ctx.revert.run();
    expect(undo.failed).toEqual([]);
    const end = "undo: end the DHCP server (dnsmasq) of web: libvirt starts it again with the new range at once";
    expect(undo.undone.map((u) => u.label)).toEqual([end, "undo: delete DHCP range 10.70.0.100-10.70.0.150", end]);
    // The old range added back; then, as no dnsmasq runs on this fake host (a real one runs again by then), the
    // first end's undo starts one through libvirt: the old range deleted and added, live only.
    expect(host.calls.filter((c) => c[0] === "net-update" || c[0] === "net-define")).toEqual([
      ["net-update", "web", "delete", "ip-dhcp-range", OLD, "--live"],
      ["net-update", "web", "add", "ip-dhcp-range", NEW, "--live"],
      ["net-update", "web", "add", "ip-dhcp-range", OLD, "--live"],
      ["net-update", "web", "delete", "ip-dhcp-range", OLD, "--live"],
      ["net-update", "web", "add", "ip-dhcp-range", OLD, "--live"],
    ]);
    expect(host.xml).toBe(before);
  });
});

const FIREWALL = {
  defaultInbound: "drop" as const,
  defaultOutbound: "accept" as const,
  rules: [
    {
      direction: "inbound" as const,
      protocol: "tcp" as const,
      source: "10.0.0.0/8",
      destination: null,
      ports: "22",
      action: "accept" as const,
      comment: null,
    },
  ],
};

describe("configure-network-firewall host commands", () => {
  it("one nft transaction carrying the whole table, then the spec with the rules is written", async () => {
    const host = new FakeHost();
    const res = await configureNetwork(await jobContext(host), "web", { kind: "firewall", firewall: FIREWALL });
    expect(host.calls.filter((c) => c[0] === "nft" || c[0] === "net-define" || c[0] === "net-update")).toEqual([
      ["nft", "-j", "list", "ruleset"], // host firewall policies that would override ours: warnings
      ["nft", "-j", "list", "table", "inet", "netforge"], // the traffic counters, carried into the new table
      ["nft", "-f", "-"],
      ["net-define", "<tmp.xml>"],
    ]);
    const text = host.nftInputs[0] ?? "";
    expect(text.startsWith("table inet netforge {}\ndelete table inet netforge\ntable inet netforge {")).toBe(true);
    expect(text).toContain("ip saddr 10.0.0.0/8 tcp dport 22 accept");
    expect(host.xml).toContain("<nf:firewall defaultInbound='drop' defaultOutbound='accept'>");
    expect(res.applied.map((s) => s.command)).toEqual([
      ["nft", "-f", "-"],
      ["virsh", "net-define", "<file>"],
    ]);
    expect(res.applied[0]?.nft).toContain("chain web-in-rules");
  });

  it("when writing the spec fails, the table is put back as it was (a second transaction)", async () => {
    const host = new FakeHost();
    host.failDefine = true;
    const ctx = await jobContext(host);
    await expect(configureNetwork(ctx, "web", { kind: "firewall", firewall: FIREWALL })).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
    });
    const undo = await ctx.revert.run();
    expect(undo.failed).toEqual([]);
    expect(undo.undone.map((u) => u.label)).toEqual(["restore firewall of web"]);
    expect(host.nftInputs).toHaveLength(2);
    expect(host.nftInputs[1]).not.toContain("10.0.0.0/8");
    expect(ctx.firewall.get("web")).toBeNull();
  });

  it("repeating the same rule set changes nothing", async () => {
    const host = new FakeHost();
    host.xml = renderNetworkXml({ ...spec, firewall: FIREWALL });
    const res = await configureNetwork(await jobContext(host), "web", { kind: "firewall", firewall: FIREWALL });
    expect(res.changed).toEqual([]);
    expect(host.nftInputs).toEqual([]);
  });
});

describe("configure results and size caps on the host", () => {
  afterEach(() => {
    delete process.env.NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK;
    delete process.env.NETFORGE_MAX_RULES_PER_HOST;
  });

  it("the result names the definition written by its sha256 and the lines that changed, never the whole XML", async () => {
    const host = new FakeHost();
    const res = await configureNetwork(await jobContext(host), "web", { kind: "firewall", firewall: FIREWALL });
    const define = res.applied.find((s) => s.command[1] === "net-define");
    expect(define?.xmlSha256).toBe(sha256Hex(host.xml));
    expect(define?.xmlDiff?.some((l) => l.startsWith("+ ") && l.includes("<nf:firewall defaultInbound='drop'"))).toBe(true);
    expect(define?.xmlDiff?.length).toBeLessThan(20);
    expect(JSON.stringify(res)).not.toContain("<network");
    expect(define).not.toHaveProperty("xml");
  });

  it("a firewall over NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK is refused on the host before any host change", async () => {
    process.env.NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK = "1";
    const host = new FakeHost();
    const two = { ...FIREWALL, rules: [FIREWALL.rules[0], { ...FIREWALL.rules[0], ports: "23" }] } as typeof FIREWALL;
    await expect(configureNetwork(await jobContext(host), "web", { kind: "firewall", firewall: two })).rejects.toMatchObject({
      code: "LIMIT_REACHED",
      details: { limit: 1, setting: "NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK", count: 2 },
    });
    expect(host.nftInputs).toEqual([]);
    expect(host.calls.filter((c) => c[0] === "net-define" || c[0] === "net-update")).toEqual([]);
  });

  it("rules per host are re-counted from the host's own definitions (another network's forwards count), before any host change", async () => {
    process.env.NETFORGE_MAX_RULES_PER_HOST = "2";
    const host = new FakeHost();
    const fwd = (hostPort: number) => ({ protocol: "tcp" as const, hostPort, vmIp: "10.71.0.5", vmPort: 80 });
    host.others.other = renderNetworkXml({
      ...spec,
      name: "other",
      uuid: "5c0a7a1e-4f53-4fa7-bb32-11f34168329c",
      bridge: "nf-other",
      cidr: "10.71.0.0/24",
      gateway: "10.71.0.1",
      dhcp: { enabled: true, start: "10.71.0.100", end: "10.71.0.150", leaseTime: 600 },
      portForwards: [fwd(8001), fwd(8002)],
    } as NetSpec);
    await expect(configureNetwork(await jobContext(host), "web", { kind: "firewall", firewall: FIREWALL })).rejects.toMatchObject({
      code: "LIMIT_REACHED",
      details: { limit: 2, setting: "NETFORGE_MAX_RULES_PER_HOST", count: 3, host: "h1" },
    });
    expect(host.nftInputs).toEqual([]);
    expect(host.calls.filter((c) => c[0] === "net-define")).toEqual([]);
    // Within the cap it goes through.
    process.env.NETFORGE_MAX_RULES_PER_HOST = "3";
    const ok = new FakeHost();
    ok.others = host.others;
    const done = await configureNetwork(await jobContext(ok), "web", { kind: "firewall", firewall: FIREWALL });
    expect(done.changed[0]).toMatch(/^firewall: 1 rules/);
    expect(ok.nftInputs).toHaveLength(1);
  });
});
