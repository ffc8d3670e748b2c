import { renderQos, renderUplinkQos } from "@netforge/core/model";
import { describe, expect, it } from "vitest";
import type { CommandResult, CommandRunner, RunOptions } from "./command-runner";
import {
  applyTc,
  expectedFilters,
  filtersInPlace,
  ingressIsNetforge,
  probeQos,
  qosCapabilityOf,
  qosInPlace,
  qosUnsupported,
  leafMac,
  planInPlace,
  portsLackingFeeds,
  shownLeaves,
  staleHostFilters,
  uplinkState,
  vmPortsOf,
} from "./qos";

/**
 * A kernel without some qdisc kinds (and optionally without ifb): answers tc and ip as such a kernel does,
 * recording every command; `shown` is what `tc qdisc show` prints.
 */
function fakeKernel(o: { lacks?: string[]; noIfb?: boolean; shown?: string; failBatch?: boolean; ports?: string[] } = {}) {
  const ran: string[] = [];
  const fail = (stderr: string, opts: RunOptions): CommandResult => {
    const r = { stdout: "", stderr, exitCode: 2 };
    if (!opts.allowFailure) throw Object.assign(new Error(stderr), { result: r });
    return r;
  };
  const runner: CommandRunner = {
    async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
      const line = [cmd, ...args].join(" ");
      ran.push(opts.input ? `${line} <<${opts.input.trim().split("\n").length} lines` : line);
      // `-force -batch`: each line answered as alone (recorded indented), the failed ones as tc and ip print them.
      if (args[0] === "-force" && args[1] === "-batch") {
        let stderr = "";
        for (const [i, l] of (opts.input ?? "").trim().split("\n").entries()) {
          ran.push(`  ${cmd} ${l}`);
          const r = await one(cmd, l.split(" "), { allowFailure: true });
          if (r.exitCode !== 0) stderr += `${r.stderr}\nCommand failed -:${i + 1}\n`;
        }
        return stderr ? fail(stderr, opts) : { stdout: "", stderr: "", exitCode: 0 };
      }
      return one(cmd, args, opts);
    },
  };
  async function one(cmd: string, args: readonly string[], opts: RunOptions): Promise<CommandResult> {
    if (cmd === "ip" && args.includes("ifb") && o.noIfb) return fail('Error: Unknown device type "ifb".', opts);
    if (cmd === "tc" && args[0] === "qdisc" && args[1] === "show") return { stdout: o.shown ?? "", stderr: "", exitCode: 0 };
    if (cmd === "ip" && args.join(" ").startsWith("-j link show master"))
      return { stdout: JSON.stringify((o.ports ?? []).map((ifname) => ({ ifname }))), stderr: "", exitCode: 0 };
    if (cmd === "ip" && args.join(" ").startsWith("-j link show dev"))
      return { stdout: JSON.stringify([{ ifname: args[4], address: "52:54:00:aa:bb:cc" }]), stderr: "", exitCode: 0 };
    if (cmd === "tc" && args[0] === "qdisc" && o.lacks?.includes(args.at(-1) ?? ""))
      return fail("Error: Specified qdisc kind is unknown.", opts);
    if (cmd === "tc" && args[0] === "qdisc" && args[1] === "del")
      return fail("Error: Cannot find specified qdisc on specified device.", opts);
    if (cmd === "tc" && args[0] === "-batch" && o.failBatch) return fail("Error: Invalid handle.", opts);
    return { stdout: "", stderr: "", exitCode: 0 };
  }
  return { runner, ran };
}

