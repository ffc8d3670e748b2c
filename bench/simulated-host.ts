/**
 * A simulated hypervisor for the fleet benchmark (bench/fleet.ts), never used
 * by the product: a CommandRunner — the worker's existing host-facing seam
 * (startWorker(cfg, logger, runner)) — that answers ip/ss/nft/virsh like a
 * host holding exactly the networks it was asked to define, and sleeps, on
 * the one command that carries each create step, for a duration drawn from
 * that step's latencies measured on a real sandbox host in the same run:
 *
 *   checking host     -> `ip -j -4 route show table main` (read in parallel with the catalog)
 *   defining network  -> `virsh net-define`
 *   starting network  -> `virsh net-start`
 *   setting autostart -> `virsh net-autostart`
 *   verifying DHCP    -> `ss ... sport = :67`
 *
 * Everything else answers at once. It has no spawnInteractive on purpose: the
 * worker then runs every virsh command as its own call instead of through
 * its pool of persistent virsh sessions, and its catalog reads the host per
 * call instead of following an event stream. The measured step latencies
 * already contain the real host's queueing in those sessions; sleeping them
 * inside a simulated session pool counted that queueing twice (tried: the
 * define/autostart steps came out 2x the measured ones). The worker's own code (processor, locks,
 * job records, drivers, catalog, index writes, heartbeat) runs unchanged, so
 * the control plane sees what a real worker sends it. The job records of the
 * simulated run report the step times back, and the benchmark prints them
 * beside the measured ones (if a product change moved a step's work to another
 * command, the two columns disagree).
 */
import { readFile } from "node:fs/promises";
import { type CommandResult, commandFailed, type CommandRunner, type RunOptions } from "../apps/worker/src/host/command-runner";

/** Create steps whose latency is simulated, by step name as the job records name them. */
export const SIMULATED_STEPS = ["checking host", "defining network", "starting network", "setting autostart", "verifying DHCP"] as const;
export type StepSamples = Partial<Record<(typeof SIMULATED_STEPS)[number], number[]>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SimulatedHost implements CommandRunner {
  readonly defined = new Map<string, string>();
  readonly active = new Set<string>();

  constructor(
    private readonly samples: StepSamples,
    private readonly random: () => number = Math.random,
  ) {}

  /** A duration drawn from the step's measured samples (0 when none were measured). */
  private async stepLatency(step: (typeof SIMULATED_STEPS)[number]): Promise<void> {
    const xs = this.samples[step];
    if (!xs || xs.length === 0) return;
    await sleep(xs[Math.floor(this.random() * xs.length)] as number);
  }

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
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
    if (cmd === "ip" && args.includes("route")) {
      await this.stepLatency("checking host");
      return ok("[]");
    }
    if (cmd === "ip") return ok("[]");
    if (cmd === "ss" && args.includes(":67")) {
      await this.stepLatency("verifying DHCP");
      return ok([...this.active].map((n) => `UNCONN 0 0 0.0.0.0%nf-${n}:67 0.0.0.0:* users:(("dnsmasq",pid=9,fd=3))`).join("\n"));
    }
    if (cmd === "nft" && args[0] === "-j") return ok('{"nftables":[]}');
    if (cmd !== "virsh") return ok(); // other ss reads, nft apply/list: an empty, quiet host
    const [, , , verb = "", name = ""] = args; // -c <uri> -q <verb> <arg>
    if (verb === "version") return ok("Running against daemon: 10.0.0\n");
    if (verb.startsWith("net-dumpxml")) {
      // "net-dumpxml [--inactive] a ; net-dumpxml b" (several in one virsh run), or one.
      const names = verb.includes(";") ? verb.split(";").map((c) => c.trim().split(/\s+/).pop() ?? "") : [args.at(-1) ?? ""];
      return ok(names.map((n) => this.defined.get(n) ?? "").join("\n"));
    }
    switch (verb) {
      case "net-list":
        return ok([...this.defined.keys()].map((n) => ` ${n} ${this.active.has(n) ? "active" : "inactive"} yes yes`).join("\n"));
      case "net-define": {
        await this.stepLatency("defining network");
        const xml = await readFile(name, "utf8");
        this.defined.set(/<name>([^<]+)</.exec(xml)?.[1] ?? "?", xml);
        return ok();
      }
      case "net-start":
        await this.stepLatency("starting network");
        this.active.add(name);
        return ok();
      case "net-autostart":
        await this.stepLatency("setting autostart");
        return ok();
      case "net-destroy":
        this.active.delete(name);
        return ok();
      case "net-undefine":
        this.defined.delete(name);
        return ok();
      case "net-info":
        if (!this.defined.has(name)) return { stdout: "", stderr: "error: Network not found: no network with matching name", exitCode: 1 };
        return ok(`Name: ${name}\nActive: ${this.active.has(name) ? "yes" : "no"}\nPersistent: yes\nAutostart: yes\n`);
      default:
        return ok(); // list --all --name, domiflist, ...: no VMs
    }
  }
}
