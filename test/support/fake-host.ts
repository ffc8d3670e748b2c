/**
 * A simulated hypervisor for tests that are about the control plane (Redis,
 * queue, API), not the host: answers ip/ss/virsh like a host with only the
 * networks it was asked to define, and counts every define/start per network
 * so a test can tell whether a job ran twice. Unknown commands succeed with no
 * output (an empty host). Host behaviour itself is tested on sandbox hosts.
 */
import { readFile } from "node:fs/promises";
import { commandFailed, type CommandResult, type CommandRunner, type RunOptions } from "@netforge/worker";

export class SimulatedHost implements CommandRunner {
  defined = new Map<string, string>();
  active = new Set<string>();
  /** Per network: how many times each verb ran (net-define, net-start, ...). */
  counts = new Map<string, Map<string, number>>();
  /** Optional latency per virsh verb (ms), e.g. measured on sandbox hosts. */
  constructor(private readonly latencyMs: Record<string, number> = {}) {}

  count(name: string, verb: string): number {
    return this.counts.get(name)?.get(verb) ?? 0;
  }

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const r = await this.answer(cmd, [...args]);
    if (r.exitCode !== 0 && !opts.allowFailure) throw commandFailed(cmd, args, r);
    return r;
  }

  private bump(name: string, verb: string): void {
    const m = this.counts.get(name) ?? new Map<string, number>();
    this.counts.set(name, m);
    m.set(verb, (m.get(verb) ?? 0) + 1);
  }

  private async answer(cmd: string, args: string[]): Promise<CommandResult> {
    const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
    if (cmd === "ip" && args.includes("addr")) {
      return ok(
        JSON.stringify([{ ifname: "uplink0", operstate: "UP", addr_info: [{ family: "inet", local: "198.51.100.2", prefixlen: 24 }] }]),
      );
    }
    if (cmd === "ip") return ok("[]");
    if (cmd === "ss")
      return ok([...this.active].map((n) => `UNCONN 0 0 0.0.0.0%nf-${n}:67 0.0.0.0:* users:(("dnsmasq",pid=9,fd=3))`).join("\n"));
    if (cmd !== "virsh") return ok();
    const [, , , verb = "", name = ""] = args; // -c uri -q <verb> <arg>
    const delay = this.latencyMs[verb];
    if (delay) await new Promise((r) => setTimeout(r, delay));
    if (verb === "version") return ok("Running against daemon: 10.0.0\n");
    if (verb.includes(";") || verb.startsWith("net-dumpxml")) {
      // "net-dumpxml [--inactive] a ; net-dumpxml b" (several in one virsh run), or one.
      const names = verb.includes(";") ? verb.split(";").map((c) => c.trim().split(/\s+/).pop() ?? "") : [args.at(-1) ?? ""];
      return ok(names.map((n) => this.defined.get(n) ?? "").join("\n"));
    }
    switch (verb) {
      case "net-list":
        return ok([...this.defined.keys()].map((n) => ` ${n} ${this.active.has(n) ? "active" : "inactive"} yes yes`).join("\n"));
      case "net-define": {
        const xml = await readFile(name, "utf8");
        const n = /<name>([^<]+)</.exec(xml)?.[1] ?? "?";
        this.bump(n, verb);
        this.defined.set(n, xml);
        return ok();
      }
      case "net-start":
        this.bump(name, verb);
        this.active.add(name);
        return ok();
      case "net-destroy":
        this.bump(name, verb);
        this.active.delete(name);
        return ok();
      case "net-undefine":
        this.bump(name, verb);
        this.defined.delete(name);
        return ok();
      case "net-info":
        if (!this.defined.has(name)) return { stdout: "", stderr: "error: Network not found: no network with matching name", exitCode: 1 };
        return ok(`Name: ${name}\nActive: ${this.active.has(name) ? "yes" : "no"}\nPersistent: yes\nAutostart: yes\n`);
      default:
        return ok();
    }
  }
}