describe("the QoS capability probe", () => {
  it("a kernel with everything: supported, on a throw-away IFB removed after it", async () => {
    const k = fakeKernel();
    expect(await probeQos(k.runner)).toEqual({ supported: true, missing: [] });
    expect(k.ran[0]).toMatch(/^ip link add nfq-probe\d* type ifb$/);
    expect(k.ran.at(-1)).toMatch(/^ip link del nfq-probe\d*$/);
  });

  it("names a qdisc kind the kernel lacks (sfq here), and the error the job fails with says it", async () => {
    const k = fakeKernel({ lacks: ["sfq"] });
    const cap = await probeQos(k.runner, ["htb", "sfq"]);
    expect(cap).toEqual({ supported: false, missing: ["the sfq qdisc (Error: Specified qdisc kind is unknown.)"] });
    const err = qosUnsupported(cap);
    expect(err.code).toBe("HOST_COMMAND_FAILED");
    expect(err.message).toBe("this host cannot shape traffic: it lacks the sfq qdisc (Error: Specified qdisc kind is unknown.)");
    expect(err.details).toEqual({ missing: cap.missing });
  });

  it("no ifb device: missing, nothing else tried", async () => {
    const k = fakeKernel({ noIfb: true });
    const cap = await probeQos(k.runner);
    expect(cap.supported).toBe(false);
    expect(cap.missing[0]).toMatch(/^the ifb device/);
    expect(k.ran).toHaveLength(1);
  });

  it("probed once per runner and qdisc list", async () => {
    const k = fakeKernel();
    await qosCapabilityOf(k.runner);
    await qosCapabilityOf(k.runner);
    const probes = k.ran.filter((l) => l.includes("type ifb")).length;
    expect(probes).toBe(1);
  });
});

describe("applying a tc plan", () => {
  const SET = { network: { outbound: { averageKbps: 1000 } }, vms: [{ mac: "52:54:00:00:00:01", inbound: { averageKbps: 500 } }] };

  it("makes the IFBs, the qdiscs a device lacks, feeds every port both ways, then one batch with the bridge's MAC", async () => {
    const k = fakeKernel({
      shown:
        "qdisc htb 1: dev nf-web root refcnt 2 r2q 10 default 0x2\nqdisc ingress ffff: dev vnet1 parent ffff:fff1 ----\nqdisc htb 1: dev vnet1 root refcnt 2 r2q 10 default 0\n",
      ports: ["vnet0", "vnet1"],
    });
    const inputs: string[] = [];
    const run = k.runner.run.bind(k.runner);
    k.runner.run = async (cmd, args, opts = {}) => {
      if (opts.input) inputs.push(opts.input);
      return run(cmd, args, opts);
    };
    await applyTc(k.runner, "nfq-x", renderQos("nf-web", "nfq-x", SET, null));
    // The IFBs in one ip process, the cleanup in one tc process, the reads at once, then one batch.
    expect(k.ran).toEqual([
      "ip -force -batch - <<4 lines",
      "  ip link add nfq-x type ifb",
      "  ip link set dev nfq-x up",
      "  ip link add nfi-x type ifb",
      "  ip link set dev nfi-x up",
      "tc -force -batch - <<1 lines",
      "  tc filter del dev nfi-x parent 1: protocol all prio 2",
      "tc qdisc show",
      "ip -j link show master nf-web",
      "ip -j link show dev nf-web",
      "tc -batch - <<22 lines",
    ]);
    // The root qdiscs the IFBs lack first; vnet0 gets both qdiscs and every filter; vnet1 had its qdiscs: only
    // the filters are replaced. Egress: frames from the bridge's MAC to the port's direct queue, the rest to the
    // inbound IFB. Then the plan's classes and filters.
    const batch = inputs.at(-1)?.split("\n") ?? [];
    expect(batch.slice(0, 10)).toEqual([
      "qdisc replace dev nfq-x root handle 1: htb default 3",
      "qdisc replace dev nfi-x root handle 1: htb default 3",
      "qdisc add dev vnet0 handle ffff: ingress",
      "filter replace dev vnet0 parent ffff: protocol all prio 1 handle 800::1 u32 match u32 0 0 action mirred egress redirect dev nfq-x",
      "qdisc add dev vnet0 root handle 1: htb",
      "filter replace dev vnet0 parent 1: protocol all prio 1 handle 800::1 u32 match ether src 52:54:00:aa:bb:cc flowid 1:0",
      "filter replace dev vnet0 parent 1: protocol all prio 1 handle 800::2 u32 match u32 0 0 action mirred egress redirect dev nfi-x",
      "filter replace dev vnet1 parent ffff: protocol all prio 1 handle 800::1 u32 match u32 0 0 action mirred egress redirect dev nfq-x",
      "filter replace dev vnet1 parent 1: protocol all prio 1 handle 800::1 u32 match ether src 52:54:00:aa:bb:cc flowid 1:0",
      "filter replace dev vnet1 parent 1: protocol all prio 1 handle 800::2 u32 match u32 0 0 action mirred egress redirect dev nfi-x",
    ]);
    expect(batch.slice(10).join("\n")).toContain("match ether dst 52:54:00:aa:bb:cc flowid 1:2");
    expect(inputs.at(-1)).not.toContain("<bridge-mac>");
  });

  it("an empty set: cleanup lines finding nothing are fine, the ports' feeds and the IFBs go (a port's own root qdisc stays)", async () => {
    const k = fakeKernel({
      ports: ["vnet0", "vnet1"],
      shown: "qdisc htb 1: dev vnet0 root refcnt 2\nqdisc noqueue 0: dev vnet1 root refcnt 2\n",
    });
    await applyTc(k.runner, "nfq-x", renderQos("nf-web", "nfq-x", null, SET));
    // Each group of cleanup lines in one process; the fake answers every `qdisc del` as finding nothing: fine.
    expect(k.ran).toEqual([
      "tc -force -batch - <<2 lines",
      "  tc qdisc del dev nf-web root",
      "  tc qdisc del dev nfq-x root",
      "ip -j link show master nf-web",
      "tc qdisc show",
      "tc -force -batch - <<3 lines",
      "  tc qdisc del dev vnet0 handle ffff: ingress",
      "  tc qdisc del dev vnet1 handle ffff: ingress",
      "  tc qdisc del dev vnet0 root",
      "ip link del nfq-x",
      "ip link del nfi-x",
    ]);
  });

  it("a cleanup line failing for another reason than a missing object fails the apply, naming that line", async () => {
    const k = fakeKernel();
    const run = k.runner.run.bind(k.runner);
    k.runner.run = async (cmd, args, opts = {}) =>
      args[0] === "-force" && cmd === "tc"
        ? {
            stdout: "",
            stderr:
              "Error: Filter with specified priority/protocol not found.\nCommand failed -:1\nRTNETLINK answers: Operation not permitted\nWe have an error talking to the kernel\nCommand failed -:2\n",
            exitCode: 1,
          }
        : run(cmd, args, opts);
    const plan = renderQos("nf-web", "nfq-x", null, SET);
    expect(plan.cleanup.length).toBeGreaterThanOrEqual(2);
    const err = await applyTc(k.runner, "nfq-x", plan).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "HOST_COMMAND_FAILED", details: { command: ["tc", ...(plan.cleanup[1] ?? "").split(" ")] } });
    expect(String((err as Error).message)).toContain("Operation not permitted");
    // Nothing after the cleanup ran (the IFB stays: it goes only after everything else).
    expect(k.ran.some((l) => l.startsWith("ip link del"))).toBe(false);
  });

  it("a failing batch fails the apply", async () => {
    const k = fakeKernel({ failBatch: true });
    await expect(applyTc(k.runner, "nfq-x", renderQos("nf-web", "nfq-x", SET, null))).rejects.toThrow(/Invalid handle/);
  });
});

