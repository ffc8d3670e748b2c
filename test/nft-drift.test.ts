/**
 * Drift detection of netforge's nft tables (NftBackend.inPlace, HostFirewall.sync) tells a table edited by hand
 * from one whose counters ticked with traffic. Port security's drop rules count what they drop; a heartbeat
 * that took a changed counter for drift replaced the whole table, which emptied the ACK-learned pairs and let a
 * newly leased VM's traffic be dropped until the lease watcher caught up (CI failure of e2e-port-security).
 * Everything runs in a network namespace this test creates (`unshare -n` around a sleeping anchor killed by its
 * pid), with a bridge, a veth port and real ARP frames; nothing of the machine's network is touched.
 */
import { type FirewallNetwork, renderPortSecurityTable } from "@netforge/core/model";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NamespaceRunner, startNetnsAnchor } from "./support/netns-runner";
import { HostFirewall, NftBackend, webNetwork } from "@netforge/worker/testing";

let ns: { pid: number; stop: () => void } | null = null;
const runner = new NamespaceRunner(() => ns?.pid ?? 0);
const inNs = (cmd: string, ...args: string[]) => runner.run(cmd, args);

beforeAll(async () => {
  ns = await startNetnsAnchor();
  // A bridge with one port (vport); frames sent out of vpeer arrive on it as a VM's would.
  await inNs("ip", "link", "add", "nf-web", "type", "bridge");
  await inNs("ip", "addr", "add", "10.70.0.1/24", "dev", "nf-web");
  await inNs("ip", "link", "add", "vport", "type", "veth", "peer", "name", "vpeer");
  await inNs("ip", "link", "set", "vport", "master", "nf-web");
  for (const l of ["nf-web", "vport", "vpeer"]) await inNs("ip", "link", "set", l, "up");
  await inNs("ip", "addr", "add", "10.70.0.66/24", "dev", "vpeer");
});
afterAll(() => ns?.stop());

const secured = (): FirewallNetwork => webNetwork([], { portSecurity: { pairs: [], ports: ["vport"] } });
const spoofDrops = async (): Promise<number> => {
  const r = await inNs("nft", "list", "chain", "bridge", "netforge", "web-port");
  const line = r.stdout.split("\n").find((l) => l.includes("spoofed or unknown")) ?? "";
  return Number(/packets (\d+)/.exec(line)?.[1] ?? "-1");
};
/** ARP requests out of vpeer from an address the network does not know: dropped by the port chain. */
const sendUnknownArp = () => runner.run("busybox", ["arping", "-c", "2", "-w", "1", "-I", "vpeer", "10.70.0.1"], { allowFailure: true });
const ackedPair = "0x525400000042 . 0x0a460042";

describe("drift detection", () => {
  it("counters that ticked and ACK-learned pairs are not drift; a rule flushed by hand is, and is restored", async () => {
    const backend = new NftBackend(runner);
    // (A namespace of its own: the anchor's is not this process's.)
    expect((await execa("readlink", [`/proc/${ns?.pid}/ns/net`])).stdout).not.toBe((await execa("readlink", ["/proc/self/ns/net"])).stdout);
    const fw = new HostFirewall(backend, pino({ level: "silent" }));
    expect(renderPortSecurityTable([secured()])).toContain("web-ports");
    await fw.sync([secured()]);
    expect(await fw.sync([secured()])).toBe("unchanged");

    const before = await spoofDrops();
    await sendUnknownArp();
    expect(await spoofDrops()).toBeGreaterThan(before);
    await inNs("nft", "add", "element", "bridge", "netforge", "web-acked", `{ ${ackedPair} }`);

    // The heartbeat's check: nothing was edited, so nothing is replaced (the learned pair and the counts stay).
    const counted = await spoofDrops();
    expect(await fw.sync([secured()])).toBe("unchanged");
    expect((await inNs("nft", "list", "set", "bridge", "netforge", "web-acked")).stdout).toContain("0x525400000042");
    expect(await spoofDrops()).toBe(counted);

    // A hand edit is still found and repaired.
    await inNs("nft", "flush", "chain", "bridge", "netforge", "web-port");
    expect(await fw.sync([secured()])).toBe("restored");
    expect(await spoofDrops()).toBe(0);
  });
});
