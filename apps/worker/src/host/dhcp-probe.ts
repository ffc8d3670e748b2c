/**
 * "Its DHCP server answers": the network's dnsmasq holds a DHCP socket bound
 * to the bridge (`ss` shows `0.0.0.0%<bridge>:67` owned by dnsmasq). libvirt
 * starts dnsmasq before net-start returns; the short poll covers a slow start.
 */
import { AppError } from "@netforge/core";
import type { CommandRunner } from "./command-runner";

/** True when a dnsmasq listens for DHCP on the bridge. */
export async function dhcpListening(runner: CommandRunner, bridge: string): Promise<boolean> {
  const r = await runner.run("ss", ["-H", "-u", "-l", "-n", "-p", "sport", "=", ":67"], { allowFailure: true });
  return r.stdout.split("\n").some((l) => l.includes(`%${bridge}:67`) && l.includes('"dnsmasq"'));
}

/** Wait until DHCP answers on the bridge, or fail with HOST_COMMAND_FAILED. */
export async function waitForDhcp(runner: CommandRunner, bridge: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await dhcpListening(runner, bridge)) return;
    if (Date.now() > deadline) {
      throw new AppError("HOST_COMMAND_FAILED", `no DHCP server answers on ${bridge} after ${timeoutMs} ms`, { bridge });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