describe("whether the shaping is in place", () => {
  const shown = [
    "qdisc noqueue 0: dev lo root refcnt 2",
    "qdisc htb 1: dev nf-web root refcnt 2 r2q 10 default 0x2 direct_packets_stat 0 direct_qlen 1000",
    "qdisc ingress ffff: dev vnet0 parent ffff:fff1 ----------------",
    "qdisc htb 1: dev nfq-x root refcnt 2 r2q 10 default 0x2",
  ].join("\n");
  it("reads each device's root qdisc and every port's ingress from `tc qdisc show`", () => {
    expect(qosInPlace(shown, "nf-web", "nfq-x", true, true, ["vnet0"])).toBe(true);
    expect(qosInPlace(shown.replace("dev nfq-x", "dev other"), "nf-web", "nfq-x", true, true)).toBe(false);
    expect(qosInPlace(shown, "nf-web", "nfq-x", false, true, ["vnet0", "vnet1"])).toBe(false);
    expect(qosInPlace("", "nf-web", "nfq-x", true, false)).toBe(false);
    expect(qosInPlace("", "nf-web", "nfq-x", false, false)).toBe(true);
    // A VM's inbound limit: the inbound IFB's HTB and every port's root HTB (its egress feed).
    const inner = `${shown}\nqdisc htb 1: dev nfi-x root refcnt 2\nqdisc htb 1: dev vnet0 root refcnt 2`;
    expect(qosInPlace(inner, "nf-web", "nfq-x", true, true, ["vnet0"], true)).toBe(true);
    expect(qosInPlace(shown, "nf-web", "nfq-x", true, true, ["vnet0"], true)).toBe(false);
    expect(qosInPlace(inner.replace("dev vnet0 root", "dev vnet9 root"), "nf-web", "nfq-x", true, true, ["vnet0"], true)).toBe(false);
  });
});

