/** Ports host processes listen on (the API refuses port forwards on them with PORT_CONFLICT). */
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

export async function listeningPorts(runner: CommandRunner): Promise<{ tcp: number[]; udp: number[] }> {
  const [t, u] = await Promise.all([
    runner.run("ss", ["-H", "-l", "-n", "-t"], { allowFailure: true }),
    runner.run("ss", ["-H", "-l", "-n", "-u"], { allowFailure: true }),
  ]);
  return { tcp: parseListeningPorts(t.stdout), udp: parseListeningPorts(u.stdout) };
}
