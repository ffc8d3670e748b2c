/**
 * A network namespace for a test (`unshare -n` around a sleeping anchor, killed by its pid, so nothing else
 * is ever touched) and a command runner that runs everything in it, the nft session's helper process
 * included. Used by the tests that drive the real nft backend without a sandbox host.
 */
import { execa } from "execa";
import { type CommandResult, ExecaRunner, type RunOptions } from "@netforge/worker";

/** Start the anchor and wait until it runs in a namespace of its own; `stop` kills it (and the namespace goes). */
export async function startNetnsAnchor(): Promise<{ pid: number; stop: () => void }> {
  const anchor = execa("unshare", ["-n", "--", "sleep", "600"], { reject: false });
  const pid = anchor.pid as number;
  const stop = () => {
    if (anchor.pid) process.kill(anchor.pid, "SIGKILL");
  };
  const own = (await execa("readlink", ["/proc/self/ns/net"])).stdout;
  for (let i = 0; i < 100; i++) {
    const r = await execa("readlink", [`/proc/${pid}/ns/net`], { reject: false });
    if (r.exitCode === 0 && r.stdout !== own) return { pid, stop };
    await new Promise((res) => setTimeout(res, 20));
  }
  stop();
  throw new Error("namespace anchor did not start");
}

/** Runs everything inside the namespace of `pid`, and counts the `nft -f` processes it starts. */
export class NamespaceRunner extends ExecaRunner {
  nftProcesses = 0;
  constructor(
    private readonly pid: () => number,
    private readonly python = "python3",
  ) {
    super();
  }
  override run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<CommandResult> {
    if (cmd === "nft" && args[0] === "-f") this.nftProcesses++;
    return super.run("nsenter", ["-t", String(this.pid()), "-n", "--", cmd, ...args], opts);
  }
  override spawnInteractive(cmd: string, args: readonly string[]) {
    return super.spawnInteractive("nsenter", ["-t", String(this.pid()), "-n", "--", cmd === "python3" ? this.python : cmd, ...args]);
  }
}