describe("a bridge network's uplink NIC (the host's, shaped only where netforge's qdiscs are)", () => {
  const IFB = "nfq-0123456789a";
  const feed = [
    "filter parent ffff: protocol all pref 1 u32 chain 0 ",
    "filter parent ffff: protocol all pref 1 u32 chain 0 fh 800: ht divisor 1 ",
    "filter parent ffff: protocol all pref 1 u32 chain 0 fh 800::1 order 2048 key ht 800 bkt 0 terminal flowid ??? not_in_hw ",
    "  match 00000000/00000000 at 0",
    `\taction order 1: mirred (Egress Redirect to device ${IFB}) stolen`,
  ].join("\n");

  /** A NIC whose `tc qdisc show dev` prints `qdiscs` and whose ingress filters are `filters`. */
  function nic(qdiscs: string, filters = "") {
    const ran: string[] = [];
    const runner: CommandRunner = {
      async run(cmd, args, opts: RunOptions = {}) {
        const line = [cmd, ...args].join(" ");
        // `-force -batch` (lines where a missing object is fine): each line recorded as if run alone.
        if (args[0] === "-force") for (const l of (opts.input ?? "").trim().split("\n")) ran.push(`${cmd} ${l}`);
        else ran.push(opts.input ? `${line} <<${opts.input}` : line);
        if (line.startsWith("tc qdisc show dev")) return { stdout: qdiscs, stderr: "", exitCode: 0 };
        if (line.startsWith("tc filter show dev")) return { stdout: filters, stderr: "", exitCode: 0 };
        if (line.startsWith("ip -j link show dev"))
          return {
            stdout: JSON.stringify([{ ifname: args[4], address: args[4] === "eth1" ? "02:00:00:00:00:01" : "02:00:00:00:00:02" }]),
            stderr: "",
            exitCode: 0,
          };
        return { stdout: "", stderr: "", exitCode: 0 };
      },
    };
    return { runner, ran };
  }
  const SET = { network: { inbound: { averageKbps: 20000 }, outbound: { averageKbps: 20000 } }, vms: [] };

  it("tells the kernel's default root (handle 0:) and netforge's (htb 4e46:) from another tool's; its feed alone from other filters", async () => {
    expect(await uplinkState(nic("qdisc noqueue 0: dev eth1 root refcnt 2\n").runner, "eth1", IFB)).toEqual({
      root: "default",
      ingress: "none",
      shown: [],
    });
    const ours =
      "qdisc htb 4e46: dev eth1 root refcnt 2 r2q 10 default 0x3\nqdisc ingress ffff: dev eth1 parent ffff:fff1 ----------------\n";
    expect(await uplinkState(nic(ours, feed).runner, "eth1", IFB)).toMatchObject({ root: "netforge", ingress: "netforge" });
    const theirs = "qdisc tbf 8001: dev eth1 root refcnt 2 rate 1Mbit\nqdisc clsact ffff: dev eth1 parent ffff:fff1\n";
    expect(await uplinkState(nic(theirs).runner, "eth1", IFB)).toMatchObject({ root: "other", ingress: "other" });
    expect(ingressIsNetforge(feed, IFB)).toBe(true);
    expect(ingressIsNetforge("", IFB)).toBe(true);
    expect(ingressIsNetforge(feed.replace(IFB, "ifb0"), IFB)).toBe(false);
    expect(ingressIsNetforge(`${feed}\nfilter parent ffff: protocol ip pref 2 u32 chain 0 `, IFB)).toBe(false);
    expect(ingressIsNetforge(feed.replace("fh 800::1 ", "fh 800::2 "), IFB)).toBe(false);
  });

  it("refuses (PRECONDITION_FAILED) before anything changes when another tool's qdisc is on the NIC", async () => {
    const k = nic("qdisc htb 1: dev eth1 root refcnt 2 r2q 10 default 0\n");
    const err = await applyTc(k.runner, IFB, renderUplinkQos("nf-lan", "eth1", IFB, SET, null)).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "PRECONDITION_FAILED",
      details: { interface: "eth1", qdiscs: ["qdisc htb 1: dev eth1 root refcnt 2 r2q 10 default 0"] },
    });
    expect(k.ran).toEqual(["tc qdisc show dev eth1"]);
  });

  it("applies on a NIC with the kernel's default (the MACs filled in), and removes only netforge's qdiscs", async () => {
    const k = nic("qdisc noqueue 0: dev eth1 root refcnt 2\n");
    await applyTc(k.runner, IFB, renderUplinkQos("nf-lan", "eth1", IFB, SET, null));
    // The NIC's root HTB first in the batch, its classes after it.
    expect(k.ran.find((l) => l.startsWith("tc -batch"))).toMatch(
      /^tc -batch - <<qdisc replace dev eth1 root handle 4e46: htb default 3\nqdisc replace dev nfq-0123456789a root handle 1: htb default 3\nclass /,
    );
    expect(k.ran.join("\n")).toContain("match ether src 02:00:00:00:00:02 flowid 4e46:3");
    expect(k.ran.join("\n")).toContain("match ether src 02:00:00:00:00:01 flowid 4e46:3");
    expect(k.ran.at(-1)).toContain(`tc -batch - <<qdisc add dev eth1 handle ffff: ingress\nfilter replace dev eth1 parent ffff:`);
    const ours = "qdisc htb 4e46: dev eth1 root refcnt 2\nqdisc ingress ffff: dev eth1 parent ffff:fff1 ----------------\n";
    const off = nic(ours, feed);
    await applyTc(off.runner, IFB, renderUplinkQos("nf-lan", "eth1", IFB, null, SET));
    expect(off.ran).toContain("tc qdisc del dev eth1 root");
    expect(off.ran).toContain("tc qdisc del dev eth1 handle ffff: ingress");
    expect(off.ran).toContain(`ip link del ${IFB}`);
    // Another tool's qdiscs stay where they are when netforge's set goes.
    const theirs = nic(
      "qdisc tbf 8001: dev eth1 root refcnt 2\nqdisc ingress ffff: dev eth1 parent ffff:fff1\n",
      "filter parent ffff: protocol ip pref 5 basic chain 0 ",
    );
    await applyTc(theirs.runner, IFB, renderUplinkQos("nf-lan", "eth1", IFB, null, SET));
    expect(theirs.ran.filter((l) => l.startsWith("tc qdisc del"))).toEqual([]);
  });
});

