/** Test support for the firewall unit tests: one NAT network, and an nft host that records and can fail. */
import type { FirewallNetwork } from "@netforge/core/model";
import { type CommandResult, type CommandRunner, commandFailed, type RunOptions } from "../../host/command-runner";

/** The network "web" (10.70.0.0/24, bridge nf-web) with tcp forwards of these host ports to 10.70.0.10:80; `over` replaces fields. */
export const webNetwork = (forwards: number[], over: Partial<FirewallNetwork> = {}): FirewallNetwork => ({
  name: "web",
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: "nf-web",
  cidr: "10.70.0.0/24",
  firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
  portForwards: forwards.map((p) => ({ protocol: "tcp", hostPort: p, vmIp: "10.70.0.10", vmPort: 80 })),
  ownsTypeRules: true,
  ...over,
});

/**
 * Records every command's stdin; fails every command (`fail`) or the next one (`failNext`) the way the real
 * runner does: a non-zero exit, thrown as HOST_COMMAND_FAILED unless the caller allows failure. No
 * spawnInteractive, so the backend runs `nft -f -` processes (no session).
 */
export class FakeNft implements CommandRunner {
  inputs: string[] = [];
  fail = false;
  failNext = false;
  error = "Error: syntax error, unexpected newline";

  /** What `nft -j list table` answers (the traffic counters read before a whole table); not recorded. */
  listing = "";
  /** What `nft -j list table bridge netforge` answers (a bridge network's counters). */
  bridgeListing = "";

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    if (args[0] === "-j" && args[1] === "list")
      return { stdout: args[3] === "bridge" ? this.bridgeListing : this.listing, stderr: "", exitCode: 0 };
    this.inputs.push(opts.input ?? "");
    const failing = this.fail || this.failNext;
    this.failNext = false;
    if (!failing) return { stdout: "", stderr: "", exitCode: 0 };
    const r = { stdout: "", stderr: this.error, exitCode: 1 };
    if (!opts.allowFailure) throw commandFailed(cmd, args, r);
    return r;
  }
}
