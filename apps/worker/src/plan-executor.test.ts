import { AppError } from "@netforge/core/contract";
import { type FirewallNetwork, type HostStep, nftStep, type PlanPhase, planHash, renderQos } from "@netforge/core/model";
import { describe, expect, it } from "vitest";
import { webNetwork } from "./firewall/__fixtures__/fake-nft";
import { assertPlanAsPreviewed, type HostPort, runPhase } from "./plan-executor";
import { Revert } from "./revert";

/** A port that records what the executor asked of the host, with a table and a PF of its own. */
function recordingPort(opts: { failOn?: string } = {}) {
  const ran: string[] = [];
  const table = new Map<string, FirewallNetwork | null>();
  let vfs = 2;
  let dnsmasq = true;
  const fail = (what: string) => {
    if (opts.failOn && what.includes(opts.failOn)) throw new AppError("HOST_COMMAND_FAILED", `injected: ${what}`);
  };
  const port: HostPort = {
    virsh: async (args) => {
      ran.push(`virsh ${args.join(" ")}`);
      fail(args.join(" "));
    },
    define: async (xml) => {
      ran.push(`define ${xml}`);
      fail(`define ${xml}`);
    },
    undefine: async (n) => void ran.push(`undefine ${n}`),
    command: async (argv, allowFailure, input) => {
      ran.push(`${argv.join(" ")}${allowFailure ? " (may fail)" : ""}${input === undefined ? "" : ` < ${JSON.stringify(input)}`}`);
      fail(argv.join(" "));
    },
    firewall: (n) => table.get(n) ?? null,
    setFirewall: async (n, part) => {
      ran.push(`nft ${n} ${part ? "set" : "removed"}`);
      fail(`nft ${n}`);
      table.set(n, part);
    },
    vfs: () => vfs,
    writeVfs: async (pf, n) => {
      ran.push(`vfs ${pf} ${n}`);
      vfs = n;
    },
    checkQos: async () => {
      ran.push("qos check");
      fail("qos check");
    },
    applyQos: async (ifb, plan) => {
      ran.push(`tc ${ifb} ${plan.batch.length} lines`);
      fail(`tc ${ifb}`);
    },
    setLinkMtu: async (bridge, mtu) => {
      ran.push(`mtu ${bridge} ${mtu}`);
      fail(`mtu ${bridge}`);
      return {
        before: [
          { dev: bridge, mtu: 1500 },
          { dev: "vnet0", mtu: 1500 },
        ],
        ports: ["vnet0"],
      };
    },
    restoreLinkMtu: async (links) => void ran.push(`restore mtu ${links.map((l) => `${l.dev}=${l.mtu}`).join(" ")}`),
    writeDhcpOptions: async (network, file, text) => {
      ran.push(`options ${network} ${file} ${JSON.stringify(text)}`);
      fail(`options ${network}`);
      return { before: "old\n", signalled: ["kill", "-HUP", "42"] };
    },
    endDnsmasq: async (network) => {
      ran.push(`end dnsmasq ${network}`);
      dnsmasq = false;
      fail(`end dnsmasq ${network}`);
      return ["kill", "-TERM", "43"];
    },
    dnsmasqRuns: async () => dnsmasq,
  };
  return { port, ran, table, vfs: () => vfs };
}

const virsh = (args: string[], undo: string[] | null, undoName?: string): HostStep => ({
  kind: "virsh",
  name: args.join(" "),
  args,
  undo,
  ...(undoName ? { undoName } : {}),
  live: true,
});