describe("a filter deleted by hand (drift)", () => {
  const SET = {
    network: { outbound: { averageKbps: 40000 } },
    vms: [{ mac: "52:54:00:00:00:0a", inbound: { averageKbps: 20000 }, outbound: { averageKbps: 20000 } }],
  };
  const leaf = (pref: number, fh: string) =>
    `filter protocol all pref ${pref} u32 chain 0 fh ${fh} order 2048 key ht 800 bkt 0 flowid 1:10 not_in_hw `;

  it("what a plan's filters are per device, and what tc shows of them (the MACs matched, decoded)", () => {
    const handles = (k: string, w: ReturnType<typeof expectedFilters>) => new Set(w.get(k)?.filters.map((f) => f.handle));
    const want = expectedFilters(renderQos("nf-web", "nfq-x", SET, null));
    expect(handles("nfq-x 1:", want)).toEqual(new Set(["800::1", "800::fff"]));
    expect(want.get("nfq-x 1:")?.prio2).toBe(1);
    expect(handles("nf-web 1:", want)).toEqual(new Set(["800::1"]));
    expect(handles("nfi-x 1:", want)).toEqual(new Set(["800::fff"]));
    const up = expectedFilters(renderUplinkQos("nf-lan", "eth1", "nfq-x", SET, null));
    expect(handles("eth1 ffff:", up)).toEqual(new Set(["800::1"]));
    expect(up.get("eth1 4e46:")?.filters).toEqual([
      { handle: "800::1", mac: null },
      { handle: "800::ffc", mac: { at: "src", value: "<bridge-mac>" } },
      { handle: "800::ffd", mac: { at: "src", value: "<nic-mac>" } },
      { handle: "800::fff", mac: null },
    ]);
    // As tc 6.x lists them (seen): ether src at -8/-4, ether dst at -16/-12.
    const listing = [
      "filter protocol all pref 1 u32 chain 0 ",
      "filter protocol all pref 1 u32 chain 0 fh 800: ht divisor 1 ",
      "filter protocol all pref 1 u32 chain 0 fh 800::ffc order 4092 key ht 800 bkt 0 *flowid 4e46:3 not_in_hw ",
      "  match 525400aa/ffffffff at -8",
      "  match bbcc0000/ffff0000 at -4",
      "filter protocol all pref 1 u32 chain 0 fh 800::ffd order 4093 key ht 800 bkt 0 *flowid 4e46:3 not_in_hw ",
      "  match 00005254/0000ffff at -16",
      "  match 00aabbcd/ffffffff at -12",
      "filter protocol all pref 2 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 flowid 1:2010 not_in_hw ",
    ].join("\n");
    const leaves = shownLeaves(listing);
    expect(leaves.map((l) => [l.pref, l.handle])).toEqual([
      [1, "800::ffc"],
      [1, "800::ffd"],
      [2, "801::800"],
    ]);
    expect(leafMac(leaves[0] as (typeof leaves)[0], "src")).toBe("52:54:00:aa:bb:cc");
    expect(leafMac(leaves[1] as (typeof leaves)[0], "dst")).toBe("52:54:00:aa:bb:cd");
    expect(leafMac(leaves[1] as (typeof leaves)[0], "src")).toBeNull();
  });

  it("filtersInPlace: false once one filter is missing, or a host MAC's filter holds an old MAC", async () => {
    const plan = renderQos("nf-web", "nfq-x", { network: null, vms: [{ mac: "52:54:00:00:00:0a", inbound: { averageKbps: 1 } }] }, null);
    // The inbound IFB's 800::fff passes frames from the bridge's MAC (52:54:00:aa:bb:cc).
    const bridgeLeaf = [leaf(1, "800::fff"), "  match 525400aa/ffffffff at -8", "  match bbcc0000/ffff0000 at -4"].join("\n");
    const listings: Record<string, string> = { "nf-web": leaf(1, "800::1"), "nfi-x": [bridgeLeaf, leaf(2, "801::800")].join("\n") };
    let bridgeMac = "52:54:00:aa:bb:cc";
    const ran: string[] = [];
    const runner: CommandRunner = {
      async run(cmd, args) {
        ran.push([cmd, ...args].join(" "));
        if (cmd === "ip") return { stdout: JSON.stringify([{ address: bridgeMac }]), stderr: "", exitCode: 0 };
        return { stdout: listings[args[3] as string] ?? "", stderr: "", exitCode: 0 };
      },
    };
    expect(await filtersInPlace(runner, plan)).toBe(true);
    expect(ran).toEqual(["tc filter show dev nf-web parent 1:", "tc filter show dev nfi-x parent 1:", "ip -j link show dev nf-web"]);
    // The bridge took another MAC since: the filter must be applied again.
    bridgeMac = "52:54:00:aa:bb:01";
    expect(await filtersInPlace(runner, plan)).toBe(false);
    bridgeMac = "52:54:00:aa:bb:cc";
    listings["nfi-x"] = bridgeLeaf;
    expect(await filtersInPlace(runner, plan)).toBe(false);
    listings["nfi-x"] = leaf(2, "801::800");
    expect(await filtersInPlace(runner, plan)).toBe(false);
  });
});

