/** Ports host processes listen on (the API and the worker refuse port forwards on them with PORT_CONFLICT). */
import type { CommandRunner } from "./command-runner";

/** Local ports of `ss -H -l -n` output lines ("UNCONN 0 0 10.0.0.1%br:53 0.0.0.0:*"), sorted, unique. */
export function parseListeningPorts(stdout: string): number[] {
  const ports = new Set<number>();
  for (const line of stdout.split("\n")) {
    const local = line.trim().split(/\s+/)[3];
    const m = local ? /:(\d+)$/.exec(local) : null;
    if (m) ports.add(Number(m[1]));
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * The ports host processes listen on, read now with `ss` (`ssCommand`: NETFORGE_SS_PATH). Fails closed: a
 * failed `ss` throws HOST_COMMAND_FAILED instead of answering "none".
 */
export async function listeningPorts(runner: CommandRunner, ssCommand = "ss"): Promise<{ tcp: number[]; udp: number[] }> {
  const [t, u] = await Promise.all([
    runner.run(ssCommand, ["-H", "-l", "-n", "-t"], { timeoutMs: 10_000 }),
    runner.run(ssCommand, ["-H", "-l", "-n", "-u"], { timeoutMs: 10_000 }),
  ]);
  return { tcp: parseListeningPorts(t.stdout), udp: parseListeningPorts(u.stdout) };
}