describe("runPhase", () => {
  it("runs the host steps in order, reports each with its job step, and registers the undo of each that succeeded", async () => {
    const { port, ran } = recordingPort();
    const revert = new Revert();
    const phase: PlanPhase = {
      step: "starting network",
      hostSteps: [
        { kind: "xml", name: "define", network: "web", xml: "<new/>", undo: { xml: "<old/>" }, live: false },
        {
          kind: "command",
          name: "enslave",
          argv: ["ip", "link", "set", "dev", "eth1", "master", "nf-web"],
          undo: ["ip", "link", "set", "dev", "eth1", "nomaster"],
          live: true,
        },
        virsh(["net-start", "web"], ["net-destroy", "web"], "stop network"),
        { kind: "command", name: "flush", argv: ["conntrack", "-D"], undo: null, allowFailure: true, live: true },
      ],
    };
    const out = await runPhase(port, revert, phase);
    expect(ran).toEqual(["define <new/>", "ip link set dev eth1 master nf-web", "virsh net-start web", "conntrack -D (may fail)"]);
    expect(out.applied.map((a) => [a.step, a.command.join(" ")])).toEqual([
      ["starting network", "virsh net-define <file>"],
      ["starting network", "ip link set dev eth1 master nf-web"],
      ["starting network", "virsh net-start web"],
      ["starting network", "conntrack -D"],
    ]);
    const undo = await revert.run();
    expect(undo.undone.map((u) => u.label)).toEqual(["stop network", "undo: enslave", "restore definition of web"]);
    expect(ran.slice(4)).toEqual(["virsh net-destroy web", "ip link set dev eth1 nomaster", "define <old/>"]);
  });

  it("stops at a failing step: what ran before it is undone, nothing after it runs", async () => {
    const { port, ran } = recordingPort({ failOn: "net-start" });
    const revert = new Revert();
    const phase: PlanPhase = {
      step: "starting network",
      hostSteps: [
        virsh(["net-autostart", "web"], ["net-autostart", "web", "--disable"]),
        virsh(["net-start", "web"], ["net-destroy", "web"]),
        nftStep("fw", "web", webNetwork([])),
      ],
    };
    await expect(runPhase(port, revert, phase)).rejects.toMatchObject({ code: "HOST_COMMAND_FAILED" });
    expect(ran).toEqual(["virsh net-autostart web", "virsh net-start web"]);
    await revert.run();
    expect(ran.at(-1)).toBe("virsh net-autostart web --disable");
  });

  it("a command step's undo runs its `undoThen` commands after its own, in order (a gateway move's port back on its bridge)", async () => {
    const { port, ran } = recordingPort({ failOn: "net-destroy" });
    const revert = new Revert();
    const phase: PlanPhase = {
      step: "stopping the old gateway",
      hostSteps: [
        {
          kind: "command",
          name: "port leaves",
          argv: ["ip", "link", "set", "dev", "nfvx1", "nomaster"],
          undo: ["ip", "link", "set", "dev", "nfvx1", "master", "br"],
          undoThen: [["ip", "link", "set", "dev", "nfvx1", "type", "bridge_slave", "learning", "off"]],
          live: true,
        },
        virsh(["net-destroy", "web"], ["net-start", "web"]),
      ],
    };
    await expect(runPhase(port, revert, phase)).rejects.toMatchObject({ code: "HOST_COMMAND_FAILED" });
    await revert.run();
    expect(ran).toEqual([
      "ip link set dev nfvx1 nomaster",
      "virsh net-destroy web",
      "ip link set dev nfvx1 master br",
      "ip link set dev nfvx1 type bridge_slave learning off",
    ]);
  });

  it("a concurrent phase runs every step, fails after all settled, and the undo takes back each that succeeded", async () => {
    const { port, ran, table } = recordingPort({ failOn: "net-start" });
    const revert = new Revert();
    const before = { ...webNetwork([]), firewall: { defaultInbound: "drop" as const, defaultOutbound: "accept" as const, rules: [] } };
    table.set("web", before);
    const phase: PlanPhase = {
      step: "starting network",
      concurrent: true,
      hostSteps: [virsh(["net-start", "web"], ["net-destroy", "web"]), nftStep("apply firewall", "web", webNetwork([]))],
    };
    await expect(runPhase(port, revert, phase)).rejects.toThrow("injected");
    expect(ran).toEqual(["virsh net-start web", "nft web set"]);
    const undo = await revert.run();
    expect(undo.undone.map((u) => u.label)).toEqual(["restore firewall of web"]);
    expect(table.get("web")).toEqual(before);
  });

  it("a phase in lanes: each lane in order, the lanes at once; a failing lane stops there, the other finishes, the undo takes back what succeeded", async () => {
    const { port, ran, table } = recordingPort({ failOn: "ip -batch" });
    const revert = new Revert();
    const cmd = (name: string, argv: string[], undo: string[] | null, input?: string): HostStep => ({
      kind: "command",
      name,
      argv,
      undo,
      live: true,
      ...(input === undefined ? {} : { input }),
    });
    const phase: PlanPhase = {
      step: "starting network",
      hostSteps: [
        virsh(["net-start", "web"], ["net-destroy", "web"]),
        cmd("device", ["ip", "link", "add", "vx1", "type", "vxlan"], ["ip", "link", "del", "vx1"]),
        cmd("device setup", ["ip", "-batch", "-"], null, "link set vx1 up\n"),
        cmd("after the batch", ["bridge", "-batch", "-"], null, "fdb append 00:00:00:00:00:00 dev vx1 dst 192.0.2.2\n"),
        cmd("tables", ["nft", "-f", "-"], ["nft", "delete", "table", "inet", "t"], "create table inet t\n"),
        nftStep("apply firewall", "web", webNetwork([])),
      ],
      lanes: [0, 0, 0, 0, 1, 1],
    };
    await expect(runPhase(port, revert, phase)).rejects.toThrow("injected");
    // Lane 0 stopped at its failing batch (the step after it never ran); lane 1 ran whole, beside it.
    expect(ran.filter((r) => !r.startsWith("nft") && !r.startsWith("nft web"))).toEqual([
      "virsh net-start web",
      "ip link add vx1 type vxlan",
      'ip -batch - < "link set vx1 up\\n"',
    ]);
    expect(ran.filter((r) => r.startsWith("nft"))).toEqual(['nft -f - < "create table inet t\\n"', "nft web set"]);
    // Lane 1 began before lane 0 was done (the start had not even finished when the tables ran).
    expect(ran.indexOf('nft -f - < "create table inet t\\n"')).toBeLessThan(ran.indexOf("ip link add vx1 type vxlan"));
    const undo = await revert.run();
    expect(undo.undone.map((u) => u.label).sort()).toEqual(
      ["restore firewall of web", "undo: net-start web", "undo: device", "undo: tables"].sort(),
    );
    expect(table.get("web")).toBeNull();
  });

  it("a new definition is undone by undefining it; an undefine by defining the old one with its autostart flag", async () => {
    const { port, ran } = recordingPort();
    const revert = new Revert();
    await runPhase(port, revert, {
      step: "defining network",
      hostSteps: [
        { kind: "xml", name: "define", network: "web", xml: "<web/>", undo: { undefine: true }, undoName: "undefine network", live: false },
      ],
    });
    await runPhase(port, revert, {
      step: "removing definition",
      hostSteps: [
        {
          kind: "virsh",
          name: "remove",
          args: ["net-undefine", "web"],
          undo: { define: "<web/>", autostart: true },
          undoName: "redefine network",
          live: false,
        },
      ],
    });
    const undo = await revert.run();
    expect(undo.undone.map((u) => u.label)).toEqual(["redefine network", "undefine network"]);
    expect(ran.slice(2)).toEqual(["define <web/>", "virsh net-autostart web", "undefine web"]);
  });

  it("restore-nic is the type's own undo; a VF write checks first and is undone back to the PF's count through 0", async () => {
    const { port, ran, vfs } = recordingPort();
    const revert = new Revert();
    const calls: string[] = [];
    await runPhase(
      port,
      revert,
      {
        step: "defining network",
        hostSteps: [
          {
            kind: "command",
            name: "enslave",
            argv: ["ip", "link", "set", "dev", "eth1", "master", "nf-lan"],
            undo: "restore-nic",
            live: true,
          },
          { kind: "sysfs-vfs", name: "set 0 VFs on eth9", pf: "eth9", vfs: 0, original: 2, live: true },
          { kind: "sysfs-vfs", name: "set 4 VFs on eth9", pf: "eth9", vfs: 4, original: 2, live: true },
        ],
      },
      { restoreNic: async () => void calls.push("restore nic"), beforeVfWrite: async (pf) => void calls.push(`check ${pf}`) },
    );
    expect(vfs()).toBe(4);
    expect(calls).toEqual(["check eth9", "check eth9"]);
    await revert.run();
    expect(vfs()).toBe(2);
    expect(ran.filter((r) => r.startsWith("vfs"))).toEqual(["vfs eth9 0", "vfs eth9 4", "vfs eth9 0", "vfs eth9 2"]);
    expect(calls.at(-1)).toBe("restore nic");
  });

  it("an MTU step sets the bridge and reports each port it set; the options step reports its signal; a later failure puts both back", async () => {
    const { port, ran } = recordingPort({ failOn: "net-define" });
    const revert = new Revert();
    const phase: PlanPhase = {
      step: "applying change",
      hostSteps: [
        { kind: "link-mtu", name: "set MTU 1300", bridge: "nf-web", mtu: 1300, live: true },
        { kind: "dhcp-options", name: "hand out MTU 1300", network: "web", file: "/o", text: "tag:nf-web,option:mtu,1300\n", live: true },
        virsh(["net-define", "web"], null),
      ],
    };
    const out: string[][] = [];
    await expect(runPhase(port, revert, phase).then((r) => out.push(...r.applied.map((a) => a.command)))).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
    });
    expect(out).toEqual([]);
    const ok = await runPhase(recordingPort().port, new Revert(), { ...phase, hostSteps: phase.hostSteps.slice(0, 2) });
    expect(ok.applied.map((a) => a.command.join(" "))).toEqual([
      "ip link set dev nf-web mtu 1300",
      "ip link set dev vnet0 mtu 1300",
      "write /o tag:nf-web,option:mtu,1300\n",
      "kill -HUP 42",
    ]);
    const undo = await revert.run();
    expect(undo.undone.map((u) => u.label)).toEqual(["undo: hand out MTU 1300", "undo: set MTU 1300"]);
    expect(ran.slice(-2)).toEqual(['options web /o "old\\n"', "restore mtu nf-web=1500 vnet0=1500"]);
  });

  it("ending dnsmasq reports the signal it sent; undone by restarting it through libvirt only when none runs then", async () => {
    const restart = [
      ["net-update", "web", "delete", "ip-dhcp-range", "<range/>", "--live"],
      ["net-update", "web", "add", "ip-dhcp-range", "<range/>", "--live"],
    ];
    const end: HostStep = { kind: "end-dnsmasq", name: "end dnsmasq", network: "web", restart, live: true };
    // The update after it fails before libvirt started a dnsmasq: the undo starts one (both updates, in order).
    const failing = recordingPort({ failOn: "delete ip-dhcp-range <range/> --live" });
    const revert = new Revert();
    const applied: string[] = [];
    await expect(
      runPhase(failing.port, revert, { step: "applying change", hostSteps: [end, virsh(restart[0] as string[], null)] }),
    ).rejects.toMatchObject({ code: "HOST_COMMAND_FAILED" });
    const ok = await runPhase(recordingPort().port, new Revert(), { step: "applying change", hostSteps: [end] });
    applied.push(...ok.applied.map((a) => a.command.join(" ")));
    expect(applied).toEqual(["kill -TERM 43"]);
    const ran = failing.ran.length;
    // The injected failure also hits the undo's first update: the undo reports it and the rest stays as is.
    const undo = await revert.run();
    expect(undo.undone.map((u) => u.label).concat(undo.failed.map((f) => f.entry.label))).toEqual(["undo: end dnsmasq"]);
    expect(failing.ran.slice(ran)).toEqual(["virsh net-update web delete ip-dhcp-range <range/> --live"]);
    // A dnsmasq that runs again by then (libvirt restarted it) is left alone.
    const running = recordingPort();
    const r2 = new Revert();
    await runPhase(running.port, r2, { step: "applying change", hostSteps: [end] });
    running.port.dnsmasqRuns = async () => true;
    await r2.run();
    expect(running.ran).toEqual(["end dnsmasq web"]);
  });

  it("a QoS step checks the host first (a refusal changes nothing) and is undone by the previous set", async () => {
    const apply = renderQos("nf-web", "nfq-x", { network: { inbound: { averageKbps: 1000 } }, vms: [] }, null);
    const undo = renderQos("nf-web", "nfq-x", null, { network: { inbound: { averageKbps: 1000 } }, vms: [] });
    const step: HostStep = {
      kind: "qos",
      name: "apply bandwidth limits",
      bridge: "nf-web",
      ifb: "nfq-x",
      apply,
      undo,
      text: "",
      live: true,
    };
    const refused = recordingPort({ failOn: "qos check" });
    await expect(runPhase(refused.port, new Revert(), { step: "applying change", hostSteps: [step] })).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
    });
    expect(refused.ran).toEqual(["qos check"]);
    const { port, ran } = recordingPort({ failOn: "net-define" });
    const revert = new Revert();
    await expect(
      runPhase(port, revert, { step: "applying change", hostSteps: [step, virsh(["net-define", "web"], null)] }),
    ).rejects.toThrow();
    await revert.run();
    expect(ran).toEqual(["qos check", `tc nfq-x ${apply.batch.length} lines`, "virsh net-define web", "tc nfq-x 0 lines"]);
  });

  it("a refused check before a VF write writes nothing", async () => {
    const { port, ran } = recordingPort();
    const refuse = async () => {
      throw new AppError("NOT_ALLOWED", "named by another tool's network");
    };
    await expect(
      runPhase(
        port,
        new Revert(),
        { step: "defining network", hostSteps: [{ kind: "sysfs-vfs", name: "x", pf: "eth9", vfs: 4, original: 2, live: true }] },
        { beforeVfWrite: refuse },
      ),
    ).rejects.toMatchObject({ code: "NOT_ALLOWED" });
    expect(ran).toEqual([]);
  });
});

describe("assertPlanAsPreviewed", () => {
  const views = [{ step: "applying change", name: "add", command: ["virsh", "net-update"], live: true }];
  it("passes without expectPlan, with the same plan, and on a redelivery that already began", () => {
    expect(() => assertPlanAsPreviewed({}, views)).not.toThrow();
    expect(() => assertPlanAsPreviewed({ expectPlan: planHash(views) }, views)).not.toThrow();
    expect(() => assertPlanAsPreviewed({ expectPlan: "0".repeat(32), earlierSteps: new Set(["applying change"]) }, views)).not.toThrow();
  });
  it("fails a different plan before anything runs: INVALID_STATE, permanent, both hashes named", () => {
    let err: unknown;
    try {
      assertPlanAsPreviewed({ expectPlan: "0".repeat(32) }, views);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({
      code: "INVALID_STATE",
      details: { expectPlan: "0".repeat(32), planHash: planHash(views), permanent: true },
    });
    expect((err as AppError).message).toContain("differs from the one previewed");
  });
});