describe("u32 keeps a filter's keys through replace", () => {
  it("a host MAC filter holding the bridge's old MAC is deleted before the batch adds it again", async () => {
    const plan = renderUplinkQos("nf-lan", "eth1", "nfq-x", { network: { outbound: { averageKbps: 1000 } }, vms: [] }, null);
    const listing = [
      "filter protocol all pref 1 u32 chain 0 fh 800::ffc order 4092 key ht 800 bkt 0 *flowid 4e46:3 not_in_hw ",
      "  match 525400aa/ffffffff at -8",
      "  match bbcc0000/ffff0000 at -4",
      "filter protocol all pref 1 u32 chain 0 fh 800::ffd order 4093 key ht 800 bkt 0 *flowid 4e46:3 not_in_hw ",
      "  match 02000000/ffffffff at -8",
      "  match 00010000/ffff0000 at -4",
    ].join("\n");
    const runner: CommandRunner = { run: async () => ({ stdout: listing, stderr: "", exitCode: 0 }) };
    expect(await staleHostFilters(runner, plan, { bridge: "52:54:00:aa:bb:cc", nic: "02:00:00:00:00:01" })).toEqual([]);
    expect(await staleHostFilters(runner, plan, { bridge: "00:00:5e:00:53:01", nic: "02:00:00:00:00:01" })).toEqual([
      "filter del dev eth1 parent 4e46: protocol all prio 1 handle 800::ffc u32",
    ]);
  });

  it("a VM entry whose MAC changed at the same index: its filter is deleted first (both renderers)", () => {
    const had = { network: null, vms: [{ mac: "52:54:00:00:00:0a", inbound: { averageKbps: 1000 } }] };
    const want = { network: null, vms: [{ mac: "52:54:00:00:00:0b", inbound: { averageKbps: 1000 } }] };
    expect(renderQos("nf-web", "nfq-x", want, had).cleanup).toContain(
      "filter del dev nf-web parent 1: protocol all prio 1 handle 800::1 u32",
    );
    expect(renderUplinkQos("nf-lan", "eth1", "nfq-x", want, had).cleanup).toContain(
      "filter del dev nfq-x parent 1: protocol all prio 1 handle 800::1 u32",
    );
    expect(renderQos("nf-web", "nfq-x", had, had).cleanup.join("\n")).not.toContain("prio 1 handle");
  });
});

describe("an overlay's VXLAN port (never a VM's: docs/adr/0044-network-qos.md, Overlay networks)", () => {
  const SET = {
    network: { outbound: { averageKbps: 1000 } },
    vms: [{ mac: "52:54:00:00:00:01", inbound: { averageKbps: 500 }, outbound: { averageKbps: 500 } }],
  };
  const batchOf = async (gateway: boolean) => {
    const k = fakeKernel({ ports: ["vnet0", "nfvx10000"] });
    const inputs: string[] = [];
    const run = k.runner.run.bind(k.runner);
    k.runner.run = async (cmd, args, opts = {}) => {
      if (opts.input) inputs.push(opts.input);
      return run(cmd, args, opts);
    };
    await applyTc(k.runner, "nfq-x", renderQos("nfov10000", "nfq-x", SET, null, { dev: "nfvx10000", gateway }));
    // The last batch: the root qdiscs, the ports' feeds, the plan's classes and filters.
    return inputs.at(-1)?.trim().split("\n") ?? [];
  };

  it("on the gateway host: its ingress feeds the outbound IFB with its frames to the bridge's MAC only; its egress feeds nothing", async () => {
    const feeds = await batchOf(true);
    expect(feeds.filter((l) => l.includes("nfvx10000"))).toEqual([
      "qdisc add dev nfvx10000 handle ffff: ingress",
      "filter replace dev nfvx10000 parent ffff: protocol all prio 1 handle 800::1 u32 match ether dst 52:54:00:aa:bb:cc action mirred egress redirect dev nfq-x",
    ]);
    expect(feeds.filter((l) => l.includes("dev vnet0"))).toHaveLength(5);
  });

  it("on another member: not fed at all (its VMs' ports are)", async () => {
    const feeds = await batchOf(false);
    expect(feeds.some((l) => l.includes("nfvx10000"))).toBe(false);
    expect(feeds.filter((l) => l.includes("dev vnet0"))).toHaveLength(5);
  });

  it("in place and lacking feeds: the VXLAN port is asked only for the gateway's ingress feed", () => {
    const member = renderQos("nfov10000", "nfq-x", SET, null, { dev: "nfvx10000", gateway: false });
    const gw = renderQos("nfov10000", "nfq-x", SET, null, { dev: "nfvx10000", gateway: true });
    const vmFed = ["qdisc ingress ffff: dev vnet0 parent ffff:fff1 ----", "qdisc htb 1: dev vnet0 root refcnt 2"];
    const ifbs = ["qdisc htb 1: dev nfq-x root refcnt 2", "qdisc htb 1: dev nfi-x root refcnt 2"];
    const ports = ["vnet0", "nfvx10000"];
    expect(planInPlace([...vmFed, ...ifbs].join("\n"), member, ports)).toBe(true);
    expect(portsLackingFeeds(member, ports, [...vmFed, ...ifbs])).toEqual([]);
    // The gateway wants its bridge's tree and the VXLAN port's ingress feed (not its egress).
    const gwShown = [...vmFed, ...ifbs, "qdisc htb 1: dev nfov10000 root refcnt 2"];
    expect(planInPlace(gwShown.join("\n"), gw, ports)).toBe(false);
    expect(portsLackingFeeds(gw, ports, gwShown)).toEqual(["nfvx10000"]);
    const tunnelFed = [...gwShown, "qdisc ingress ffff: dev nfvx10000 parent ffff:fff1 ----"];
    expect(planInPlace(tunnelFed.join("\n"), gw, ports)).toBe(true);
    // A member has no tree on its bridge: not asked for one.
    expect(member.qdiscs.map((q) => q.dev)).toEqual(["nfq-x", "nfi-x"]);
  });
});

describe("overlay and bridge networks' port feeds side by side (the VXLAN port and the uplink NIC are no VM's)", () => {
  const VMS = {
    network: null,
    vms: [{ mac: "52:54:00:00:00:01", inbound: { averageKbps: 500 }, outbound: { averageKbps: 500 } }],
  };
  const tunnel = { dev: "nfvx10000", gateway: false };

  it("vmPortsOf leaves out an overlay's VXLAN port as it does a bridge network's uplink NIC", async () => {
    const k = fakeKernel({ ports: ["vnet0", "nfvx10000", "eth1"] });
    expect(await vmPortsOf(k.runner, "nfov10000", undefined, tunnel)).toEqual(["vnet0", "eth1"]);
    expect(await vmPortsOf(k.runner, "nf-lan", "eth1")).toEqual(["vnet0", "nfvx10000"]);
  });

  it("a member's VM limits taken away: its VM ports' feeds go, the VXLAN port (never fed there) is not touched", async () => {
    const k = fakeKernel({
      ports: ["vnet0", "nfvx10000"],
      shown: "qdisc htb 1: dev vnet0 root refcnt 2\nqdisc htb 1: dev nfvx10000 root refcnt 2",
    });
    await applyTc(k.runner, "nfq-x", renderQos("nfov10000", "nfq-x", null, VMS, tunnel));
    expect(k.ran).toContain("  tc qdisc del dev vnet0 handle ffff: ingress");
    expect(k.ran).toContain("  tc qdisc del dev vnet0 root");
    expect(k.ran.filter((l) => l.includes("nfvx10000"))).toEqual([]);
  });

  it("a bridge network's VM ports are fed by their MACs (cls_bpf), its uplink NIC never as a VM's port", async () => {
    const k = fakeKernel({ ports: ["eth1", "vnet0"] });
    const inputs: string[] = [];
    const run = k.runner.run.bind(k.runner);
    k.runner.run = async (cmd, args, opts = {}) => {
      if (opts.input) inputs.push(opts.input);
      return run(cmd, args, opts);
    };
    const plan = renderUplinkQos("nf-lan", "eth1", "nfq-x", VMS, null);
    await applyTc(k.runner, "nfq-x", plan);
    const feeds = inputs.join("\n").split("\n");
    expect(feeds.filter((l) => l.includes("dev vnet0") && l.includes(" bpf bytecode "))).toHaveLength(2);
    expect(feeds.filter((l) => l.includes("dev eth1") && (l.includes("nfo-x") || l.includes("nfi-x")))).toEqual([]);
    // Lacking feeds: the VM port only, never the NIC.
    expect(portsLackingFeeds(plan, ["eth1", "vnet0"], [])).toEqual(["vnet0"]);
  });
});
